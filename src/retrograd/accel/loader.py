"""The optional compiled kernels (the LSTM loops, Adam's update) as ctypes libraries.

Each is a method-less CPython extension built by setup.py with ``optional=True``:
a machine without a C compiler installs retrograd without it, and the code that
would call it runs its NumPy version instead. ``RETROGRAD_NATIVE=0`` turns them
all off (``RETROGRAD_ACCEL=0`` every acceleration). CI sets
``RETROGRAD_REQUIRE_NATIVE=1``, under which the tests check that both loaded.
"""
import ctypes
import importlib
import os


def load_extension(module, signatures):
    """The extension ``module`` with each function's ``(argtypes, restype)`` from ``signatures``
    set; None where it was not built or the kernels are switched off."""
    if os.environ.get("RETROGRAD_NATIVE", "1") == "0":
        return None
    try:
        ext = importlib.import_module(module)      # importing first resolves its Python symbols
    except ImportError:
        return None
    lib = ctypes.CDLL(ext.__file__)
    for name, (argtypes, restype) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, restype
    return lib
