"""The Fashion-MNIST SFDFA / DFA experiment script in its reduced mode (slow; needs data)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "10_sfdfa_fashion_mnist.py"
DATA = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@pytest.mark.slow
@pytest.mark.skipif(not DATA.exists(), reason="Fashion-MNIST IDX files absent: "
                    "apt-get install dataset-fashion-mnist")
def test_fashion_mnist_example_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("sfdfa_fashion_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "res.json"
    fig = tmp_path / "curves.png"
    results = module.main(["--quick", "--out", str(out), "--figure", str(fig)])
    assert out.exists() and fig.stat().st_size > 0
    assert [r["run"] for r in results] == ["sfdfa", "dfa", "sfdfa:published"]
    for r in results:
        assert r["epochs_done"] == 2.0 and r["n_train"] == 200 and r["n_test"] == 100
        assert [p["epoch"] for p in r["curve"]] == [1.0, 2.0]  # one evaluation per epoch
        accs = [p["test_acc"] for p in r["curve"]]
        assert r["final_test_acc"] == accs[-1]
        assert r["best_test_acc_test_selected"] == max(accs) >= r["final_test_acc"]
        assert all(0.0 <= a <= 100.0 for a in accs)
        assert np.isfinite(r["curve"][-1]["batch_loss"])
        assert r["curve"][-1]["batch_loss"] < r["first_batch_loss"]
    # resume: everything is in the file, nothing is trained again
    again = module.main(["--quick", "--out", str(out)])
    assert again == results
    with pytest.raises(module.ConfigError, match="VARIANT"):
        module.parse_run("sfdfa:nonsense")
    with pytest.raises(module.ConfigError, match="tangents"):
        module.parse_run("dfa:standin-tangent")


def test_matched_regulariser_control_changes_only_the_regulariser_weight():
    spec = importlib.util.spec_from_file_location("sfdfa_fashion_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.parse_run("dfa:matched-regulariser") == ("dfa", "matched-regulariser")
    with pytest.raises(module.ConfigError, match="applies to"):
        module.parse_run("sfdfa:matched-regulariser")
    from dataclasses import asdict

    from snn_dfa.eventdriven import fashion_mnist_config
    control = asdict(fashion_mnist_config("dfa", **module.CONTROLS["matched-regulariser"][0]))
    dfa, sfdfa = asdict(fashion_mnist_config("dfa")), asdict(fashion_mnist_config("sfdfa"))
    assert control["reg_strength"] == sfdfa["reg_strength"] != dfa["reg_strength"]
    assert {k for k in control if control[k] != dfa[k]} == {"reg_strength"}
    assert {k for k in control if control[k] != sfdfa[k]} == {"rule"}


def test_paired_differences_pair_runs_by_seed():
    spec = importlib.util.spec_from_file_location("sfdfa_fashion_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def r(run, seed, final, best):
        return {"run": run, "seed": seed, "final_test_acc": final,
                "best_test_acc_test_selected": best}

    results = [r("sfdfa", 0, 80.0, 81.0), r("sfdfa", 1, 84.0, 85.0), r("sfdfa", 2, 82.0, 82.0),
               r("dfa", 2, 83.0, 84.0), r("dfa", 0, 81.0, 81.0), r("dfa", 1, 86.0, 86.0),
               r("sfdfa:published", 0, 60.0, 63.0)]
    rows = {row["run"]: row for row in module.paired_differences(results)}
    assert set(rows) == {"dfa", "sfdfa:published"}
    # seed by seed: +1, +2, +1 (not the unpaired means' difference alone)
    mean, low, high = rows["dfa"]["final_test_acc"]
    assert mean == pytest.approx(4.0 / 3.0)
    half = 4.302652729911275 * np.std([1.0, 2.0, 1.0], ddof=1) / np.sqrt(3)  # t_{0.975, 2}
    assert (low, high) == pytest.approx((mean - half, mean + half))
    assert rows["dfa"]["best_test_acc_test_selected"][0] == pytest.approx(1.0)
    one = rows["sfdfa:published"]
    assert one["n_seeds"] == 1 and one["final_test_acc"][0] == -20.0
    assert np.isnan(one["final_test_acc"][1]) and np.isnan(one["final_test_acc"][2])
