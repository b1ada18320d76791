"""`retrograd train --precision` / `[train] precision`: the run trains in mixed precision and records it."""
import pytest

pytest.importorskip("ml_dtypes")


def history(path):
    return (path / "history.csv").read_text()


def test_precision_option_trains_in_low_precision_and_is_recorded(retrograd_cli, tmp_path):
    common = ("train", "--data", "xor", "--epochs", "20", "--no-plots", "--quiet")
    full = retrograd_cli(*common, "--out", "full")
    assert full.code == 0, full.err
    low = retrograd_cli(*common, "--precision", "bfloat16", "--out", "low")
    assert low.code == 0, low.err
    assert 'precision = "bfloat16"' in (tmp_path / "low" / "config.toml").read_text()
    assert 'precision = "float32"' in (tmp_path / "full" / "config.toml").read_text()
    assert history(tmp_path / "low") != history(tmp_path / "full")        # the arithmetic changed


def test_bad_precision_values_are_reported(retrograd_cli):
    bad = retrograd_cli("train", "--data", "xor", "--epochs", "1", "--no-plots", "--precision", "float8")
    assert bad.code == 2 and "[train] precision = 'float8' is not allowed" in bad.err
    wide = retrograd_cli("train", "--data", "xor", "--epochs", "1", "--no-plots", "--precision", "float16",
                         "--set", 'model.dtype="float64"')
    assert wide.code == 1 and "keeps float32 master weights" in wide.err, wide.err
