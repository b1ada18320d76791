"""Named arrays from .npz archives, read without trusting the file: every size is checked before it is used.

``numpy.load`` trusts the archive: a 600-byte file whose .npy header claims a shape of 10^12
floats asks for terabytes before anything notices, and a damaged zip directory or deflate stream
escapes as ``zipfile.BadZipFile``, ``zlib.error``, ``EOFError``, ``NotImplementedError`` ...
This reader walks the archive with ``zipfile`` and parses each .npy header itself, so that

* the header's shape x itemsize must equal the member's uncompressed size in the zip directory,
  and that size must be one the member's compressed bytes can produce (stored: equal; deflate: at
  most 1032:1, the format's limit), and the compressed bytes must lie inside the file: nothing is
  allocated that the file cannot hold;
* object arrays are refused (they would need pickle, which is never used);
* every failure is a :class:`DataError` naming the file and the array.
"""
import ast
import math
import os
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import IO, Dict, Iterable, Tuple

import numpy as np

from .errors import DataError

NPY_MAGIC = b"\x93NUMPY"
# Deflate cannot expand input by more than 1032:1 (a 258-byte match costs at least 2 bits);
# an uncompressed size beyond that from a member's compressed size is a lie or a bomb.
DEFLATE_MAX_RATIO = 1032
# numpy writes headers of a few hundred bytes and refuses to read ones over 10000 by default.
MAX_NPY_HEADER = 65536
READ_CHUNK = 1 << 20
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError,
               ValueError, struct.error, UnicodeDecodeError, OverflowError)


def read_npz(path: "os.PathLike[str] | str", keys: Iterable[str]) -> Dict[str, np.ndarray]:
    """Read the arrays named ``keys`` from the .npz archive at ``path``.

    Returns ``{key: ndarray}`` (writable, C order, the dtype stored in the file). Raises
    :class:`DataError` naming the file (and the array, when one is at fault) for a missing file, a
    file that is not a zip archive or is damaged (bad CRC, truncated, bad deflate stream,
    unsupported zip version, encryption or compression method), a missing array, an object
    or non-numeric array, or a header that claims more data than the archive member holds.
    """
    path = Path(path)
    try:
        file_size = os.path.getsize(path)
        with open(path, "rb") as handle:
            magic = handle.read(len(NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"cannot read .npz file: {exc.strerror or exc}", path) from None
    if magic == NPY_MAGIC:
        raise DataError("this is a single .npy array, not an .npz archive of named arrays "
                        "(save with numpy.savez(path, X=..., y=...))", path)
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_ERRORS as exc:
        raise DataError(f"cannot read as .npz (not a zip archive, or a damaged one): {exc}", path) from None
    with archive:
        try:
            infos = archive.infolist()
        except _ZIP_ERRORS as exc:  # pragma: no cover - infolist only returns the parsed directory
            raise DataError(f"cannot read the zip directory: {exc}", path) from None
        members = {}
        for info in infos:
            members[info.filename[:-4] if info.filename.endswith(".npy") else info.filename] = info
        arrays = {}
        for key in keys:
            if key not in members:
                raise DataError(f"no array named {key!r}; the archive holds {list(members)}", path, array=key)
            arrays[key] = _read_member(archive, members[key], file_size, path, key)
    return arrays


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file_size: int, path: Path,
                 key: str) -> np.ndarray:
    def fail(problem: str) -> DataError:
        return DataError(problem, path, array=key)

    _check_directory_entry(info, file_size, fail)
    try:
        with archive.open(info) as member:
            dtype, fortran, shape, header_len = _read_npy_header(member, info.file_size, fail)
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes != info.file_size - header_len:
                raise fail(f"the .npy header says shape {shape} of {dtype} ({nbytes} bytes), but the "
                           f"archive member holds {info.file_size - header_len} bytes after the header: "
                           "damaged or truncated")
            raw = np.empty(nbytes, dtype=np.uint8)
            filled = 0
            while filled < nbytes:
                chunk = member.read(min(READ_CHUNK, nbytes - filled))
                if not chunk:
                    raise fail(f"the data stop after {filled} of {nbytes} bytes: truncated")
                raw[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
                filled += len(chunk)
            if member.read(1):       # reading to the end also checks the CRC
                raise fail("the archive member holds more bytes than its header describes")
    except DataError:
        raise
    except _ZIP_ERRORS as exc:
        raise fail(f"damaged archive member ({type(exc).__name__}: {exc})") from None
    array = raw.view(dtype)
    if fortran:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def _check_directory_entry(info: zipfile.ZipInfo, file_size: int, fail) -> None:
    """Refuse a zip entry whose sizes cannot be true for this file, before reading any of it."""
    if info.flag_bits & 0x1:
        raise fail("the archive member is encrypted; retrograd reads plain numpy.savez archives")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise fail(f"the archive member uses zip compression method {info.compress_type}; only stored "
                   "and deflate (what numpy.savez / numpy.savez_compressed write) are read")
    if info.header_offset < 0 or info.header_offset + info.compress_size > file_size:
        raise fail(f"the zip directory says the member has {info.compress_size} compressed bytes at offset "
                   f"{info.header_offset}, beyond the {file_size}-byte file: damaged or truncated")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise fail(f"the zip directory gives a stored (uncompressed) member {info.file_size} bytes but "
                   f"{info.compress_size} on disk: damaged zip directory")
    limit = DEFLATE_MAX_RATIO * info.compress_size + 64
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > limit:
        raise fail(f"the zip directory claims {info.file_size} uncompressed bytes from {info.compress_size} "
                   f"compressed ones, more than deflate can produce (at most {DEFLATE_MAX_RATIO}:1): "
                   "a damaged zip directory or a decompression bomb")


def _read_exact(member: IO[bytes], n: int, what: str, fail) -> bytes:
    data = member.read(n)
    if len(data) != n:
        raise fail(f"the .npy data end inside the {what}: truncated")
    return data


def _read_npy_header(member: IO[bytes], member_size: int,
                     fail) -> Tuple[np.dtype, bool, Tuple[int, ...], int]:
    """(dtype, fortran_order, shape, header length in bytes) of the .npy stream ``member``.

    The header is a Python dict literal; it is parsed with ``ast.literal_eval`` (no code runs),
    after its length has been checked against the member's size and ``MAX_NPY_HEADER``.
    """
    if _read_exact(member, len(NPY_MAGIC), "magic string", fail) != NPY_MAGIC:
        raise fail("the archive member is not a .npy array (bad magic string)")
    major, minor = _read_exact(member, 2, "version", fail)
    if (major, minor) not in ((1, 0), (2, 0), (3, 0)):
        raise fail(f"unsupported .npy format version {major}.{minor}")
    length_size = 2 if major == 1 else 4
    (length,) = struct.unpack("<H" if major == 1 else "<I", _read_exact(member, length_size, "header", fail))
    header_len = len(NPY_MAGIC) + 2 + length_size + length
    if length > MAX_NPY_HEADER or header_len > member_size:
        raise fail(f"the .npy header length {length} is impossible for a {member_size}-byte member "
                   f"(limit {MAX_NPY_HEADER}): damaged")
    text = _read_exact(member, length, "header", fail).decode("utf-8" if major == 3 else "latin1")
    try:
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise fail("the .npy header is not a valid dict literal: damaged") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise fail("the .npy header must hold exactly 'descr', 'fortran_order' and 'shape': damaged")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str):
        raise fail(f"structured dtype {descr!r:.80}: only plain numeric arrays are read")
    if not isinstance(fortran, bool):
        raise fail(f"the .npy header's fortran_order is {fortran!r:.40}, not True or False: damaged")
    if not (isinstance(shape, tuple) and len(shape) <= 64
            and all(type(s) is int and s >= 0 for s in shape)):
        raise fail(f"the .npy header's shape {shape!r:.80} is not a tuple of sizes: damaged")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError, OverflowError):
        raise fail(f"the .npy header names an unknown dtype {descr!r:.40}: damaged") from None
    if dtype.hasobject:
        raise fail(f"the array holds Python objects (dtype {dtype}), which cannot be loaded without "
                   "pickle; retrograd never unpickles (allow_pickle=False): save numeric arrays only")
    if dtype.kind not in "biufc" or dtype.shape != () or dtype.names is not None:
        raise fail(f"the array has dtype {dtype}; it must be numeric (or bool)")
    if math.prod(max(s, 1) for s in shape) * dtype.itemsize > sys.maxsize:
        raise fail(f"the .npy header's shape {shape} is larger than any array can be: damaged")
    return dtype, fortran, shape, header_len
