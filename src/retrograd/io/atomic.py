"""Atomic file replacement: write to a temp file in the same directory, fsync, rename over the target."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file object; on success it replaces ``path`` in one rename, on failure nothing changes.

    The temp file lives in the target's directory (a rename is atomic only
    within one file system) and is fsynced before the rename, and the
    directory after it, so a crash or SIGKILL at any point leaves either the
    old file or the complete new one, never a truncated file.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory):
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
