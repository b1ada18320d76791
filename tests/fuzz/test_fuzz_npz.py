"""Fuzz load_npz: damaged zip records, damaged .npy headers, byte edits; only DataError escapes, memory stays bounded."""
import io
import struct
import zipfile

import numpy as np

from retrograd.data import DataError, load_npz

from .mutate import INTERESTING, case_count, mutate_bytes, run_fuzz


def _savez(compressed, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


_rng = np.random.default_rng(3)
BASES = [
    _savez(False, X=_rng.normal(size=(6, 3)), y=np.arange(6) % 2),
    _savez(True, X=np.asfortranarray(_rng.normal(size=(5, 4)).astype(np.float32)), y=np.array([0., 1, 2, 1, 0])),
    _savez(False, X=np.arange(8, dtype=">i2").reshape(4, 2), y=np.array([True, False, True, True])),
]

# zip records: signature -> {field: (offset, struct format)}
CENTRAL = {"version_made": (4, "H"), "version_needed": (6, "H"), "flags": (8, "H"), "method": (10, "H"),
           "crc": (16, "I"), "compressed_size": (20, "I"), "size": (24, "I"), "name_length": (28, "H"),
           "extra_length": (30, "H"), "comment_length": (32, "H"), "disk": (34, "H"), "offset": (42, "I")}
LOCAL = {"version_needed": (4, "H"), "flags": (6, "H"), "method": (8, "H"), "crc": (14, "I"),
         "compressed_size": (18, "I"), "size": (22, "I"), "name_length": (26, "H"), "extra_length": (28, "H")}
END = {"disk": (4, "H"), "cd_disk": (6, "H"), "entries_disk": (8, "H"), "entries": (10, "H"),
       "cd_size": (12, "I"), "cd_offset": (16, "I"), "comment_length": (20, "H")}
END64 = {"record_size": (4, "Q"), "version_needed": (14, "H"), "entries": (32, "Q"), "cd_size": (40, "Q"),
         "cd_offset": (48, "Q")}
RECORDS = {b"PK\x01\x02": CENTRAL, b"PK\x03\x04": LOCAL, b"PK\x05\x06": END, b"PK\x06\x06": END64}


def _zip64_fields(b, start, fixed, name_field, extra_field, table):
    """(offset, "Q") of each 8-byte field in the zip64 extra block of the record at ``start``."""
    (name_len,) = struct.unpack_from("<H", b, start + table[name_field][0])
    (extra_len,) = struct.unpack_from("<H", b, start + table[extra_field][0])
    pos, end, out = start + fixed + name_len, start + fixed + name_len + extra_len, []
    while pos + 4 <= min(end, len(b)):
        tag, size = struct.unpack_from("<HH", b, pos)
        if tag == 1:
            out += [(pos + 4 + 8 * k, "Q") for k in range(size // 8)]
        pos += 4 + size
    return out


def zip_fields(b):
    """Every editable (offset, format) in the zip records of ``b``."""
    fields = []
    for sig, table in RECORDS.items():
        start = b.find(sig)
        while start != -1:
            fields += [(start + off, fmt) for off, fmt in table.values() if start + off + struct.calcsize(fmt) <= len(b)]
            if sig == b"PK\x01\x02" and start + 46 <= len(b):
                fields += _zip64_fields(b, start, 46, "name_length", "extra_length", CENTRAL)
            if sig == b"PK\x03\x04" and start + 30 <= len(b):
                fields += _zip64_fields(b, start, 30, "name_length", "extra_length", LOCAL)
            start = b.find(sig, start + 1)
    return fields


def edit_zip_field(rng, b):
    offset, fmt = rng.choice(zip_fields(b))
    bits = 8 * struct.calcsize(fmt)
    (old,) = struct.unpack_from("<" + fmt, b, offset)
    value = rng.choice([rng.choice(INTERESTING), old + 1, old - 1, old * 2, old + 1000, rng.randrange(1 << bits)])
    if fmt == "H" and rng.random() < 0.3:
        value = rng.choice([20, 45, 46, 51, 63, 64, 99, 12, 14, 8, 9, 93, 98, 1, 0x0041])  # versions, methods, flags
    out = bytearray(b)
    struct.pack_into("<" + fmt, out, offset, value % (1 << bits))
    return f"zip-field@{offset}", bytes(out)


DESCRS = ["<f8", "<f4", ">f8", "|u1", "<i8", "|b1", "<c16", "|O", "O", "<U3", "|S4", "|V8", "<M8[ns]", "(2,)<f8",
          "f8,f8", "<f2", "nonsense", "<f99", "", "|S99999999999"]
SHAPES = ["(6, 3)", "(6,)", "()", "(0, 3)", "(6, 3, 1)", "(1000000000000, 3)", "(999999999999, 3)", "(-1, 3)",
          "(6.0, 3)", "(True, 3)", "[6, 3]", "6", "(4611686018427387904, 4611686018427387904)",
          "(4611686018427387904, 4)", "(5, 3)", "(7, 3)", "(3, 6)", "(18, 1)",
          "(0, 4611686018427387904, 4611686018427387904)", "(" + "1, " * 70 + ")", "'6, 3'", "None",
          "(" * 150 + ")" * 150, "(18446744073709551616,)"]


def npy_member(rng, data):
    """A .npy stream whose header dict has random (often wrong) descr / fortran_order / shape."""
    parts = {"descr": repr(rng.choice(DESCRS)), "fortran_order": rng.choice(["False"] * 6 + ["True"] * 2 + ["1", "'no'"]),
             "shape": rng.choice(SHAPES)}
    if rng.random() < 0.1:
        parts.pop(rng.choice(list(parts)))
    if rng.random() < 0.1:
        parts["extra"] = "1"
    header = "{" + ", ".join(f"'{k}': {v}" for k, v in parts.items()) + ", }"
    if rng.random() < 0.05:
        header = rng.choice(["{", "not a dict", "{'descr': __import__('os')}", "[1, 2]", "{" * 300])
    text = header.encode("latin1") + b" " * (-(len(header) + 11) % 64) + b"\n"
    version = b"\x01\x00" if rng.random() < 0.8 else rng.choice([b"\x02\x00", b"\x03\x00", b"\x04\x00", b"\x00\x00"])
    length = struct.pack("<H" if version[0] == 1 else "<I", len(text))
    if rng.random() < 0.1:
        length = bytes(rng.randrange(256) for _ in length)
    body = data if rng.random() < 0.6 else data[:rng.randrange(len(data) + 1)] + bytes(rng.randrange(64))
    return b"\x93NUMPY" + version + length + text + body


def rebuilt_archive(rng, base):
    """A fresh, well-formed zip (good CRCs) holding one or two damaged .npy members."""
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    buf = io.BytesIO()
    method = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, payload in members.items():
            data = payload[payload.index(b"\n") + 1:] if payload.startswith(b"\x93NUMPY") else payload
            z.writestr(name, npy_member(rng, data) if rng.random() < 0.7 else payload)
    return "npy-header", buf.getvalue()


def make_case(rng, i):
    base = BASES[i % len(BASES)]
    kind = rng.random()
    if kind < 0.35:
        return edit_zip_field(rng, base)
    if kind < 0.6:
        return rebuilt_archive(rng, base)
    label, out = mutate_bytes(rng, base)
    return "bytes:" + label, out


def test_fuzz_load_npz(tmp_path):
    outcomes = run_fuzz("npz", case_count(1500), make_case, load_npz, (DataError,), tmp_path, ".npz",
                        peak_limit=lambda size: 1_000_000 + 1100 * size)
    assert outcomes["DataError"] > 0.5 * sum(outcomes.values())     # the mutations do reach the checks
    assert outcomes["loaded"] > 0                                    # and harmless ones still load


def test_the_unmutated_files_load(tmp_path):
    for i, base in enumerate(BASES):
        (tmp_path / f"{i}.npz").write_bytes(base)
        X, y = load_npz(tmp_path / f"{i}.npz")
        with np.load(tmp_path / f"{i}.npz") as reference:
            np.testing.assert_array_equal(X, reference["X"].astype(np.float32))
            np.testing.assert_array_equal(y, reference["y"])
