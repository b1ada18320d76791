"""load_npz on damaged archives, one case per kind of damage: each is a DataError naming the file (and the
array when one member is at fault), and no case allocates more than the file could hold."""
import io
import struct
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from retrograd.data import DataError, load_npz

X = np.arange(18, dtype=np.float64).reshape(6, 3)
Y = np.arange(6) % 2


def savez(compressed=False, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **(arrays or {"X": X, "y": Y}))
    return buf.getvalue()


def zip_of(members, method=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, payload in members.items():
            z.writestr(name, payload)
    return buf.getvalue()


def npy(descr, shape, data, fortran=False):
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + data


def patch_all(b, sig, offset, fmt, value):
    """Set the field at ``offset`` of every zip record with signature ``sig``."""
    out, start = bytearray(b), b.find(sig)
    while start != -1:
        struct.pack_into("<" + fmt, out, start + offset, value)
        start = b.find(sig, start + 1)
    return bytes(out)


def flip_data_byte(b, member=b"X.npy"):
    """Flip one byte of the array data of a stored member (the CRC no longer matches)."""
    out = bytearray(b)
    out[b.index(b"\x93NUMPY", b.index(member)) + 200] ^= 0x55
    return bytes(out)


def huge_claim_stored():
    """A valid-CRC archive whose X header claims 10^12 x 3 floats over 144 bytes of data."""
    return zip_of({"X.npy": npy("<f8", (10 ** 12, 3), X.tobytes()), "y.npy": npy("<i8", (6,), Y.tobytes())})


def lie_in_directory(method):
    """Header and zip directory agree on 4 GB of data; the archive is under 1 KB (a consistent lie)."""
    n = 500_000_000
    header = npy("<f8", (n,), b"")
    b = bytearray(zip_of({"X.npy": header + X.tobytes(), "y.npy": npy("<i8", (6,), Y.tobytes())}, method))
    start = b.find(b"PK\x01\x02")                          # X's entry in the central directory
    struct.pack_into("<I", b, start + 24, len(header) + 8 * n)
    if method == zipfile.ZIP_STORED:
        struct.pack_into("<I", b, start + 20, len(header) + 8 * n)
    return bytes(b)


def bzip2_archive():
    return zip_of({"X.npy": npy("<f8", (6, 3), X.tobytes()), "y.npy": npy("<i8", (6,), Y.tobytes())},
                  zipfile.ZIP_BZIP2)


def object_archive():
    buf = io.BytesIO()
    np.savez(buf, X=np.array([[1, "a"]], dtype=object), y=np.zeros(1))
    return buf.getvalue()


def bad_deflate():
    b = bytearray(savez(True))
    start = b.index(b"X.npy") + 5 + 20 + 40                 # inside X's deflate stream
    for k in range(8):
        b[start + k] ^= 0xFF
    return bytes(b)


# (name, payload, message fragment, array named in the error or None)
CASES = [
    ("bad CRC", flip_data_byte(savez()), "Bad CRC-32", "X"),
    ("truncated in the data", savez()[:300], "not a zip archive", None),
    ("truncated in the directory", savez()[:-30], "not a zip archive", None),
    ("empty file", b"", "not a zip archive", None),
    ("unsupported zip version", patch_all(savez(), b"PK\x01\x02", 6, "H", 99), "zip file version 9.9", None),
    ("bad deflate stream", bad_deflate(), "damaged archive member", "X"),
    ("encrypted member", patch_all(savez(), b"PK\x01\x02", 8, "H", 1), "encrypted", "X"),
    ("bzip2 member", bzip2_archive(), "compression method 12", "X"),
    ("object array", object_archive(), "without pickle", "X"),
    ("header claims 10^12 rows", huge_claim_stored(), "the .npy header says shape (1000000000000, 3)", "X"),
    ("stored: directory and header claim 4 GB", lie_in_directory(zipfile.ZIP_STORED), "beyond the", "X"),
    ("deflate: directory and header claim 4 GB", lie_in_directory(zipfile.ZIP_DEFLATED), "more than deflate can",
     "X"),
    ("stored size differs from its compressed size",
     patch_all(zip_of({"X.npy": npy("<f8", (6, 3), X.tobytes())}), b"PK\x01\x02", 24, "I", 500),
     "stored (uncompressed) member 500 bytes", "X"),
    ("negative dimension", zip_of({"X.npy": npy("<f8", (-1, 3), b""), "y.npy": npy("<i8", (6,), Y.tobytes())}),
     "is not a tuple of sizes", "X"),
    ("header not a literal", zip_of({"X.npy": npy("<f8", "__import__('os').getpid()", b""),
                                     "y.npy": npy("<i8", (6,), Y.tobytes())}), "not a valid dict literal", "X"),
    ("string array", savez(X=np.array([["a", "b"]]), y=np.zeros(1)), "must be numeric", "X"),
    ("structured dtype", savez(X=np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4")]), y=np.zeros(3)),
     "structured dtype", "X"),
    ("a single .npy", npy("<f8", (6, 3), X.tobytes()), "single .npy array", None),
    ("0-d target", savez(X=X, y=np.float64(3)), "single value", "y"),
]


@pytest.mark.parametrize("name,payload,fragment,array", CASES, ids=[c[0] for c in CASES])
def test_damaged_archives_are_data_errors_naming_file_and_array(tmp_path, name, payload, fragment, array):
    path = tmp_path / "damaged.npz"
    path.write_bytes(payload)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            load_npz(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message and fragment in message, message
    assert info.value.array == array
    if array is not None:
        assert f"array {array!r}" in message
    assert peak < 200_000 + 20 * len(payload), f"{name}: {peak} bytes allocated for a {len(payload)}-byte file"


def test_a_600_byte_file_never_asks_for_gigabytes(tmp_path):
    path = tmp_path / "claim.npz"
    path.write_bytes(lie_in_directory(zipfile.ZIP_DEFLATED))
    assert len(path.read_bytes()) < 1000
    with pytest.raises(DataError, match="decompression bomb"):
        load_npz(path)
    with np.load(path) as archive:          # numpy itself trusts the directory (and would try)
        assert archive.zip.getinfo("X.npy").file_size > 4 * 10 ** 9


def test_compressed_fortran_big_endian_and_bool_arrays_load_as_numpy_does(tmp_path):
    X32 = np.asfortranarray(np.arange(12, dtype=">f4").reshape(3, 4))
    for compressed in (False, True):
        path = tmp_path / f"c{compressed}.npz"
        path.write_bytes(savez(compressed, X=X32, y=np.array([True, False, True])))
        got_X, got_y = load_npz(path)
        np.testing.assert_array_equal(got_X, X32.astype(np.float32))
        np.testing.assert_array_equal(got_y, [1, 0, 1])
        assert got_X.flags.writeable and got_y.flags.writeable


def test_cli_train_on_a_damaged_npz_is_a_one_line_data_error(tmp_path):
    path = tmp_path / "train.npz"
    path.write_bytes(flip_data_byte(savez()))
    proc = subprocess.run([sys.executable, "-m", "retrograd", "train", "--data", "npz", "--path", str(path),
                           "--epochs", "1", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "data error" in proc.stderr and str(path) in proc.stderr and "array 'X'" in proc.stderr
