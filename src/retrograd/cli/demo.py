"""`retrograd demo`: XOR learned by online backprop with momentum, using the engine directly."""
import numpy as np

import retrograd as rg


def run_demo(epochs=2000, seed=0, out=print):
    """Train 2-2-1 sigmoid units on XOR, one example per step; print the loss as it falls."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    T = np.array([[0], [1], [1], [0]], dtype=np.float64)
    rng = np.random.default_rng(seed)
    sizes = [(2, 2), (2, 1)]
    params = []
    for fan_in, fan_out in sizes:
        a = np.sqrt(6.0 / (fan_in + fan_out))
        params.append(rg.tensor(rng.uniform(-a, a, size=(fan_in, fan_out)), requires_grad=True))
        params.append(rg.zeros(fan_out, dtype=np.float64, requires_grad=True))
    W1, b1, W2, b2 = params
    velocity = [np.zeros_like(p.data) for p in params]
    lr, momentum = 0.5, 0.9

    def forward(x):
        return rg.sigmoid(rg.sigmoid(x @ W1 + b1) @ W2 + b2)

    out(f"XOR, network 2-2-1 (sigmoid units), online SGD lr={lr} momentum={momentum}, {epochs} epochs")
    for epoch in range(1, epochs + 1):
        for i in range(4):
            error = forward(rg.tensor(X[i:i + 1])) - T[i:i + 1]
            loss = 0.5 * (error * error).sum()
            loss.backward()
            for p, v in zip(params, velocity):
                v *= momentum
                v += p.grad.data
                p.data -= lr * v
                p.grad = None
        if epoch == 1 or epoch % max(1, epochs // 10) == 0:
            with rg.no_grad():
                total = float((0.5 * (forward(rg.tensor(X)) - T) ** 2).sum())
            out(f"epoch {epoch:5d}  loss {total:.6e}")
    with rg.no_grad():
        y = forward(rg.tensor(X)).numpy()
    correct = bool(np.all((y > 0.5) == (T > 0.5)))
    out("outputs " + " ".join(f"{v:.4f}" for v in y.ravel()) + f"  all correct: {correct}")
    return 0 if correct else 1
