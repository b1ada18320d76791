"""Builds the optional compiled kernels (the LSTM loops, Adam's update); everything else is in pyproject.toml.

``optional=True``: without a C compiler (or on one that lacks GCC's vector
extensions) the install goes on without the extensions, and the recurrent
layers and Adam run their NumPy code instead.
"""
import sys

from setuptools import Extension, setup

gcc_like = sys.platform != "win32"
setup(ext_modules=[
    Extension(
        "retrograd.accel._lstm_kernel",
        sources=["src/retrograd/accel/lstm_kernel.c"],
        depends=["src/retrograd/accel/lstm_kernel_impl.h", "src/retrograd/accel/pair_worker.h"],
        extra_compile_args=["-O3"] if gcc_like else [],
        optional=True,
    ),
    Extension(
        "retrograd.accel._adam_kernel",
        sources=["src/retrograd/accel/adam_kernel.c"],
        # no fused multiply-adds: the same roundings as the NumPy update, bit for bit
        extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno"] if gcc_like else ["/fp:strict"],
        optional=True,
    ),
])
