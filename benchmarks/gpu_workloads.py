"""W2-W5 of WORKLOADS.md for the GPU benchmarks: data, initial values and shuffles, without ../shared.

The lent GPU machine receives the repository alone (the peers' common.py
beside it does not travel), so the definitions are restated here from
WORKLOADS.md: the same data, the same seeds and initial values, the same
shuffle orders. W3x16 is W3 with batches of 4096 (16 steps per epoch).
"""
import numpy as np

W3_SIZES, W3_SEED, W3_LR, W3_MOMENTUM = [784, 1024, 1024, 10], 1, 0.01, 0.9
W3_N, W3X16_BATCH = 65536, 4096
W2_SIZES, W2_SEED, W2_LR, W2_MOMENTUM, W2_BATCH = [64, 256, 10], 0, 0.05, 0.9, 32
W4_T, W4_B, W4_IN, W4_H, W4_C = 50, 32, 32, 128, 10
W5_BATCH, W5_LR = 64, 1e-3
SHUFFLE_SEED = 1


def glorot_mlp(sizes, seed, dtype=np.float32):
    """[W1, b1, W2, b2, ...] with W (fan_in, fan_out) ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)), b = 0."""
    rng = np.random.default_rng(seed)
    out = []
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        a = np.sqrt(6.0 / (fi + fo))
        out += [rng.uniform(-a, a, size=(fi, fo)).astype(dtype), np.zeros(fo, dtype)]
    return out


def fanin_uniform(rng, shape, fan_in, dtype=np.float32):
    b = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-b, b, size=shape).astype(dtype)


def w3_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((W3_N, 784), dtype=np.float32)
    Wt = rng.standard_normal((784, 10), dtype=np.float32)
    return X, np.argmax(X.astype(np.float64) @ Wt.astype(np.float64), axis=1).astype(np.int64)


def digits_split():
    """The digits split of WORKLOADS.md, standardised with the training statistics (std 1 where 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.2, random_state=0, stratify=d.target)
    mean, std = Xtr.mean(axis=0), Xtr.std(axis=0)
    std[std == 0] = 1.0
    return ((Xtr - mean) / std).astype(np.float32), ((Xte - mean) / std).astype(np.float32), \
        ytr.astype(np.int64), yte.astype(np.int64)


def permutations(n, epochs, seed=SHUFFLE_SEED):
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


def w4_data(steps):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, W4_T, W4_B, W4_IN), dtype=np.float32)[:steps]
    y = rng.integers(0, W4_C, size=(200, W4_B)).astype(np.int64)[:steps]
    return X, y


def w4_init():
    """W_ih (512,32), W_hh (512,128), b_ih, b_hh, head W (10,128), head b: fan-in 128 each, default_rng(1)."""
    rng, H = np.random.default_rng(1), W4_H
    return [fanin_uniform(rng, (4 * H, W4_IN), H), fanin_uniform(rng, (4 * H, H), H), fanin_uniform(rng, (4 * H,), H),
            fanin_uniform(rng, (4 * H,), H), fanin_uniform(rng, (W4_C, H), H), fanin_uniform(rng, (W4_C,), H)]


def w5_init():
    """conv1 (16,1,3,3)+(16) fan 9, conv2 (32,16,3,3)+(32) fan 144, fc (10,512)+(10) fan 512; default_rng(0)."""
    rng = np.random.default_rng(0)
    return [fanin_uniform(rng, (16, 1, 3, 3), 9), fanin_uniform(rng, (16,), 9),
            fanin_uniform(rng, (32, 16, 3, 3), 144), fanin_uniform(rng, (32,), 144),
            fanin_uniform(rng, (10, 512), 512), fanin_uniform(rng, (10,), 512)]
