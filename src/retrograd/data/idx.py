"""IDX files (the MNIST / Fashion-MNIST format), gzipped or raw, checked byte by byte; Fashion-MNIST."""
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError
from .split import Split

# IDX type byte -> big-endian NumPy dtype (LeCun's format description).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# Where Debian's `dataset-fashion-mnist` package installs the four files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


# Deflate cannot expand its input by more than 1032:1; a header asking for more than that from the
# compressed bytes on disk is refused before anything is decompressed.
DEFLATE_MAX_RATIO = 1032
_CHUNK = 1 << 20


class _Source:
    """The bytes of an IDX file, read on demand: the raw file, or its gzip stream decompressed
    piece by piece (never further than the caller asks, so a bomb is never inflated)."""

    def __init__(self, path):
        self.path = path
        try:
            self.raw = Path(path).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read IDX file: {exc.strerror}", path) from None
        self.gzipped = self.raw[:2] == b"\x1f\x8b"
        self.pos = 0                                  # raw files: next byte; gzip: bytes produced
        if self.gzipped:
            self._inflater = zlib.decompressobj(wbits=31)
            self._input = memoryview(self.raw)

    def _fail(self, problem):
        return DataError(problem, self.path)

    def read(self, n):
        """Up to ``n`` bytes (fewer only at the end of the data), without copying a raw file's bytes."""
        if not self.gzipped:
            out = memoryview(self.raw)[self.pos:self.pos + n]
            self.pos += len(out)
            return out
        out, got = bytearray(n), 0            # n is at most 1032x the file (checked by the caller)
        while got < n:
            chunk = self._inflate(min(n - got, _CHUNK))
            if not chunk:
                break
            out[got:got + len(chunk)] = chunk
            got += len(chunk)
        del out[got:]
        self.pos += got
        return out

    def _inflate(self, n):
        """Up to ``n`` decompressed bytes; b"" at the end of the last gzip member."""
        try:
            while True:
                d = self._inflater
                if d.eof:
                    rest = d.unused_data
                    if not rest.strip(b"\x00"):      # trailing zero padding is allowed, as gzip does
                        return b""
                    self._inflater = zlib.decompressobj(wbits=31)   # another gzip member follows
                    self._input = memoryview(rest)
                    continue
                data = d.unconsumed_tail or self._input
                self._input = memoryview(b"")
                out = d.decompress(data, n)
                if out:
                    return out
                if not d.eof and not data:                  # no input left, no output: cut short
                    raise self._fail("corrupt or truncated gzip data (the stream ends early)")
        except zlib.error as exc:
            raise self._fail(f"corrupt or truncated gzip data ({exc})") from None

    def size_bound(self):
        """The most data bytes this file can hold: its length, or 1032x that when gzipped."""
        return len(self.raw) * (DEFLATE_MAX_RATIO if self.gzipped else 1)


def read_idx(path):
    """Read one IDX file (raw or gzipped) into a NumPy array of its stored shape (native byte order).

    Raises DataError naming the file for a bad magic number, an unknown type code, a truncated
    header, a payload whose size does not match the dimensions, dimensions whose product is larger
    than the file could hold (checked in exact integers, so no product overflows), or damaged gzip
    data. A gzipped file is decompressed only as far as its header justifies: a decompression bomb
    is refused after header + data + 1 byte, never inflated.
    """
    src = _Source(path)
    magic = src.read(4)
    if len(magic) < 4:
        raise DataError(f"file has {len(magic)} bytes, too short for the 4-byte IDX magic number", path)
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
        raise DataError(f"bad IDX magic number 0x{magic.hex()} at byte 0: expected 0x0000TTDD with "
                        f"type TT in {{08, 09, 0b, 0c, 0d, 0e}} and DD dimensions; is this an IDX file?", path)
    ndim = magic[3]
    if ndim == 0:
        raise DataError("IDX magic number says 0 dimensions", path)
    header_len = 4 + 4 * ndim
    dims_raw = src.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"truncated header: {ndim} dimensions need {header_len} header bytes, "
                        f"file has {4 + len(dims_raw)}", path)
    dims = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
    dtype = np.dtype(_IDX_TYPES[magic[2]])
    expected = math.prod(dims) * dtype.itemsize          # exact: Python integers do not overflow
    if expected > src.size_bound():
        raise DataError(f"dimensions {dims} of {dtype.itemsize}-byte items need {expected} data bytes, "
                        f"more than this {len(src.raw)}-byte file can hold: damaged header, or not an IDX file",
                        path)
    if ndim > 32 or math.prod(max(d, 1) for d in dims) * dtype.itemsize >= 2 ** 63:
        raise DataError(f"dimensions {dims} describe no array NumPy can hold: damaged header", path)
    payload = src.read(expected)
    extra = src.read(1)
    if len(payload) != expected or extra:
        actual = src.pos - header_len
        kind = "truncated" if len(payload) < expected else "has extra bytes"
        more = "" if len(payload) < expected or not src.gzipped else " (or more: decompression stopped there)"
        raise DataError(f"size mismatch ({kind}): dimensions {dims} of {dtype.itemsize}-byte items need "
                        f"{expected} data bytes after the {header_len}-byte header, found {actual}{more}", path)
    if src.gzipped and src.read(1):                         # pragma: no cover - read(1) above was empty
        raise DataError("gzip data continue after the array", path)
    data = np.frombuffer(payload, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="), copy=False)
    return data if data.flags.writeable else data.copy()


def write_idx(array, path, compress=None):
    """Write an array as IDX (gzipped when ``compress`` or the name ends in .gz), atomically. Used by tests and tools."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(_IDX_TYPES[code]).tobytes()
    if compress or (compress is None and str(path).endswith(".gz")):
        payload = gzip.compress(payload)
    from ..io.atomic import atomic_write
    with atomic_write(path) as f:
        f.write(payload)


def _find(directory, stem):
    for name in (stem + ".gz", stem):
        candidate = Path(directory) / name
        if candidate.exists():
            return candidate
    raise DataError(f"no {stem}[.gz] in this directory; install Debian's dataset-fashion-mnist "
                    f"(files land in {FASHION_MNIST_DIR}) or pass path= / set RETROGRAD_FASHION_MNIST "
                    "to a folder holding the four IDX files", directory)


def load_fashion_mnist(path=None, flatten=True, scale=True, dtype=np.float32):
    """Fashion-MNIST from its four IDX files (60000 train / 10000 test, 28x28, 10 classes).

    ``path`` is the folder with ``train-images-idx3-ubyte[.gz]`` and friends; it defaults to
    ``$RETROGRAD_FASHION_MNIST`` and then to Debian's ``/usr/share/datasets/fashion-mnist``.
    Images are scaled to [0, 1] when ``scale`` and flattened to 784 columns when ``flatten``.
    """
    directory = path or os.environ.get("RETROGRAD_FASHION_MNIST") or FASHION_MNIST_DIR
    parts = []
    for prefix in ("train", "t10k"):
        images_path = _find(directory, f"{prefix}-images-idx3-ubyte")
        labels_path = _find(directory, f"{prefix}-labels-idx1-ubyte")
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.ndim != 3:
            raise DataError(f"expected a 3-D image array (n, rows, cols), got shape {images.shape}", images_path)
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"labels of shape {labels.shape} do not match {len(images)} images in "
                            f"{images_path}", labels_path)
        X = images.reshape(len(images), -1) if flatten else images
        X = X.astype(dtype) / 255.0 if scale else X.astype(dtype)
        parts += [X.astype(dtype), labels.astype(np.int64)]
    return Split(*parts)
