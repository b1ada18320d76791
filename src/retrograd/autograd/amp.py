"""Mixed precision: ``rg.autocast(dtype)`` runs the matmul-type ops in float16 or bfloat16 and keeps the rest accurate.

Inside ``with rg.autocast("float16"):`` every primitive follows the policy
declared for it in ``POLICIES`` (read by ``apply`` through ``Op.autocast``):

- ``"lower"`` ops (matrix products, linear layers, convolutions, recurrent
  sequences: the ones whose cost is multiply-adds) cast their floating
  arguments to the region's low dtype and compute in it;
- ``"float32"`` ops (exp, log, pow, softplus, the sums and means, logsumexp,
  the fused softmax cross-entropy: the ones whose results lose too much in
  16 bits, or that accumulate) cast float16/bfloat16 arguments up to float32;
- every other op (``"follows"``: elementwise arithmetic, activations, shape
  ops, comparisons) runs in the dtypes it is given, NumPy's promotion rules
  deciding mixed ones (float16 + float32 is float32).

These lists follow PyTorch's autocast op lists in spirit. float64 arguments
are never cast (as in torch), nor integers. A cast is the recorded ``astype``
primitive, whose VJP casts the cotangent back, so a float32 parameter used by
a float16 product receives a float32 gradient: the parameters stay float32
("master weights"); the backward pass itself runs outside autocast, each VJP
rule in the dtypes its forward used.

The region is per thread (and per asyncio task), like grad mode. bfloat16 on
NumPy arrays comes from the ``ml_dtypes`` package (``pip install
'retrograd[amp]'``); CuPy has no bfloat16, so there float16 is the choice.
NumPy has no fast float16 or bfloat16 arithmetic on the CPU (a float16 matrix
product runs about 20x slower than float32 there): mixed precision is for the
GPU; on the CPU it is for testing the arithmetic.
"""
import contextvars
import functools
from typing import Any, Callable, Optional

import numpy as np

from .ops.registry import OPS
from .tensor import AUTOCAST, Tensor, apply

LOWER, FLOAT32, FOLLOWS = "lower", "float32", "follows"

# Every primitive's policy (a test checks that each registered op appears here exactly once).
POLICIES: dict[str, tuple[str, ...]] = {
    LOWER: ("matmul", "linear", "conv", "lstm_seq", "gru_seq", "rnn_seq"),
    FLOAT32: ("exp", "log", "log1p", "pow", "softplus", "sum", "mean", "prod", "logsumexp",
              "softmax_cross_entropy"),
    FOLLOWS: ("abs", "add", "argmax", "argmin", "astype", "broadcast_to", "clip", "concatenate", "cos",
              "div", "elu", "equal", "erf", "flip", "fold", "getitem", "greater", "greater_equal",
              "leaky_relu", "less", "less_equal", "max", "max_pool", "maximum", "min", "minimum", "mul",
              "neg", "not_equal", "one_hot", "pad", "relu", "reshape", "scatter_add", "sigmoid", "sign",
              "sin", "sqrt", "stack", "sub", "sum_to", "take_along_axis", "tanh", "to_device", "transpose",
              "unfold", "where", "checkpoint"),
}

_FLOAT32 = np.dtype(np.float32)
_SAVED: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar("retrograd_saved_autocast", default=())


def declare_policies() -> None:
    """Set ``Op.autocast`` of every registered op from ``POLICIES`` ("follows" is stored as None: nothing to do)."""
    for policy, names in POLICIES.items():
        for name in names:
            if name in OPS:
                OPS[name].autocast = None if policy == FOLLOWS else policy


def bfloat16() -> np.dtype:
    """NumPy's bfloat16 dtype, from ``ml_dtypes`` (the ``amp`` extra)."""
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError("bfloat16 on NumPy arrays needs the ml_dtypes package, which is not installed: "
                          "pip install 'retrograd[amp]' (or pip install ml_dtypes)") from None
    return np.dtype(ml_dtypes.bfloat16)


def low_dtype(dtype: Any) -> np.dtype:
    """The low-precision dtype named by ``dtype``: float16 ('float16', 'half', np.float16) or bfloat16."""
    name = dtype.lower() if isinstance(dtype, str) else None
    if name in ("float16", "half", "fp16", "f16"):
        return np.dtype(np.float16)
    if name in ("bfloat16", "bf16"):
        return bfloat16()
    if name is None:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt is not None and (dt == np.float16 or dt.name == "bfloat16"):
            return dt
    raise ValueError(f"autocast: dtype must be float16 or bfloat16 (the low precision the matrix products run "
                     f"in), got {dtype!r}")


def _castable(dtype: np.dtype) -> bool:
    """Floating dtypes autocast may change: float16, bfloat16, float32 (never float64)."""
    return (dtype.kind == "f" and dtype.itemsize <= 4) or dtype.name == "bfloat16"


class AutocastRegion:
    """What ``apply`` consults inside an autocast block: the low dtype and the casts of one op's arguments."""
    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def apply(self, op: Any, args: tuple, kw: dict) -> Tensor:
        """Run ``op`` on ``args`` cast by its policy; a "lower" op's float32 result is rounded to the low dtype.

        (NumPy with ml_dtypes returns a bfloat16 product in float32, having
        accumulated in float32; the rounding makes every "lower" op give the
        low dtype, as the wing's convolution, which writes into a bfloat16
        array, and torch do.)
        """
        args = self.cast(op, args)
        token = AUTOCAST.set(None)             # the op itself, and the casts, are applied plainly
        try:
            out = apply(op, *args, **kw)
            if op.autocast == LOWER and out.data.dtype == _FLOAT32:
                out = apply(_ASTYPE, out, dtype=self.dtype)
        finally:
            AUTOCAST.reset(token)
        return out

    def cast(self, op: Any, args: tuple) -> tuple:
        """``args`` with each floating argument that the op's policy wants in another dtype cast to it.

        Tensors are cast by the recorded ``astype`` primitive (gradients flow
        back through it, in the original dtype); bare arrays by ``.astype``.
        """
        target = self.dtype if op.autocast == LOWER else _FLOAT32
        cast: Optional[list] = None
        for i, a in enumerate(args):
            data = a.data if isinstance(a, Tensor) else a
            dt = getattr(data, "dtype", None)
            if not isinstance(dt, np.dtype) or dt == target or not _castable(dt):
                continue
            if target.name == "bfloat16" and type(data) is not np.ndarray:
                raise TypeError(f"rg.autocast('bfloat16'): {op.name} got a {type(data).__module__} array; "
                                "bfloat16 is supported on NumPy arrays only (CuPy has no bfloat16): use "
                                "float16 on the GPU")
            if cast is None:
                cast = list(args)
            cast[i] = apply(_ASTYPE, a, dtype=target) if isinstance(a, Tensor) else data.astype(target)
        return args if cast is None else tuple(cast)

    def __repr__(self) -> str:
        return f"AutocastRegion({self.dtype.name})"


class autocast:
    """``with rg.autocast("float16"):`` (or ``"bfloat16"``): matmul-type ops run in the low dtype.

    Also a decorator (``@rg.autocast("bfloat16")``). ``enabled=False`` turns
    autocast off inside the block (for a part that must stay in full
    precision). The setting is per thread. See the module docstring for which
    op runs in which dtype, and docs/precision.md.
    """

    def __init__(self, dtype: Any = "float16", enabled: bool = True) -> None:
        self.dtype = low_dtype(dtype)
        self.enabled = bool(enabled)
        self._region = AutocastRegion(self.dtype) if self.enabled else None

    def __enter__(self) -> "autocast":
        _SAVED.set(_SAVED.get() + (AUTOCAST.get(),))    # kept per thread, not on this object
        AUTOCAST.set(self._region)
        return self

    def __exit__(self, *exc: object) -> None:
        saved = _SAVED.get()
        _SAVED.set(saved[:-1])
        AUTOCAST.set(saved[-1])

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.dtype, self.enabled):
                return fn(*args, **kwargs)
        return wrapper

    def __repr__(self) -> str:
        return f"autocast({self.dtype.name!r}, enabled={self.enabled})"


def is_autocast_enabled() -> bool:
    """Whether the calling thread is inside an (enabled) autocast block."""
    return AUTOCAST.get() is not None


def get_autocast_dtype() -> Optional[np.dtype]:
    """The low dtype of the calling thread's autocast block, or None outside one."""
    region = AUTOCAST.get()
    return None if region is None else region.dtype


_ASTYPE = OPS["astype"]
declare_policies()
