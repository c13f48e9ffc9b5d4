"""`snn-dfa run` with a [privacy] section: the budget is met and reported per wearer, and
budgets or settings that cannot be met are refused with one line and exit code 2."""

import tomllib

import pytest
from helpers import SMALL as SMALL_RUN

pytest.importorskip("dp_accounting")

from snn_dfa.app.cli import main
from snn_dfa.app.config import config_from_dict
from snn_dfa.app.results import read_results
from snn_dfa.errors import ConfigError

SMALL = SMALL_RUN + """[adapt]
rules = ["bp", "dfa"]
epochs = 1
"""


@pytest.mark.slow
def test_private_run_meets_and_reports_the_budget(tmp_path):
    cfg = tmp_path / "private.toml"
    cfg.write_text(SMALL + "[privacy]\nenabled = true\nepsilon = 2.0\nsampling_rate = 0.25\n")
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    res = read_results(out / "results.h5")
    subjects = res["metrics"]["subjects"]
    assert set(subjects) == {"2", "9"}
    for sm in subjects.values():
        for rule in ("bp", "dfa"):
            m = sm[rule]
            assert 0 < float(m["epsilon_spent"]) <= 2.0
            assert int(m["private_steps"]) == 4          # ceil(1 epoch / 0.25)
            assert 0 <= float(m["final_accuracy_pct"]) <= 100
    report = (out / "report.md").read_text()
    assert "Privacy spent per wearer" in report and "ε spent" in report


@pytest.mark.parametrize("extra, fragment", [
    ("epsilon = 0.01\nmax_noise_multiplier = 1.0", "cannot be met"),
    ("epsilon = 0", "privacy.epsilon=0"),
    ("delta = 1.0", "privacy.delta=1.0"),
    ("clip_backward = -1.0", "privacy.clip_backward=-1.0"),
])
def test_unmeetable_or_bad_privacy_exits_2_with_one_line(tmp_path, capsys, extra, fragment):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(SMALL + "[privacy]\nenabled = true\n" + extra + "\n")
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err
    assert not out.exists()


def test_sfdfa_with_privacy_is_refused():
    data = tomllib.loads(SMALL)
    data["adapt"]["rules"] = ["dfa", "sfdfa"]
    data["privacy"] = {"enabled": True}
    with pytest.raises(ConfigError, match="sfdfa"):
        config_from_dict(data)


def test_delta_not_below_one_over_windows_is_refused_at_run_time(tmp_path, capsys):
    cfg = tmp_path / "delta.toml"
    cfg.write_text(SMALL + "[privacy]\nenabled = true\ndelta = 0.2\n")
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if not line.startswith("snn-dfa [")]  # not stage lines
    assert len(errors) == 1 and "privacy.delta=0.2" in errors[0], lines
    assert "adaptation windows" in errors[0]
    assert not out.exists()
