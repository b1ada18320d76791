"""An ``onnx.backend`` adapter over ``rg.onnx.load``, so the onnx package's backend test cases can run on it.

``RetrogradBackend.prepare(model)`` returns a rep whose ``run(inputs)`` runs
the imported :class:`~retrograd.io.onnx.importer.OnnxModule` without a graph
and returns NumPy arrays. ``NODE_TEST_MODULES`` maps each supported op to the
module of ``onnx.backend.test.case.node`` that holds its test cases.
"""
from typing import Any

import numpy as np

from .errors import require_onnx

require_onnx()
from onnx.backend.base import Backend, BackendRep  # noqa: E402

from ...autograd.tensor import Tensor, no_grad  # noqa: E402
from .import_table import OPS  # noqa: E402
from .importer import OnnxModule, load  # noqa: E402

_SPECIAL_MODULES = {"And": "and_", "Not": "not_", "Or": "or_", "Range": "rangeop",
                    "GreaterOrEqual": "greater_or_equal", "LessOrEqual": "less_or_equal",
                    "BatchNormalization": "batch_normalization", "InstanceNormalization": "instance_normalization",
                    "ReduceLogSum": "reduce_log_sum", "ReduceLogSumExp": "reduce_log_sum_exp"}
NODE_TEST_MODULES = {op: _SPECIAL_MODULES.get(op, op.lower()) for op in OPS}


class RetrogradBackendRep(BackendRep):
    """A prepared model: the imported module, run on NumPy inputs."""

    def __init__(self, module: OnnxModule):
        self.module = module

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        """Outputs (NumPy arrays) for ``inputs``: a list in graph-input order, a dict by name, or one array."""
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.module.input_names]
        elif isinstance(inputs, np.ndarray):
            inputs = [inputs]
        with no_grad():
            out = self.module(*inputs)
        out = out if isinstance(out, tuple) else (out,)
        return tuple(o.data if isinstance(o, Tensor) else np.asarray(o) for o in out)


class RetrogradBackend(Backend):
    """onnx.backend.base.Backend for retrograd (CPU only)."""

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", **kwargs: Any) -> RetrogradBackendRep:
        """Check and import ``model`` (a ModelProto)."""
        super().prepare(model, device, **kwargs)
        return RetrogradBackendRep(load(model, check=False))

    @classmethod
    def run_model(cls, model: Any, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
        """prepare + run."""
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """Only the CPU (NumPy arrays)."""
        return device == "CPU"
