"""The adaptation study: tuning on training subjects only, per-rule step sizes, and the
study's sweep end to end in a tiny mode."""

import numpy as np
import pytest

from snn_dfa.app.config import config_from_dict
from snn_dfa.app.experiment import prepare_data
from snn_dfa.errors import ConfigError, ValidationError


def test_tuning_split_adapts_to_training_subjects_left_out_of_pretraining():
    from snn_dfa.data import load_hapt, subject_split

    train, _ = subject_split(load_hapt(basic_only=False))
    config = config_from_dict({"data": {"split": "tuning", "adapt_subjects": [1, 3]}})
    x, y, subjects, _ = prepare_data(config)
    kept = ~np.isin(train.subject, [1, 3]) & (train.y >= 0)
    assert len(y) == int(kept.sum())
    np.testing.assert_array_equal(y, train.y[kept])
    assert [s.subject for s in subjects] == [1, 3]
    assert all(len(s.y_test) > 0 and len(s.y_adapt) > 0 for s in subjects)
    with pytest.raises(ValidationError, match="subject 2 is not a training subject"):
        prepare_data(config_from_dict({"data": {"split": "tuning", "adapt_subjects": [2]}}))
    with pytest.raises(ValidationError, match="subject 1 is not a held-out"):
        prepare_data(config_from_dict({"data": {"adapt_subjects": [1]}}))


def test_step_size_per_rule_overrides_the_shared_one():
    adapt = config_from_dict({"adapt": {"lr": 1e-4, "lr_by_rule": {"dfa": 3e-3}}}).adapt
    assert adapt.lr_for("dfa") == 3e-3 and adapt.lr_for("bptt") == 1e-4


@pytest.mark.parametrize("adapt, fragment", [
    ({"lr_by_rule": {"dfb": 1e-3}}, "adapt.lr_by_rule='dfb'"),
    ({"lr_by_rule": {"dfa": -1.0}}, "adapt.lr_by_rule.dfa=-1.0"),
    ({"lr_by_rule": {"dfa": "x"}}, "adapt.lr_by_rule.dfa='x': expected float"),
    ({"lr_by_rule": 0.1}, "adapt.lr_by_rule=0.1: expected a table"),
])
def test_bad_step_sizes_name_the_key(adapt, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"adapt": adapt})
    assert fragment in str(info.value)


def test_bad_split_is_named():
    with pytest.raises(ConfigError, match="data.split='train'"):
        config_from_dict({"data": {"split": "train"}})


# --- the committed study, end to end in a tiny mode ----------------------------------------------

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def _tiny(spec: dict) -> dict:
    """The study's sweep file with a tiny network, little data, two subjects and two seeds:
    every scenario and rule of the committed file still runs."""
    base = spec["base"]
    base["data"] |= {"adapt_subjects": [2, 9], "adapt_fraction": 0.1, "max_pretrain_windows": 150}
    base["model"] = {"channels": [4, 8]}
    base["pretrain"] = {"epochs": 1}
    base["adapt"] |= {"epochs": 1}
    base["crossbar"] = {"calibration_windows": 8}
    spec["axes"]["seed"] = [0, 1]
    return spec


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    from snn_dfa.app.config import read_toml
    from snn_dfa.app.sweep import run_sweep, sweep_from_dict

    sweep = sweep_from_dict(_tiny(read_toml(REPO / "reports" / "study.toml", "sweep file")))
    out = tmp_path_factory.mktemp("study")
    result = run_sweep(sweep, out, workers=2, cache_dir=tmp_path_factory.mktemp("cache"))
    return sweep, out, result


@pytest.mark.slow
def test_study_runs_end_to_end_in_a_tiny_mode(tiny_study):
    from snn_dfa.app.results import read_results
    from snn_dfa.app.study import collect_study
    from snn_dfa.rules import registry

    sweep, out, result = tiny_study
    scenarios = list(sweep.spec["scenarios"])
    assert not result.failed and result.n_points == len(sweep.points) == len(scenarios) * 2
    for name in ("report.md", "report.html", "study.csv", "figures/study_accuracy.png",
                 "figures/study_differences.png", "figures/study_accuracy_vs_energy.png"):
        assert (out / name).is_file(), name
    data = collect_study(sweep, out)
    assert data.n_done == len(scenarios) * 2 and data.rules == ("bp", "dfa", "sfdfa", "shallow", "none")
    # every cell of the paired tables is the point's own number
    import csv

    rows = list(csv.DictReader((out / "study.csv").read_text().splitlines()))
    assert len(rows) == len(scenarios) * 2 * 2 * 5  # scenarios x seeds x subjects x rules
    by_key = {p.key: p for p in sweep.points}
    for key, p in by_key.items():
        res = read_results(out / "points" / key / "results.h5")
        for row in rows:
            if row["scenario"] == p.values["scenario"] and int(row["seed"]) == p.values["seed"]:
                sm = res["metrics"]["subjects"][row["subject"]][row["rule"]]
                assert float(row["final_accuracy_pct"]) == float(sm["final_accuracy_pct"])
    md = (out / "report.md").read_text()
    assert {"fresh", "relaxed_1d", "relaxed_1w", "stressed", "noise_aware"} <= set(scenarios)
    for sc in scenarios:
        assert f"## Scenario `{sc}`" in md
    assert all(f"| {registry.label(r)} |" in md for r in data.rules)
    # the paper's claims beside ours: the ratio shown is the study's own DFA/BP energy ratio
    assert "## The paper's headline claims beside ours" in md
    e = {r: np.mean(data.costs[("fresh", r, "energy_nJ_per_learned_window")])
         for r in ("dfa", "bp")}
    assert f"| energy | 64.1 % lower (ratio 0.359) | {e['dfa'] / e['bp']:.3f} (" in md
    assert data.sensitivity is not None and "| defaults |" in md
