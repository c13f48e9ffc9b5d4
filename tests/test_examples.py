"""Numbered experiment scripts, run in their reduced modes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_dfa_har_experiment_quick(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "20_dfa_har.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    for rule in ("bptt", "dfa", "sfdfa", "shallow"):
        acc = res["offline"][rule][0]["test_accuracy"]
        assert 1 / 6 + 0.2 < acc <= 1  # both rules learn (well above chance) even reduced
    summary = res["online_summary"]
    assert set(summary) == {f"pretrain_{p}/adapt_{a}" for p in ("bptt", "dfa", "sfdfa")
                            for a in ("none", "bptt", "dfa", "sfdfa")}
    assert all(0 <= v <= 100 for v in summary.values())
