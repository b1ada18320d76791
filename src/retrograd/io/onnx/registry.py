"""The table of ONNX converters, keyed by module class: how each retrograd layer is written as ONNX nodes.

A converter is ``fn(ctx, module, inputs, path) -> list of value names``:
``ctx`` is the :class:`~retrograd.io.onnx.graph.GraphBuilder` (it adds nodes
and initializers and converts children with ``ctx.convert``), ``inputs`` the
:class:`~retrograd.io.onnx.graph.Value` objects fed to the module (a name in
the graph plus an example array with the shapes), ``path`` the module's
dotted place in the model (``"0"``, ``"body.2"``). The names returned are the
module's outputs, flattened in the order its ``forward`` returns them. The
lookup is by exact class: a subclass overriding ``forward`` is not silently
exported as its parent.

This file does not import onnx, so ``register_converter`` can be used in code
that runs without it.
"""
from typing import Any, Callable, Optional, TypeVar

Converter = Callable[..., list]
_F = TypeVar("_F", bound=Callable[..., Any])

CONVERTERS: dict = {}


def register_converter(*classes: type) -> Callable[[_F], _F]:
    """Decorator: ``@register_converter(MyLayer)`` makes ``rg.onnx.export`` write MyLayer with this function.

    Registering a class again replaces the earlier converter (so a user can
    override a built-in one).
    """
    if not classes or not all(isinstance(c, type) for c in classes):
        raise TypeError("register_converter takes one or more module classes, e.g. "
                        "@register_converter(MyLayer)")

    def decorate(fn: _F) -> _F:
        for cls in classes:
            CONVERTERS[cls] = fn
        return fn
    return decorate


def converter_for(module: Any) -> Optional[Converter]:
    """The converter registered for ``type(module)``, or None (the built-in ones register when
    ``retrograd.io.onnx`` is imported)."""
    return CONVERTERS.get(type(module))
