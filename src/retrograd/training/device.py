"""Where ``fit`` trains (its ``device=``): the model, the optimizer's state and the data on the CPU or a GPU.

``Placement.of(model, device)`` decides once per fit. ``device=None`` trains
where the model's parameters already are (``model.to('cuda')`` before
``fit`` is enough); 'cpu' or 'cuda' moves the model and the optimizer's state
there first. On a GPU the whole training set is copied to the device once
when it takes at most ``WHOLE_DATA_FRACTION`` of the free device memory, so
each batch is a slice of device memory (the shuffled order is gathered on the
device once per epoch); otherwise each batch is copied when it is used.
Outputs handed to metrics and callbacks come back to the host.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .. import backend

# The training data are copied to the GPU whole when they need at most this share of its free
# memory: the rest is left for the parameters, the activations of a batch and their gradients.
WHOLE_DATA_FRACTION = 0.5


class Placement:
    """fit's device: moves the model and the optimizer there, the data whole or batch by batch.

    ``device``: 'cpu' or 'cuda' (canonical, see ``backend.parse_device``).
    ``whole``: whether the training data were copied to the device at once
    (set by ``data``; always True on the CPU, where nothing moves).
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.on_gpu = device != "cpu"
        self.whole = True

    @classmethod
    def of(cls, model: Any, device: Any) -> "Placement":
        """The placement for ``fit(model, ..., device=device)``: the model's own device when None."""
        if device is None:
            first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
            return cls("cpu" if first is None else backend.device_of(first.data))
        device = backend.parse_device(device, "fit(): device")
        if device != "cpu":
            backend.require_gpu(device)      # one clear error before anything moves
        return cls(device)

    def place_model(self, model: Any, optimizer: Any) -> None:
        """Put the model's parameters and buffers, and the optimizer's state, on the device."""
        if hasattr(model, "to") and any(backend.device_of(p.data) != self.device.split(":")[0]
                                        for p in model.parameters()):
            model.to(self.device)
        if hasattr(optimizer, "to"):
            optimizer.to(self.device)

    def data(self, X: np.ndarray, y: np.ndarray, free_bytes: Optional[int] = None,
             training: bool = True) -> Tuple[Any, Any]:
        """(X, y) on the device when they fit there whole (see the module's docstring), else as given.

        ``free_bytes``: the device's free memory (read from CuPy when None);
        ``training``: these are the training data (their placement decides
        how an epoch's order is applied), not the validation data.
        """
        if not self.on_gpu:
            return X, y
        free = backend.device_free_bytes() if free_bytes is None else free_bytes
        whole = fits_whole(X.nbytes + y.nbytes, free)
        if training:
            self.whole = whole
        if not whole:
            return X, y
        return backend.to_device(X, self.device), backend.to_device(y, self.device)

    def batch(self, array: Any) -> Any:
        """A batch on the device (a no-op when it is there already, or on the CPU)."""
        return backend.to_device(array, self.device) if self.on_gpu else array

    def order(self, perm: Any) -> Any:
        """An epoch's shuffled order as an index for the data where they are."""
        return backend.to_device(perm, self.device) if self.on_gpu and self.whole else perm

    @staticmethod
    def host(array: Any) -> Any:
        """An array on the host (outputs for metrics and callbacks)."""
        return backend.to_host(array)


def fits_whole(nbytes: int, free_bytes: Optional[int]) -> bool:
    """Whether ``nbytes`` of training data go to the device at once, given its free memory."""
    return free_bytes is not None and nbytes <= WHOLE_DATA_FRACTION * free_bytes
