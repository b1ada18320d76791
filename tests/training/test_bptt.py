"""Truncated BPTT(k1, k2): the updates equal a hand-written Williams & Peng loop."""
import numpy as np
import pytest

import retrograd as rg


class Elman(rg.nn.Module):
    """h_t = tanh(x_t Wx + h_{t-1} Wh + b), y_t = h_t Wy + c, with the (outputs, state) protocol."""

    def __init__(self, n_in=2, n_h=5, n_out=3, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.Wx = rg.nn.Parameter(rng.normal(0, 0.5, (n_in, n_h)))
        self.Wh = rg.nn.Parameter(rng.normal(0, 0.5, (n_h, n_h)))
        self.b = rg.nn.Parameter(np.zeros(n_h))
        self.Wy = rg.nn.Parameter(rng.normal(0, 0.5, (n_h, n_out)))
        self.c = rg.nn.Parameter(np.zeros(n_out))
        self.n_h = n_h

    def forward(self, x, h=None):
        if h is None:
            h = rg.tensor(np.zeros((x.shape[0], self.n_h)))
        outs = []
        for t in range(x.shape[1]):
            h = rg.tanh(x[:, t] @ self.Wx + h @ self.Wh + self.b)
            outs.append(h @ self.Wy + self.c)
        return rg.stack(outs, axis=1), h


def data(n=6, T=7, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, 2))
    y = (np.cumsum(X[..., 0], axis=1) > 0).astype(np.int64) + (X[..., 1] > 1)
    return X, y


def hand_tbptt(model, X, y, k1, k2, lr, batch):
    """Williams & Peng's TBPTT(k1, k2), written out: at t = k1, 2k1, ... (and T) rerun the last k2
    steps from the state stored then (a constant), take the loss on the newest outputs, update.
    States are kept as the forward passes computed them (with the weights of that moment)."""
    opt = rg.optim.SGD(model.parameters(), lr=lr)
    T = X.shape[1]
    for s in range(0, len(X), batch):
        xb, yb = X[s:s + batch], y[s:s + batch]
        stored = {0: None}
        prev = 0
        for end in list(range(k1, T, k1)) + [T]:
            start = max(0, end - k2)
            if start not in stored:
                known = max(p for p in stored if p < start)
                with rg.no_grad():
                    _, stored[start] = model(rg.tensor(xb[:, known:start]), stored[known])
            h = None if stored[start] is None else rg.tensor(stored[start].data)
            opt.zero_grad()
            out, h_end = model(rg.tensor(xb[:, start:end]), h)
            new = out[:, prev - start:]
            loss = rg.nn.functional.cross_entropy(new.reshape(-1, 3),
                                                  rg.tensor(yb[:, prev:end].reshape(-1)))
            loss.backward()
            opt.step()
            stored[end] = h_end
            prev = end


@pytest.mark.parametrize("k1, k2", [(7, 7), (3, 3), (2, 4), (3, 5), (1, 3)])
def test_tbptt_matches_hand_loop(k1, k2):
    X, y = data()
    ref, model = Elman(), Elman()
    hand_tbptt(ref, X, y, k1, k2, lr=0.1, batch=4)
    rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1,
           batch_size=4, shuffle=False, bptt=(k1, k2), quiet=True)
    for a, b in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-14)


def test_tbptt_learns_and_reports_per_step_metrics():
    X, y = data(n=40, T=10, seed=3)
    model = Elman(seed=2)
    h = rg.fit(model, "cross_entropy", rg.optim.Adam(model.parameters(), lr=0.05), (X, y),
               epochs=15, batch_size=8, bptt=(5, 10), metrics=["accuracy"],
               validation_data=data(n=10, T=10, seed=4), quiet=True)
    assert h["loss"][-1] < 0.7 * h["loss"][0]
    out, _ = model(rg.tensor(X))
    acc = np.mean(out.data.argmax(-1) == y)
    assert h["accuracy"][-1] == pytest.approx(acc)
    assert "val_loss" in h


def test_bad_bptt_arguments_say_what_is_wrong():
    X, y = data()
    model = Elman()
    with pytest.raises(ValueError, match="k1 <= k2"):
        rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), (X, y),
               bptt=(4, 2), quiet=True)
    with pytest.raises(ValueError, match=r"X must be \(N, T, features\)"):
        rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1),
               (X[:, :, 0], y), bptt=2, quiet=True)
