"""Locate ../shared/bench/peers (beside the repository) so benchmarks can import its common.py."""
import importlib
import sys
from pathlib import Path


def peers_dir():
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "shared" / "bench" / "peers", here / "shared" / "bench" / "peers"):
        if (candidate / "common.py").exists():
            return candidate
    raise FileNotFoundError("cannot find shared/bench/peers/common.py beside the repository")


def common():
    """The peers' common.py module (data, initial values and shuffle orders of WORKLOADS.md)."""
    path = str(peers_dir())
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("common")
