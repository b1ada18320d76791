"""Fuzz the CSV/TSV reader: byte edits and cell-level edits (missing, non-numeric, NaN, quotes, NUL,
ragged rows, non-UTF-8); only DataError escapes, naming the file, and memory stays near the file size."""
import numpy as np

from retrograd.data import DataError, load_csv

from .mutate import case_count, mutate_bytes, run_fuzz

_rng = np.random.default_rng(7)
_rows = [",".join(f"{v:.6g}" for v in _rng.normal(size=3)) + f",{k % 3}" for k in range(12)]
CSV = ("a,b,c,label\n" + "\n".join(_rows) + "\n").encode()
TSV = CSV.replace(b",", b"\t")
BASES = [(CSV, ".csv"), (TSV, ".tsv"), (b"\xef\xbb\xbf# comment\n" + CSV.replace(b"\n", b"\r\n"), ".csv")]

CELLS = [b"", b"NA", b"nan", b"inf", b"-1e999", b"1e308", b"x", b'"1"', b'"', b'"a,b"', b"\x00", b"1_0",
         b"0x10", b" 3 ", b"\xff\xfe", b"\xc3\x28", b"1,2", b"\t", b"#", b"label", b"9" * 5000, b"1" * 200000]


def cell_edit(rng, data):
    lines = data.split(b"\n")
    k = rng.randrange(len(lines))
    cells = lines[k].split(b",") if b"," in lines[k] else lines[k].split(b"\t")
    j = rng.randrange(len(cells))
    op = rng.random()
    if op < 0.6:
        cells[j] = rng.choice(CELLS)
    elif op < 0.8:
        cells.insert(j, rng.choice(CELLS))
    else:
        del cells[j]
    lines[k] = b",".join(cells)
    if rng.random() < 0.1:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
    return b"\n".join(lines)


def test_fuzz_load_csv(tmp_path):
    def make_case(rng, i):
        data, _ = BASES[i % len(BASES)]
        if rng.random() < 0.5:
            return "cell", cell_edit(rng, data)
        label, out = mutate_bytes(rng, data)
        return "bytes:" + label, out

    outcomes = run_fuzz("csv", case_count(1000), make_case, lambda path: load_csv(path, target="label"),
                        (DataError,), tmp_path, lambda i: BASES[i % len(BASES)][1],
                        peak_limit=lambda size: 300_000 + 60 * size)
    assert outcomes["DataError"] > 0.3 * sum(outcomes.values())
    assert outcomes["loaded"] > 0
