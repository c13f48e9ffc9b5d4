"""The privacy experiments, run in their reduced modes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_dp_dfa_fashion_mnist_quick(tmp_path):
    pytest.importorskip("opacus")
    script = str(ROOT / "examples" / "40_dp_dfa_fashion_mnist.py")
    proc = subprocess.run([sys.executable, script, "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
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
    again = subprocess.run([sys.executable, script, "--quick", "--out", str(tmp_path)],
                           capture_output=True, text=True, check=False, timeout=600)
    assert again.returncode == 0 and again.stdout.count("%") == 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == len(runs)
