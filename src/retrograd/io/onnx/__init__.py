"""ONNX export and import: ``rg.onnx.export(model, path)``, ``rg.onnx.load(path)``; docs/onnx.md.

The ``onnx`` package is optional (``pip install 'retrograd[onnx]'``): it is
imported when a function here is called, not when this package is.
"""
import os
from typing import Any, Optional, Union

from .errors import OnnxExportError, OnnxLoadError  # noqa: F401
from .registry import register_converter  # noqa: F401
from . import convert_activations, convert_layers, convert_recurrent  # noqa: F401,E402 - they register themselves


def export(model: Any, path: Union[str, os.PathLike], example_input: Any = None, opset: Optional[int] = None,
           **kw: Any) -> Any:
    """Write ``model`` as ONNX; see :func:`retrograd.io.onnx.exporter.export` for the options."""
    from .errors import require_onnx
    require_onnx()
    from .exporter import export as _export
    return _export(model, path, example_input, opset, **kw)


def load(path: Union[str, os.PathLike, bytes], **kw: Any) -> Any:
    """An ONNX file as a trainable retrograd Module; see :func:`retrograd.io.onnx.importer.load`."""
    from .errors import require_onnx
    require_onnx()
    from .importer import load as _load
    return _load(path, **kw)
