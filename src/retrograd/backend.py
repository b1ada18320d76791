"""Array-module choice (NumPy or CuPy), devices and moves between them, the default dtype policy, the generators."""
from typing import Any, Optional

import numpy as np

_CUPY_IMPORT_ERROR: Optional[str] = None
try:  # CuPy is optional: the GPU extra.
    import cupy as _cupy
except ModuleNotFoundError as _exc:
    _cupy = None
    if _exc.name != "cupy":                  # CuPy is there, but something it needs is not
        _CUPY_IMPORT_ERROR = f"{type(_exc).__name__}: {_exc}"
except Exception as _exc:  # noqa: BLE001 - a broken CuPy install: say what broke when cuda is asked for
    _cupy = None
    _CUPY_IMPORT_ERROR = f"{type(_exc).__name__}: {_exc}"

_DEFAULT_DTYPE = [np.dtype(np.float32)]
_GENERATOR = [np.random.default_rng()]
_SEED: list = [None]               # the seed given to manual_seed (None: fresh entropy)
_DEVICE_GENERATOR: list = [None]   # CuPy's generator for device draws, made from _SEED when first needed
DEVICES = ("cpu", "cuda")
# Counts Module.to calls that moved or cast something; an optimizer compares it with the count it
# last saw before each step (one integer test) and moves its state after the parameters.
PLACEMENT = [0]
GPU_EXTRA = "pip install 'retrograd[gpu]'"

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
    _SEED[0] = seed
    _DEVICE_GENERATOR[0] = None      # the device generator restarts from the same seed when next used
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


def device_generator(generator: Any = None) -> Any:
    """A CuPy generator for draws made on the GPU (dropout masks), seeded from retrograd's seed.

    ``generator=None``: the global device generator, made from the seed of the
    last ``manual_seed`` (the same seed gives the same masks run after run);
    an int: a new generator seeded with it; a NumPy Generator: a new device
    generator seeded by one draw from it (so the host generator decides).
    A CuPy generator is returned as it is.
    """
    require_gpu()
    if generator is None:
        if _DEVICE_GENERATOR[0] is None:
            seed = _SEED[0]
            if seed is None:              # no manual_seed: one draw from the host generator decides
                seed = int(_GENERATOR[0].integers(2 ** 63))
            _DEVICE_GENERATOR[0] = _cupy.random.default_rng(seed)
        return _DEVICE_GENERATOR[0]
    if isinstance(generator, (int, np.integer)):
        return _cupy.random.default_rng(int(generator))
    if isinstance(generator, np.random.Generator):
        return _cupy.random.default_rng(int(generator.integers(2 ** 63)))
    return generator


def array_module(*arrays):
    """numpy, or cupy when any argument is a CuPy array."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def is_device_array(array: Any) -> bool:
    """True for a CuPy array (an array on the GPU)."""
    return _cupy is not None and isinstance(array, _cupy.ndarray)


def device_of(array):
    """'cpu' or 'cuda' for an array."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    return "cpu"


def parse_device(device: Any, what: str = "device") -> str:
    """'cpu' or 'cuda' (or 'cuda:N') from what a user wrote: 'cpu', 'cuda', 'cuda:0', 'gpu', None (cpu).

    A wrong spelling is a ValueError naming ``what`` (the argument or option).
    """
    if device is None:
        return "cpu"
    name = str(device).strip().lower()
    if name in ("cpu", "cuda"):
        return name
    if name == "gpu":
        return "cuda"
    if name.startswith("cuda:") and name[5:].isdigit():
        return name
    raise ValueError(f"{what} must be 'cpu' or 'cuda' (or 'cuda:N' for GPU number N), got {device!r}")


def gpu_missing_message(cupy_version: Optional[str], problem: Optional[str]) -> str:
    """The error text for a 'cuda' request that cannot be met, saying which part is missing.

    ``cupy_version``: the installed CuPy's version, or None when CuPy cannot be
    imported; ``problem``: why (None when CuPy is simply not installed; the
    import error of a broken install; CUDA's answer when asked for devices).
    """
    if cupy_version is None:
        if problem is None:
            head = "device 'cuda' needs CuPy, which is not installed"
        else:
            head = f"device 'cuda' needs CuPy, which is installed but cannot be imported ({problem})"
        return (head + ": " + GPU_EXTRA + " installs CuPy for CUDA 12 (cupy-cuda12x; for CUDA 13, "
                "pip install 'retrograd[gpu-cuda13]'); or train on the CPU with device 'cpu'")
    detail = f" ({problem})" if problem else ""
    return (f"device 'cuda' asked for: CuPy {cupy_version} is installed but finds no usable GPU{detail}; "
            "check that the NVIDIA driver sees one (nvidia-smi), that CUDA_VISIBLE_DEVICES does not hide "
            "it, and that the CuPy package matches the CUDA version (cupy-cuda12x or cupy-cuda13x); or "
            "train on the CPU with device 'cpu'")


def device_and_dtype(args: tuple, device: Any, dtype: Any, owner: str) -> tuple:
    """(device or None, floating dtype or None) from ``.to(...)``'s arguments, in any order.

    Each positional argument is a device ('cpu', 'cuda', 'cuda:N', 'gpu') or a
    dtype (np.float64, 'float32', ...); keywords ``device=`` / ``dtype=`` too.
    """
    for arg in args:
        if isinstance(arg, str) and arg.strip().lower().split(":")[0] in ("cpu", "cuda", "gpu"):
            if device is not None:
                raise TypeError(f"{owner}.to: two devices given ({device!r} and {arg!r})")
            device = arg
            continue
        try:
            as_dtype = np.dtype(arg)
        except TypeError:
            raise TypeError(f"{owner}.to: expected a device ('cpu', 'cuda') or a floating dtype, got "
                            f"{arg!r}") from None
        if dtype is not None:
            raise TypeError(f"{owner}.to: two dtypes given ({dtype} and {as_dtype})")
        dtype = as_dtype
    if device is not None:
        device = parse_device(device, f"{owner}.to: device")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{owner}.to: the dtype must be a floating type (float16/32/64), got {dtype}")
    return device, dtype


def move_array(array: Any, device: Optional[str], dtype: Any = None) -> Any:
    """``array`` on ``device`` (None: where it is), floating arrays cast to ``dtype`` (None: kept)."""
    if device is not None:
        array = to_device(array, device)
    if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
        array = array.astype(dtype)
    return array


class DeviceError(RuntimeError):
    """A device was asked for that this machine cannot provide (no CuPy, or no GPU)."""


def _gpu_problem() -> Optional[str]:
    """None when CuPy sees a GPU, else why not (for ``gpu_missing_message``)."""
    if _cupy is None:
        return _CUPY_IMPORT_ERROR or "no module named 'cupy'"
    try:
        count = _cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDA driver missing or broken: CuPy says which
        return f"{type(exc).__name__}: {exc}"
    return None if count > 0 else "CUDA reports 0 devices"


def require_gpu(device: str = "cuda") -> None:
    """Raise ``DeviceError`` (one message: what is missing and how to install it) unless a GPU is usable."""
    problem = _gpu_problem()
    if problem is None:
        if ":" in device:
            number, count = int(device.split(":")[1]), _cupy.cuda.runtime.getDeviceCount()
            if number >= count:
                raise DeviceError(f"device {device!r} asked for, but CuPy sees {count} GPU(s), "
                                  f"numbered 0 to {count - 1}")
        return
    if _cupy is None:
        raise DeviceError(gpu_missing_message(None, _CUPY_IMPORT_ERROR))
    raise DeviceError(gpu_missing_message(str(getattr(_cupy, "__version__", "?")), problem))


def gpu_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    return _gpu_problem() is None


def to_device(array: Any, device: Any) -> Any:
    """``array`` on 'cpu' (NumPy) or 'cuda' (CuPy); the array itself when it is already there.

    Asking for 'cuda' without CuPy or without a GPU raises ``DeviceError``.
    """
    device = parse_device(device)
    if device == "cpu":
        return _cupy.asnumpy(array) if _cupy is not None and isinstance(array, _cupy.ndarray) else array
    if _cupy is not None and isinstance(array, _cupy.ndarray) and ":" not in device:
        return array
    require_gpu(device)
    if ":" in device:
        with _cupy.cuda.Device(int(device.split(":")[1])):
            return _cupy.asarray(array)
    return _cupy.asarray(array)


def to_host(array: Any) -> Any:
    """A NumPy array of ``array`` (a copy from the GPU, the array itself on the CPU)."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return array


def device_free_bytes() -> Optional[int]:
    """Free memory on the current GPU in bytes (CUDA's count plus what CuPy's pool holds unused), or None."""
    if _cupy is None:
        return None
    try:
        free, _total = _cupy.cuda.runtime.memGetInfo()
        pool = _cupy.get_default_memory_pool()
        return int(free) + int(pool.free_bytes())
    except Exception:  # noqa: BLE001 - no device: nothing to place there
        return None
