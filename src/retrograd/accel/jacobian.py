"""The outer products of per-example gradients (optim/jacobian.py, autograd/per_example.py) written by several threads.

Writing J is memory-bound and NumPy ufuncs release the GIL, so two or more
threads each writing their own rows of J nearly divide the time. Below
``THREADED_ABOVE`` elements a thread hand-off costs more than it saves.
"""
import os

import numpy as np

from .workspace import helper_thread

WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2))
THREADED_ABOVE = 1 << 20          # elements of J's block


def outer_rows(x: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """out[n] = outer(x[n], g[n]), the rows split over the helper threads."""
    pool = helper_thread("jacobian", WORKERS)
    step = -(-len(x) // WORKERS)

    def rows(a):
        np.multiply(x[a:a + step, :, None], g[a:a + step, None, :], out=out[a:a + step])
    list(pool.map(rows, range(0, len(x), step)))


def _large(x, g, out):
    return out.size >= THREADED_ABOVE and WORKERS > 1 and type(out) is np.ndarray


def register() -> None:
    """Have the per-sample Jacobian and the per-example gradients write large blocks with several threads."""
    from ..autograd import per_example
    from ..optim import jacobian
    jacobian.outer_rows.accelerate(outer_rows, when=_large)
    per_example.outer_rows.accelerate(outer_rows, when=_large)
