"""Every speed trick of retrograd in one place, plugged into the modules that define what things mean.

The semantic packages (autograd, nn, optim, training) hold one plain
reference for each op, update rule and step; none of them imports this
package. Imported once, last, by ``retrograd/__init__.py``, it registers its
faster versions where they apply (see ``autograd/ops/registry.py``):

* ``recurrent``: the LSTM's compiled loops (``lstm_kernel.c``) or NumPy loops
  in their layout; the GRU and RNN with BLAS on one thread
* ``conv``: the fused batch-last convolution, the tiled max-pool
* ``scattered``: lazy cotangents of basic indexing
* ``adam``: Adam's compiled update (``adam_kernel.c``); ``packed``: one update
  over a group's small parameters laid end to end
* ``compiled`` (with ``trace``): fit's training step recorded and replayed
* ``blas``: BLAS thread limits; ``jacobian``: threaded outer products
* ``workspace``: pooled work arrays and helper threads; ``loader``: ctypes
* ``cuda_recurrent``, ``cuda_conv``, ``cuda_losses``, ``cuda_optim``: GPU
  kernels for CuPy arrays (fused LSTM/GRU/RNN steps, one-kernel col2im,
  one-kernel softmax cross-entropy, fused Adam/SGD updates, L-BFGS's
  two loops without host reads); registered only when CuPy imports

``enabled(False)`` turns all of them off in the calling thread (also as
``with rg.accel.enabled(False):``), as does ``RETROGRAD_ACCEL=0`` for the
process; ``RETROGRAD_NATIVE=0`` turns off only the C kernels.
"""
from ..autograd.ops.registry import acceleration_enabled as is_enabled
from ..autograd.ops.registry import enable_acceleration as enabled
from . import (adam, blas, compiled, conv, cuda_conv, cuda_losses, cuda_optim, cuda_recurrent, jacobian,
               lstm_native, packed, recurrent, scattered)
from .compiled import CompiledStep
from .trace import NotTraceable, Program, trace


def compiled_kernels() -> dict[str, bool]:
    """Which optional C kernels were built and loaded: {"lstm": bool, "adam": bool}."""
    return {"lstm": lstm_native.available(), "adam": adam.available()}


for _part in (scattered, recurrent, conv, adam, packed, compiled, blas, jacobian,
              cuda_recurrent, cuda_conv, cuda_losses, cuda_optim):
    _part.register()

__all__ = ["enabled", "is_enabled", "compiled_kernels", "CompiledStep", "trace", "Program", "NotTraceable"]
