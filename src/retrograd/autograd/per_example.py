"""Per-example parameter gradients from one backward sweep: one rule per parameter-consuming op.

Seeded at the model's output with each example's own loss cotangent, an
ordinary backward pass carries, in row ``e`` of every intermediate, exactly
d l_e / d h_e, because the examples never mix (Goodfellow 2015). Only where a
parameter enters does the usual sum over the batch have to be left out: a
dense layer's weight gradient is the outer product x_e g_eᵀ for each example
instead of Σ_e x_e g_eᵀ, a bias's is g_e itself, a convolution's is the
product of each example's unfolded patches with its output cotangent, a
recurrent layer's is the sum over its time steps of that example's gate
gradients times its inputs. Those rules are the table ``RULES`` below, keyed
by op name; supporting a new parameter-consuming op means adding one rule.

Tensors computed from parameters alone (a batch-norm weight reshaped to
(1, C, 1), a transposed matrix) are followed too: their per-example
cotangents, with the example axis in front, are pulled back to the
parameters through ``reshape`` and ``transpose`` directly and through any
other op one example at a time.

The sweep assumes every batch-side tensor keeps the examples on axis 0 except
inside the recurrent ops, which know their own time-major layouts. Anything
it cannot split raises ``CannotSplit``; callers (``training.per_example``)
then fall back to one backward pass per example.
"""
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .engine import add_shares, dense, topological_order
from .ops import OPS
from .ops.recurrent import gru_kept
from .ops.registry import ARRAY_MATH, Accelerated
from .tensor import Tensor

Rule = Callable[..., Dict[int, np.ndarray]]
RULES: Dict[str, Rule] = {}


class CannotSplit(Exception):
    """The graph uses a parameter in a way the per-example sweep has no rule for."""


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register ``fn(t, slots, g, args, kw, n, outs)`` as the per-example rule of the ops ``names``.

    ``t`` is the recorded node, ``slots`` the positions of its parameter-side
    inputs, ``g`` the cotangent of its output (batch-side, examples on axis 0
    unless the op says otherwise), ``args`` its input arrays, ``kw`` its static
    arguments, ``n`` the number of examples. It returns ``{slot: array}`` with
    arrays of shape ``(n,) + args[slot].shape``; ``outs[slot]``, when not None,
    is a buffer of that shape the rule may fill and return instead.
    """
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn
    return register


def per_example_sweep(root: Tensor, seed: np.ndarray, params: Sequence[Tensor], inputs: Sequence[Tensor],
                      n: int, out: Optional[Sequence[Optional[np.ndarray]]] = None) -> List[np.ndarray]:
    """Per-example gradients (n,)+p.shape of every parameter, from one sweep seeded with ``seed`` at ``root``.

    ``inputs``: the leaves holding the examples (created with ``requires_grad=True``
    so that the graph records where they enter; their own gradient is never
    computed). ``seed`` has ``root``'s shape with the examples on axis 0. ``out``: optional
    buffers to write the results into (saves allocating and faulting in large
    arrays on every call). Raises ``CannotSplit`` where the graph needs a rule
    this module does not have.
    """
    index = {id(p): i for i, p in enumerate(params)}
    order = topological_order([root])
    data = {id(x) for x in inputs}
    param_side = _parameter_side(order, index, data)
    results: List[Optional[np.ndarray]] = [None] * len(params)
    buffers: List[Optional[np.ndarray]] = list(out) if out is not None else [None] * len(params)
    grads = {id(root): seed}
    pgrads: Dict[int, np.ndarray] = {}
    for t in order:
        k = id(t)
        if k in param_side:
            pg = pgrads.pop(k, None)
            if pg is None:
                continue
            if t._op is None:
                i = index[k]
                results[i] = pg if results[i] is None else results[i] + pg
            else:
                _pull_back_parameter_side(t, pg, param_side, pgrads, n)
            continue
        g = grads.pop(k, None)
        if g is None or t._op is None:
            continue                                  # an example leaf, or a tensor nothing depends on
        g = dense(g)
        inputs = t._inputs
        args = [a.data if isinstance(a, Tensor) else a for a in inputs]
        slots = [j for j, a in enumerate(inputs) if isinstance(a, Tensor) and id(a) in param_side]
        needs = [isinstance(a, Tensor) and a.requires_grad and a._op is not None and id(a) not in param_side
                 for a in inputs]
        if any(needs):
            shares = t._op.vjp(ARRAY_MATH, needs, g, t.data, *args, **t._kw)
            add_shares(inputs, shares, needs, ARRAY_MATH, grads)
        if slots:
            fn = RULES.get(t._op.name)
            if fn is None:
                raise CannotSplit(f"no per-example rule for a parameter used by the op {t._op.name!r}")
            outs = {j: _buffer_for(inputs[j], index, buffers, results) for j in slots}
            for j, share in fn(t, slots, g, args, t._kw, n, outs).items():
                kj = id(inputs[j])
                if share.shape != (n,) + args[j].shape:
                    raise CannotSplit(f"the {t._op.name} rule gave shape {share.shape} for an input of "
                                      f"shape {args[j].shape} and {n} examples")
                prev = pgrads.get(kj)
                pgrads[kj] = share if prev is None else prev + share
    return [r if r is not None else np.zeros((n,) + p.shape, dtype=p.data.dtype) if b is None else _zero(b)
            for r, p, b in zip(results, params, buffers)]


def _zero(buf: np.ndarray) -> np.ndarray:
    buf[...] = 0
    return buf


def _buffer_for(a: Tensor, index: Dict[int, int], buffers: List[Optional[np.ndarray]],
                results: List[Optional[np.ndarray]]) -> Optional[np.ndarray]:
    """The caller's buffer for parameter ``a`` if this is its first (and so far only) contribution."""
    i = index.get(id(a))
    if i is None or results[i] is not None:
        return None
    buf = buffers[i]
    buffers[i] = None                 # a second use of the parameter adds a fresh array to this one
    return buf


def _parameter_side(order: List[Tensor], index: Dict[int, int], data: set) -> set:
    """Ids of the parameters and of every recorded tensor computed from them without the examples."""
    side = set(index)
    batch = set(data)
    for t in reversed(order):                         # inputs before the tensors computed from them
        if t._op is None:
            continue
        ins = [id(a) for a in t._inputs if isinstance(a, Tensor) and a.requires_grad]
        if any(k in batch for k in ins):
            batch.add(id(t))
        elif ins and all(k in side for k in ins):
            side.add(id(t))
    return side


def _pull_back_parameter_side(t: Tensor, pg: np.ndarray, side: set, pgrads: Dict[int, np.ndarray],
                              n: int) -> None:
    """Carry a per-example cotangent (n,)+t.shape to the parameter-side inputs of ``t``."""
    inputs = t._inputs
    args = [a.data if isinstance(a, Tensor) else a for a in inputs]
    name = t._op.name
    for j, a in enumerate(inputs):
        if not (isinstance(a, Tensor) and id(a) in side):
            continue
        if name == "reshape":
            share = pg.reshape((n,) + a.shape)
        elif name == "transpose":
            axes = t._kw.get("axes")
            perm = np.argsort(axes) if axes is not None else np.arange(a.ndim)[::-1]
            share = pg.transpose((0,) + tuple(int(p) + 1 for p in perm))
        else:                                         # any other op: its own VJP, one example at a time
            needs = [i == j for i in range(len(inputs))]
            share = np.stack([_sum_to(t._op.vjp(ARRAY_MATH, needs, pg[e], t.data, *args, **t._kw)[j], a.shape)
                              for e in range(n)])
        prev = pgrads.get(id(a))
        pgrads[id(a)] = share if prev is None else prev + share


def _sum_to(share: np.ndarray, shape: tuple) -> np.ndarray:
    return share if share.shape == shape else ARRAY_MATH.sum_to(share, shape=shape)


def per_example_sum_to(share: np.ndarray, shape: tuple, n: int, name: str) -> np.ndarray:
    """Sum ``share`` (examples on axis 0, broadcast shape) down to (n,)+shape, keeping the example axis.

    ``shape`` is right-aligned against ``share`` as NumPy broadcasting does; if it
    reaches the example axis, that axis of ``shape`` must be 1 (a parameter
    broadcast over the examples).
    """
    if share.ndim == 0 or share.shape[0] != n:
        raise CannotSplit(f"{name}: the cotangent has no example axis first (shape {share.shape})")
    k = len(shape)
    if k >= share.ndim:
        if k > share.ndim or shape[0] != 1:
            raise CannotSplit(f"{name}: a parameter of shape {shape} has an axis along the examples")
        inner = shape[1:]
        lead = 0
    else:
        inner = shape
        lead = share.ndim - 1 - k
    if lead:
        share = share.sum(axis=tuple(range(1, 1 + lead)))
    axes = tuple(1 + i for i, s in enumerate(inner) if s == 1 and share.shape[1 + i] != 1)
    if axes:
        share = share.sum(axis=axes, keepdims=True)
    return share.reshape((n,) + tuple(shape))


# --------------------------------------------------------------------------- the rules


@rule("linear", "matmul")
def _dense(t, slots, g, args, kw, n, outs):
    """x @ W (+ b): the weight's share is x_e g_eᵀ (summed over any axes between), the bias's g_e."""
    out = {}
    x = args[0]
    for j in slots:
        p = args[j]
        if j == 2:                                              # linear's bias
            out[j] = per_example_sum_to(g, p.shape, n, t._op.name)
        elif j == 1 and p.ndim == 2 and x.ndim >= 2 and x.shape[0] == n and g.shape[0] == n:
            xs, gs = x.reshape(n, -1, p.shape[0]), g.reshape(n, -1, p.shape[1])
            buf = outs.get(j)
            if xs.shape[1] == 1:                                # one row per example: outer products
                buf = np.empty((n,) + p.shape, dtype=np.result_type(x, g)) if buf is None else buf
                outer_rows(xs[:, 0], gs[:, 0], buf)
                out[j] = buf
            else:
                out[j] = np.einsum("nti,nto->nio", xs, gs, out=buf) if buf is not None else \
                    np.einsum("nti,nto->nio", xs, gs)
        else:
            raise CannotSplit(f"{t._op.name}: parameter in position {j} of shape {p.shape}")
    return out


def _outer_rows(x: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """out[e] = outer(x[e], g[e]) without a temporary (retrograd.accel writes large blocks with several threads:
    the 784-256-10 MLP's first layer is 51 M numbers per batch of 256)."""
    np.multiply(x[:, :, None], g[:, None, :], out=out)


outer_rows = Accelerated(_outer_rows)


@rule("add", "sub", "mul", "div", "maximum", "minimum", "pow", "where")
def _broadcast(t, slots, g, args, kw, n, outs):
    """Element-wise ops: the op's own VJP for that input, summed to its shape except along the examples."""
    out = {}
    for j in slots:
        needs = [i == j for i in range(len(args))]
        share = t._op.vjp(ARRAY_MATH, needs, g, t.data, *args, **kw)[j]
        out[j] = per_example_sum_to(np.broadcast_to(share, np.broadcast_shapes(share.shape, g.shape)),
                                    args[j].shape, n, t._op.name)
    return out


@rule("conv")
def _conv(t, slots, g, args, kw, n, outs):
    """W's share: each example's output cotangent times its unfolded patches; b's: the cotangent summed over space."""
    x, w = args[0], args[1]
    groups = kw["groups"]
    out_ch = w.shape[0]
    d = w.ndim - 2
    gs = g.reshape(n, groups, out_ch // groups, -1)                       # (n, G, out/G, L)
    res = {}
    for j in slots:
        if j == 2:
            res[j] = gs.sum(axis=3).reshape(n, out_ch)
        elif j == 1:
            cols = OPS["unfold"].forward(x, kernel=tuple(w.shape[2:]), stride=kw["stride"],
                                          padding=kw["padding"], dilation=kw["dilation"])
            cols = cols.reshape(n, -1, groups, w[0].size)                  # (n, L, G, C/G*K)
            share = np.einsum("ngol,nlgk->ngok", gs, cols)
            res[j] = share.reshape((n,) + w.shape)
        else:
            raise CannotSplit(f"conv: parameter in position {j} ({d}-d input)")
    return res


def _steps(T, reverse):
    return list(range(T - 1, -1, -1)) if reverse else list(range(T))


def _previous(seq, first, order):
    """The state entering each step (T, B, H), in time order, from the per-step states and the initial one."""
    prev = np.empty_like(seq)
    prev[order[0]] = first
    for a, b in zip(order[:-1], order[1:]):
        prev[b] = seq[a]
    return prev


def _recurrent_shares(slots, first_weight, dG, x, h_prev, dGh=None):
    """Per-example (n, ...) shares of W_ih, W_hh, b_ih, b_hh from per-step gate gradients (T, n, gates)."""
    dGh = dG if dGh is None else dGh
    out = {}
    for j in slots:
        k = j - first_weight
        if k == 0:
            out[j] = np.einsum("tbg,tbi->bgi", dG, x)
        elif k == 1:
            out[j] = np.einsum("tbg,tbh->bgh", dGh, h_prev)
        elif k == 2:
            out[j] = dG.sum(axis=0)
        elif k == 3:
            out[j] = dGh.sum(axis=0)
        else:
            raise CannotSplit("a recurrent layer's input or initial state is a parameter")
    return out


@rule("rnn_seq")
def _rnn(t, slots, g, args, kw, n, outs):
    """Elman RNN, x (T, B, I) -> h (T, B, H): dG_t = (dh_t) * act'(h_t), dh_{t-1} = dG_t W_hh."""
    x, h0, w_ih, w_hh = args[:4]
    h = t.data
    order = _steps(x.shape[0], kw.get("reverse", False))
    dG = np.empty_like(h)
    dh = np.zeros_like(h[0])
    for t_ in reversed(order):
        dh = dh + g[t_]
        dG[t_] = dh * (1.0 - h[t_] * h[t_]) if kw.get("nonlinearity", "tanh") == "tanh" else dh * (h[t_] > 0)
        dh = dG[t_] @ w_hh
    return _recurrent_shares(slots, 2, dG, x, _previous(h, h0, order))


@rule("gru_seq")
def _gru(t, slots, g, args, kw, n, outs):
    """GRU (gates r, z, n), out (T, B, H) = h, saved (T, B, 4H) = [r, z, n, W_hn h + b_hn]; the input and hidden
    gate gradients differ."""
    x, h0, w_ih, w_hh, b_ih, b_hh = args[:6]
    H = h0.shape[-1]
    h = t.data
    order = _steps(x.shape[0], kw.get("reverse", False))
    h_prev = _previous(np.ascontiguousarray(h), h0, order)
    kept = kw.get("saved")
    if kept is None:
        kept = gru_kept(x, h_prev, w_ih, w_hh, b_ih, b_hh)
    r, z, nn_, hn = (kept[..., i * H:(i + 1) * H] for i in range(4))
    dGx = np.empty(x.shape[:2] + (3 * H,), dtype=h.dtype)
    dGh = np.empty_like(dGx)
    dh = np.zeros_like(h0, dtype=h.dtype)
    for t_ in reversed(order):
        dh = dh + g[t_]
        dn = dh * (1.0 - z[t_]) * (1.0 - nn_[t_] * nn_[t_])
        dGx[t_, :, 2 * H:] = dn
        dGh[t_, :, 2 * H:] = dn * r[t_]
        dGx[t_, :, :H] = dn * hn[t_] * r[t_] * (1.0 - r[t_])
        dGx[t_, :, H:2 * H] = dh * (h_prev[t_] - nn_[t_]) * z[t_] * (1.0 - z[t_])
        dGh[t_, :, :2 * H] = dGx[t_, :, :2 * H]
        dh = dh * z[t_] + dGh[t_] @ w_hh
    return _recurrent_shares(slots, 2, dGx, x, h_prev, dGh)


def _sigmoid(a):
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


@rule("lstm_seq")
def _lstm(t, slots, g, args, kw, n, outs):
    """LSTM (gates i, f, g, o), out (2, T, B, H) = [h, c]; the gates are recomputed from h, c and x."""
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = args[:7]
    H = h0.shape[-1]
    hs, cs = t.data                                                       # (T, B, H) each
    gh, gc = g
    order = _steps(x.shape[0], kw.get("reverse", False))
    h_prev = _previous(np.ascontiguousarray(hs), h0, order)
    c_prev = _previous(np.ascontiguousarray(cs), c0, order)
    pre = x @ w_ih.T + h_prev @ w_hh.T + (b_ih + b_hh)
    gi, gf, gg, go = _sigmoid(pre[..., :H]), _sigmoid(pre[..., H:2 * H]), np.tanh(pre[..., 2 * H:3 * H]), \
        _sigmoid(pre[..., 3 * H:])
    tc = np.tanh(cs)
    dG = np.empty(pre.shape, dtype=pre.dtype)
    dh = np.zeros_like(h0, dtype=pre.dtype)
    dc = np.zeros_like(dh)
    for t_ in reversed(order):
        dh = dh + gh[t_]
        dc = dc + gc[t_] + dh * go[t_] * (1.0 - tc[t_] * tc[t_])
        dG[t_, :, :H] = dc * gg[t_] * gi[t_] * (1.0 - gi[t_])
        dG[t_, :, H:2 * H] = dc * c_prev[t_] * gf[t_] * (1.0 - gf[t_])
        dG[t_, :, 2 * H:3 * H] = dc * gi[t_] * (1.0 - gg[t_] * gg[t_])
        dG[t_, :, 3 * H:] = dh * tc[t_] * go[t_] * (1.0 - go[t_])
        dh = dG[t_] @ w_hh
        dc = dc * gf[t_]
    return _recurrent_shares(slots, 3, dG, x, h_prev)
