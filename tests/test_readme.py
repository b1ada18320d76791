"""The README's Python examples run as written (in a temporary directory)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    pytest_sklearn = __import__("pytest").importorskip("sklearn")  # noqa: F841 - digits needs it
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    scope = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), scope)  # noqa: S102 - our own README
    assert (tmp_path / "digits.safetensors").exists()
    assert scope["history"]["loss"][-1] < scope["history"]["loss"][0]
    import numpy as np
    x = scope["x"]
    with scope["rg"].no_grad():
        mse = float(np.mean((scope["net"](scope["rg"].tensor(x)).numpy() - np.sin(np.pi * x)) ** 2))
    assert mse < 1e-6
