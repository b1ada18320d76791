"""Generated classic problems: XOR, n-bit parity, N-M-N encoders, two spirals, 6-bit symmetry."""
import itertools

import numpy as np


def _all_bit_patterns(n_bits):
    """All 2**n patterns of n bits as float rows, in counting order (most significant bit first)."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n_bits)))


def xor(dtype=np.float64):
    """The four XOR examples in the order (0,0)->0, (0,1)->1, (1,0)->1, (1,1)->0; y has shape (4, 1)."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    y = np.array([[0], [1], [1], [0]], dtype=dtype)
    return X, y


def parity(n_bits=4, dtype=np.float64):
    """All 2**n_bits patterns; the target is 1 when the number of ones is odd. y has shape (2**n, 1)."""
    if n_bits < 1:
        raise ValueError(f"parity: n_bits must be >= 1, got {n_bits}")
    X = _all_bit_patterns(n_bits).astype(dtype)
    y = (X.sum(axis=1, keepdims=True) % 2).astype(dtype)
    return X, y


def encoder(n=8, dtype=np.float64):
    """The N-M-N encoder problem (Ackley, Hinton & Sejnowski 1985): the n one-hot patterns map to themselves.

    Train an n-m-n network (for 8-3-8, m = 3 = log2 n) so that the hidden layer must find a code.
    """
    if n < 2:
        raise ValueError(f"encoder: n must be >= 2, got {n}")
    X = np.eye(n, dtype=dtype)
    return X, X.copy()


def two_spirals(points_per_spiral=97, noise=0.0, seed=0, dtype=np.float64):
    """The two-spirals benchmark of Lang & Witbrock (1988): 2 x 97 points, labels 1 and 0.

    Point i (0..96) of the first spiral sits at angle ``i*pi/16`` and radius
    ``6.5*(104-i)/104``, i.e. three turns; the second spiral is the first rotated by 180 degrees.
    ``points_per_spiral`` other than 97 keeps three turns and the same radii. Optional Gaussian
    ``noise`` (standard deviation) is drawn from ``default_rng(seed)``. y has shape (2n, 1).
    """
    n = int(points_per_spiral)
    i = np.arange(n, dtype=np.float64) * (96.0 / max(n - 1, 1))
    angle = i * np.pi / 16.0
    radius = 6.5 * (104.0 - i) / 104.0
    x1 = radius * np.sin(angle)
    y1 = radius * np.cos(angle)
    first = np.stack([x1, y1], axis=1)
    X = np.concatenate([first, -first])
    y = np.concatenate([np.ones(n), np.zeros(n)])[:, None]
    if noise > 0:
        X = X + np.random.default_rng(seed).normal(0.0, noise, size=X.shape)
    return X.astype(dtype), y.astype(dtype)


def symmetry(n_bits=6, dtype=np.float64):
    """The n-bit mirror-symmetry problem (Rumelhart, Hinton & Williams 1986): target 1 when the pattern is a palindrome.

    All 2**n_bits patterns; for n_bits = 6 that is 64 patterns, 8 of them symmetric.
    """
    if n_bits < 2:
        raise ValueError(f"symmetry: n_bits must be >= 2, got {n_bits}")
    X = _all_bit_patterns(n_bits)
    y = np.all(X == X[:, ::-1], axis=1).astype(np.float64)[:, None]
    return X.astype(dtype), y.astype(dtype)
