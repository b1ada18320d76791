"""In-process `retrograd` runs for the CLI tests (cheaper than a subprocess each); cli_helpers.py importable."""
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@dataclass
class Result:
    """What one `retrograd ...` call did: exit status and its stdout / stderr text."""
    code: int
    out: str
    err: str


@pytest.fixture
def retrograd_cli(capsys, monkeypatch, tmp_path):
    """``retrograd_cli(*args)`` runs `retrograd ARGS` through ``retrograd.cli.main`` in ``tmp_path``."""
    from retrograd.cli import main
    monkeypatch.chdir(tmp_path)

    def run(*args):
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:          # argparse usage errors exit by themselves
            code = exc.code
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)
    return run
