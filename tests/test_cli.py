"""The snn-dfa command line and the results file: end to end on real data, and bad input."""

import subprocess
import sys

import numpy as np
import pytest

from snn_dfa.app.results import read_results, write_results
from snn_dfa.errors import DataError


def test_results_roundtrip_and_corrupt_file(tmp_path):
    path = write_results(tmp_path / "r.h5", {"a": 1}, {"seed": 1},
                         {"x": np.arange(3), "nested": {"y": 2.5}})
    back = read_results(path)
    np.testing.assert_array_equal(back["metrics"]["x"], np.arange(3))
    assert back["metrics"]["nested"]["y"] == 2.5 and back["config"] == {"a": 1}
    bad = tmp_path / "bad.h5"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="cannot read results file"):
        read_results(bad)


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "snn_dfa", "demo", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--seed" in out and "--out" in out


@pytest.mark.slow
def test_default_demo_command(tmp_path):
    """The README's main command itself, on its embedded default."""
    proc = subprocess.run([sys.executable, "-m", "snn_dfa", "demo", "--out", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    summary = read_results(tmp_path / "d" / "results.h5")["metrics"]["summary"]
    for rule in ("bp", "dfa", "sfdfa"):
        assert float(summary[f"{rule}_ideal_accuracy_pct"]) > 70  # pre-training works
        assert 0 <= float(summary[f"{rule}_final_accuracy_pct"]) <= 100
    assert "ours, DFA vs BP" in proc.stdout and "ours, SFDFA vs BP" in proc.stdout
