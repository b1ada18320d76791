"""Work arrays and helper threads of the fast versions (convolution, recurrent layers, Adam, the Jacobian).

Fresh multi-hundred-kilobyte arrays are mapped anew and page-faulted in on
every training step (measured: a third of a W5 step, a quarter of a W4 step
on the shared machine), so the kernels take their arrays from here:

* ``scratch``: temporaries that never leave the kernel that asked for them;
  one array per (tag, shape, dtype) and thread, reused on every call.
* ``recycled``: arrays that do leave (outputs, saved work); an earlier one is
  handed out again only once this pool holds its last reference, judged by
  CPython's reference count (a view counts through its base, and so does
  anything else that uses the memory: a Tensor, a memoryview, torch.from_numpy).

Both pools are per thread (``threading.local``): threads that train at once
never hand each other an array.

Both start on a cache line (64 bytes). NumPy's large arrays start 16 bytes
past one, so when two threads write the two halves of each row (the LSTM
kernels split the batch columns so), every row shared a line between the
cores, which then passed it back and forth on every write.

``helper_thread(name)`` is an executor per name (one thread unless asked), for work a kernel
runs beside its own loop: NumPy releases the GIL in matrix products and
ufuncs, and an idle helper sleeps, where BLAS's own idle threads spin (which
stalled every product when another job held the second core).
"""
import math
import os
import sys
import threading

import numpy as np

_LOCAL = threading.local()
RECYCLED_DEPTH = 4              # arrays kept per (tag, shape, dtype): enough for a few graphs alive at once
CACHE_LINE = 64
RECYCLED_MAX_BYTES = 1 << 25    # larger arrays are not pinned: NumPy maps them with huge pages, cheap to fault in
_MAX_KEYS = 32                  # a store with more keys is dropped (arrays in use elsewhere stay alive there)


def _store(name):
    store = getattr(_LOCAL, name, None)
    if store is None or len(store) > _MAX_KEYS:
        store = {}
        setattr(_LOCAL, name, store)
    return store


def aligned_empty(shape, dtype):
    """``np.empty(shape, dtype)`` that starts on a cache line; its ``base`` is the byte buffer it lies in."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    buf = np.empty(nbytes + CACHE_LINE, np.uint8)
    start = -buf.ctypes.data % CACHE_LINE
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def scratch(tag, shape, dtype):
    """A reusable work array for temporaries that never leave a kernel (per thread, tag, shape, dtype)."""
    store = _store("scratch")
    key = (tag, tuple(shape), np.dtype(dtype).str)
    arr = store.get(key)
    if arr is None:
        arr = store[key] = aligned_empty(shape, dtype)
    return arr


def recycled(tag, shape, dtype):
    """An uninitialised array that may outlive the call, reusing the memory of an earlier one nobody holds."""
    if math.prod(shape) * np.dtype(dtype).itemsize > RECYCLED_MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    kept = _store("recycled").setdefault((tag, tuple(shape), np.dtype(dtype).str), [])
    for arr in kept:
        # a view of ``arr`` holds its byte buffer, not ``arr``: the buffer is referenced by
        # ``arr`` and getrefcount's argument alone, ``arr`` by the pool's list, the loop and the argument
        if sys.getrefcount(arr.base) == 2 and sys.getrefcount(arr) == 3:
            return arr
    arr = aligned_empty(shape, dtype)
    if len(kept) < RECYCLED_DEPTH:
        kept.append(arr)
    return arr


def recycled_like(tag, a):
    """``np.empty_like(a)`` (the same memory order) from the pool of ``recycled``."""
    order = sorted(range(a.ndim), key=lambda i: -a.strides[i])     # outermost axis first
    buf = recycled(tag, tuple(a.shape[i] for i in order), a.dtype)
    return buf.transpose(np.argsort(order))


_HELPERS: dict = {}
_HELPERS_LOCK = threading.Lock()   # two threads asking at once get the same executor


def helper_thread(name, workers=1):
    """The executor called ``name`` with ``workers`` threads (created on first use, anew in a forked child).

    Shared by every thread of the process: each caller waits for its own jobs only.
    """
    helper = _HELPERS.get(name)
    if helper is None or helper[0] != os.getpid():       # a forked child has no such threads
        with _HELPERS_LOCK:
            helper = _HELPERS.get(name)
            if helper is None or helper[0] != os.getpid():
                from concurrent.futures import ThreadPoolExecutor
                pool = ThreadPoolExecutor(workers, thread_name_prefix=f"retrograd-{name}")
                helper = _HELPERS[name] = (os.getpid(), pool)
    return helper[1]
