"""The NumPy-only safetensors reader/writer: round trips, the reference package both ways, damaged and foreign files, atomic writes."""
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import retrograd as rg
from retrograd.io import SafetensorsError, load_tensors, save_tensors

ARRAYS = {
    "f64": np.arange(6, dtype=np.float64).reshape(2, 3) / 7,
    "f32": np.linspace(-1, 1, 5, dtype=np.float32),
    "f16": np.array([[0.5, -2.0]], dtype=np.float16),
    "i64": np.array([1, -2, 3], dtype=np.int64),
    "i32": np.array([7], dtype=np.int32),
    "u8": np.arange(4, dtype=np.uint8),
    "bool": np.array([True, False]),
    "scalar": np.array(3.5),
    "empty": np.zeros((0, 4), dtype=np.float32),
}


def test_round_trip_every_dtype(tmp_path):
    path = tmp_path / "a.safetensors"
    save_tensors(ARRAYS, path, {"note": "hello"})
    got, meta = load_tensors(path)
    assert list(got) == list(ARRAYS)
    for k, v in ARRAYS.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v)
    assert meta == {"note": "hello"}


def test_tensors_and_views_are_written_as_their_values(tmp_path):
    base = np.arange(12.0).reshape(3, 4)
    save_tensors({"t": rg.tensor([1.0, 2.0]), "view": base[:, ::2], "big": base.astype(">f8")},
                 tmp_path / "v.st")
    got, _ = load_tensors(tmp_path / "v.st")
    np.testing.assert_array_equal(got["view"], base[:, ::2])
    np.testing.assert_array_equal(got["big"], base)
    assert got["t"].dtype == np.float32


def test_readable_by_the_safetensors_package_and_back(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    ours = tmp_path / "ours.st"
    save_tensors(ARRAYS, ours, {"k": "v"})
    theirs = st.load_file(str(ours))
    for k, v in ARRAYS.items():
        np.testing.assert_array_equal(theirs[k], v)
    other = tmp_path / "theirs.st"
    st.save_file({k: v for k, v in ARRAYS.items()}, str(other), metadata={"m": "1"})
    got, meta = load_tensors(other)
    assert meta == {"m": "1"}
    for k, v in ARRAYS.items():
        np.testing.assert_array_equal(got[k], v)


def test_truncated_files_are_rejected_with_the_file_name(tmp_path):
    path = tmp_path / "t.st"
    save_tensors({"w": np.ones((100, 10))}, path)
    raw = path.read_bytes()
    for cut in (0, 5, 20, len(raw) - 8, len(raw) - 1):
        bad = tmp_path / f"cut{cut}.st"
        bad.write_bytes(raw[:cut])
        with pytest.raises(SafetensorsError) as err:
            load_tensors(bad)
        assert str(bad) in str(err.value)
        assert "truncated" in str(err.value) or "too short" in str(err.value) or "JSON" in str(err.value)


def test_bit_flips_anywhere_are_detected(tmp_path):
    path = tmp_path / "f.st"
    save_tensors({"w": np.linspace(0, 1, 64), "b": np.arange(8, dtype=np.int32)}, path)
    raw = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    header_end = 8 + len(json.dumps(json.loads(raw[8:8 + n])).replace(" ", ""))  # end of the JSON text
    positions = [8 + 3, 8 + n // 2, 8 + n + 5, len(raw) - 1, 8 + n + 64 * 8 + 3]
    for pos in positions:
        if header_end <= pos < 8 + n:
            continue                                     # the trailing space padding carries no data
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        target = tmp_path / f"flip{pos}.st"
        target.write_bytes(bytes(bad))
        with pytest.raises(SafetensorsError, match=str(target).replace("\\", "\\\\")):
            load_tensors(target)


def test_foreign_files_are_rejected(tmp_path):
    cases = {
        "text.st": b"hello, this is not a model file at all",
        "npy.st": b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
        "json_list.st": struct.pack("<Q", 2) + b"[]",
        "bad_dtype.st": struct.pack("<Q", 48) + json.dumps({"w": {"dtype": "X9", "shape": [1],
                                                                  "data_offsets": [0, 1]}}).encode()[:48],
    }
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(SafetensorsError, match=name):
            load_tensors(p)


def test_wrong_offsets_are_rejected(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}}).encode()
    p = tmp_path / "o.st"
    p.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 12)
    with pytest.raises(SafetensorsError, match="do not match its shape"):
        load_tensors(p)


def test_bad_inputs_to_the_writer(tmp_path):
    with pytest.raises(TypeError, match="metadata must map str to str"):
        save_tensors({"a": np.zeros(1)}, tmp_path / "x.st", {"n": 3})
    with pytest.raises(TypeError, match="complex128"):
        save_tensors({"a": np.zeros(1, dtype=complex)}, tmp_path / "x.st")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_tensors({"a": np.zeros(1)}, tmp_path / "no" / "such" / "dir.st")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from retrograd.io import save_tensors
    big = np.full((64, 1024, 1024), float(sys.argv[2]), dtype=np.float32)   # 256 MiB
    print("start", flush=True)
    while True:
        save_tensors({"w": big}, sys.argv[1])
        print("saved", flush=True)
""")


def _kill_when_temp_file_is_partly_written(proc, directory, stem):
    """SIGKILL the writer once its temp file holds some bytes but not all: a true mid-write kill."""
    full = 64 * 1024 * 1024 * 4
    deadline = time.time() + 60
    while time.time() < deadline:
        temps = [p for p in directory.iterdir() if p.name.startswith("." + stem) and p.name.endswith(".tmp")]
        sizes = [p.stat().st_size for p in temps]
        if any(0 < s < full for s in sizes):
            os.kill(proc.pid, signal.SIGKILL)
            return max(sizes)
        time.sleep(0.001)
    raise AssertionError("the writer never started writing its temp file")


def test_sigkill_mid_write_leaves_old_file_or_nothing(tmp_path):
    path = tmp_path / "model.st"
    save_tensors({"w": np.full(4, 1.0, dtype=np.float32)}, path)      # the old, complete file
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(path), "2.0"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"start"
        written = _kill_when_temp_file_is_partly_written(proc, tmp_path, "model.st")
    finally:
        proc.kill()
        proc.wait()
    assert written > 0
    got, _ = load_tensors(path)                           # still the old file, whole
    np.testing.assert_array_equal(got["w"], np.full(4, 1.0, dtype=np.float32))


def test_killed_before_any_file_leaves_nothing(tmp_path):
    path = tmp_path / "fresh.st"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(path), "3.0"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"start"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    if path.exists():                                     # the rename happened: then it is complete
        got, _ = load_tensors(path)
        assert got["w"].shape == (64, 1024, 1024)
