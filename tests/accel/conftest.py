"""The wing's own tests run with acceleration on, even in a run that switches it off for the rest (RETROGRAD_ACCEL=0)."""
import pytest

import retrograd as rg


@pytest.fixture(autouse=True)
def _accelerated():
    with rg.accel.enabled(True):
        yield
