"""The safetensors file format, read and written with NumPy alone (no code is ever executed on load).

Layout: 8-byte little-endian header length N, N bytes of JSON header
(``{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}}``,
space-padded to a multiple of 8), then the raw little-endian tensor bytes.
Files we write also carry ``retrograd.sha256`` in the metadata: a digest of
the header (without that key) and the data, so a flipped bit anywhere that
matters is reported instead of silently loaded. Files from other writers
(e.g. the ``safetensors`` package) have no digest and load after the
structural checks alone.
"""
import hashlib
import json
import math
import os
import struct

import numpy as np

from ..backend import to_host

from .atomic import atomic_write

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?"}
DIGEST_KEY = "retrograd.sha256"
MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """A file is not a valid safetensors file, or is damaged; the message names the file and the problem."""


def _code(arr, name):
    dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    for code, np_name in DTYPES.items():
        if np.dtype(np_name) == dt:
            return code
    raise TypeError(f"save_tensors: tensor {name!r} has dtype {arr.dtype}, which safetensors cannot "
                    f"store; use a float, integer or bool dtype")


def _digest(header_without_digest, chunks):
    h = hashlib.sha256(json.dumps(header_without_digest, sort_keys=True, separators=(",", ":")).encode())
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def save_tensors(tensors, path, metadata=None):
    """Write ``{name: array}`` to ``path`` atomically, with ``metadata`` ({str: str}) in the header."""
    metadata = dict(metadata or {})
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"save_tensors: metadata must map str to str, got {k!r}: {type(v).__name__} "
                            f"(json.dumps non-string values first)")
    header, chunks, offset = {}, [], 0
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_tensors: tensor names must be strings, got {name!r}")
        value = to_host(value)                         # a CuPy array is written from a host copy
        arr = value.numpy() if hasattr(value, "numpy") and not isinstance(value, np.ndarray) else np.asarray(value)
        code = _code(arr, name)
        arr = np.asarray(arr, dtype=np.dtype(DTYPES[code]), order="C")  # (ascontiguousarray would make 0-d 1-d)
        raw = memoryview(arr.reshape(-1)).cast("B") if arr.size else b""
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        chunks.append(raw)
        offset += arr.nbytes
    header["__metadata__"] = dict(metadata)
    header["__metadata__"][DIGEST_KEY] = _digest(header, chunks)
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)


def load_tensors(path, verify=True):
    """Read a safetensors file: returns (``{name: ndarray}``, ``{str: str}`` metadata).

    Raises SafetensorsError naming the file for a truncated, corrupted or foreign file (any header
    the format does not allow: bad JSON, nesting, types, dtypes, shapes, offsets that overlap,
    leave gaps or pass the end of the file); with ``verify`` a retrograd digest, when present, must
    match. OSError when the file cannot be opened or read. Nothing is allocated beyond the file's
    own size (the data are read once and each tensor copied out of them).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()

    def fail(problem):
        raise SafetensorsError(f"{path}: {problem}")

    if len(raw) < 8:
        fail(f"file is {len(raw)} bytes long, too short for a safetensors header (truncated or not a model file)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER or 8 + n > len(raw):
        fail(f"header length field says {n} bytes but the file has {len(raw) - 8} after it: "
             f"not a safetensors file, or truncated")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:   # JSONDecodeError is a ValueError
        fail(f"header is not valid JSON ({type(exc).__name__}: {str(exc)[:200]}): corrupted, or not a "
             "safetensors file")
    if not isinstance(header, dict):
        fail("header is not a JSON object: not a safetensors file")
    metadata = header.get("__metadata__", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail("__metadata__ must map strings to strings: corrupted header")
    data = memoryview(raw)[8 + n:]
    entries = [(k, v) for k, v in header.items() if k != "__metadata__"]
    layout = {name: _entry_layout(name, info, fail) for name, info in entries}
    tensors, expected_start, chunks = {}, 0, []
    for name in sorted(layout, key=lambda k: layout[k][0]):
        begin, end, dt, shape = layout[name]
        if begin != expected_start:
            fail(f"tensor {name!r}: data offsets [{begin}, {end}] do not match its shape {list(shape)} and "
                 f"dtype or leave a gap or an overlap: corrupted header")
        if end > len(data):
            fail(f"tensor {name!r} needs bytes up to {end} but the data section has only {len(data)}: "
                 f"the file is truncated")
        chunk = data[begin:end]
        chunks.append(chunk)
        tensors[name] = np.frombuffer(chunk, dtype=dt).reshape(shape).copy()
        expected_start = end
    if expected_start != len(data):
        fail(f"the data section has {len(data) - expected_start} trailing bytes that no tensor uses: "
             f"corrupted or not a safetensors file")
    digest = metadata.get(DIGEST_KEY)
    if digest is not None:
        metadata = {k: v for k, v in metadata.items() if k != DIGEST_KEY}
        if verify:
            order = [k for k in header if k != "__metadata__"]
            ordered = {k: header[k] for k in order}
            ordered["__metadata__"] = metadata
            by_offset = [data[layout[k][0]:layout[k][1]] for k in order]
            if _digest(ordered, by_offset) != digest:
                fail("checksum mismatch: the file was modified or damaged after it was written "
                     "(a flipped bit?); restore it from a copy")
    # keep the file's order of names (the writer's order), not the offset order
    return {k: tensors[k] for k, _ in entries}, metadata


def _is_count(value):
    return type(value) is int and 0 <= value < 2 ** 63


def _entry_layout(name, info, fail):
    """(begin, end, dtype, shape) of one header entry, every field checked; ``fail`` raises otherwise."""
    if not isinstance(info, dict):
        fail(f"header entry {name!r} is not an object: corrupted header")
    off, code, shape = info.get("data_offsets"), info.get("dtype"), info.get("shape")
    if not (isinstance(off, list) and len(off) == 2 and all(_is_count(o) for o in off) and off[0] <= off[1]):
        fail(f"tensor {name!r} has invalid data_offsets {off!r:.80}")
    if not isinstance(code, str) or code not in DTYPES:
        fail(f"tensor {name!r} has dtype {code!r:.40}, which this reader does not support "
             f"(supported: {', '.join(DTYPES)})")
    if not (isinstance(shape, list) and len(shape) <= 64 and all(_is_count(s) for s in shape)):
        fail(f"tensor {name!r} has an invalid shape {shape!r:.80}")
    dt = np.dtype(DTYPES[code])
    if math.prod(max(s, 1) for s in shape) * dt.itemsize >= 2 ** 63:
        fail(f"tensor {name!r} has shape {shape}, larger than any array can be: corrupted header")
    begin, end = off
    if end - begin != dt.itemsize * math.prod(shape):
        fail(f"tensor {name!r}: data offsets [{begin}, {end}] do not match its shape {shape} and "
             f"dtype {code}: corrupted header")
    return begin, end, dt, tuple(shape)
