"""Builds the optional compiled LSTM loops; everything else is in pyproject.toml.

``optional=True``: without a C compiler (or on one that lacks GCC's vector
extensions) the install goes on without the extension, and the recurrent
layers run their NumPy loops instead.
"""
import sys

from setuptools import Extension, setup

flags = [] if sys.platform == "win32" else ["-O3"]
setup(ext_modules=[Extension(
    "retrograd.autograd.ops._lstm_kernel",
    sources=["src/retrograd/autograd/ops/lstm_kernel.c"],
    depends=["src/retrograd/autograd/ops/lstm_kernel_impl.h"],
    extra_compile_args=flags,
    optional=True,
)])
