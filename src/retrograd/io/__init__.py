"""Model files: the safetensors format (NumPy-only reader/writer), atomic writes, rg.save / rg.load."""
from .atomic import atomic_write  # noqa: F401
from .model_files import load, save  # noqa: F401
from .safetensors_format import SafetensorsError, load_tensors, save_tensors  # noqa: F401
