"""``snn-dfa report`` on damaged results files: one line naming the file and what is wrong,
exit 2, the folder unchanged; a good file rebuilds the report without touching files snn-dfa
did not write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest

from snn_dfa.app.cli import main


def _copy(tiny_run, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(tiny_run.out_dir, folder)
    return folder / "results.h5"


def _delete(path: Path, name: str) -> None:
    with h5py.File(path, "a") as f:
        del f[name]


def _set_attr(path: Path, group: str, value: str) -> None:
    with h5py.File(path, "a") as f:
        f[group].attrs["json"] = value


DAMAGES = {
    "empty file": lambda p: p.write_bytes(b""),
    "random bytes": lambda p: p.write_bytes(bytes(range(256)) * 40),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "first block overwritten": lambda p: p.write_bytes(b"\0" * 4096 + p.read_bytes()[4096:]),
    "not an snn-dfa file": lambda p: h5py.File(p, "w").close(),
    "no metrics group": lambda p: _delete(p, "metrics"),
    "no config group": lambda p: _delete(p, "config"),
    "no summary": lambda p: _delete(p, "metrics/summary"),
    "no subjects": lambda p: _delete(p, "metrics/subjects"),
    "no costs": lambda p: _delete(p, "costs"),
    "costs of one rule missing": lambda p: _delete(p, "costs/dfa"),
    "malformed config JSON": lambda p: _set_attr(p, "config", "{not json"),
    "config JSON of another shape": lambda p: _set_attr(p, "config", json.dumps([1, 2])),
    "a folder instead": lambda p: (p.unlink(), p.mkdir()),
    "missing": lambda p: p.unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_results_give_one_line(tiny_run, tmp_path, capsys, damage):
    path = _copy(tiny_run, tmp_path)
    (path.parent / "notes.txt").write_text("mine")
    DAMAGES[damage](path)
    before = sorted(str(p.relative_to(path.parent)) for p in path.parent.rglob("*"))
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snn-dfa: error: ") and err.count("\n") == 1, err
    assert "results" in err
    assert sorted(str(p.relative_to(path.parent)) for p in path.parent.rglob("*")) == before


def test_report_rebuilds_and_keeps_files_snn_dfa_did_not_write(tiny_run, tmp_path, capsys):
    path = _copy(tiny_run, tmp_path)
    folder = path.parent
    (folder / "figures" / "my_plot.png").write_text("mine")
    (folder / "notes.txt").write_text("mine")
    old_report = (folder / "report.md").read_text()
    assert main(["report", str(path)]) == 0
    assert (folder / "report.md").read_text() == old_report
    assert (folder / "figures" / "my_plot.png").read_text() == "mine"
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "results.h5").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".snn-dfa-")]


def test_report_beside_a_foreign_report_needs_force(tiny_run, tmp_path, capsys):
    path = _copy(tiny_run, tmp_path)
    folder = path.parent
    (folder / ".snn-dfa-output").unlink()  # as if someone else had put the files there
    (folder / "report.md").write_text("someone's report")
    assert main(["report", str(path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["report", str(path), "--force"]) == 0
    assert (folder / "report.md").read_text() != "someone's report"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("run.kept-")]
    assert len(kept) == 1 and (kept[0] / "report.md").read_text() == "someone's report"
