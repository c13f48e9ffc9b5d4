"""The main job (snn-dfa run / demo / report / config): a reduced real run end to end, the
pre-training cache, and bad input."""

import dataclasses
import re
import tomllib

import numpy as np
import pytest
from helpers import SMALL

from snn_dfa.app import experiment
from snn_dfa.app.cli import main
from snn_dfa.app.config import EXAMPLE, RunConfig, config_from_dict
from snn_dfa.app.results import read_results
from snn_dfa.errors import ConfigError


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    cfg = folder / "small.toml"
    cfg.write_text(SMALL)
    out = folder / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    return cfg, out


def test_results_file_holds_everything(small_run):
    _, out = small_run
    res = read_results(out / "results.h5")
    assert res["config"]["data"]["adapt_subjects"] == [2, 9]
    assert res["config"]["crossbar"]["device"] == "neurram_hfo2"
    assert res["provenance"]["seed"] == 1
    subjects = res["metrics"]["subjects"]
    assert set(subjects) == {"2", "9"}
    for sm in subjects.values():
        for rule in ("bp", "dfa", "sfdfa"):
            assert 0 <= float(sm[rule]["final_accuracy_pct"]) <= 100
            assert len(sm[rule]["stream_correct"]) > 10
            assert float(sm[rule]["write_pulses"]) > 0  # updates reached the devices
    for rule in ("bp", "dfa", "sfdfa"):
        costs = res["costs"][rule]
        assert set(costs["latency_ns"]) == {"inference", "error_compute", "error_delivery",
                                            "weight_update"}
        assert float(costs["totals"]["run_energy_pJ"]) > 0
        # inference ran on every window, learning on the labelled ones
        assert int(costs["inference_windows"]) >= int(costs["samples"]) > 0
    # BP delivers errors through transposed reads; DFA through projections; both store
    def delivery(rule, component):
        return sum(float(v) for v in
                   res["costs"][rule]["energy_pJ"]["error_delivery"][component].values())

    assert delivery("bp", "learning_store") > 0 and delivery("dfa", "learning_store") > 0
    assert delivery("bp", "adc") > 0 and delivery("dfa", "adc") == 0
    assert delivery("dfa", "feedback") > 0 and delivery("bp", "feedback") == 0
    summary = res["metrics"]["summary"]
    ratio = float(summary["dfa_vs_bp_energy_ratio"])
    assert ratio == pytest.approx(float(summary["dfa_energy_pJ_per_learned_window"])
                                  / float(summary["bp_energy_pJ_per_learned_window"]))


def test_report_numbers_equal_the_file(small_run):
    _, out = small_run
    summary = read_results(out / "results.h5")["metrics"]["summary"]
    md = (out / "report.md").read_text()
    mean_row = next(line for line in md.splitlines() if line.startswith("| mean | DFA |"))
    cells = [c.strip() for c in mean_row.strip("|").split("|")]
    assert cells[2] == f"{float(summary['dfa_ideal_accuracy_pct']):.2f}"
    assert cells[3] == f"{float(summary['dfa_deployed_accuracy_pct']):.2f}"
    assert cells[4] == f"{float(summary['dfa_final_accuracy_pct']):.2f}"
    energy = 100 * (1 - float(summary["dfa_vs_bp_energy_ratio"]))
    assert re.search(rf"\| energy per learned window, reduction \(% of BP\) \| up to 64.1 \| "
                     rf"{energy:.1f} \|", md)
    # the sensitivity table: every row of the file, DFA/BP energy as stored
    sens = read_results(out / "results.h5")["costs"]["sensitivity"]
    default = float(sens["default"]["dfa_over_bp_energy_ratio"])
    assert default == pytest.approx(float(summary["dfa_vs_bp_energy_ratio"]))
    assert re.search(rf"\| defaults \| {default:.3f}(\\\*)? \|", md)
    assert md.count("| leakage = always_on |") == 1 and "| paper (DFA/BP" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 6
    for name in ("accuracy_stream", "accuracy_energy", "energy", "latency", "area",
                 "conductance"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 5_000


def test_report_rebuilds_from_the_file_alone(small_run, capsys):
    _, out = small_run
    before = (out / "report.md").read_text()
    (out / "report.md").unlink()
    (out / "figures" / "energy.png").unlink()
    assert main(["report", str(out / "results.h5")]) == 0
    assert (out / "report.md").read_text() == before
    assert (out / "figures" / "energy.png").exists()


def _assert_same(a, b, where: str = "") -> None:
    """Two nested results (dicts of arrays and numbers) equal, exactly, key by key."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}/{key}")
    else:
        np.testing.assert_array_equal(a, b, err_msg=where)


def _same_results(a, b) -> None:
    """Every per-subject metric, the conductances and every cost of two runs."""
    for key in ("subjects", "conductance_change_uS", "summary"):
        _assert_same(a.metrics[key], b.metrics[key], key)
    _assert_same(a.costs, b.costs, "costs")


@pytest.mark.parametrize("pretrain_rule", ["matched", "bptt"])
def test_pretraining_is_cached_and_runs_are_reproducible(tmp_path, pretrain_rule):
    """A run whose pre-training comes from the cache equals the run that computed it, for every
    rule (BPTT entries included), and a corrupt entry is rebuilt, never used."""
    config = config_from_dict(tomllib.loads(SMALL))
    config = dataclasses.replace(
        config, data=dataclasses.replace(config.data, adapt_subjects=(2,), adapt_fraction=0.15),
        pretrain=dataclasses.replace(config.pretrain, rule=pretrain_rule))
    a = experiment.run(config, tmp_path / "a", cache_dir=tmp_path / "cache")
    b = experiment.run(config, tmp_path / "b", cache_dir=tmp_path / "cache")
    assert not a.metrics["pretrain_cached"] and b.metrics["pretrain_cached"]
    _same_results(a, b)
    # a corrupt cache entry is rebuilt, never used
    for entry in (tmp_path / "cache").glob("*.npz"):
        entry.write_bytes(entry.read_bytes()[:100])
    c = experiment.run(config, tmp_path / "c", cache_dir=tmp_path / "cache")
    assert not c.metrics["pretrain_cached"]
    _same_results(a, c)


def test_example_config_is_the_default(capsys):
    assert main(["config", "--example"]) == 0
    printed = capsys.readouterr().out
    assert printed == EXAMPLE
    assert config_from_dict(tomllib.loads(printed)) == RunConfig()


@pytest.mark.parametrize("text, fragment", [
    ("[crossbar]\nadc_bit = 4", "unknown key 'adc_bit'; did you mean 'adc_bits'?"),
    ("[crosbar]\nadc_bits = 4", "did you mean 'crossbar'?"),
    # an ADC needs two bits (crossbar's PeripheryConfig): rejected at the config already
    ("[crossbar]\nadc_bits = 1", "crossbar.adc_bits=1: expected a value >= 2"),
    ("[crossbar]\nnoise_model = 'lognormal'",
     "crossbar.noise_model='lognormal': expected one of 'wan2022', 'gpr', 'relative'"),
    ("[crossbar]\nprog_sigma_rel = 0.3",
     "crossbar.prog_sigma_rel=0.3: expected 0.0 with noise_model = 'wan2022'"),
    ("[crossbar]\ntime_at_deployment_s = -1.0",
     "crossbar.time_at_deployment_s=-1.0: expected a value >= 0"),
    ("[crossbar]\nwindow_period_s = -0.5", "crossbar.window_period_s=-0.5: expected a value >= 0"),
    ("[crossbar]\ncalibration_percentile = 0.0",
     "crossbar.calibration_percentile=0.0: expected a value > 0.0 and <= 100.0"),
    ("[crossbar]\ncalibration_percentile = 101.0",
     "crossbar.calibration_percentile=101.0: expected a value > 0.0 and <= 100.0"),
    ("[crossbar]\nbit_length = 0", "crossbar.bit_length=0: expected a value >= 1"),
    ("[crossbar]\nupdate_mode = 'pulse'", "crossbar.update_mode='pulse': expected one of"),
    ("[crossbar]\nir_fast_update = 'lazy'",
     "crossbar.ir_fast_update='lazy': expected one of 'incremental', 'full'"),
    ("[crossbar]\narray_size = 0", "crossbar.array_size=0"),
    ("[crossbar]\nadc_bits = 'four'", "crossbar.adc_bits='four': expected int"),
    ("[adapt]\nlr = -0.1", "adapt.lr=-0.1: expected a value > 0"),
    ("[adapt]\nrules = ['bpp']", "adapt.rules='bpp': expected one of 'bp', 'dfa', 'sfdfa', 'shallow'"),
    ("[crossbar]\nread_sigma_rel = -1", "crossbar.read_sigma_rel=-1"),
    ("[data]\nadapt_subjects = [1]", "subject 1 is not a held-out (test) subject"),
    ("seed = -3", "seed=-3"),
    ("[model\n", "not valid TOML"),
    ("[hwsim]\nleakage = 'off'", "hwsim.leakage='off': expected one of 'gated', 'always_on'"),
    ("[hwsim]\nperiphery = 'own'", "hwsim.periphery='own'"),
])
def test_bad_configs_exit_2_with_one_line_and_no_output(tmp_path, capsys, text, fragment):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if not line.startswith("snn-dfa [")]  # not stage lines
    assert len(errors) == 1 and fragment in errors[0], lines
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.toml"]


def test_missing_files_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    bad = tmp_path / "results.h5"
    bad.write_bytes(b"not hdf5")
    assert main(["report", str(bad)]) == 2
    assert "cannot read results file" in capsys.readouterr().err


def test_bad_value_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"data.adapt_fraction=1.0: expected a value > 0.0 and < 1.0"):
        config_from_dict({"data": {"adapt_fraction": 1.0}})
    with pytest.raises(ConfigError, match=r"\[crossbar\]: expected a table"):
        config_from_dict({"crossbar": 3})


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the outputs are being written: exit 130, no output folder, no staging."""
    import snn_dfa.app.report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(snn_dfa.app.report, "write_report", interrupted)
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]


@pytest.mark.parametrize("args, fragment", [
    (["demo", "--seed", "-1"], "seed=-1"),
    (["run", "x.toml", "--seed", "-2"], "cannot be read"),
])
def test_invalid_command_values_exit_2(tmp_path, capsys, args, fragment):
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snn-dfa: error: ") and fragment in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, fragment", [(["demo", "--seed", "two"], "invalid int value"),
                                            (["trian"], "invalid choice"),
                                            (["report"], "required: results")])
def test_malformed_arguments_exit_2_with_one_line(capsys, args, fragment):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
