"""Shared test set-up: deterministic seeds and the optional torch oracle."""
import numpy as np
import pytest

import retrograd as rg

try:
    import torch
except ImportError:  # torch is only an oracle; tests that need it skip
    torch = None


@pytest.fixture(autouse=True)
def _seed():
    rg.manual_seed(0)
    np.random.seed(0)
    yield


needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
