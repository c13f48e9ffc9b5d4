"""The rule registry: one descriptor per rule, used by every module; every registered rule runs
through the main job; projectors count their events and wrappers compose with any rule."""

import numpy as np
import pytest

from snn_dfa.app.config import RunConfig, config_from_dict
from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.models import build_model
from snn_dfa.errors import ConfigError, ValidationError
from snn_dfa.rules import registry
from snn_dfa.rules.feedback import LearnedFeedback, ProjectorWrapper, RandomFeedback
from snn_dfa.rules.learning import make_rule


def _net(seed=0):
    return build_model("mlp", 5, 3, 6, {"hidden": [7, 4]}, seed=seed)


def test_names_aliases_and_labels():
    assert registry.names() == ("bp", "dfa", "sfdfa", "shallow", "none", "optical_dfa")
    assert registry.get_rule("bptt") is registry.get_rule("bp") is registry.baseline()
    assert registry.canonical("bptt") == "bp"
    assert registry.label("bptt") == "BP (BPTT)" and registry.label("unknown") == "unknown"
    assert {s.hw_name for s in registry.rules()} == {"bp", "dfa", "sfdfa", "none"}
    with pytest.raises(ValidationError, match="rule='fa': expected one of 'bp'"):
        registry.get_rule("fa")
    with pytest.raises(ValidationError, match="already registered"):
        registry.register(registry.RuleSpec(name="x", label="X", hw_name="none",
                                            factory=lambda n, r, o: None, aliases=("bptt",)))
    assert "x" not in registry.names()


def test_config_accepts_aliases_and_stores_the_canonical_name():
    cfg = config_from_dict({"adapt": {"rules": ["bptt", "dfa"]}, "pretrain": {"rule": "bptt"}})
    assert cfg.adapt.rules == ("bp", "dfa") and cfg.pretrain.rule == "bp"
    assert RunConfig().adapt.rules == ("bp", "dfa", "sfdfa")
    with pytest.raises(ConfigError, match="named twice"):
        config_from_dict({"adapt": {"rules": ["bp", "bptt"]}})


@pytest.mark.parametrize("name", registry.names())
def test_every_rule_builds_and_gives_gradients(name):
    net = _net()
    x = np.random.default_rng(0).normal(0.5, 1, (6, 4, 5)).astype(np.float32)
    z, trace = net.forward(x, record=True)
    _, e = loss_and_grad(z, np.array([0, 1, 2, 0]))
    grads = make_rule(name, net, seed=0).gradients(net, trace, e)
    assert len(grads) == len(net.layers)
    assert ("weight" in grads[-1]) == (name != "none")  # the control that never learns


def test_projectors_count_their_events():
    fb = RandomFeedback([5, 4], 3, seed=0)
    fb.project_all(np.ones((2, 3)))
    fb.project(1, np.ones((1, 3)))
    np.testing.assert_array_equal(fb.counters.feedback_macs, [2 * 5 * 3, 2 * 4 * 3 + 4 * 3])
    learned = LearnedFeedback([5], 3)
    learned.update(0, np.ones((2, 5)), np.ones((2, 3)), np.ones((2, 5), bool))
    assert learned.counters.update_mults[0] == 2 * 2 * 5 * 3
    assert learned.counters.update_adds[0] == 2 * 5 * 3
    learned.counters.reset()
    assert not learned.counters.update_mults.any()


class _Negated(ProjectorWrapper):
    """A wrapper that changes what is delivered (stands for privacy noise, optics, ...)."""

    def project_all(self, e):
        return [-p for p in self.inner.project_all(e)]


@pytest.mark.parametrize("name", [s.name for s in registry.rules() if s.feedback])
def test_a_projector_wrapper_composes_with_every_rule_that_has_feedback(name):
    net = _net()
    x = np.random.default_rng(1).normal(0.5, 1, (6, 2, 5)).astype(np.float32)
    z, trace = net.forward(x, record=True)
    _, e = loss_and_grad(z, np.array([0, 1]))
    plain = make_rule(name, net, seed=3)
    wrapped = registry.get_rule(name).build(net, seed=3, wrap=_Negated)
    assert isinstance(wrapped.projector, _Negated)
    gp, gw = plain.gradients(net, trace, e), wrapped.gradients(net, trace, e)
    np.testing.assert_allclose(gw[0]["weight"], -gp[0]["weight"], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(gw[-1]["weight"], gp[-1]["weight"])  # output: local gradient
    counted = wrapped.projector.counters  # an optical projection is no MAC: it counts the
    assert counted.feedback_macs.sum() + counted.update_adds.sum() > 0  # reconstruction's sums
    with pytest.raises(ValidationError, match="keeps no feedback projector"):
        registry.get_rule("bp").build(net, wrap=_Negated)


def test_every_registered_rule_runs_through_the_main_job(tiny_run):
    """The main job's tiny mode with every registered rule at once (tests/conftest.py): each
    gets accuracies, costs and, against the baseline, ratios, and a row of the report."""
    result = tiny_run
    base = registry.baseline().name
    for spec in registry.rules():
        assert 0 <= result.summary[f"{spec.name}_final_accuracy_pct"] <= 100
        assert result.summary[f"{spec.name}_energy_pJ_per_learned_window"] > 0
        assert result.costs[spec.name]["label"] == spec.name
        if spec.name != base:
            assert f"{spec.name}_vs_bp_energy_ratio" in result.summary
    # the controls start from backprop's network on the same chip; "none" never writes (its
    # final accuracy differs from the deployed one only by the chip's read noise)
    none, bp = result.metrics["subjects"]["2"]["none"], result.metrics["subjects"]["2"][base]
    assert none["deployed_accuracy_pct"] == bp["deployed_accuracy_pct"]
    assert none["write_pulses"] == 0
    report = (result.out_dir / "report.md").read_text()
    assert all(f"| {spec.label} |" in report for spec in registry.rules())
