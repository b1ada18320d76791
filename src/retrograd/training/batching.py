"""Which examples each step sees: batch bounds per mode and the seeded per-epoch shuffle order."""
import json

import numpy as np

MODES = ("online", "batch", "minibatch")


def check_mode(mode):
    """``mode`` if it is one of ``MODES``, else ValueError."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"fit(): mode must be one of {MODES}, got {mode!r}")
    return mode


def batch_size_for(mode, batch_size, n):
    """Examples per step: 1 online, all of them in batch mode, ``batch_size`` otherwise."""
    if check_mode(mode) == "online":
        return 1
    if mode == "batch":
        return n
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"fit(): batch_size must be a whole number >= 1, got {batch_size!r}")
    return min(int(batch_size), n)


def batch_bounds(n, size):
    """(start, stop) of consecutive slices; the last, partial batch is kept (44x32 + 1x29 for 1437)."""
    return [(s, min(s + size, n)) for s in range(0, n, size)]


class ShuffleOrder:
    """The per-epoch order of the training examples.

    ``shuffle`` is True (draw from ``np.random.default_rng(seed)``), False or
    None (data order), an int seed or a ``numpy.random.Generator`` (drawn from
    that), or a sequence of explicit per-epoch permutations. Drawing is
    ``rng.permutation(n)`` once per epoch, in epoch order, so
    ``fit(..., seed=1)`` reproduces ``[default_rng(1).permutation(n) for each
    epoch]`` exactly (the WORKLOADS.md rule).
    """

    def __init__(self, shuffle, seed, n):
        self.n = n
        self.rng = None
        self.orders = None
        if shuffle is True:
            self.rng = np.random.default_rng(seed)
        elif isinstance(shuffle, np.random.Generator):
            self.rng = shuffle
        elif isinstance(shuffle, (int, np.integer)) and not isinstance(shuffle, bool):
            self.rng = np.random.default_rng(int(shuffle))
        elif shuffle is not None and shuffle is not False:
            self.orders = [np.asarray(p, dtype=np.int64) for p in shuffle]
            for i, p in enumerate(self.orders):
                if p.shape != (n,):
                    raise ValueError(f"fit(shuffle=...): order {i} has shape {p.shape}, expected "
                                     f"a permutation of shape ({n},)")

    def for_epoch(self, epoch):
        """The permutation for ``epoch`` (None means data order)."""
        if self.rng is not None:
            return self.rng.permutation(self.n)
        if self.orders is not None:
            if epoch >= len(self.orders):
                raise ValueError(f"fit(shuffle=[...]) gave {len(self.orders)} epoch orders, but "
                                 f"epoch {epoch + 1} needs one more: pass one per epoch")
            return self.orders[epoch]
        return None

    def state_dict(self):
        """The generator state as JSON text (its 128-bit integers do not fit a float)."""
        if self.rng is None:
            return {}
        return {"bit_generator": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state):
        if self.rng is not None and state.get("bit_generator"):
            self.rng.bit_generator.state = json.loads(state["bit_generator"])
