"""Fuzz tests: a table of cases tried and errors seen per reader, printed at the end of the run."""
import pytest

from .mutate import REPORT


def pytest_terminal_summary(terminalreporter):
    """One line per reader: cases tried, how many loaded, and the errors by type (for the closing note)."""
    if not REPORT:
        return
    terminalreporter.section("fuzzed readers")
    for reader, (cases, outcomes, seconds, peak, kinds) in sorted(REPORT.items()):
        parts = ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items(), key=lambda kv: -kv[1]))
        terminalreporter.write_line(f"{reader:<14} {cases:6d} cases in {seconds:5.1f} s, "
                                    f"peak {peak / 1e6:6.2f} MB: {parts}; {len(kinds)} kinds of error, most often:")
        for kind, n in kinds.most_common(4):
            terminalreporter.write_line(f"{'':<16}{n:6d}  {kind}")


@pytest.fixture
def fuzz_dir(tmp_path):
    return tmp_path
