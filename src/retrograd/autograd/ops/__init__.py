"""The primitive ops: importing this package registers every primitive in `registry.OPS`."""
from . import compare, elementwise, linalg, reduction, shape  # noqa: F401 - registration
from . import conv, recurrent  # noqa: F401 - convolution, pooling and recurrent sequences
from . import softmax_xent  # noqa: F401 - fused softmax cross-entropy (training issue)
from .registry import ARRAY_MATH, OPS, TENSOR_MATH, Accelerated, Op, primitive  # noqa: F401
