"""The primitive registry: each op's array forward and its vector-Jacobian product, side by side, and where faster versions plug in.

A primitive is declared as::

    @primitive
    def exp(x):                      # forward, on arrays (NumPy or CuPy)
        return np.exp(x)

    @exp.defvjp
    def exp_vjp(m, needs, g, out, x):
        return (g * out,)            # one gradient per input (None = no gradient)

The VJP is written once against a math namespace ``m``. When no graph is
wanted, the engine passes ``ARRAY_MATH`` and plain arrays: the rule runs as
raw NumPy and records nothing. Under ``create_graph=True`` it passes
``TENSOR_MATH`` and Tensors: the same rule is recorded, which is how
derivatives of any order come for free. ``needs[i]`` tells whether input i
wants a gradient, so an expensive branch can be skipped. Broadcasting is
undone by the engine, not by the rules. A fused op whose array VJP is
hand-written can name its ``composite`` (the same function in recorded
primitives): under ``create_graph`` the engine differentiates that instead.

Acceleration. The forward and VJP declared with the op are its reference:
plain code on the array module. Faster versions (C kernels, threaded or fused
NumPy, CuPy kernels) live in ``retrograd.accel``, which registers them here::

    OPS["lstm_seq"].accelerate(forward=fast, vjp=fast_vjp, when=float_numpy)

``when(*arrays, **params)`` is asked at each forward with the op's arguments
and decides from what they are (array module, dtype, shape, layout), never
from their values. The first version that applies runs, and the recorded node
keeps it, so the backward uses the VJP paired with the forward that made its
saved work. An op without versions pays one attribute test per call. Plain
functions that the wing may speed up are wrapped in ``Accelerated``; the
optimizers' hooks (``Optimizer.accelerate_update`` and ``accelerate_step``) read the same switch.

The switch: ``acceleration_enabled()`` is true unless ``RETROGRAD_ACCEL=0`` is
in the environment; ``enable_acceleration(False)`` turns every version off
for the calling thread (also as ``with``). Tests run both ways and compare.
"""
import contextvars
import dis
import inspect
import os
from typing import Any, Callable, Optional

from .. import tensor as _tensor

OPS: dict[str, "Op"] = {}
Predicate = Optional[Callable[..., bool]]   # when(...): whether a faster version applies (None: always)

_ACCELERATION = contextvars.ContextVar(
    "retrograd_acceleration", default=os.environ.get("RETROGRAD_ACCEL", "1") != "0")


def acceleration_enabled() -> bool:
    """Whether the faster versions registered by ``retrograd.accel`` may run in this thread."""
    return _ACCELERATION.get()


class enable_acceleration:
    """Switch every registered faster version on or off for the calling thread, at once.

    Used as ``with enable_acceleration(False): ...`` it restores the previous
    setting on exit. New threads start from the environment
    (``RETROGRAD_ACCEL=0``: off), as they do for grad mode.
    """

    def __init__(self, flag: bool) -> None:
        self._token = _ACCELERATION.set(bool(flag))

    def __enter__(self) -> "enable_acceleration":
        return self

    def __exit__(self, *exc: object) -> None:
        _ACCELERATION.reset(self._token)


class LazyCotangent:
    """A cotangent kept in a compact form by an accelerated VJP; ``dense()`` gives the array.

    Only the engine's array sweep handles them: it makes one dense before a
    rule that is not a ``lazy_vjp``, before adding two shares, and before it
    becomes a ``.grad`` or a returned gradient. (``retrograd.accel.scattered``
    has the one kind so far: the cotangent of basic indexing.)
    """
    __slots__ = ()

    def dense(self) -> Any:
        """The cotangent as an ordinary array."""
        raise NotImplementedError


class Op:
    """One primitive: name, array forward, and VJP rule (None for non-differentiable ops).

    An accelerated version is an ``Op`` too, with the same name and
    ``reference`` pointing at the op it speeds up (the op itself for the
    reference). Its ``lazy_vjp``, if any, is the rule the engine's array sweep
    calls instead of ``vjp``: it may take and return ``LazyCotangent`` objects.
    """
    __slots__ = ("name", "forward", "vjp", "saves", "vjp_reads", "composite", "reference", "versions",
                 "lazy_vjp")

    def __init__(self, name: str, forward: Callable[..., Any], saves: bool = False) -> None:
        self.name = name
        self.forward = forward
        self.vjp: Optional[Callable[..., Any]] = None
        self.saves = saves
        self.vjp_reads: Optional[tuple[bool, ...]] = None
        self.composite: Optional[Callable[..., Any]] = None
        self.reference: Op = self
        self.versions: tuple[tuple[Predicate, Op], ...] = ()   # tried in order while acceleration is on
        self.lazy_vjp: Optional[Callable[..., Any]] = None

    def defvjp(self, rule: Optional[Callable[..., Any]]) -> Optional[Callable[..., Any]]:
        """Declare the op's VJP rule ``rule(m, needs, g, out, *inputs, **params)``."""
        self.vjp = rule
        self.vjp_reads = _reads_of(rule)
        return rule

    def defcomposite(self, composite: Callable[..., Any]) -> Callable[..., Any]:
        """Declare the op as recorded primitives: ``composite(*inputs, **params)`` -> a Tensor like the output.

        Under ``create_graph`` the engine differentiates the composite instead
        of calling the VJP, so a fused op with a hand-written array VJP still
        has derivatives of every order.
        """
        self.composite = composite
        return composite

    def accelerate(self, *, forward: Optional[Callable[..., Any]] = None, vjp: Optional[Callable[..., Any]] = None,
                   lazy_vjp: Optional[Callable[..., Any]] = None, when: Predicate = None) -> "Op":
        """Register a faster version of this op (from ``retrograd.accel`` only); returns it.

        ``forward`` / ``vjp`` replace the reference's (either may be left out;
        a new forward of an op that saves work needs its own VJP, since the
        saved work is the forward's own). ``lazy_vjp``: the engine's array
        sweep calls it instead, and it may take and return lazy cotangents.
        ``when(*arrays, **params)``: whether this version applies to a call
        (None: always); it must decide from what the arrays are, not from
        their values, so that a recorded replay stays valid.
        """
        if self.reference is not self:
            raise ValueError(f"{self.name}: accelerate the reference op, not one of its versions")
        if forward is not None and self.saves and vjp is None:
            raise ValueError(f"{self.name}: a faster forward of an op that saves work needs its own vjp")
        version = Op(self.name, forward or self.forward, self.saves)
        version.defvjp(vjp or self.vjp)
        version.composite = self.composite
        version.reference = self
        version.lazy_vjp = lazy_vjp
        self.versions = self.versions + ((when, version),)
        return version

    def pick(self, arrays: list[Any], kw: dict[str, Any]) -> "Op":
        """The version to run on these arrays: the first registered one that applies, else the op itself."""
        if _ACCELERATION.get():
            for when, version in self.versions:
                if when is None or when(*arrays, **kw):
                    return version
        return self

    def __call__(self, *args: Any, **kw: Any) -> Any:
        return _tensor.apply(self, *args, **kw)

    def __repr__(self) -> str:
        kind = "primitive" if self.reference is self else "accelerated primitive"
        return f"<{kind} {self.name}>"


class Accelerated:
    """A plain function that ``retrograd.accel`` may replace by faster versions where they apply.

    In a semantic module::

        outer_rows = Accelerated(outer_rows)       # the reference, plain NumPy

    and in the wing::

        jacobian.outer_rows.accelerate(threaded_outer_rows, when=lambda x, g, out: out.size > 1 << 20)

    A call runs the first version whose ``when`` holds for the arguments, or
    the reference (always, when acceleration is switched off).
    """
    def __init__(self, reference: Callable[..., Any]) -> None:
        self.reference = reference
        self.versions: tuple[tuple[Predicate, Callable[..., Any]], ...] = ()
        self.__name__ = reference.__name__
        self.__doc__ = reference.__doc__

    def accelerate(self, version: Callable[..., Any], when: Predicate = None) -> Callable[..., Any]:
        """Register ``version`` (same arguments and result) for the calls where ``when(...)`` holds."""
        self.versions = self.versions + ((when, version),)
        return version

    def __call__(self, *args: Any, **kw: Any) -> Any:
        if self.versions and _ACCELERATION.get():
            for when, version in self.versions:
                if when is None or when(*args, **kw):
                    return version(*args, **kw)
        return self.reference(*args, **kw)

    def __repr__(self) -> str:
        return f"<accelerated function {self.__name__} ({len(self.versions)} versions)>"


def _reads_of(rule):
    """Which of ``out`` and the inputs a VJP rule looks at: (out, input 0, input 1, ...), None = all.

    Read from the rule's bytecode (a load of the argument's name, directly or
    from a nested function). The replay (``retrograd.accel.trace``) passes
    None for the others, so a forward value that no rule reads is freed as
    soon as the forward is done with it.
    """
    if rule is None:
        return None
    code = rule.__code__
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS) or code.co_argcount < 4:
        return None
    names = code.co_varnames[3:code.co_argcount]          # after (m, needs, g)
    loaded = {ins.argval for ins in dis.get_instructions(rule) if ins.opname.startswith("LOAD_")}
    for const in code.co_consts:                           # nested functions reach them through closures
        if inspect.iscode(const):
            loaded |= set(const.co_freevars)
    return tuple(name in loaded for name in names)


def primitive(forward=None, *, saves=False):
    """Register ``forward`` (a function on arrays) as a primitive op under its own name.

    ``@primitive(saves=True)`` declares a forward that returns ``(out, saved)``:
    ``saved`` is work the VJP can reuse (im2col patches, say) instead of
    recomputing it. It is kept only while the op is recorded, and reaches the
    VJP as the keyword argument ``saved``; code that calls the op (or
    ``ARRAY_MATH``) sees ``out`` alone.
    """
    if forward is None:
        return lambda fn: primitive(fn, saves=saves)
    op = Op(forward.__name__.rstrip("_"), forward, saves)
    if op.name in OPS:
        raise ValueError(f"primitive {op.name!r} is registered twice")
    OPS[op.name] = op
    return op


def _output_only(forward):
    def call(*args, **kw):
        return forward(*args, **kw)[0]
    return call


class _Namespace:
    """Attribute access to either the array forwards or the recorded ops, by op name.

    The array side gives the reference forwards: VJP rules and composites see
    the same arithmetic whether or not acceleration is on.
    """

    def __init__(self, record):
        self._record = record

    def __getattr__(self, name):
        op = OPS[name]
        fn = op if self._record else (_output_only(op.forward) if op.saves else op.forward)
        setattr(self, name, fn)  # cache: later look-ups are plain attribute hits
        return fn


ARRAY_MATH = _Namespace(record=False)
TENSOR_MATH = _Namespace(record=True)
