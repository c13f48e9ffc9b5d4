"""Numbered experiment scripts, run in their reduced modes."""

import json

import pytest
from helpers import run_example


@pytest.mark.slow
def test_dfa_har_experiment_quick(tmp_path):
    run_example("20_dfa_har.py", tmp_path, timeout=900)
    res = json.loads((tmp_path / "results.json").read_text())
    for rule in ("bptt", "dfa", "sfdfa", "shallow"):
        acc = res["offline"][rule][0]["test_accuracy"]
        assert 1 / 6 + 0.2 < acc <= 1  # both rules learn (well above chance) even reduced
    summary = res["online_summary"]
    assert set(summary) == {f"pretrain_{p}/adapt_{a}" for p in ("bptt", "dfa", "sfdfa")
                            for a in ("none", "bptt", "dfa", "sfdfa")}
    assert all(0 <= v <= 100 for v in summary.values())


@pytest.mark.slow
def test_crossbar_nonidealities_experiment_quick(tmp_path):
    run_example("30_crossbar_nonidealities.py", tmp_path, timeout=900)
    res = json.loads((tmp_path / "results.json").read_text())
    axes = res["axes"]
    # the ideal-ish chip (first value of every axis) is the same chip: same accuracy
    firsts = {a["accuracy"][0] for a in axes.values() if a["values"][0] in (0.0, 8)}
    assert len(firsts) == 1
    assert axes["adc_bits"]["accuracy"][1] < axes["adc_bits"]["accuracy"][0]  # 4-bit ADC hurts
    assert (tmp_path / "nonidealities.png").stat().st_size > 10_000


def test_dfa_gnn_experiment_quick(tmp_path):
    pytest.importorskip("torch")
    run_example("60_dfa_gnn.py", tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())
    rows = res["summary"]["random_60_20_20"]["cora"]
    assert set(rows) == {"bp", "dfa", "dfa_eg", "dfa_eg_nf", "bp_eg"}
    for row in rows.values():
        assert row["n_seeds"] == 1 and 0 <= row["accuracy_pct"] <= 100
        assert row["seconds_per_epoch_median"] > 0
        angles = row["alignment_seed0"]
        assert [d["epoch"] for d in angles] == [0, 5, 10]
        assert len(angles[0]["update_angle_deg"]) == 3 and len(angles[0]["weight_angle_deg"]) == 2
    assert rows["bp"]["alignment_seed0"][1]["update_angle_deg"][0] < 1e-2  # BP is BP
    assert "| dfa_eg_nf |" in (tmp_path / "summary.md").read_text()
    # A rerun resumes: every run is already in the log.
    again = run_example("60_dfa_gnn.py", tmp_path)
    assert "seed 0:" not in again.stdout
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 5


@pytest.mark.slow
def test_chip_over_time_experiment_quick(tmp_path):
    run_example("31_chip_over_time.py", tmp_path, timeout=900)
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["rules"]) == {"bp", "dfa", "sfdfa"}
    for r in res["rules"].values():
        acc = r["time"]["accuracy"]
        assert all(0 <= a <= 1 for a in acc + [r["ideal"], r["old_default_chip"]])
        # past the fitted 2 days the spread is extrapolated, and the points say so
        assert r["time"]["extrapolated"] == [t > 172800.0 for t in r["time"]["times_s"]]
        assert r["adc_bits"]["values"] == [4, 6] and r["stuck_fraction"]["values"] == [0.0, 0.1]
    assert res["noise_aware"]["rule"] == "bp"
    assert "| noise-aware |" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "chip_over_time.png").stat().st_size > 10_000


def test_optical_dfa_experiment_quick(tmp_path):
    pytest.importorskip("torch")
    run_example("70_optical_dfa_mlp.py", tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert set(res) == {"bp", "dfa", "dfa_ternary", "optical_ideal", "optical_8bit_g100"}
    # The ideal-camera OPU computes the ternarised projection exactly: same training.
    assert abs(res["optical_ideal"]["accuracy_pct_mean"]
               - res["dfa_ternary"]["accuracy_pct_mean"]) <= 100 * 2 / 360
    assert res["bp"]["accuracy_pct_mean"] > 50 and res["dfa"]["accuracy_pct_mean"] > 30
    # Four frames per example (two binary inputs, two holographic frames each): 1437 / 23 steps.
    assert res["optical_8bit_g100"]["frames_per_step"] == pytest.approx(4 * 1437 / 23)


def test_optical_scaling_experiment_quick(tmp_path):
    run_example("71_optical_scaling.py", tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())
    table = res["crossover_width"]
    assert table["c=10,depth=4"]["dfa"] is None  # a classifier's projection is cheap on a GPU
    assert table["c=50257,depth=64"]["dfa"] < table["c=50257,depth=2"]["dfa"]


def test_optical_transformer_experiment_quick(tmp_path):
    pytest.importorskip("torch")
    run_example("73_optical_transformer.py", tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())
    for method in ("bp", "dfa", "dfa_ternary", "optical", "dfa_ternary_centred",
                   "optical_centred"):
        assert 0 < res[method]["val_loss_nats"] < 4.5  # log(65) = 4.17 at initialisation
    # every token's ternarised error: two binary inputs, two holographic frames each
    assert res["optical"]["frames_per_token"] == 4
    assert res["optical"]["mirrors"] == 65 + 65  # data mirrors + the reference region
    runs = {m: json.loads((tmp_path / f"{m}_s0.json").read_text()) for m in ("dfa", "optical")}
    assert runs["optical"]["evals"][0]["val_loss"] != runs["dfa"]["evals"][0]["val_loss"]
    assert (tmp_path / "val_loss.png").stat().st_size > 10_000


def test_optical_har_experiment_quick(tmp_path):
    run_example("74_optical_har.py", tmp_path)
    res = json.loads((tmp_path / "summary.json").read_text())
    (row,) = res["rows"]
    for key in ("dfa_deployed_pct", "dfa_final_pct", "optical_dfa_deployed_pct",
                "optical_dfa_final_pct"):
        assert 0 <= row[key] <= 100
    # the OPU's frame counter: four frames per learned window, at 750 frames/s
    assert row["opu_frames_per_window"] == 4
    assert res["opu"]["ms_per_window"] == pytest.approx(4 / 750 * 1e3)
    d = res["optical_minus_dfa_final_points"]
    assert d["mean"] == pytest.approx(row["optical_dfa_final_pct"] - row["dfa_final_pct"])
    diag = res["feedback_diagnostic"]
    assert {"dfa", "optical_dfa", "optical_dfa_ideal_camera"} <= set(diag)
    # an ideal camera projects a zero error to exactly zero; the default camera does not
    zero = diag["optical_dfa_ideal_camera"]["zero_error_projection"]
    assert zero["bias_rms_over_entry"] < 1e-9 and zero["noise_std_over_entry"] < 1e-9
    assert diag["optical_dfa"]["zero_error_projection"]["noise_std_over_entry"] > 0
