"""Array-module choice (NumPy or CuPy), the default dtype policy, the global random generator."""
import numpy as np

try:  # CuPy is optional: the GPU extra.
    import cupy as _cupy
except Exception:  # noqa: BLE001 - any import failure means "no GPU backend"
    _cupy = None

_DEFAULT_DTYPE = [np.dtype(np.float32)]
_GENERATOR = [np.random.default_rng()]

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def get_default_dtype():
    """The floating dtype given to tensors built from Python floats (float32 unless changed)."""
    return _DEFAULT_DTYPE[0]


def set_default_dtype(dtype):
    """Set the floating dtype for new tensors and parameters: float16, float32 or float64."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"set_default_dtype: expected a floating dtype (float16/32/64), got {dtype}")
    _DEFAULT_DTYPE[0] = dtype


def manual_seed(seed):
    """Reseed retrograd's global generator; every random factory and initialiser draws from it."""
    _GENERATOR[0] = np.random.default_rng(seed)
    return _GENERATOR[0]


def default_generator():
    """The global ``numpy.random.Generator`` used when no explicit generator is given."""
    return _GENERATOR[0]


def get_generator(generator=None):
    """``generator`` if given (a Generator or an int seed), else the global generator."""
    if generator is None:
        return _GENERATOR[0]
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    return generator


def array_module(*arrays):
    """numpy, or cupy when any argument is a CuPy array."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def device_of(array):
    """'cpu' or 'cuda' for an array."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    return "cpu"


def gpu_available():
    """True when CuPy is installed and sees at least one GPU."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - CUDA driver missing or broken
        return False


def to_device(array, device):
    """Move an array to 'cpu' or 'cuda' (a no-op when it is already there)."""
    if device in ("cpu", None):
        return _cupy.asnumpy(array) if _cupy is not None and isinstance(array, _cupy.ndarray) else array
    if device in ("cuda", "gpu") or str(device).startswith("cuda"):
        if not gpu_available():
            raise RuntimeError("device 'cuda' asked for, but CuPy with a working GPU is not available "
                               "(pip install 'retrograd[gpu]')")
        return _cupy.asarray(array)
    raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'")
