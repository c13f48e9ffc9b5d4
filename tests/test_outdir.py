"""--out: checked before any work (one line, exit 2), published by atomic renames (the old or
the new output whole, even under SIGKILL), files snn-dfa did not write never deleted, stale
folders of killed runs cleaned up, ordinary file modes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from snn_dfa.app import outdir
from snn_dfa.app.cli import main
from snn_dfa.errors import ValidationError

CONFIG = "seed = 1\n[data]\nadapt_subjects = [2]\n"
ROOT = Path(__file__).resolve().parents[1]


def _output(folder: Path, tag: str) -> None:
    """A complete fake output of the tool (what a run writes), published at ``folder``."""
    staging = outdir.new_staging(folder)
    (staging / "results.h5").write_text(tag)
    (staging / "figures").mkdir()
    (staging / "figures" / "accuracy.png").write_text(tag)
    outdir.publish(staging, folder)


def _tag(folder: Path) -> str:
    """Which fake output ``folder`` holds; asserts it is whole."""
    tag = (folder / "results.h5").read_text()
    assert (folder / "figures" / "accuracy.png").read_text() == tag
    assert json.loads((folder / outdir.MARKER).read_text())["name"] == folder.name
    return tag


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()
                  if p.name.startswith((outdir.STAGE, outdir.ASIDE)))


# -- checked before any work: one line, exit 2, nothing written -----------------------------

def _bad_outs(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    os.symlink(tmp_path / "foreign", tmp_path / "link")
    return {
        "empty string": "",
        "blank": "   ",
        "parent is a file": str(tmp_path / "afile" / "out"),
        "target is a file": str(tmp_path / "afile"),
        "name too long": str(tmp_path / ("o" * 300)),
        "component too long": str(tmp_path / ("p" * 300) / "out"),
        "dangling symlink": str(tmp_path / "dangling"),
        "symlink to a folder": str(tmp_path / "link"),
        "not writable (/proc)": "/proc/snn-dfa-test-out",
        "folder of someone else": str(tmp_path / "foreign"),
    }


BAD_CASES = ["empty string", "blank", "parent is a file", "target is a file", "name too long",
             "component too long", "dangling symlink", "symlink to a folder",
             "not writable (/proc)", "folder of someone else"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_out_is_refused_before_any_work(tmp_path, capsys, case):
    out = _bad_outs(tmp_path)[case]
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", str(cfg), "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snn-dfa: error: --out=") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_parent_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ValidationError, match="cannot write"):
            outdir.check_out(ro / "out")
    finally:
        ro.chmod(0o755)


def test_good_outs_are_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    _output(tmp_path / "previous", "old")
    for out in (tmp_path / "new", tmp_path / "a" / "b" / "new", tmp_path / "empty",
                tmp_path / "previous", tmp_path / ("o" * 200)):
        assert outdir.check_out(out) == out.absolute()
    assert outdir.check_out(tmp_path / "previous", force=True)
    assert not (tmp_path / "a").exists()  # checking creates nothing


# -- publishing -------------------------------------------------------------------------------

def test_publish_creates_replaces_and_keeps_files_it_did_not_write(tmp_path):
    out = tmp_path / "out"
    _output(out, "old")
    (out / "notes.txt").write_text("mine")
    (out / "figures" / "my_plot.png").write_text("mine too")
    _output(out, "new")
    assert _tag(out) == "new"
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "figures" / "my_plot.png").read_text() == "mine too"
    assert _leftovers(tmp_path) == []
    _output(out, "newer")  # the user's files are still the user's, not the tool's
    assert (out / "notes.txt").read_text() == "mine" and _tag(out) == "newer"


def test_force_keeps_every_file_of_a_foreign_folder(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "results.h5").write_text("the user's")
    (out / "figures" / "other.png").write_text("the user's")
    staging = outdir.new_staging(out)
    (staging / "results.h5").write_text("new")
    with pytest.raises(ValidationError, match="--force"):
        outdir.publish(staging, out)
    assert (out / "results.h5").read_text() == "the user's"
    staging = outdir.new_staging(out)
    (staging / "results.h5").write_text("new")
    outdir.publish(staging, out, force=True)
    assert (out / "results.h5").read_text() == "new"
    assert (out / "figures" / "other.png").read_text() == "the user's"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.kept-")]
    assert len(kept) == 1 and (kept[0] / "results.h5").read_text() == "the user's"
    assert "kept in" in capsys.readouterr().err


def test_published_files_have_ordinary_modes(tmp_path):
    old = os.umask(0o022)
    try:
        _output(tmp_path / "out", "x")
    finally:
        os.umask(old)
    for path in [tmp_path / "out", *(tmp_path / "out").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


def test_stale_staging_of_a_killed_run_is_removed(tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f"{outdir.STAGE}{dead}-abcd"
    stale.mkdir()
    (stale / "results.h5").write_text("half")
    mine = tmp_path / f"{outdir.STAGE}{os.getpid()}-live"  # a running process's: kept
    mine.mkdir()
    outdir.check_out(tmp_path / "out")
    assert not stale.exists() and mine.exists()
    assert "interrupted run" in capsys.readouterr().err


# -- a kill during publishing -------------------------------------------------------------------

_KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from snn_dfa.app import outdir
    out, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    staging = outdir.new_staging(out)
    (staging / "results.h5").write_text("new")
    (staging / "figures").mkdir()
    (staging / "figures" / "accuracy.png").write_text("new")
    real, calls = os.rename, [0]
    def rename(a, b):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        real(a, b)
    os.rename = rename
    outdir.publish(staging, out)
""")


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4])
def test_kill_during_publish_leaves_old_or_new_whole(tmp_path, kill_at):
    """SIGKILL before the first rename, between the two, and while the user's files are
    carried over: --out holds the old or the new output whole (or, between the renames, is
    put back whole by the next run), and the user's files survive."""
    out = tmp_path / "out"
    _output(out, "old")
    (out / "notes.txt").write_text("mine")
    (out / "figures" / "mine.png").write_text("mine")
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(out), str(kill_at)],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    if out.exists():
        assert _tag(out) in ("old", "new")
    outdir.check_out(out)  # the next run: settles what the killed one left
    assert _tag(out) in ("old", "new")
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "figures" / "mine.png").read_text() == "mine"
    assert _leftovers(tmp_path) == []
