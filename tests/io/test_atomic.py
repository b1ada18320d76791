"""retrograd.io.atomic: temp files a killed writer leaves are removed by the next write (never a live
writer's), new files follow the umask, existing files keep their mode, failures change nothing."""
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import retrograd as rg
from retrograd.io import load_tensors, save_tensors
from retrograd.io.atomic import atomic_path, atomic_write, remove_stale_temp_files

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock-based temp-file collection is POSIX only")

# Writes part of a file through atomic_write, says so, then waits (for a kill, or for a line on stdin).
WRITER = textwrap.dedent("""
    import sys
    from retrograd.io.atomic import atomic_write
    with atomic_write(sys.argv[1]) as f:
        f.write(b"from the child " * 1000)
        f.flush()
        print("writing", flush=True)
        sys.stdin.readline()
        f.write(b"done")
    print("renamed", flush=True)
""")


def temps(directory, name):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(f".{name}.") and ".tmp" in p.name)


def start_writer(tmp_path, target):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "model.safetensors"
    save_tensors({"w": np.ones(3)}, target)
    proc = start_writer(tmp_path, target)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    orphans = temps(tmp_path, target.name)
    assert len(orphans) == 1 and (tmp_path / orphans[0]).stat().st_size > 0     # what a kill -9 leaves
    rg.save({"w": np.zeros(2)}, target)                                          # the next write of it
    assert temps(tmp_path, target.name) == []
    np.testing.assert_array_equal(load_tensors(target)[0]["w"], np.zeros(2))


def test_a_live_writers_temp_file_is_left_alone(tmp_path):
    target = tmp_path / "ckpt.safetensors"
    proc = start_writer(tmp_path, target)
    try:
        live = temps(tmp_path, target.name)
        assert len(live) == 1
        save_tensors({"w": np.arange(4.0)}, target)                  # a second writer of the same file
        assert remove_stale_temp_files(target) == 0
        assert temps(tmp_path, target.name) == live                  # the live one is still there
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "renamed"           # and its rename still works
    finally:
        proc.kill()
        proc.wait()
    assert target.read_bytes().endswith(b"done") and temps(tmp_path, target.name) == []


def test_only_this_targets_temp_names_are_considered(tmp_path):
    target = tmp_path / "m.st"
    others = [".m.st.abcd1234.tmp",                 # tempfile.mkstemp's style (not ours)
              ".m.st.bak.0123456789abcdef.tmp",     # the temp of another file, m.st.bak
              "m.st.0123456789abcdef.tmp",          # not hidden
              ".m.st.0123456789abcdeg.tmp"]         # not hex
    for name in others:
        (tmp_path / name).write_bytes(b"x")
    stale = tmp_path / ".m.st.0123456789abcdef.tmp"
    stale.write_bytes(b"left by a dead writer")
    save_tensors({"a": np.zeros(1)}, target)
    assert not stale.exists()
    assert all((tmp_path / name).exists() for name in others)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_tensors({"a": np.zeros(1)}, tmp_path / "t.st")
        rg.save(rg.nn.Linear(2, 2), tmp_path / "m.st")
        with atomic_write(tmp_path / "raw.bin") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    for name in ("t.st", "m.st", "raw.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_a_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "m.st"
    save_tensors({"a": np.zeros(1)}, target)
    target.chmod(0o640)
    old = os.umask(0o000)
    try:
        save_tensors({"a": np.ones(1)}, target)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    np.testing.assert_array_equal(load_tensors(target)[0]["a"], np.ones(1))


def test_a_failed_write_changes_nothing_and_leaves_no_temp(tmp_path):
    target = tmp_path / "m.st"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as f:
            f.write(b"new, half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and temps(tmp_path, "m.st") == []
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            open(tmp, "wb").write(b"new")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and temps(tmp_path, "m.st") == []


def test_atomic_path_gives_a_name_with_the_targets_extension(tmp_path):
    target = tmp_path / "anim.gif"
    with atomic_path(target) as tmp:
        assert re.fullmatch(r"\.anim\.gif\.[0-9a-f]{16}\.tmp\.gif", os.path.basename(tmp))
        with open(tmp, "wb") as f:
            f.write(b"GIF89a")
    assert target.read_bytes() == b"GIF89a" and temps(tmp_path, "anim.gif") == []


def test_plots_are_written_through_io_atomic(tmp_path):
    pytest.importorskip("matplotlib")
    from retrograd import plot
    stale = tmp_path / ".curves.png.0123456789abcdef.tmp"
    stale.write_bytes(b"left by a dead writer")
    old = os.umask(0o027)
    try:
        out = plot.plot_history({"loss": [1.0, 0.5]}, tmp_path / "curves.png")
    finally:
        os.umask(old)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and not stale.exists()
