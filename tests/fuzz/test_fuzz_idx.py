"""Fuzz read_idx: header edits (type, rank, dimensions), byte edits of raw and gzipped files, gzip
streams longer than the header says; only DataError escapes and nothing is inflated past the header."""
import gzip
import random
import struct
import zlib

import numpy as np

from retrograd.data import DataError, read_idx

from .mutate import INTERESTING, case_count, mutate_bytes, run_fuzz


def idx_bytes(array, code=0x08):
    return bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes() + array.tobytes()


_rng = np.random.default_rng(5)
RAW = [idx_bytes(_rng.integers(0, 256, size=(4, 5, 6), dtype=np.uint8)),
       idx_bytes(np.arange(7, dtype=">f4"), 0x0D),
       idx_bytes(_rng.integers(-9, 9, size=(3, 4)).astype(">i2"), 0x0B)]
BASES = RAW + [gzip.compress(b) for b in RAW]


def header_edit(rng, raw):
    """Change the type byte, the rank or one dimension of an uncompressed file."""
    out = bytearray(raw)
    what = rng.random()
    if what < 0.2:
        out[2] = rng.choice([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF])
    elif what < 0.4:
        out[3] = rng.choice([0, 1, 2, 3, 4, 5, 32, 33, 255])
    else:
        ndim = out[3]
        k = rng.randrange(max(ndim, 1))
        value = rng.choice(INTERESTING + [0, 1, 2, 10, 1000]) % (1 << 32)
        if 4 + 4 * k + 4 <= len(out):
            struct.pack_into(">I", out, 4 + 4 * k, value)
    return bytes(out)


def longer_stream(rng, raw):
    """A gzip stream that runs past the header's size: extra bytes, or a 1 MiB-per-KiB bomb."""
    extra = bytes(rng.choice([1, 100, 1 << 20, 8 << 20]))
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(raw) + c.compress(extra) + c.flush()


BOMB_TAIL = [longer_stream(random.Random(k), RAW[0]) for k in range(4)]


def make_case(rng, i):
    raw = RAW[i % len(RAW)]
    kind = rng.random()
    if kind < 0.3:
        edited = header_edit(rng, raw)
        return "header", gzip.compress(edited) if rng.random() < 0.5 else edited
    if kind < 0.35:
        return "longer gzip stream", rng.choice(BOMB_TAIL)
    label, out = mutate_bytes(rng, BASES[i % len(BASES)])
    return "bytes:" + label, out


def test_fuzz_read_idx(tmp_path):
    outcomes = run_fuzz("idx", case_count(1500), make_case, read_idx, (DataError,), tmp_path, "-idx3-ubyte",
                        peak_limit=lambda size: 300_000 + 20 * size)
    assert outcomes["DataError"] > 0.5 * sum(outcomes.values())
    assert outcomes["loaded"] > 0
