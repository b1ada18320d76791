"""BLAS thread limits: run a block with BLAS on n threads, and fit's policy of one thread for small steps.

Small per-step matrix products (a recurrent step, a small MLP's batch) lose
more to thread hand-over than they gain, and on a busy machine a second BLAS
thread waiting for a core stalls every step (W2, 32 x 19k, ran 10x slower with
2 threads under load). The limit needs threadpoolctl (shipped with
scikit-learn); without it, or with RETROGRAD_BLAS_SINGLE_THREAD=0 in the
environment, nothing is changed.

BLAS's thread count is one setting for the whole process, so the limits of
threads that overlap are combined: while any is active the smallest one
holds, and the setting found before the first is restored after the last.
"""
import contextlib
import os
import threading
from typing import Any, ContextManager, Iterator, Optional, Union

_LOCK = threading.Lock()
_LIBS: list = []          # the BLAS libraries' thread controllers, looked up once (empty list: none reachable)
_ACTIVE: list[int] = []        # the limits in force, from every thread
_BEFORE: list[int] = []        # each library's setting before the first of them


def _libraries():
    if not _LIBS:
        try:
            from threadpoolctl import ThreadpoolController
            _LIBS.append(ThreadpoolController().select(user_api="blas").lib_controllers)
        except Exception:  # noqa: BLE001 - optional helper; any failure means "leave BLAS alone"
            _LIBS.append([])
    return _LIBS[0]


def _set(libs, counts):
    for lib, n in zip(libs, counts):
        if lib.num_threads != n:
            lib.set_num_threads(n)


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with the BLAS libraries limited to ``n`` threads (or fewer, if another block asks)."""
    if os.environ.get("RETROGRAD_BLAS_SINGLE_THREAD", "1") == "0":
        yield
        return
    libs = _libraries()
    with _LOCK:
        if not _ACTIVE:
            _BEFORE[:] = [lib.num_threads for lib in libs]
        _ACTIVE.append(n)
        if min(_ACTIVE) == n:
            _set(libs, [n] * len(libs))
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE.remove(n)
            if _ACTIVE:
                _set(libs, [min(_ACTIVE)] * len(libs))
            else:
                _set(libs, _BEFORE)


# Multiply-adds per step (batch rows x parameters) below which fit runs BLAS on one thread.
SMALL_STEP = 1 << 21


def fit_policy(setting: Union[str, int, None], batch_rows: int, n_params: int) -> ContextManager[Any]:
    """The BLAS limit for a training run: ``setting`` is fit's ``blas_threads`` argument.

    ``'auto'``: 1 thread when ``batch_rows * n_params`` is below ``SMALL_STEP``, else
    the library default; an int: that many threads; None: leave BLAS alone.
    """
    if setting is None:
        return contextlib.nullcontext()
    if setting == "auto":
        if batch_rows * n_params >= SMALL_STEP:
            return contextlib.nullcontext()
        setting = 1
    return blas_threads(int(setting))


def register() -> None:
    """Have fit limit BLAS's threads by ``fit_policy``."""
    from ..training import threads
    threads.blas_threads.accelerate(fit_policy)
