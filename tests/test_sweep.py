"""Design-space sweeps (snn-dfa sweep): expansion of the sweep file, a tiny sweep on a local
Dask cluster with a failing point, the aggregate table against the per-point files, resuming
after a rerun and after SIGKILL, and the missing-extra message."""

import csv
import functools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import snn_dfa.app.sweep as sweep_module
from snn_dfa.app.cli import main
from snn_dfa.app.config import config_from_dict
from snn_dfa.app.progress import Progress
from snn_dfa.app.results import read_results
from snn_dfa.app.sweep import (
    SweepError,
    load_sweep,
    point_done,
    read_table,
    run_sweep,
    sweep_from_dict,
)
from snn_dfa.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

# a point takes a few seconds: small pre-training set, tiny network, one subject, one rule
BASE = {
    "seed": 3,
    "data": {"adapt_subjects": [2], "adapt_fraction": 0.2, "max_pretrain_windows": 200},
    "model": {"channels": [4, 8]},
    "pretrain": {"epochs": 1},
    # the relative spread is the sweep axis of these tests: the stress model, not the default
    "crossbar": {"noise_model": "relative"},
    "adapt": {"rules": ["dfa"], "epochs": 1},
}

BASE_TOML = """
[base]
seed = 3
[base.data]
adapt_subjects = [2]
adapt_fraction = 0.2
max_pretrain_windows = 200
[base.model]
channels = [4, 8]
[base.pretrain]
epochs = 1
[base.crossbar]
noise_model = "relative"
[base.adapt]
rules = ["dfa"]
epochs = 1
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pretrained")


# --- the sweep file ---------------------------------------------------------------------------

def test_grid_is_every_combination_named_by_config_hash():
    sweep = sweep_from_dict({"base": BASE, "axes": {
        "crossbar.prog_sigma_rel": [0.0, 0.1, 0.3], "crossbar.adc_bits": [4, 8]}})
    assert sweep.axes == ("crossbar.prog_sigma_rel", "crossbar.adc_bits")
    assert [tuple(p.values.values()) for p in sweep.points] == [
        (0.0, 4), (0.0, 8), (0.1, 4), (0.1, 8), (0.3, 4), (0.3, 8)]
    for p in sweep.points:
        assert p.config.crossbar.prog_sigma_rel == p.values["crossbar.prog_sigma_rel"]
        assert p.config.crossbar.adc_bits == p.values["crossbar.adc_bits"]
        assert p.config.model.channels == (4, 8)  # the base is kept
        assert p.key == p.config.digest()
    assert len({p.key for p in sweep.points}) == 6
    # the same resolved config is one point (here the base value repeated on the axis)
    again = sweep_from_dict({"base": BASE, "axes": {"crossbar.adc_bits": [6, 6, 4]}})
    assert [p.values["crossbar.adc_bits"] for p in again.points] == [6, 4]


def test_scenarios_are_named_settings_crossed_with_the_axes():
    sweep = sweep_from_dict({"base": BASE, "scenarios": {
        "fresh": {},
        "stressed": {"crossbar.adc_bits": 4, "crossbar.sa0_fraction": 0.02},
    }, "axes": {"seed": [0, 1]}})
    assert sweep.axes == ("scenario", "seed")
    assert [tuple(p.values.values()) for p in sweep.points] == [
        ("fresh", 0), ("fresh", 1), ("stressed", 0), ("stressed", 1)]
    for p in sweep.points:
        stressed = p.values["scenario"] == "stressed"
        assert p.config.crossbar.adc_bits == (4 if stressed else 6)
        assert p.config.crossbar.sa0_fraction == (0.02 if stressed else 0.0)
        assert p.config.seed == p.values["seed"]
        assert p.config.model.channels == (4, 8)


def test_random_draws_are_seeded_typed_and_in_range():
    spec = {"base": BASE, "axes": {"crossbar.adc_bits": [4, 8]}, "random": {
        "samples": 25,
        "crossbar.read_sigma_rel": {"low": 0.0, "high": 0.1},
        "adapt.lr": {"low": 1e-5, "high": 1e-2, "log": True},
        "crossbar.array_size": {"low": 16, "high": 128},
        "crossbar.ir_drop": {"choices": ["none", "fast"]},
    }}
    sweep = sweep_from_dict(spec)
    assert len(sweep.points) == 2 * 25
    values = [p.values for p in sweep.points]
    assert all(0.0 <= v["crossbar.read_sigma_rel"] <= 0.1 for v in values)
    lrs = np.array([v["adapt.lr"] for v in values])
    assert lrs.min() >= 1e-5 and lrs.max() <= 1e-2
    # log-uniform: about half of the draws below the geometric midpoint (binomial, 25 draws)
    assert 4 <= np.sum(lrs[:25] < math.sqrt(1e-5 * 1e-2)) <= 21
    assert all(type(v["crossbar.array_size"]) is int and 16 <= v["crossbar.array_size"] <= 128
               for v in values)
    assert {v["crossbar.ir_drop"] for v in values} == {"none", "fast"}
    # every grid value meets the same draws (paired comparisons)
    strip = [{k: v for k, v in d.items() if k != "crossbar.adc_bits"} for d in values]
    assert strip[:25] == strip[25:]
    assert [p.values for p in sweep_from_dict(spec).points] == values  # seeded
    other = sweep_from_dict({**spec, "base": {**BASE, "seed": 4}})
    assert [p.values for p in other.points] != values  # by the base seed


@pytest.mark.parametrize("spec, match", [
    ({"base": BASE, "grid": {}}, "unknown key 'grid'"),
    ({"base": BASE}, "expected a \\[scenarios\\], \\[axes\\] or \\[random\\] table"),
    ({"base": BASE, "scenarios": {"a": 1}}, "scenarios.a=1: expected a table"),
    ({"base": BASE, "scenarios": {"a": {}}, "axes": {"scenario": ["x"]}}, "reserved"),
    ({"base": BASE, "scenarios": {"a": {"crossbar.adc_bits": 6}, "b": {}}},
     "scenarios 'a' and 'b' give the same configuration"),
    ({"base": BASE, "scenarios": {"a": {"crossbar.adc_bits": -1}}},
     "sweep point .*crossbar.adc_bits=-1"),
    ({"base": BASE, "axes": {"crossbar.prog_sigma": [0.1]}}, "did you mean 'prog_sigma_rel'"),
    ({"base": BASE, "axes": {"crossbar.adc_bits": []}}, "non-empty list"),
    ({"base": BASE, "axes": {"crossbar.prog_sigma_rel": [0.1, -0.2]}},
     "sweep point .*-0.2.*crossbar.prog_sigma_rel=-0.2: expected a value >= 0"),
    ({"base": BASE, "axes": {"crossbar.adc_bits": [4.5]}}, "crossbar.adc_bits=4.5: expected int"),
    ({"base": BASE, "axes": {"seed.x": [1]}}, "'seed' is not a table"),
    ({"base": BASE, "random": {"adapt.lr": {"low": 0.1, "high": 0.2}}}, "random.samples=None"),
    ({"base": BASE, "random": {"samples": 2, "adapt.lr": {"low": 0.2, "high": 0.1}}},
     "low=0.2 > high=0.1"),
    ({"base": BASE, "random": {"samples": 2, "adapt.lr": {"low": 0.0, "high": 0.1,
                                                          "log": True}}}, "expects low > 0"),
    ({"base": BASE, "random": {"samples": 2, "crossbar.adc_bits": {"low": 2, "high": 8,
                                                                   "log": True}}}, "choices"),
    ({"base": BASE, "random": {"samples": 2, "adapt.lr": {"low": 0.1}}}, "both 'low' and 'high'"),
    ({"base": BASE, "axes": {"adapt.lr": [0.1]}, "random": {"samples": 2, "adapt.lr": {
        "choices": [0.1]}}}, "in both"),
])
def test_bad_sweep_files_name_the_problem(spec, match):
    with pytest.raises(ConfigError, match=match):
        sweep_from_dict(spec)


def test_cli_bad_sweep_file_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text(BASE_TOML + '[axes]\n"crossbar.prog_sigma_rel" = [-1.0]\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "crossbar.prog_sigma_rel=-1.0" in err
    assert not (tmp_path / "out").exists()


def test_missing_dask_names_the_extra(tmp_path, capsys, monkeypatch):
    path = tmp_path / "sweep.toml"
    path.write_text(BASE_TOML + '[axes]\n"crossbar.prog_sigma_rel" = [0.0]\n')
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'snn-dfa[sweep]'" in err


def test_workers_with_a_scheduler_is_refused(tmp_path):
    sweep = sweep_from_dict({"base": BASE, "axes": {"crossbar.adc_bits": [4]}})
    with pytest.raises(SweepError, match="workers=2: only for the local cluster"):
        run_sweep(sweep, tmp_path, scheduler="tcp://127.0.0.1:1", workers=2)


# --- a tiny sweep on a local cluster ------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory, cache_dir):
    """2 x 2 points on a local cluster of 2 worker processes, given by its scheduler address
    (as a remote cluster would be); subject 1 is a pre-training subject, so the two points
    that adapt to it pass the config check but fail in the run."""
    from distributed import LocalCluster

    out = tmp_path_factory.mktemp("sweep")
    sweep = sweep_from_dict({"base": BASE, "axes": {
        "crossbar.prog_sigma_rel": [0.0, 0.3], "data.adapt_subjects": [[2], [1]]}})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"}
                      ) as cluster:  # no fixed port (8787 may be taken)
        progress = Progress(quiet=True)  # keeps the log lines
        result = run_sweep(sweep, out, scheduler=cluster.scheduler_address,
                           cache_dir=cache_dir, progress=progress)
    return sweep, out, result, progress.log_text()


def test_tiny_sweep_finishes_good_points_and_records_failures(tiny):
    sweep, out, result, _ = tiny
    bad = {p.key for p in sweep.points if p.values["data.adapt_subjects"] == [1]}
    assert (result.n_points, result.n_skipped, result.n_ran) == (4, 0, 2)
    assert set(result.failed) == bad
    for p in sweep.points:
        assert point_done(out / "points" / p.key, p.key) == (p.key not in bad)
        error = out / "errors" / f"{p.key}.txt"
        assert error.is_file() == (p.key in bad)
        if p.key in bad:
            assert "subject 1 is not a held-out (test) subject" in error.read_text()
    assert sorted(d.name for d in (out / "points").iterdir()) == sorted(
        p.key for p in sweep.points if p.key not in bad)  # no leftovers
    assert [f.name for f in result.figures] == ["accuracy_vs_prog_sigma_rel.png"]
    assert all(f.stat().st_size > 0 for f in result.figures)


def test_progress_counts_the_points_as_they_finish(tiny):
    _, _, _, log = tiny
    counts = [line.split("sweep: point ")[1].split(" ")[0] for line in log.splitlines()
              if "sweep: point " in line]
    assert counts == ["1/4", "2/4", "3/4", "4/4"]  # finished or failed, in order


def test_table_matches_the_point_files(tiny):
    sweep, out, _, _ = tiny
    table = read_table(out / "table.h5")
    with open(out / "table.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(table)
    assert list(table["key"]) == [p.key for p in sweep.points] == [r["key"] for r in rows]
    metrics = [c for c in table if c.startswith("dfa_")]
    assert "dfa_final_accuracy_pct" in metrics and "dfa_energy_pJ_per_learned_window" in metrics
    for i, (p, row) in enumerate(zip(sweep.points, rows, strict=True)):
        assert table["crossbar.prog_sigma_rel"][i] == p.values["crossbar.prog_sigma_rel"]
        assert float(row["crossbar.prog_sigma_rel"]) == p.values["crossbar.prog_sigma_rel"]
        assert json.loads(row["data.adapt_subjects"]) == p.values["data.adapt_subjects"]
        if table["status"][i] == "failed":
            assert row["status"] == "failed" and "subject 1" in table["error"][i]
            assert all(np.isnan(table[m][i]) and row[m] == "" for m in metrics)
            continue
        assert table["status"][i] == row["status"] == "done" and table["error"][i] == ""
        res = read_results(out / "points" / p.key / "results.h5")
        assert res["config"]["crossbar"]["prog_sigma_rel"] == p.values["crossbar.prog_sigma_rel"]
        assert config_from_dict(res["config"]).digest() == p.key
        summary = res["metrics"]["summary"]
        assert sorted(summary) == metrics
        for m in metrics:
            assert table[m][i] == float(summary[m]) == float(row[m])  # exact, csv included


def test_cli_rerun_skips_finished_points(tiny, cache_dir, tmp_path, monkeypatch, capsys):
    sweep, out, _, _ = tiny
    path = tmp_path / "sweep.toml"  # the same sweep as a file
    path.write_text(BASE_TOML + '[axes]\n"crossbar.prog_sigma_rel" = [0.0, 0.3]\n'
                    '"data.adapt_subjects" = [[2], [1]]\n')
    assert [p.key for p in load_sweep(path).points] == [p.key for p in sweep.points]
    done = [p.key for p in sweep.points if p.values["data.adapt_subjects"] == [2]]
    stamps = {k: (out / "points" / k / "results.h5").stat().st_mtime_ns for k in done}
    # an error left by an earlier attempt of a point that has since finished goes away
    (out / "errors" / f"{done[0]}.txt").write_text("an earlier failure")
    monkeypatch.setattr(sweep_module, "run_sweep",
                        functools.partial(sweep_module.run_sweep, cache_dir=cache_dir))
    assert main(["sweep", str(path), "--workers", "1", "--out", str(out)]) == 1  # 2 failed
    captured = capsys.readouterr().out
    assert "4 points: 2 finished earlier, 0 ran now, 2 failed" in captured
    assert {k: (out / "points" / k / "results.h5").stat().st_mtime_ns for k in done} == stamps
    assert not (out / "errors" / f"{done[0]}.txt").exists()
    table = read_table(out / "table.h5")
    assert sorted(table["status"]) == ["done", "done", "failed", "failed"]
    # the summary table names the axes and the rules and shows the table's numbers
    assert "programming spread" in captured and "DFA acc. (%)" in captured
    for i in np.flatnonzero(table["status"] == "done"):
        assert f"{table['dfa_final_accuracy_pct'][i]:.1f}" in captured
        assert f"{1e-3 * table['dfa_energy_pJ_per_learned_window'][i]:.1f}" in captured


def test_dry_run_lists_the_points_and_estimates_time_without_running(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text(BASE_TOML + '[axes]\n"crossbar.prog_sigma_rel" = [0.0, 0.3]\n'
                    '"crossbar.adc_bits" = [4, 6, 8]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--dry-run", "--workers", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("sweep: 6 points over programming spread (2) x ADC resolution (3)")
    for p in load_sweep(path).points:
        assert p.key in printed
    assert "0 finished earlier" in printed and "6 to run" in printed
    assert re.search(r"estimated time: about \d+ (s|min)", printed)
    assert not out.exists()  # nothing ran, nothing written


def test_time_estimate_grows_with_the_work():
    base = sweep_from_dict({"base": BASE, "axes": {"crossbar.adc_bits": [4, 6]}})
    longer = sweep_from_dict({"base": BASE | {"adapt": {"rules": ["dfa"], "epochs": 3}},
                              "axes": {"crossbar.adc_bits": [4, 6]}})
    wider = sweep_from_dict({"base": BASE | {"model": {"channels": [16, 32]}},
                             "axes": {"crossbar.adc_bits": [4, 6]}})
    (t_base, n_base), (t_long, _), (t_wide, _) = (
        sweep_module.estimate_seconds(s, cache_dir="/nonexistent") for s in (base, longer, wider))
    assert n_base == 1  # both points share one pre-training
    assert t_long > t_base and t_wide > t_base


# --- SIGKILL in the middle, then resume ---------------------------------------------------------

_RUNNER = ("import sys; from snn_dfa.app.sweep import load_sweep, run_sweep; "
           "run_sweep(load_sweep(sys.argv[1]), sys.argv[2], workers=int(sys.argv[3]), "
           "cache_dir=sys.argv[4])")


def _finished(out):
    return sorted(p.parent.name for p in (out / "points").glob("*/results.h5"))


def test_sigkill_mid_sweep_then_rerun_runs_every_point_once(tmp_path, cache_dir):
    path = tmp_path / "sweep.toml"
    path.write_text(BASE_TOML + '[axes]\n"crossbar.prog_sigma_rel" = [0.0, 0.1, 0.2, 0.3]\n')
    sweep = load_sweep(path)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(path), str(out), "1",
                             str(cache_dir)], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not _finished(out) and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, as in a crash
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stderr.close()
    before = _finished(out)
    assert 1 <= len(before) < 4 and not (out / "table.csv").exists()
    started = {k: read_results(out / "points" / k / "results.h5")["provenance"]["start_time"]
               for k in before}

    rerun = subprocess.run([sys.executable, "-c", _RUNNER, str(path), str(out), "2",
                            str(cache_dir)], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr
    keys = sorted(p.key for p in sweep.points)
    assert sorted(d.name for d in (out / "points").iterdir()) == keys  # no partial folders
    assert all(point_done(out / "points" / k, k) for k in keys)
    for k in before:  # finished before the kill, not run again
        assert read_results(out / "points" / k / "results.h5")["provenance"]["start_time"] \
            == started[k]
    table = read_table(out / "table.h5")
    assert sorted(table["key"]) == keys and set(table["status"]) == {"done"}
    assert not any((out / "errors").iterdir())
