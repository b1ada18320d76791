"""Helpers for the networks tests: closeness against an oracle, copying weights to and from torch."""
import numpy as np
import pytest

RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}


def assert_close(ours, ref, dtype=np.float64, what=""):
    """Relative closeness with the issue's tolerances (float64 1e-10, float32 1e-5), scaled by the array's size."""
    ours = np.asarray(getattr(ours, "data", ours), dtype=np.float64)
    ref = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    rtol = RTOL[np.dtype(dtype)]
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")
