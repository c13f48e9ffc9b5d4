"""The published code's behaviours as options: each reproduces what the authors' kernel and
training loop compute (Florian-BACHO/SFDFA), on small cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_buffer

from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven.loss import hidden_error
from snn_dfa.eventdriven.neuron import LIFParams, SpikeBuffer, simulate_layer
from snn_dfa.eventdriven.trainer import (
    PUBLISHED_VARIANTS,
    SFDFAConfig,
    SFDFATrainer,
    fashion_mnist_config,
)
from snn_dfa.rules.feedback import RandomFeedback

H = 1e-6
N_IN, N_CLASSES = 30, 3


def _sum_times(inputs, weights, params):
    out = simulate_layer(inputs, weights, params).spikes
    return np.where(np.isfinite(out.times_s), out.times_s, 0.0).sum(axis=2)


# ---- (c) the published denominator -------------------------------------------------------

def test_published_denominator_is_the_hand_formula_and_misses_finite_differences():
    """One spike: published dt/dw = tau (A - x B) / a, exact = tau (A - x B) / (a - c x^2)."""
    params = LIFParams(t_sim_s=0.3)
    times = np.array([[[0.01], [0.02], [0.03], [0.05]]])
    inputs = SpikeBuffer.from_arrays(times)
    weights = np.array([[1.5, 1.2, 1.0, 0.8]])
    out = simulate_layer(inputs, weights, params, eligibility=True, denominator="published")
    assert out.spikes.counts[0, 0] == 1
    tau, c = params.tau_mem_s, params.threshold
    x = np.exp(out.spikes.times_s[0, 0, 0] / tau)
    big_a = np.exp(times[0, :, 0] / params.tau_syn_s)
    big_b = np.exp(times[0, :, 0] / tau)
    a = weights[0] @ big_a
    np.testing.assert_allclose(out.eligibility[0, 0], tau * (big_a - x * big_b) / a,
                               rtol=1e-10)
    exact = simulate_layer(inputs, weights, params, eligibility=True).eligibility[0, 0]
    fd = np.array([(_sum_times(inputs, weights + H * np.eye(4)[j], params)[0, 0]
                    - _sum_times(inputs, weights - H * np.eye(4)[j], params)[0, 0]) / (2 * H)
                   for j in range(4)])
    np.testing.assert_allclose(exact, fd, rtol=1e-6)
    assert np.abs(out.eligibility[0, 0] - fd).max() > 0.1 * np.abs(fd).max()
    # one spike: the published value is the exact one damped by (1 - c x^2 / a)
    np.testing.assert_allclose(out.eligibility[0, 0], exact * (1 - c * x * x / a), rtol=1e-9)


# ---- (b) the published tangent stand-in --------------------------------------------------

@pytest.mark.parametrize("implementation", ["numba", "reference"])
def test_standin_tangent_is_the_weighted_sum_since_the_last_spike(implementation):
    """Tangent of spike m = sum of w_ij * tangent over the inputs received in
    [t_{m-1}, t_m), plus u_i on the first spike; spike times are unchanged."""
    rng = np.random.default_rng(3)
    params = LIFParams(threshold_hat=0.2, t_sim_s=0.3)
    inputs = random_buffer(rng, 2, 8, 3, 0.2, p_fire=0.9, tangents=True)
    weights = rng.uniform(-0.3, 1.5, (5, 8))
    u = rng.standard_normal((2, 5))
    pub = simulate_layer(inputs, weights, params, perturbation=u, tangent="published",
                         implementation=implementation).spikes
    exact = simulate_layer(inputs, weights, params, perturbation=u,
                           implementation=implementation).spikes
    np.testing.assert_array_equal(pub.counts, exact.counts)
    np.testing.assert_array_equal(pub.times_s, exact.times_s)
    assert (pub.counts >= 2).sum() >= 3  # the restart at each spike matters
    for s in range(2):
        for i in range(5):
            prev = -np.inf
            for m in range(pub.counts[s, i]):
                t_m = pub.times_s[s, i, m]
                want = u[s, i] if m == 0 else 0.0
                for j in range(8):
                    for z in range(inputs.counts[s, j]):
                        if prev <= inputs.times_s[s, j, z] < t_m:
                            want += weights[i, j] * inputs.tangents[s, j, z]
                np.testing.assert_allclose(pub.tangents[s, i, m], want, rtol=1e-12,
                                           atol=1e-12)
                prev = t_m
    assert np.abs(pub.tangents - exact.tangents).max() > 0.1 * np.abs(exact.tangents).max()


def test_published_options_numba_equals_reference():
    rng = np.random.default_rng(11)
    params = LIFParams(threshold_hat=0.2, t_sim_s=0.3)
    inputs = random_buffer(rng, 3, 9, 3, 0.2, p_fire=0.8, tangents=True)
    weights = rng.uniform(-0.5, 2.0, (6, 9))
    u = rng.standard_normal((3, 6))
    for den in ("exact", "published"):
        for tan in ("exact", "published"):
            got = [simulate_layer(inputs, weights, params, perturbation=u, eligibility=True,
                                  denominator=den, tangent=tan, implementation=impl)
                   for impl in ("numba", "reference")]
            assert (got[0].spikes.counts >= 3).sum() >= 3
            np.testing.assert_array_equal(got[0].spikes.counts, got[1].spikes.counts)
            np.testing.assert_allclose(got[0].eligibility, got[1].eligibility, rtol=1e-9,
                                       atol=1e-12)
            np.testing.assert_allclose(got[0].spikes.tangents, got[1].spikes.tangents,
                                       rtol=1e-9, atol=1e-12)


# ---- (a) the regulariser substituted for the hidden error --------------------------------

def test_replace_mode_is_the_regulariser_alone():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, (5, 3)).astype(float)
    reg = 0.3 * (0.4 - counts.mean(axis=0, keepdims=True))
    got = hidden_error(rng.standard_normal((5, 3)), counts, 0.3, 0.4, mode="replace")
    np.testing.assert_allclose(got, np.broadcast_to(reg, (5, 3)))
    with pytest.raises(ValidationError, match="mode"):
        hidden_error(np.zeros((5, 3)), counts, 0.3, 0.4, mode="overwrite")


def _patterns(rng, n):
    y = rng.integers(0, N_CLASSES, n)
    block = np.arange(N_IN) // (N_IN // N_CLASSES)
    early = block[None, :] == y[:, None]
    t = np.where(early, rng.uniform(0.0, 0.02, (n, N_IN)), rng.uniform(0.06, 0.1, (n, N_IN)))
    return SpikeBuffer(t[:, :, None], np.ones((n, N_IN), np.int64)), y


def _config(rule, **kw):
    return SFDFAConfig(hidden_sizes=(40, 20), rule=rule, lr=1e-2, reg_strength=0.1,
                       reg_target=3.0, batch_size=20, hidden=LIFParams(threshold_hat=0.05),
                       output=LIFParams(threshold_hat=0.05), **kw)


@pytest.mark.parametrize("error_mode", ["replace", "add"])
def test_with_replace_hidden_updates_ignore_the_feedback_matrix(error_mode):
    """DFA with two different feedback matrices: with the substitution on, every weight
    ends identical after training; with the method's addition they differ."""
    x, y = _patterns(np.random.default_rng(0), 60)
    models = []
    for scale in (1.0, -5.0):
        model = SFDFATrainer(N_IN, N_CLASSES, _config("dfa", error_mode=error_mode),
                             random_state=4)
        model.feedback_ = RandomFeedback.from_matrices(
            [scale * m for m in model.feedback_.matrices], dtype=np.float64)
        models.append(model.fit(x, y))
    same = [np.array_equal(a, b) for a, b in zip(models[0].weights_, models[1].weights_)]
    assert same == ([True] * 3 if error_mode == "replace" else [False] * 3)


def test_sfdfa_with_replace_learns_feedback_that_the_weights_never_use():
    """SFDFA, substitution on: feedback learned at very different rates, same weights."""
    x, y = _patterns(np.random.default_rng(1), 60)
    slow = SFDFATrainer(N_IN, N_CLASSES, _config("sfdfa", error_mode="replace",
                                                 lr_feedback=1e-4), random_state=2).fit(x, y)
    fast = SFDFATrainer(N_IN, N_CLASSES, _config("sfdfa", error_mode="replace",
                                                 lr_feedback=0.5), random_state=2).fit(x, y)
    assert np.abs(fast.feedback_.matrices[0]).max() > 100 * np.abs(slow.feedback_.matrices[0]).max()
    for a, b in zip(slow.weights_, fast.weights_):
        np.testing.assert_array_equal(a, b)


def test_published_variants_are_valid_configs():
    assert set(PUBLISHED_VARIANTS) == {"exact", "replace-error", "standin-tangent",
                                       "public-denominator", "published"}
    for overrides in PUBLISHED_VARIANTS.values():
        cfg = fashion_mnist_config("sfdfa", **overrides)
        assert all(getattr(cfg, k) == v for k, v in overrides.items())
    base = fashion_mnist_config("sfdfa")
    assert (base.error_mode, base.denominator, base.tangent) == ("add", "exact", "exact")
    for field, bad in (("error_mode", "overwrite"), ("denominator", "a"), ("tangent", "x")):
        with pytest.raises(ValidationError, match=field):
            fashion_mnist_config("sfdfa", **{field: bad})
