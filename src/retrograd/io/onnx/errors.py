"""Errors of the ONNX bridge and the lazy import of the optional ``onnx`` package."""
from types import ModuleType


class OnnxExportError(ValueError):
    """A model (or one of its layers) cannot be written as ONNX; the message names the layer."""


class OnnxLoadError(ValueError):
    """An ONNX file cannot be turned into a retrograd module; the message names the file, node or tensor."""


def require_onnx() -> ModuleType:
    """The ``onnx`` package, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("ONNX export and import need the 'onnx' package: "
                          "pip install 'retrograd[onnx]' (installs onnx and onnxruntime)") from exc
    return onnx
