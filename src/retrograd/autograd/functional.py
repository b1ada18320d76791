"""Function transforms: grad, value_and_grad, vjp, jvp, hvp, jacobian, hessian.

They work on plain Python functions of tensors and nest: when an argument
already belongs to an outer graph, the inner derivative is recorded
(``create_graph``) so that the outer one can differentiate through it.
"""
import numpy as np

from .. import backend
from . import functions as F
from .engine import compute_grads
from .tensor import Tensor


def _as_input(x):
    """(tensor to differentiate at, whether an outer computation is differentiating through it)."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            return x, True
        data = x.data
    else:
        data = x if backend.is_device_array(x) else np.asarray(x)
    if data.dtype.kind != "f":
        raise TypeError(f"can only differentiate with respect to floating-point inputs, got {data.dtype}")
    return Tensor._wrap(data, requires_grad=True), False


def _prepare(args, argnums):
    """Replace the differentiated arguments by leaves that require grad."""
    args = list(args)
    nested = False
    for i in argnums:
        args[i], outer = _as_input(args[i])
        nested = nested or outer
    return args, nested


def _argnums(argnums, nargs):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"argnums {i} is out of range for a function called with {nargs} arguments")
    return single, tuple(i % nargs for i in nums)


def _zeros_for(grads, inputs):
    return [g if g is not None else Tensor._wrap(np.zeros_like(x.data)) for g, x in zip(grads, inputs)]


def _scalar_output(out, name):
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: the function must return a Tensor, got {type(out).__name__}")
    if out.data.size != 1:
        raise ValueError(f"{name}: the function must return a scalar (one element), got shape {out.shape}; "
                         "use rg.vjp or rg.jacobian for vector outputs")
    return out


def value_and_grad(f, argnums=0, has_aux=False):
    """``f``'s value and its gradient with respect to the arguments in ``argnums``."""
    def wrapped(*args, **kwargs):
        single, nums = _argnums(argnums, len(args))
        args, nested = _prepare(args, nums)
        result = f(*args, **kwargs)
        out, aux = result if has_aux else (result, None)
        out = _scalar_output(out, "grad")
        inputs = [args[i] for i in nums]
        if not out.requires_grad:
            grads = [None] * len(inputs)
        else:
            grads = compute_grads([out], [None], inputs=inputs, create_graph=nested, accumulate=False)
        grads = _zeros_for(grads, inputs)
        g = grads[0] if single else tuple(grads)
        value = out if nested else out.detach()
        return ((value, aux), g) if has_aux else (value, g)
    return wrapped


def grad(f, argnums=0, has_aux=False):
    """The gradient function of scalar-valued ``f`` (like jax.grad): ``rg.grad(f)(x)``."""
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args, **kwargs):
        if has_aux:
            (_, aux), g = vg(*args, **kwargs)
            return g, aux
        return vg(*args, **kwargs)[1]
    return wrapped


def vjp(f, *primals):
    """``(f(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` returns one gradient per primal."""
    inputs, nested = _prepare(primals, range(len(primals)))
    out = f(*inputs)

    def vjp_fn(cotangent):
        cot_graph = isinstance(cotangent, Tensor) and cotangent.requires_grad
        if not out.requires_grad:
            return tuple(_zeros_for([None] * len(inputs), inputs))
        grads = compute_grads([out], [cotangent], inputs=inputs, create_graph=nested or cot_graph,
                              retain_graph=True, accumulate=False)
        return tuple(_zeros_for(grads, inputs))
    return (out if nested else out.detach()), vjp_fn


def jvp(f, primals, tangents):
    """Forward-mode product J·v by the double-VJP trick: ``(f(*primals), J @ tangents)``.

    ``u -> J^T u`` is linear in u, so differentiating ``<J^T u, v>`` with
    respect to u gives J v exactly, using only reverse-mode rules.
    """
    primals = tuple(primals) if isinstance(primals, (tuple, list)) else (primals,)
    tangents = tuple(tangents) if isinstance(tangents, (tuple, list)) else (tangents,)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    inputs, nested = _prepare(primals, range(len(primals)))
    for x, v in zip(inputs, tangents):
        if np.shape(v.data if isinstance(v, Tensor) else v) != x.shape:
            raise ValueError(f"jvp: tangent of shape {np.shape(v)} for a primal of shape {x.shape}")
    out = f(*inputs)
    if not out.requires_grad:
        return out, Tensor._wrap(np.zeros_like(out.data))
    u = Tensor._wrap(np.zeros_like(out.data), requires_grad=True)
    pulled = compute_grads([out], [u], inputs=inputs, create_graph=True, accumulate=False)
    total = None
    for p, v in zip(pulled, tangents):
        if p is not None and p.requires_grad:
            term = F.sum(p * v)
            total = term if total is None else total + term
    if total is None:
        return (out if nested else out.detach()), Tensor._wrap(np.zeros_like(out.data))
    (jv,) = compute_grads([total], [None], inputs=[u], create_graph=nested, accumulate=False)
    jv = jv if jv is not None else Tensor._wrap(np.zeros_like(out.data))
    return (out if nested else out.detach()), jv


def hvp(f, primals, tangents):
    """Hessian-vector product of scalar ``f`` at ``primals`` along ``tangents`` (reverse over reverse)."""
    single = not isinstance(primals, (tuple, list))
    primals = (primals,) if single else tuple(primals)
    tangents = (tangents,) if single else tuple(tangents)
    inputs, nested = _prepare(primals, range(len(primals)))
    out = _scalar_output(f(*inputs), "hvp")
    if not out.requires_grad:
        zeros = _zeros_for([None] * len(inputs), inputs)
        return zeros[0] if single else tuple(zeros)
    grads = compute_grads([out], [None], inputs=inputs, create_graph=True, accumulate=False)
    total = None
    for g, v in zip(grads, tangents):
        if g is not None and g.requires_grad:
            term = F.sum(g * v)
            total = term if total is None else total + term
    if total is None:
        hv = [None] * len(inputs)
    else:
        hv = compute_grads([total], [None], inputs=inputs, create_graph=nested, accumulate=False)
    hv = _zeros_for(hv, inputs)
    return hv[0] if single else tuple(hv)


def jacobian(f, argnums=0):
    """The Jacobian function: ``rg.jacobian(f)(x)`` has shape ``f(x).shape + x.shape``.

    Built row by row from reverse-mode VJPs with the graph kept between rows.
    """
    def wrapped(*args):
        single, nums = _argnums(argnums, len(args))
        args, nested = _prepare(args, nums)
        out = f(*args)
        inputs = [args[i] for i in nums]
        rows = [[] for _ in inputs]
        flat_n = out.data.size
        for k in range(flat_n):
            seed = np.zeros_like(out.data, shape=(flat_n,))     # on out's device (CuPy too)
            seed[k] = 1
            seed = seed.reshape(out.shape)
            if out.requires_grad:
                grads = compute_grads([out], [seed], inputs=inputs, create_graph=nested,
                                      retain_graph=True, accumulate=False)
            else:
                grads = [None] * len(inputs)
            for r, g in zip(rows, _zeros_for(grads, inputs)):
                r.append(g)
        jacs = []
        for x, r in zip(inputs, rows):
            if not r:
                jacs.append(Tensor._wrap(np.zeros_like(x.data, shape=out.shape + x.shape)))
            else:
                jacs.append(F.reshape(F.stack(r), out.shape + x.shape))
        return jacs[0] if single else tuple(jacs)
    return wrapped


def hessian(f, argnums=0):
    """The Hessian function of scalar ``f``: the Jacobian of its gradient."""
    return jacobian(grad(f, argnums), argnums)
