"""The ONNX ops retrograd imports: op type -> implementation, and the attribute values it refuses up front."""
from .import_math import MATH_OPS
from .import_nn import NN_ATTRS, NN_OPS
from .import_recurrent import RNN_OPS
from .import_shape import SHAPE_OPS

OPS: dict = {**MATH_OPS, **SHAPE_OPS, **NN_OPS, **RNN_OPS}

# op type -> {attribute: the values retrograd implements}; anything else is refused when the file loads
UNSUPPORTED_ATTRS: dict = {
    **NN_ATTRS,
    "MaxPool": {"storage_order": (0,)},
}
