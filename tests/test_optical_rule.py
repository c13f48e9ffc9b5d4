"""Optical DFA as a registered rule: built like any rule, equal to ternarised digital DFA with an
ideal camera, configured by validated ``[optical]`` keys that leave every other configuration's
digest alone, and the same OPU (device) in pre-training and on the chip."""

import hashlib
import json
import tomllib

import numpy as np
import pytest

from snn_dfa.app import experiment
from snn_dfa.app.config import EXAMPLE, RunConfig, config_from_dict
from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.models import build_model
from snn_dfa.errors import ConfigError, ValidationError
from snn_dfa.rules import optical, registry
from snn_dfa.rules.feedback import RandomFeedback
from snn_dfa.rules.learning import DFA, make_rule

IDEAL = {"photons_per_unit": 0.0, "bit_depth": 0}


def _case(seed=0, batch=5):
    # a membrane readout and low thresholds: graded outputs, so the ternarisation thresholds
    # fall between error values
    net = build_model("mlp", 5, 4, 6, {"hidden": [9, 7], "threshold": 0.2,
                                       "readout": "mean_membrane"}, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, (6, batch, 5)).astype(np.float32)
    z, trace = net.forward(x, record=True)
    _, e = loss_and_grad(z, rng.integers(0, 4, batch))
    return net, trace, e


def _ternarised_digital(rule, threshold):
    """Digital DFA holding the OPU's effective matrices, fed the ternarised error."""
    fixed = RandomFeedback.from_matrices(rule.projector.matrices, dtype=np.float32)
    return DFA(optical.TernarisedFeedback(fixed, threshold))


def test_registered_with_an_alias_and_built_by_name():
    spec = registry.get_rule("opu_dfa")
    assert spec.name == "optical_dfa" and spec.feedback == "optical" and spec.hw_name == "dfa"
    rule = make_rule("optical_dfa", _case()[0], seed=0, threshold=0.3)
    assert isinstance(rule.projector, optical.OpticalFeedback)
    assert rule.projector.threshold == 0.3
    with pytest.raises(ValidationError, match="unknown"):
        make_rule("optical_dfa", _case()[0], photons=3.0)


@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.6])
def test_ideal_camera_update_equals_ternarised_digital_dfa(threshold):
    net, trace, e = _case()
    rule = make_rule("optical_dfa", net, seed=1, threshold=threshold, **IDEAL)
    got = rule.gradients(net, trace, e)
    want = _ternarised_digital(rule, threshold).gradients(net, trace, e)
    assert np.count_nonzero(optical.ternarise(e.astype(np.float64), threshold)) > 0
    for g, w in zip(got, want):
        for k in w:
            # the hologram (F1 - F2 - F3) / 2|a| reproduces x @ Re(R~) to float64 rounding;
            # the rest is the same float32 arithmetic
            np.testing.assert_allclose(g[k], w[k], rtol=1e-5, atol=1e-6 * np.abs(w[k]).max())
    # and it differs from exact DFA with the same matrices (ternarisation changes the update)
    exact = DFA(RandomFeedback.from_matrices(rule.projector.matrices, dtype=np.float32))
    assert not np.allclose(exact.gradients(net, trace, e)[0]["weight"], got[0]["weight"],
                           rtol=1e-2)


def test_a_huge_photon_budget_approaches_ternarised_digital_dfa():
    # shot noise shrinks as 1/sqrt(budget): at 1e12 photons per unit the relative error of the
    # update is ~1e-6 (times the hologram's gain), far below 1e-3; at 10 photons it is not
    net, trace, e = _case(batch=3)
    errors = []
    for budget in (10.0, 1e12):
        rule = make_rule("optical_dfa", net, seed=2, photons_per_unit=budget, bit_depth=0)
        got = rule.gradients(net, trace, e)[0]["weight"]
        want = _ternarised_digital(rule, optical.THRESHOLD).gradients(net, trace, e)[0]["weight"]
        errors.append(np.linalg.norm(got - want) / np.linalg.norm(want))
    assert errors[1] < 1e-3 < errors[0]


def test_frames_are_counted_four_per_example():
    net, trace, e = _case(batch=5)
    rule = make_rule("optical_dfa", net, seed=0)
    before = rule.projector.frames
    rule.gradients(net, trace, e)
    assert rule.projector.frames - before == 4 * 5


def test_the_device_seed_fixes_the_medium_and_the_seed_the_noise():
    sizes, c = [9, 7], 4
    a = optical.optical_feedback_for(sizes, c, device_seed=3, seed=0)
    b = optical.optical_feedback_for(sizes, c, device_seed=3, seed=1)
    for ma, mb in zip(a.matrices, b.matrices):
        np.testing.assert_array_equal(ma, mb)
    e = np.random.default_rng(0).normal(0, 1, (4, c))
    assert not np.array_equal(a.project_all(e)[0], b.project_all(e)[0])  # other shot noise
    other = optical.optical_feedback_for(sizes, c, device_seed=4, seed=0)
    assert not np.allclose(other.matrices[0], a.matrices[0])
    spec = registry.get_rule("optical_dfa")
    again = spec.projector_from(a.matrices, dtype=np.float32, seed=5, device_seed=3)
    np.testing.assert_array_equal(again.matrices[1], a.matrices[1])
    with pytest.raises(ValidationError, match="not those of the OPU of its device_seed"):
        spec.projector_from(other.matrices, dtype=np.float32, seed=5, device_seed=3)


def test_optical_settings_are_config_keys_and_printed_by_snn_dfa_config():
    printed = tomllib.loads(EXAMPLE)
    assert printed["optical"] == {"threshold": optical.THRESHOLD,
                                  "photons_per_unit": optical.PHOTONS_PER_UNIT,
                                  "bit_depth": optical.BIT_DEPTH,
                                  "full_scale": optical.FULL_SCALE,
                                  "frame_rate_hz": optical.FRAME_RATE_HZ}
    cfg = config_from_dict({"adapt": {"rules": ["dfa", "opu_dfa"]},
                            "optical": {"photons_per_unit": 0, "bit_depth": 0}})
    assert cfg.adapt.rules == ("dfa", "optical_dfa")
    opts = registry.get_rule("optical_dfa").select(experiment._rule_options(cfg))
    assert opts == {"threshold": optical.THRESHOLD, "photons_per_unit": 0.0, "bit_depth": 0,
                    "full_scale": optical.FULL_SCALE, "frame_rate_hz": optical.FRAME_RATE_HZ,
                    "device_seed": 0}
    assert registry.get_rule("dfa").select(experiment._rule_options(cfg)) == {}


@pytest.mark.parametrize("key, value, fragment", [
    ("threshold", -0.1, "optical.threshold=-0.1: expected a value >= 0.0"),
    ("photons_per_unit", -5.0, "optical.photons_per_unit=-5.0: expected a value >= 0.0"),
    ("photons_per_unit", float("inf"), "optical.photons_per_unit=inf: expected a finite number"),
    ("bit_depth", 33, "optical.bit_depth=33: expected a value >= 0 and <= 32"),
    ("bit_depth", 8.0, "optical.bit_depth=8.0: expected int"),
    ("full_scale", 0.0, "optical.full_scale=0.0: expected a value > 0.0"),
    ("frame_rate_hz", -750.0, "optical.frame_rate_hz=-750.0: expected a value > 0.0"),
    ("photon_budget", 10.0, "did you mean 'photons_per_unit'"),
])
def test_bad_optical_values_raise_config_errors_naming_key_value_and_expectation(
        key, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        config_from_dict({"adapt": {"rules": ["optical_dfa"]}, "optical": {key: value}})


def test_digests_of_configurations_without_the_optical_rule_are_unchanged():
    """The sweep keys and caches of every existing configuration stay as they were: their
    digest is the one of the configuration without an [optical] section, whatever it holds."""
    for cfg in (RunConfig(), config_from_dict({"seed": 3, "adapt": {"rules": ["bp", "dfa"]}})):
        d = cfg.to_dict()
        del d["optical"]
        blob = json.dumps(d, sort_keys=True)
        assert cfg.digest() == hashlib.sha256(blob.encode()).hexdigest()[:16]
        other = config_from_dict({**d, "optical": {"photons_per_unit": 5.0}})
        assert other.digest() == cfg.digest() and other.digest("adapt") == cfg.digest("adapt")
    used = config_from_dict({"adapt": {"rules": ["optical_dfa"]}})
    changed = config_from_dict({"adapt": {"rules": ["optical_dfa"]},
                                "optical": {"photons_per_unit": 5.0}})
    assert used.digest() != changed.digest()
    pretrained_only = config_from_dict({"pretrain": {"rule": "optical_dfa"}})
    assert pretrained_only.digest() != config_from_dict(
        {"pretrain": {"rule": "optical_dfa"}, "optical": {"bit_depth": 4}}).digest()


def test_existing_rules_results_are_unchanged_by_the_optical_options():
    """DFA, SFDFA and BP take none of the new options: the same rule objects and updates."""
    net, trace, e = _case()
    cfg = RunConfig()
    for name in ("bp", "dfa", "sfdfa"):
        a = experiment.adaptation_rule(cfg, name, net, None)
        b = registry.get_rule(name).build(net, seed=np.random.default_rng([cfg.seed, 3]),
                                          **registry.get_rule(name).select(
                                              {"feedback_lr": cfg.adapt.sfdfa_feedback_lr}))
        for ga, gb in zip(a.gradients(net, trace, e), b.gradients(net, trace, e)):
            for k in ga:
                np.testing.assert_array_equal(ga[k], gb[k])


def test_adaptation_rule_keeps_the_pretrained_opu():
    """The main job's optical rule on the chip is the device it was pre-trained with."""
    net, trace, e = _case()
    cfg = config_from_dict({"seed": 4, "adapt": {"rules": ["optical_dfa"]}})
    opts = registry.get_rule("optical_dfa").select(experiment._rule_options(cfg))
    pre = make_rule("optical_dfa", net, seed=np.random.default_rng([4, 2]), **opts)
    mats = [m.copy() for m in pre.projector.matrices]
    rule = experiment.adaptation_rule(cfg, "optical_dfa", net, mats)
    for a, b in zip(rule.projector.matrices, mats):
        np.testing.assert_array_equal(a, b)
    assert rule.projector.opu.camera.photons_per_unit == optical.PHOTONS_PER_UNIT
