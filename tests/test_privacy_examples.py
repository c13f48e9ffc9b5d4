"""The privacy experiments, run in their reduced modes."""

import json

import pytest
from helpers import run_example


@pytest.mark.slow
def test_dp_dfa_fashion_mnist_quick(tmp_path):
    pytest.importorskip("opacus")
    run_example("40_dp_dfa_fashion_mnist.py", tmp_path)
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert {(r["method"], r["depth"]) for r in runs} == {
        (m, d) for m in ("dp_dfa", "dp_sgd", "dfa", "bp") for d in ("shallow", "deep")}
    private = [r for r in runs if r["method"].startswith("dp_")]
    for r in private:   # the budget is met, and both methods got the same mechanism
        assert r["epsilon_spent"] <= r["epsilon"]
        twin = next(o for o in private if o["depth"] == r["depth"] and o["seed"] == r["seed"]
                    and o["epsilon"] == r["epsilon"] and o["method"] != r["method"])
        assert (twin["noise_multiplier"], twin["steps"]) == (r["noise_multiplier"], r["steps"])
    assert all(0 <= r["test_acc"] <= 100 for r in runs)
    # a rerun resumes: nothing is trained twice
    again = run_example("40_dp_dfa_fashion_mnist.py", tmp_path)
    assert again.stdout.count("%") == 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == len(runs)


@pytest.mark.slow
def test_private_har_adaptation_quick(tmp_path):
    pytest.importorskip("dp_accounting")
    run_example("41_private_har_adaptation.py", tmp_path, timeout=900)
    rows = json.loads((tmp_path / "summary.json").read_text())
    budgets = {"dfa_streaming": None, "dfa_private_eps1e4": 1e4, "dfa_private_eps8": 8.0,
               "dfa_private_eps2": 2.0}
    assert {(r["variant"], r["subject"]) for r in rows} == {(v, s) for v in budgets
                                                            for s in (2, 9)}
    for r in rows:
        budget = budgets[r["variant"]]
        if budget is None:
            assert r["epsilon_spent"] is None and r["noise_multiplier"] == 0.0
        else:
            assert 0 < r["epsilon_spent"] <= budget
        assert 0 <= r["final_acc"] <= 100
    # the same deployed chip for every variant; a smaller budget needs more noise
    assert len({r["deployed_acc"] for r in rows if r["subject"] == 2}) == 1
    z = {r["variant"]: r["noise_multiplier"] for r in rows}
    assert z["dfa_private_eps2"] > z["dfa_private_eps8"] > z["dfa_private_eps1e4"] > 0
