"""How many BLAS threads the fit loop uses: left alone here; ``retrograd.accel.blas`` plugs in its policy.

``blas_threads(setting, batch_rows, n_params)`` returns the context manager
that ``Trainer.fit`` runs the epochs in. The reference leaves BLAS as it is;
with acceleration on, ``setting='auto'`` runs small steps on one BLAS thread
and an int sets that many (see ``retrograd.accel.blas.fit_policy``).
"""
from contextlib import nullcontext

from ..autograd.ops.registry import Accelerated


def _leave_blas_alone(setting, batch_rows, n_params):
    """A context manager that changes nothing."""
    return nullcontext()


blas_threads = Accelerated(_leave_blas_alone)
