"""How many BLAS threads the fit loop uses: one for small per-step matrices, the library default otherwise."""
from contextlib import nullcontext

from .. import backend

# Multiply-adds per step (batch rows x parameters) below which a second BLAS thread costs more
# than it saves: the hand-off per GEMM outweighs the work, and on a busy machine a thread that
# waits for a core stalls every step (W2, 32 x 19k, ran 10x slower with 2 threads under load).
SMALL_STEP = 1 << 21


def blas_threads(setting, batch_rows, n_params):
    """A context manager limiting BLAS threads during training.

    ``setting``: ``'auto'`` (1 thread when ``batch_rows * n_params`` is below
    ``SMALL_STEP``, else leave the default), an int (that many threads), or
    None (leave BLAS alone); see ``retrograd.backend.blas_threads``.
    """
    if setting is None:
        return nullcontext()
    if setting == "auto":
        if batch_rows * n_params >= SMALL_STEP:
            return nullcontext()
        setting = 1
    return backend.blas_threads(int(setting))
