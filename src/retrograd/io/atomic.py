"""Atomic file replacement (temp file in the same directory, fsync, rename), the one copy in the library.

Every file retrograd writes (model files, checkpoints, figures) goes through here, so that a reader
never sees half a file and a crash never leaves one:

* the temp file ``.<name>.<random>.tmp`` lives in the target's directory (a rename is atomic only
  within one file system), is fsynced before the rename and the directory after it;
* it is created with mode 0o666 less the process umask, as ``open()`` would create the target
  (``tempfile.mkstemp`` would give 0o600 whatever the umask); when the target already exists, its
  permission bits are kept;
* the writer holds an exclusive ``flock`` on its temp file from creation until the rename. A temp
  file left by a process killed mid-write (SIGKILL, power loss) is unlocked, since the kernel drops
  the locks of dead processes, so the next write of the same target removes it; a temp file
  whose writer is still alive is locked and left alone. (Without ``fcntl``, on Windows, stale
  temp files are not collected.)
"""
import contextlib
import os
import re
import secrets
import stat
from typing import BinaryIO, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_TOKEN_BYTES = 8


def _temp_name(base: str, keep_suffix: bool = False) -> str:
    suffix = os.path.splitext(base)[1] if keep_suffix else ""
    return f".{base}.{secrets.token_hex(_TOKEN_BYTES)}.tmp{suffix}"


def _is_temp_of(name: str, base: str) -> bool:
    """True for the temp-file names this module makes for a target called ``base``, and only those."""
    pattern = (re.escape(f".{base}.") + f"[0-9a-f]{{{2 * _TOKEN_BYTES}}}" + r"\.tmp"
               + f"(?:{re.escape(os.path.splitext(base)[1])})?")
    return re.fullmatch(pattern, name) is not None


def remove_stale_temp_files(path: "os.PathLike[str] | str") -> int:
    """Delete temp files of ``path`` left by writers that died; returns how many were removed.

    A temp file is removed only when its exclusive lock can be taken, that is when no live process
    holds it open for writing. Called by :func:`atomic_write` before each write.
    """
    if fcntl is None:  # pragma: no cover - Windows
        return 0
    path = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(path)
    try:
        names = [n for n in os.listdir(directory) if _is_temp_of(n, base)]
    except OSError:
        return 0
    removed = 0
    for name in names:
        candidate = os.path.join(directory, name)
        try:
            fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue                         # gone already, or a link: not ours to touch
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)                     # a live writer holds it
            continue
        try:
            # unlink only the file we locked, not one created under the same name meanwhile
            if os.path.samestat(os.fstat(fd), os.stat(candidate, follow_symlinks=False)):
                os.unlink(candidate)
                removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _create_locked_temp(directory: str, base: str, mode: int, keep_suffix: bool) -> "tuple[int, str]":
    """Create and lock a fresh temp file; retry if a concurrent cleaner removed it before the lock."""
    while True:
        tmp = os.path.join(directory, _temp_name(base, keep_suffix))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
        if fcntl is None:  # pragma: no cover - Windows
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp
        os.close(fd)                         # unlinked between our create and our lock: make another


@contextlib.contextmanager
def _locked_temp(path: "os.PathLike[str] | str", keep_suffix: bool = False) -> "Iterator[tuple[int, str, str]]":
    """(fd, temp path, target path) for a new locked temp file next to ``path``; removed on failure."""
    target = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {target!r}: directory {directory!r} does not exist")
    remove_stale_temp_files(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
        keep_mode = True
    except OSError:
        mode, keep_mode = 0o666, False       # os.open applies the umask to a new file
    fd, tmp = _create_locked_temp(directory, base, mode, keep_suffix)
    try:
        if keep_mode:
            os.chmod(tmp, mode)              # exactly the old file's bits, whatever the umask
        yield fd, tmp, target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    os.close(fd)
    _fsync_dir(directory)


@contextlib.contextmanager
def atomic_write(path: "os.PathLike[str] | str") -> Iterator[BinaryIO]:
    """Yield a binary file object; on success it replaces ``path`` in one rename, on failure nothing changes.

    A crash or SIGKILL at any point leaves either the old file or the complete new one, never a
    truncated file; the temp file a killed writer leaves behind is removed by the next write of
    the same path. Raises FileNotFoundError when the directory does not exist.
    """
    with _locked_temp(path) as (fd, tmp, target):
        f = os.fdopen(os.dup(fd), "wb")
        try:
            yield f
            f.flush()
            os.fsync(f.fileno())
        finally:
            f.close()
        os.replace(tmp, target)              # while the lock is still held


@contextlib.contextmanager
def atomic_path(path: "os.PathLike[str] | str") -> Iterator[str]:
    """Yield a temp file *name* to write (for writers that only take a file name); then rename it over ``path``.

    Same guarantees as :func:`atomic_write`. The writer may truncate and rewrite the temp file but
    must not replace it (write to the name given, not to a file renamed onto it). The temp name
    ends in the target's extension (``.model.gif.<random>.tmp.gif``), for writers that pick the
    format from it.
    """
    with _locked_temp(path, keep_suffix=True) as (fd, tmp, target):
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (best effort: some platforms cannot open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
