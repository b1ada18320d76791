"""The primitive registry: each op's array forward and its vector-Jacobian product, side by side.

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
undone by the engine, not by the rules.
"""
import dis
import inspect

from .. import tensor as _tensor

OPS = {}


class Op:
    """One primitive: name, array forward, and VJP rule (None for non-differentiable ops).

    ``takes_scattered``: the engine may pass the rule a lazy cotangent (autograd/scattered.py)
    instead of an array; rules that do not say so always get arrays.
    """
    __slots__ = ("name", "forward", "vjp", "saves", "vjp_reads", "takes_scattered")

    def __init__(self, name, forward, saves=False):
        self.name = name
        self.forward = forward
        self.vjp = None
        self.saves = saves
        self.vjp_reads = None
        self.takes_scattered = False

    def defvjp(self, rule):
        self.vjp = rule
        self.vjp_reads = _reads_of(rule)
        return rule

    def __call__(self, *args, **kw):
        return _tensor.apply(self, *args, **kw)

    def __repr__(self):
        return f"<primitive {self.name}>"


def _reads_of(rule):
    """Which of ``out`` and the inputs a VJP rule looks at: (out, input 0, input 1, ...), None = all.

    Read from the rule's bytecode (a load of the argument's name, directly or
    from a nested function). The replay (``retrograd.autograd.trace``) passes
    None for the others, so a forward value that no rule reads is freed as
    soon as the forward is done with it.
    """
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
    """Attribute access to either the array forwards or the recorded ops, by op name."""

    def __init__(self, record):
        self._record = record

    def __getattr__(self, name):
        op = OPS[name]
        fn = op if self._record else (_output_only(op.forward) if op.saves else op.forward)
        setattr(self, name, fn)  # cache: later look-ups are plain attribute hits
        return fn


ARRAY_MATH = _Namespace(record=False)
TENSOR_MATH = _Namespace(record=True)
