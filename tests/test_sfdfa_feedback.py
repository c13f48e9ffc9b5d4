"""Feedback learned by forward perturbation converges to the true output-to-hidden sensitivity."""

from __future__ import annotations

import numpy as np
import pytest

from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven.feedback import (
    LearnedFeedback,
    RandomFeedback,
    draw_perturbation,
    output_directional_derivative,
)
from snn_dfa.eventdriven.neuron import LIFParams, SpikeBuffer, simulate_layer
from snn_dfa.rules.feedback import FeedbackProjector


def _cosine(a, b):
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


def test_learned_feedback_converges_to_true_sensitivity():
    """One hidden layer: B -> E[d(sum output spike times)/d(first hidden spike) | spiked]."""
    rng = np.random.default_rng(0)
    n_in, n_hid, n_out, batch = 40, 20, 4, 20
    p_hid, p_out = LIFParams(threshold_hat=0.2), LIFParams(threshold_hat=0.5)
    w1 = rng.uniform(-0.5, 1.5, (n_hid, n_in))
    w2 = rng.uniform(-1.0, 3.0, (n_out, n_hid))
    fb = LearnedFeedback([n_hid], n_out, lr=0.02, dtype=np.float64)
    j_sum = np.zeros((n_hid, n_out))
    j_n = np.zeros(n_hid)
    for step in range(600):
        on = rng.random((batch, n_in)) < 0.7
        t = np.where(on, rng.uniform(0.0, 0.1, (batch, n_in)), np.inf)[:, :, None]
        x = SpikeBuffer(t, on.astype(np.int64))
        u = draw_perturbation(rng, batch, n_hid)
        hid = simulate_layer(x, w1, p_hid, perturbation=u).spikes
        out = simulate_layer(hid, w2, p_out, track_tangents=True).spikes
        fb.update(0, u, output_directional_derivative(out), hid.counts > 0)
        if step % 6 == 0:  # the true sensitivity, one basis direction at a time
            for i in range(n_hid):
                tan = np.zeros_like(hid.times_s)
                tan[:, i, 0] = 1.0
                probe = simulate_layer(SpikeBuffer(hid.times_s, hid.counts, tan), w2, p_out,
                                       track_tangents=True).spikes
                fired = hid.counts[:, i] > 0
                j_sum[i] += probe.tangents.sum(axis=2)[fired].sum(axis=0)
                j_n[i] += fired.sum()
    assert (j_n > 0).all()
    true_j = j_sum / j_n[:, None]
    assert _cosine(fb.matrices[0], true_j) > 0.9


def test_feedback_update_is_the_masked_moving_average():
    fb = LearnedFeedback([3], 2, lr=0.5, dtype=np.float64)
    u = np.array([[1.0, 2.0, 0.5], [3.0, -1.0, 0.0]])
    dv = np.array([[1.0, -1.0], [2.0, 0.5]])
    spiked = np.array([[True, False, False], [True, True, False]])
    fb.update(0, u, dv, spiked)
    b = fb.matrices[0]
    np.testing.assert_allclose(b[0], 0.5 * (u[0, 0] * dv[0] + u[1, 0] * dv[1]) / 2)
    np.testing.assert_allclose(b[1], 0.5 * u[1, 1] * dv[1])
    np.testing.assert_array_equal(b[2], 0.0)  # never spiked: unchanged


def test_projection_and_protocol():
    fb = RandomFeedback([5, 4], 3, seed=1, scaling=1.0, dtype=np.float64)
    assert isinstance(fb, FeedbackProjector)
    b = fb.matrices
    assert b[0].shape == (5, 3) and b[1].shape == (4, 3)
    assert (np.abs(b[0]) <= 1).all()
    e = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(fb.project(1, e), e @ b[1].T)
    both = fb.project_all(e)
    assert len(both) == 2
    np.testing.assert_allclose(both[0], e @ b[0].T)
    again = RandomFeedback([5, 4], 3, seed=1, scaling=1.0, dtype=np.float64)
    np.testing.assert_array_equal(again.matrices[0], b[0])
    assert isinstance(LearnedFeedback([5], 3), FeedbackProjector)
    np.testing.assert_array_equal(LearnedFeedback([5], 3).matrices[0], 0.0)


def test_feedback_validation():
    fb = LearnedFeedback([5], 3)
    with pytest.raises(ValidationError, match="layer"):
        fb.project(1, np.zeros((2, 3)))
    with pytest.raises(ValidationError, match="e: expected 3 columns"):
        fb.project(0, np.zeros((2, 4)))
    with pytest.raises(ValidationError, match="dz"):
        fb.update(0, np.zeros((2, 5)), np.zeros((3, 3)), np.zeros((2, 5), bool))
    with pytest.raises(ValidationError, match="lr"):
        LearnedFeedback([5], 3, lr=0.0)
    with pytest.raises(ValidationError, match=r"sizes\[1\]"):
        RandomFeedback([5, 0], 3)
    with pytest.raises(ValidationError, match="tangents"):
        output_directional_derivative(SpikeBuffer(np.zeros((1, 2, 1)), np.ones((1, 2), int)))
    with pytest.raises(ValidationError, match="rng"):
        draw_perturbation(0, 2, 3)
