"""The backward pass: topological order without recursion, VJP rules applied, broadcasting undone once."""
import numpy as np

from .. import backend
from .ops.registry import ARRAY_MATH, TENSOR_MATH, LazyCotangent
from .tensor import GRAD_MODE, Tensor


class GraphFreedError(RuntimeError):
    """A backward pass reached a part of the graph that an earlier backward already freed."""


def topological_order(roots):
    """Tensors that require grad and lead to ``roots``, latest-created first.

    Every recorded tensor carries a creation number (``_kw`` order is not
    enough: one tensor may feed many), and an input is always created before
    the tensors computed from it; so sorting the reachable set by that number,
    newest first, is a valid reverse topological order, found with a plain
    stack walk instead of recursion.
    """
    found, seen = [], set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        k = id(t)
        if k in seen:
            continue
        seen.add(k)
        found.append(t)
        inputs = t._inputs
        if inputs is not None:
            for a in inputs:
                if isinstance(a, Tensor) and a.requires_grad:
                    stack.append(a)
        elif t._op is not None:
            raise GraphFreedError(
                "backward through a graph whose buffers were already freed: the first backward() "
                "released them; pass retain_graph=True to the first call if you need a second one")
    found.sort(key=_creation_order, reverse=True)
    return found


def _creation_order(t):
    return t._seq


def _seed(root, gradient, create_graph):
    """The starting cotangent for a root: ones for a one-element tensor, else ``gradient`` checked."""
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() on a tensor of shape {root.shape} needs the gradient of the final "
                f"scalar with respect to it: pass gradient= (an array of shape {root.shape}), "
                f"or reduce it first, e.g. loss.sum().backward()")
        g = backend.array_module(root.data).ones(np.shape(root.data), dtype=root.data.dtype)
    else:
        g = gradient.data if isinstance(gradient, Tensor) else gradient
        if np.shape(g) != root.shape:
            raise RuntimeError(f"backward(): gradient has shape {np.shape(g)} but the tensor has "
                               f"shape {root.shape}")
    if create_graph:
        return gradient if isinstance(gradient, Tensor) else Tensor._wrap(g)
    return g


def compute_grads(roots, gradients, inputs=None, retain_graph=None, create_graph=False,
                  accumulate=True):
    """Reverse-mode sweep from ``roots``.

    With ``accumulate`` the gradients of leaves are added to their ``.grad``;
    with ``inputs`` the gradients of those tensors (leaves or not) are also
    returned, in order (None where unused). Under ``create_graph`` the sweep
    runs the VJP rules on Tensors with recording on, so its results can be
    differentiated again; otherwise it runs them on raw arrays.
    """
    if retain_graph is None:
        retain_graph = create_graph
    roots = list(roots)
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError(
                "backward(): the tensor does not require grad and has no graph; make sure some "
                "input was created with requires_grad=True and that the computation did not run "
                "under no_grad()")
    grads = {}
    for r, g in zip(roots, gradients):
        g = _seed(r, g, create_graph)
        k = id(r)
        grads[k] = g if k not in grads else grads[k] + g
    wanted = {id(t): i for i, t in enumerate(inputs)} if inputs is not None else {}
    results = [None] * len(wanted)
    m = TENSOR_MATH if create_graph else ARRAY_MATH
    order = topological_order(roots)
    mode = GRAD_MODE.set(create_graph)
    try:
        for t in order:
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if isinstance(g, LazyCotangent) and (t._op is None or t._retain or id(t) in wanted):
                g = g.dense()                  # it becomes a .grad or a result
            slot = wanted.get(id(t))
            if slot is not None:
                results[slot] = g if create_graph else Tensor._wrap(g)
            if t._op is None:
                if accumulate and t.requires_grad:
                    _accumulate(t, g, create_graph)
                continue
            if t._retain and accumulate:
                _accumulate(t, g, create_graph)
            _propagate(t, g, m, create_graph, grads)
            if not retain_graph:
                t._inputs = None  # free the saved inputs; a second backward raises
    finally:
        GRAD_MODE.reset(mode)
    return results


def _propagate(t, g, m, create_graph, grads):
    """Apply t's VJP rule and add each input's share into ``grads``.

    The array sweep runs the rule of the version that made t (an accelerated
    one's, if one did). Under ``create_graph`` the reference op's rule is
    recorded, or its composite differentiated: accelerated versions run on
    arrays only.
    """
    op, inputs, kw = t._op, t._inputs, t._kw
    needs, args = [], []
    for a in inputs:
        if isinstance(a, Tensor):
            needs.append(a.requires_grad)
            args.append(a if create_graph else a.data)
        else:
            needs.append(False)
            args.append(a)
    if create_graph:
        if op.reference is not op:
            if op.saves:
                kw = dict(kw, saved=None)         # the accelerated forward's work, not the reference's
            op = op.reference
        if op.composite is not None:
            shares = _composite_vjp(op, g, inputs, needs, kw)
        else:
            shares = op.vjp(m, needs, g, t, *args, **kw)
    else:
        rule = op.lazy_vjp
        if rule is None:
            rule = op.vjp
            if isinstance(g, LazyCotangent):
                g = g.dense()
        shares = rule(m, needs, g, t.data, *args, **kw)
    add_shares(inputs, shares, needs, m, grads)


def _composite_vjp(op, g, inputs, needs, kw):
    """The shares of a fused op under create_graph: its composite rebuilt with recorded ops, differentiated."""
    kw = {k: v for k, v in kw.items() if k != "saved"}
    out = op.composite(*inputs, **kw)
    wanted = [a for a, need in zip(inputs, needs) if need]
    grads = iter(compute_grads([out], [g], inputs=wanted, create_graph=True, accumulate=False))
    return tuple(next(grads) if need else None for need in needs)


def add_shares(inputs, shares, needs, m, grads):
    """Add each wanted input's gradient share into ``grads`` (keyed by id), undoing broadcasting."""
    for a, share, need in zip(inputs, shares, needs):
        if not need or share is None:
            continue
        if share.shape != a.data.shape:
            share = m.sum_to(share, shape=a.data.shape)
        k = id(a)
        prev = grads.get(k)
        if prev is None:
            grads[k] = share
        else:
            grads[k] = dense(prev) + dense(share)


def dense(g):
    """A cotangent as an array: a lazy one (``LazyCotangent``) made dense, anything else as it is."""
    return g.dense() if isinstance(g, LazyCotangent) else g


def _accumulate(t, g, create_graph):
    """Add gradient ``g`` into ``t.grad``, in t's dtype (never in place: g may be shared)."""
    if create_graph:
        if g.dtype != t.data.dtype:
            g = g.to(t.data.dtype)
        t.grad = g if t.grad is None else t.grad + g
        return
    if g.dtype != t.data.dtype:
        g = g.astype(t.data.dtype)
    if t.grad is None:
        t.grad = Tensor._wrap(g)
    else:
        t.grad = Tensor._wrap(t.grad.data + g)
