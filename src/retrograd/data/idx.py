"""IDX files (the MNIST / Fashion-MNIST format), gzipped or raw, checked byte by byte; Fashion-MNIST."""
import gzip
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


def _read_bytes(path):
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file: {exc.strerror}", path) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"corrupt or truncated gzip data ({exc})", path) from None
    return raw


def read_idx(path):
    """Read one IDX file into a NumPy array of its stored shape (native byte order).

    Raises DataError naming the file and byte offset for a bad magic number, an unknown type
    code, a truncated header, or a payload whose size does not match the dimensions.
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"file has {len(raw)} bytes, too short for the 4-byte IDX magic number", path)
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"bad IDX magic number 0x{raw[:4].hex()} at byte 0: expected 0x0000TTDD with "
                        f"type TT in {{08, 09, 0b, 0c, 0d, 0e}} and DD dimensions; is this an IDX file?", path)
    ndim = raw[3]
    if ndim == 0:
        raise DataError("IDX magic number says 0 dimensions", path)
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"truncated header: {ndim} dimensions need {header_len} header bytes, "
                        f"file has {len(raw)}", path)
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        kind = "truncated" if actual < expected else "has extra bytes"
        raise DataError(f"size mismatch ({kind}): dimensions {dims} of {dtype.itemsize}-byte items need "
                        f"{expected} data bytes after the {header_len}-byte header, found {actual}", path)
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def write_idx(array, path, compress=None):
    """Write an array as IDX (gzipped when ``compress`` or the name ends in .gz). Used by tests and tools."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(_IDX_TYPES[code]).tobytes()
    if compress or (compress is None and str(path).endswith(".gz")):
        payload = gzip.compress(payload)
    Path(path).write_bytes(payload)


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
