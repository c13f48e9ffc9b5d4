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


@pytest.mark.slow
def test_crossbar_nonidealities_experiment_quick(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "30_crossbar_nonidealities.py"),
                           "--quick", "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    axes = res["axes"]
    # the ideal-ish chip (first value of every axis) is the same chip: same accuracy
    firsts = {a["accuracy"][0] for a in axes.values() if a["values"][0] in (0.0, 8)}
    assert len(firsts) == 1
    assert axes["adc_bits"]["accuracy"][1] < axes["adc_bits"]["accuracy"][0]  # 4-bit ADC hurts
    assert (tmp_path / "nonidealities.png").stat().st_size > 10_000
