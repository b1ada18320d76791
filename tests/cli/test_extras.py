"""`pip install '.[all]'` covers every shipped example and config; a missing package says which to install."""
import ast
import sys
from pathlib import Path

import pytest

from retrograd.cli import config as cfg
from retrograd.cli.errors import DATASET_PACKAGES, OPTIONAL_PACKAGES
from retrograd.cli.setup import with_preset

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "examples" / "configs").glob("*.*"))
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))


def extras():
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as handle:
        table = tomllib.load(handle)["project"]["optional-dependencies"]
    return {name: {req.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() for req in reqs}
            for name, reqs in table.items()}


def pip_name(module):
    return OPTIONAL_PACKAGES[module][0]


def test_every_extra_named_in_messages_exists_and_installs_its_package():
    table = extras()
    for module, (pip, extra) in OPTIONAL_PACKAGES.items():
        assert pip in table[extra], (module, extra)
        assert pip in table["all"], module


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_all_extra_covers_each_example_config(path):
    config = cfg.load(path, preset=with_preset)
    needed = {"tqdm"}                                       # the progress bar on a terminal
    if config["output"]["plots"]:
        needed.add("matplotlib")
    if config["data"]["name"] in DATASET_PACKAGES:
        needed.add(DATASET_PACKAGES[config["data"]["name"]])
    assert {pip_name(m) for m in needed} <= extras()["all"]


def _imports(script):
    """Top-level package names a script imports, and the retrograd datasets / modules it uses."""
    tree = ast.parse(script.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_all_extra_covers_each_example_script(script):
    used = _imports(script)
    needed = {m for m in OPTIONAL_PACKAGES if m in {u.split(".")[0] for u in used}}
    if any(u.startswith("retrograd.plot") or u == "retrograd.plot" for u in used) or "plot" in used:
        needed.add("matplotlib")
    for dataset, module in DATASET_PACKAGES.items():
        if f"load_{dataset}" in used:
            needed.add(module)
    assert {pip_name(m) for m in needed} <= extras()["all"], needed


@pytest.mark.parametrize("dataset,module", [("mnist1d", "mnist1d"), ("digits", "sklearn")])
def test_missing_package_is_reported_as_such(retrograd_cli, monkeypatch, dataset, module):
    monkeypatch.setitem(sys.modules, module, None)         # `import module` now raises ImportError
    result = retrograd_cli("train", "--data", dataset, "--epochs", "1", "--no-plots")
    assert result.code == 1, result.err
    pip, extra = OPTIONAL_PACKAGES[module]
    assert result.err.strip() == (f"retrograd train: missing package: [data] name = '{dataset}' needs the {pip} "
                                  f"package, which is not installed: pip install 'retrograd[{extra}]' "
                                  f"(or pip install {pip})")
    assert "config error" not in result.err
