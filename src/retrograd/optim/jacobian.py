"""The Jacobian of a residual vector with respect to the parameters, for Levenberg–Marquardt and friends.

Residual i usually depends on sample i only, so row i of J is the gradient of
one sample's residual: a per-sample gradient. ``per_sample`` gets them all from
ONE backward sweep (per output column): seeded with ones, the cotangent at
row n of every intermediate is exactly d r_n / d h_n because rows never mix,
and where a parameter enters the graph the usual batch sum is simply not taken
(``x @ W`` gives the outer products x_n g_n^T, a broadcast bias gives g_n).
This is the per-example gradient trick (Goodfellow 2015); it costs about one
backward pass plus writing J. If the graph holds anything it cannot split
(a parameter reshaped before use, rows that mix as in batch norm), it falls back
to ``reverse``: one retained-graph backward per residual, exact for any graph.
"""
import numpy as np

from .. import backend
from ..autograd.engine import add_shares, compute_grads, topological_order
from ..autograd.ops.registry import ARRAY_MATH, Accelerated
from ..autograd.tensor import Tensor


class _CannotSplit(Exception):
    """The graph uses a parameter in a way the per-sample sweep does not handle."""


def residual_jacobian(r, params, method="auto", check=True, out=None):
    """J of shape (r.size, P) for the flat residuals r (Tensor with its graph) and flat parameters.

    ``method``: "auto" (per_sample, else reverse), "per_sample" or "reverse". With "auto" and
    ``check``, one extra backward with a random cotangent u confirms uᵀJ (rows independent);
    a caller that evaluates the same function every step may check only once. ``out``: a
    buffer of the right shape and dtype to reuse (saves allocating and faulting in a large J).
    Rows follow ``r.reshape(-1)``; columns follow the parameters in order, each raveled.
    """
    if not isinstance(r, Tensor) or not r.requires_grad:
        raise ValueError("residual_jacobian: the residuals must be a Tensor computed from the parameters "
                         "(with its graph); did the closure run under no_grad() or detach the output?")
    if method in ("auto", "per_sample") and r.ndim >= 1:
        try:
            J = _per_sample(r, params, out)
            if method == "auto" and check:
                _check_rows_independent(r, params, J)
            return J
        except _CannotSplit as why:
            if method == "per_sample":
                raise ValueError(f"residual_jacobian: per-sample sweep impossible here ({why}); "
                                 "use method='reverse'") from None
    if method not in ("auto", "per_sample", "reverse"):
        raise ValueError(f"residual_jacobian: method must be 'auto', 'per_sample' or 'reverse', got {method!r}")
    return _reverse(r, params)


def _check_rows_independent(r, params, J):
    """One ordinary backward with a random cotangent u must give u^T J; it does not if rows mix."""
    u = np.random.default_rng(0).standard_normal(r.shape).astype(r.data.dtype)
    u = backend.to_device(u, backend.device_of(r.data))        # drawn on the host: the same u on any device
    grads = compute_grads([r], [u], inputs=params, retain_graph=True, accumulate=False)
    ref = np.concatenate([_zeros(p.data, p.data.size) if g is None else g.data.ravel()
                          for g, p in zip(grads, params)])
    got = u.reshape(-1) @ J
    tol = 1e-4 if J.dtype == np.float32 else 1e-8
    if np.abs(got - ref).max() > tol * (np.abs(ref).max() + np.abs(u).max() * np.abs(J).max() + 1e-30):
        raise _CannotSplit("residual rows depend on other samples")


def _reverse(r, params):
    n = r.data.size
    sizes = [p.data.size for p in params]
    J = np.zeros_like(r.data, dtype=np.result_type(r.data.dtype, *[p.data.dtype for p in params]),
                      shape=(n, sum(sizes)))
    seed = np.zeros_like(r.data)
    flat_seed = seed.reshape(-1)
    for i in range(n):
        flat_seed[i] = 1.0
        grads = compute_grads([r], [seed], inputs=params, retain_graph=True, accumulate=False)
        flat_seed[i] = 0.0
        J[i] = np.concatenate([_zeros(r.data, s) if g is None else g.data.ravel() for g, s in zip(grads, sizes)])
    return J


def _per_sample(r, params, out=None):
    N = r.shape[0]
    if N < 2:
        raise _CannotSplit("a single sample")
    K = r.data.size // N
    index = {id(p): i for i, p in enumerate(params)}
    order = topological_order([r])
    sizes = [p.data.size for p in params]
    offsets = np.cumsum([0] + sizes)
    dtype = np.result_type(r.data.dtype, *[p.data.dtype for p in params])
    shape = (N * K, int(offsets[-1]))
    reuse = out is not None and out.shape == shape and out.dtype == dtype and type(out) is type(r.data)
    J = out if reuse else np.empty_like(r.data, dtype=dtype, shape=shape)      # on r's device
    J3 = J.reshape(N, K, -1)
    for k in range(K):
        seed = np.zeros_like(r.data, shape=(N, K))
        seed[:, k] = 1.0
        # each parameter's per-sample gradients are written straight into its block of J
        views = [J3[:, k, a:b].reshape((N,) + p.data.shape) for p, a, b in zip(params, offsets[:-1], offsets[1:])]
        written = _sweep(r, order, seed.reshape(r.shape), index, N, views)
        for v, w in zip(views, written):
            if not w:
                v[...] = 0
    return J


def _sweep(r, order, seed, index, N, views):
    """One backward pass from r seeded with ``seed``, per-sample parameter gradients written into ``views``."""
    grads = {id(r): seed}
    written = [False] * len(index)
    m = ARRAY_MATH
    for t in order:
        g = grads.pop(id(t), None)
        if g is None or t._op is None:
            continue
        inputs = t._inputs
        needs, args, param_slots = [], [], []
        for j, a in enumerate(inputs):
            if isinstance(a, Tensor):
                is_param = id(a) in index
                if is_param:
                    param_slots.append(j)
                needs.append(a.requires_grad and not is_param)
                args.append(a.data)
            else:
                needs.append(False)
                args.append(a)
        if any(needs):
            if g.ndim == 0 or g.shape[0] != N:
                raise _CannotSplit(f"op {t._op.name} has an output without the batch axis first")
            shares = t._op.vjp(m, needs, g, t.data, *args, **t._kw)
            add_shares(inputs, shares, needs, m, grads)
        for j in param_slots:
            i = index[id(inputs[j])]
            _param_share(t, j, g, args, N, views[i], written[i])
            written[i] = True
    return written


def _param_share(t, j, g, args, N, out, accumulate):
    """Write (or add) the per-sample gradient (N,)+p.shape of input j (a parameter) of node t into ``out``."""
    p = args[j]
    name = t._op.name
    if g.ndim == 0 or g.shape[0] != N:
        raise _CannotSplit(f"parameter used by {name} whose output has no batch axis")
    if name == "linear" and j == 2:                 # the bias of a dense layer: g itself, per sample
        share = _per_sample_sum_to(g, p.shape, N, name)
    elif name in ("matmul", "linear") and j == 1 and p.ndim == 2 and args[0].ndim >= 2 and args[0].shape[0] == N:
        x = args[0].reshape(N, -1, p.shape[0])
        gg = g.reshape(N, -1, p.shape[1])
        if x.shape[1] == 1 and not accumulate:
            outer_rows(x[:, 0], gg[:, 0], out)
            return
        share = np.einsum("nti,nto->nio", x, gg)
    elif name in ("add", "sub", "mul", "div", "maximum", "minimum", "pow", "where"):
        needs = [False] * len(args)
        needs[j] = True
        share = t._op.vjp(ARRAY_MATH, needs, g, t.data, *args, **t._kw)[j]
        share = _per_sample_sum_to(share, p.shape, N, name)
    else:
        raise _CannotSplit(f"a parameter is an input of {name}")
    if accumulate:
        out += share
    else:
        out[...] = share


def _outer_rows(x, g, out):
    """out[n] = outer(x[n], g[n]) without a temporary (retrograd.accel splits big blocks over threads)."""
    np.multiply(x[:, :, None], g[:, None, :], out=out)


outer_rows = Accelerated(_outer_rows)


def _per_sample_sum_to(share, shape, N, name):
    """Sum ``share`` (batch on axis 0) down to (N,)+shape, keeping the batch axis."""
    if share.ndim == 0 or share.shape[0] != N or share.ndim < len(shape) + 1:
        raise _CannotSplit(f"parameter broadcast in {name} without a batch axis")
    lead = share.ndim - len(shape) - 1
    if lead:
        share = share.sum(axis=tuple(range(1, 1 + lead)))
    axes = tuple(1 + i for i, s in enumerate(shape) if s == 1 and share.shape[1 + i] != 1)
    if axes:
        share = share.sum(axis=axes, keepdims=True)
    return share


def _zeros(like, size):
    """float64 zeros of ``size`` on the device of ``like`` (NumPy or CuPy)."""
    return np.zeros_like(like, dtype=np.float64, shape=(size,))
