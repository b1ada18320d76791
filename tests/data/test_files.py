"""File loaders: valid CSV/TSV/NPZ/IDX load exactly; each kind of malformed file names file, line, column."""
import gzip
import tracemalloc
import zlib

import numpy as np
import pytest

import retrograd as rg
from retrograd.data import DataError


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_loads_named_target(tmp_path):
    p = write(tmp_path, "d.csv", "a,b,label\n1,2,0\n# a comment\n\n3.5,-4e-1,1\n")
    X, y, names = rg.data.load_csv(p, target="label", return_names=True)
    np.testing.assert_allclose(X, [[1, 2], [3.5, -0.4]])
    np.testing.assert_array_equal(y, [0, 1])
    assert y.dtype == np.int64 and names == ["a", "b"]


def test_tsv_and_float_target(tmp_path):
    p = write(tmp_path, "d.tsv", "y\tx\n0.5\t1\n1.5\t2\n")
    X, y = rg.data.load_csv(p, target="y")
    np.testing.assert_allclose(y, [0.5, 1.5])
    np.testing.assert_allclose(X.ravel(), [1, 2])


# (file contents, expected line, expected column fragment, message fragment)
BAD_CSV = [
    ("a,b,label\n1,2,0\n1,2\n", 3, None, "ragged row: 2 cells"),
    ("a,b,label\n1,2,0\n1,x,1\n", 3, '2 ("b")', "non-numeric cell 'x'"),
    ("a,b,label\n1,,0\n", 2, '2 ("b")', "missing value"),
    ("a,b,label\n1,2,0\n1,NA,0\n", 3, '2 ("b")', "missing value"),
    ("a,b,label\n1,2,0\n\n1,nan,0\n", 4, '2 ("b")', "not a finite number"),
    ("a,b,label\ninf,2,0\n", 2, '1 ("a")', "not a finite number"),
    ("a,b,label\n", None, None, "no data rows"),
    ("", None, None, "empty"),
]


@pytest.mark.parametrize("text,line,column,fragment", BAD_CSV)
def test_malformed_csv_names_file_line_column(tmp_path, text, line, column, fragment):
    p = write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError) as info:
        rg.data.load_csv(p, target="label")
    message = str(info.value)
    assert str(p) in message and fragment in message
    assert info.value.line == line
    if line is not None:
        assert f"line {line}" in message
    if column is not None:
        assert f"column {column}" in message


def test_unknown_target_column_lists_columns(tmp_path):
    p = write(tmp_path, "d.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"no target column 'label'.*\['a', 'b'\]"):
        rg.data.load_csv(p, target="label")


def test_npz_round_trip_and_errors(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, X=np.arange(6.0).reshape(3, 2), y=np.array([0, 1, 0]))
    X, y = rg.data.load_npz(p)
    np.testing.assert_allclose(X, [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(y, [0, 1, 0])
    with pytest.raises(DataError, match=r"no array named 'labels'; the archive holds \['X', 'y'\]") as info:
        rg.data.load_npz(p, y_key="labels")
    assert str(p) in str(info.value) and info.value.array == "labels"

    bad = tmp_path / "nan.npz"
    X = np.zeros((3, 2))
    X[1, 1] = np.nan
    np.savez(bad, X=X, y=np.zeros(3))
    with pytest.raises(DataError, match=r"non-finite value nan at index \(1, 1\)"):
        rg.data.load_npz(bad)

    obj = tmp_path / "obj.npz"
    np.savez(obj, X=np.array([[1, 2]], dtype=object), y=np.zeros(1))
    with pytest.raises(DataError, match="without pickle"):
        rg.data.load_npz(obj)

    short = tmp_path / "short.npz"
    np.savez(short, X=np.zeros((3, 2)), y=np.zeros(2))
    with pytest.raises(DataError, match="'y' has 2 entries but 'X' has 3 rows"):
        rg.data.load_npz(short)

    junk = write(tmp_path, "junk.npz", "not a zip")
    with pytest.raises(DataError, match="cannot read as .npz"):
        rg.data.load_npz(junk)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / ("img.idx" + (".gz" if gz else ""))
    rg.data.write_idx(images, p)
    np.testing.assert_array_equal(rg.data.read_idx(p), images)
    floats = np.linspace(-1, 1, 5).astype(np.float32)
    rg.data.write_idx(floats, tmp_path / "f.idx")
    np.testing.assert_array_equal(rg.data.read_idx(tmp_path / "f.idx"), floats)


def idx_bytes(images):
    return bytes([0, 0, 8, images.ndim]) + np.asarray(images.shape, dtype=">u4").tobytes() + images.tobytes()


GOOD = np.zeros((2, 3, 3), dtype=np.uint8)
BAD_IDX = [
    (b"\x00\x01\x08\x03" + idx_bytes(GOOD)[4:], "bad IDX magic number 0x00010803"),
    (b"\x00\x00\x07\x03" + idx_bytes(GOOD)[4:], "bad IDX magic number"),
    (b"\x00\x00", "too short"),
    (idx_bytes(GOOD)[:10], "truncated header"),
    (idx_bytes(GOOD)[:-1], "size mismatch (truncated)"),
    (idx_bytes(GOOD) + b"\x00", "size mismatch (has extra bytes)"),
    (gzip.compress(idx_bytes(GOOD))[:-8], "corrupt or truncated gzip"),
]


@pytest.mark.parametrize("payload,fragment", BAD_IDX)
def test_malformed_idx_rejected(tmp_path, payload, fragment):
    p = tmp_path / "bad-images-idx3-ubyte"
    p.write_bytes(payload)
    with pytest.raises(DataError) as info:
        rg.data.read_idx(p)
    assert str(p) in str(info.value) and fragment in str(info.value)


def test_fashion_mnist_from_folder_and_count_mismatch(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 4)):
        rg.data.write_idx(rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), tmp_path / f"{prefix}-images-idx3-ubyte.gz")
        rg.data.write_idx(rng.integers(0, 10, size=n, dtype=np.uint8), tmp_path / f"{prefix}-labels-idx1-ubyte")
    s = rg.data.load_fashion_mnist(tmp_path)
    assert s.X_train.shape == (6, 784) and s.X_test.shape == (4, 784)
    assert 0.0 <= s.X_train.min() and s.X_train.max() <= 1.0
    rg.data.write_idx(np.zeros(5, dtype=np.uint8), tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match="do not match 4 images"):
        rg.data.load_fashion_mnist(tmp_path)
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        rg.data.load_fashion_mnist(tmp_path / "nowhere")


def test_model_compatibility_checks():
    with pytest.raises(DataError, match=r"in.csv: data have shape \(3, 5\) but the model expects 4 input features"):
        rg.data.check_features(np.zeros((3, 5)), 4, "in.csv")
    with pytest.raises(DataError, match=r"labels \[3, 7\] are outside 0..2"):
        rg.data.check_labels(np.array([0, 3, 7, 1]), 3, "in.csv")
    np.testing.assert_array_equal(rg.data.check_labels(np.array([0.0, 2.0]), 3, "x"), [0, 2])


def test_fast_and_checking_parsers_agree(tmp_path, monkeypatch):
    """Clean files take NumPy's C parser; the cell-by-cell parser must read them identically."""
    from retrograd.data import tabular
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    rg.data.save_csv(tmp_path / "big.csv", X, rng.integers(0, 3, size=50), ["a", "b", "c", "d"], target="y")
    fast = rg.data.read_table(tmp_path / "big.csv")
    monkeypatch.setattr(tabular, "_read_fast", lambda *a: None)
    slow = rg.data.read_table(tmp_path / "big.csv")
    assert fast[0] == slow[0] == ["a", "b", "c", "d", "y"]
    np.testing.assert_array_equal(fast[1], slow[1])
    np.testing.assert_array_equal(fast[1][:, :4], X)


def _gzip_stream(*parts):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(c.compress(p) for p in parts) + c.flush()


# (payload, message fragment): dimensions whose product overflows 64 bits, decompression bombs
IDX_SIZE_CASES = [
    (bytes([0, 0, 8, 4]) + np.full(4, 65536, ">u4").tobytes(), "more than this 20-byte file can hold"),
    (bytes([0, 0, 0x0E, 5]) + np.full(5, 2 ** 32 - 1, ">u4").tobytes(), "more than this 24-byte file can hold"),
    (gzip.compress(bytes([0, 0, 8, 3]) + np.full(3, 1000, ">u4").tobytes() + bytes(100)),
     "need 1000000000 data bytes, more than this"),
    (_gzip_stream(idx_bytes(GOOD), bytes(64 << 20)), "size mismatch (has extra bytes)"),
]


@pytest.mark.parametrize("payload,fragment", IDX_SIZE_CASES, ids=["u8-2^64", "f8-overflow", "header-bomb", "gzip-bomb"])
def test_idx_overflowing_sizes_and_bombs_are_refused_without_inflating(tmp_path, payload, fragment):
    p = tmp_path / "bomb-idx3-ubyte.gz"
    p.write_bytes(payload)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            rg.data.read_idx(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(p) in str(info.value) and fragment in str(info.value)
    assert peak < 100_000 + 3 * len(payload), f"{peak} bytes allocated for a {len(payload)}-byte file"


def test_idx_multi_member_gzip_and_zero_padding_load(tmp_path):
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(images)
    p = tmp_path / "m-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(raw[:10]) + gzip.compress(raw[10:]) + bytes(7))
    np.testing.assert_array_equal(rg.data.read_idx(p), images)
    p.write_bytes(gzip.compress(raw) + b"garbage")
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        rg.data.read_idx(p)
