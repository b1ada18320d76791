"""The example scripts run (short settings) and write their figures."""
import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,args,files", [
    ("autoencoder_digits", ["--epochs", "2", "--tied"], ["reconstructions.png", "features.png", "history.png"]),
    ("two_spirals_plots", ["--epochs", "20"], ["history.png", "boundary.png", "boundary.gif"]),
])
def test_example_runs(tmp_path, capsys, name, args, files):
    pytest.importorskip("matplotlib")
    if name == "autoencoder_digits":
        pytest.importorskip("sklearn")
    assert load(name).main(args + ["--out", str(tmp_path)]) == 0
    for f in files:
        assert (tmp_path / f).stat().st_size > 1000
    assert str(tmp_path) in capsys.readouterr().out
