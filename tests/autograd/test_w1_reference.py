"""End to end: W1 (XOR online, 8000 SGD steps in float64) lands on the reference final loss.

The reference, 2.6519074551805105e-4, is what the hand-written NumPy peer
(../shared/bench/peers/bench_numpy.py) computes; torch lands within 1e-18 of it.
"""
import numpy as np

import retrograd as rg

INIT = [np.array([[0.3354862482481791, -0.5639050832878074], [-1.124380644784199, -1.1842605976919982]]),
        np.zeros(2), np.array([[0.886062041929778], [1.1674490706625804]]), np.zeros(1)]
REFERENCE_FINAL_LOSS = 2.6519074551805105e-4


def test_w1_final_loss_matches_the_reference():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    T = np.array([[0], [1], [1], [0]], dtype=np.float64)
    params = [rg.tensor(p, requires_grad=True) for p in INIT]
    W1, b1, W2, b2 = params
    velocity = [np.zeros_like(p.data) for p in params]
    for _ in range(2000):
        for i in range(4):
            error = rg.sigmoid(rg.sigmoid(rg.tensor(X[i:i + 1]) @ W1 + b1) @ W2 + b2) - T[i:i + 1]
            (0.5 * (error * error).sum()).backward()
            for p, v in zip(params, velocity):
                v *= 0.9
                v += p.grad.data
                p.data -= 0.5 * v
                p.grad = None
    with rg.no_grad():
        y = rg.sigmoid(rg.sigmoid(rg.tensor(X) @ W1 + b1) @ W2 + b2).numpy()
    final_loss = 0.5 * np.sum((y - T) ** 2)
    assert abs(final_loss - REFERENCE_FINAL_LOSS) < 1e-12
    assert np.all((y > 0.5) == (T > 0.5))
