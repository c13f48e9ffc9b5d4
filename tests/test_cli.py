"""The snn-dfa command line and the results file: end to end on real data, and bad input."""

import subprocess
import sys

import numpy as np
import pytest

from snn_dfa import experiment
from snn_dfa.cli import main
from snn_dfa.errors import DataError
from snn_dfa.results import read_results, write_results


def test_demo_reduced_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["demo", "--epochs", "1", "--max-train-windows", "400", "--seed", "3",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    res = read_results(out / "results.h5")
    assert res["config"]["seed"] == 3 and res["config"]["max_train_windows"] == 400
    assert res["provenance"]["seed"] == 3 and res["provenance"]["versions"]["numba"]
    acc = float(res["metrics"]["test_accuracy"])
    assert 0.4 < acc <= 1.0  # 400 windows, one epoch: well above chance (1/6)
    confusion = res["metrics"]["confusion"]
    assert confusion.sum() == 2874  # every test window of the UCI-HAR split
    assert np.isclose(np.trace(confusion) / confusion.sum(), acc)
    report = (out / "report.md").read_text()
    assert f"**Test accuracy: {100 * acc:.2f} %**" in report
    assert f"test accuracy {100 * acc:.2f} %" in printed
    assert (out / "figures" / "pretrain.png").stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_demo_same_seed_same_result(tmp_path):
    args = ["demo", "--epochs", "1", "--max-train-windows", "200", "--seed", "5"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = (read_results(tmp_path / k / "results.h5")["metrics"] for k in "ab")
    np.testing.assert_array_equal(a["confusion"], b["confusion"])
    np.testing.assert_array_equal(a["train_loss_per_epoch"], b["train_loss_per_epoch"])


@pytest.mark.parametrize("args, fragment", [
    (["--epochs", "0"], "epochs=0"),
    (["--seed", "-1"], "seed=-1"),
    (["--max-train-windows", "0"], "max_train_windows=0"),
])
def test_invalid_values_exit_2_with_one_line(tmp_path, capsys, args, fragment):
    out = tmp_path / "out"
    assert main(["demo", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snn-dfa: error: ") and fragment in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("args, fragment", [(["demo", "--epochs", "two"], "invalid int value"),
                                            (["trian"], "invalid choice")])
def test_malformed_arguments_exit_2_with_one_line(capsys, args, fragment):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "_figures", boom)
    out = tmp_path / "run"
    assert main(["demo", "--epochs", "1", "--max-train-windows", "100", "--out", str(out)]) == 130
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


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
    """The README's main command itself (its default: full training split, 2 epochs)."""
    proc = subprocess.run([sys.executable, "-m", "snn_dfa", "demo", "--out", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    acc = float(read_results(tmp_path / "d" / "results.h5")["metrics"]["test_accuracy"])
    assert acc > 0.8
