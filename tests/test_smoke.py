"""The demo trains XOR to all-correct: the README's first command keeps working."""
from retrograd.cli.demo import run_demo


def test_demo_learns_xor():
    lines = []
    assert run_demo(epochs=600, out=lines.append) == 0
    first = float(lines[1].split("loss")[1])
    last = float(lines[-2].split("loss")[1])
    assert last < first / 50
