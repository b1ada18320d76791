"""Every test here needs CuPy and a GPU: skipped (one reason) without them. Run by benchmarks/gpu_check.sh."""
import sys
from pathlib import Path

import pytest

import retrograd as rg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def pytest_collection_modifyitems(config, items):
    if rg.gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a GPU (pip install 'retrograd[gpu]')")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)
