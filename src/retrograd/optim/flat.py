"""Parameters seen as one flat vector: gather, scatter, add a step, read the gradient (full-batch methods)."""
import numpy as np


class FlatParams:
    """A view of a list of parameter Tensors as one vector of their common dtype."""

    def __init__(self, params):
        self.params = list(params)
        self.sizes = [p.data.size for p in self.params]
        self.offsets = np.cumsum([0] + self.sizes)
        self.n = int(self.offsets[-1])

    @property
    def dtype(self):
        """The parameters' common dtype (read each time: ``Module.to`` may have cast them)."""
        return np.result_type(*[p.data.dtype for p in self.params])

    def get(self):
        """A copy of all parameters as one vector (on their device)."""
        return np.concatenate([p.data.ravel() for p in self.params]).astype(self.dtype, copy=False)

    def set(self, x):
        for p, a, b in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            p.data[...] = x[a:b].reshape(p.data.shape)

    def add(self, alpha, d):
        """p <- p + alpha * d, in place."""
        for p, a, b in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            p.data += (alpha * d[a:b]).reshape(p.data.shape).astype(p.data.dtype, copy=False)

    def grad(self):
        """The flat gradient (zeros for parameters without one)."""
        parts = []
        dtype = self.dtype
        for p in self.params:    # zeros_like: on the parameter's device (NumPy or CuPy)
            parts.append(np.zeros_like(p.data, dtype, shape=(p.data.size,)) if p.grad is None
                         else p.grad.data.ravel())
        return np.concatenate(parts).astype(dtype, copy=False)

    def split(self, x):
        """The flat vector x cut back into arrays shaped like the parameters."""
        return [x[a:b].reshape(p.data.shape) for p, a, b in zip(self.params, self.offsets[:-1], self.offsets[1:])]
