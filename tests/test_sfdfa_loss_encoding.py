"""Spike-count loss, hidden error with the regulariser added, and the two input encodings."""

from __future__ import annotations

import numpy as np
import pytest

from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven.encoding import delta_encode, ttfs_encode
from snn_dfa.eventdriven.loss import CountTargets, count_targets, hidden_error, spike_count_loss


def test_count_targets_and_loss():
    tgt = count_targets(np.array([2, 0]), 3)
    np.testing.assert_array_equal(tgt, [[3, 3, 15], [15, 3, 3]])
    counts = np.array([[3, 5, 10], [15, 3, 3]])
    loss, err = spike_count_loss(counts, np.array([2, 0]))
    np.testing.assert_array_equal(err, [[0, -2, 5], [0, 0, 0]])
    assert loss == pytest.approx((4 + 25) / 2 / 2)
    _, err2 = spike_count_loss(counts, np.array([2, 0]), CountTargets(10, 1))
    np.testing.assert_array_equal(err2[1], [-5, -2, -2])


def test_regulariser_is_added_to_the_feedback_error():
    rng = np.random.default_rng(0)
    projected = rng.standard_normal((4, 3))
    counts = np.array([[0, 1, 2], [0, 3, 2], [0, 1, 0], [0, 3, 0]])
    reg = 0.3 * (0.4 - counts.mean(axis=0))
    np.testing.assert_allclose(hidden_error(projected, counts, 0.3, 0.4), projected + reg)
    np.testing.assert_allclose(hidden_error(projected, counts, 0.0, 0.4), projected)
    np.testing.assert_allclose(hidden_error(np.zeros((4, 3)), counts, 0.3, 0.4),
                               np.broadcast_to(reg, (4, 3)))


def test_loss_validation():
    with pytest.raises(ValidationError, match="labels"):
        count_targets(np.array([3]), 3)
    with pytest.raises(ValidationError, match="labels"):
        spike_count_loss(np.zeros((2, 3)), np.array([0]))
    with pytest.raises(ValidationError, match="counts"):
        hidden_error(np.zeros((2, 3)), np.zeros((2, 4)), 0.1, 0.1)


def test_ttfs_encoding():
    img = np.array([[[0, 255], [51, 204]]], dtype=np.uint8)
    buf = ttfs_encode(img, t_max_s=0.1)
    np.testing.assert_array_equal(buf.counts, [[0, 1, 1, 1]])
    np.testing.assert_allclose(buf.times_s[0, :, 0], [np.inf, 0.0, 0.08, 0.02])
    with pytest.raises(ValidationError, match="images"):
        ttfs_encode(np.array([[300]]))


def test_delta_encoding_of_a_ramp_and_a_step_down():
    # channel 0 rises 0 -> 1 over 4 samples; channel 1 drops by 0.5 at the last sample
    x = np.zeros((1, 5, 2))
    x[0, :, 0] = [0.0, 0.25, 0.5, 0.75, 1.0]
    x[0, 4, 1] = -0.5
    buf = delta_encode(x, threshold=0.2, dt_s=0.01)
    assert buf.shape == (1, 4)
    np.testing.assert_array_equal(buf.counts, [[5, 0, 0, 2]])
    np.testing.assert_allclose(buf.times_s[0, 0, :5], [0.008, 0.016, 0.024, 0.032, 0.04],
                               atol=1e-12)
    np.testing.assert_allclose(buf.times_s[0, 3, :2], [0.034, 0.038], atol=1e-12)


def test_delta_encoding_numba_equals_reference_and_reconstructs():
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal((4, 50, 3)), axis=1)
    th = np.array([0.5, 1.0, 0.7])
    fast = delta_encode(x, th, dt_s=0.02)
    slow = delta_encode(x, th, dt_s=0.02, implementation="reference")
    np.testing.assert_array_equal(fast.counts, slow.counts)
    np.testing.assert_allclose(fast.times_s, slow.times_s, rtol=1e-12)
    # the net level count tracks the signal within one threshold at the end of the window
    net = (fast.counts[:, 0::2] - fast.counts[:, 1::2]) * th
    assert (np.abs(x[:, -1] - x[:, 0] - net) < th).all()


def test_delta_encoding_validation():
    with pytest.raises(ValidationError, match="threshold"):
        delta_encode(np.zeros((1, 3, 2)), threshold=[1.0, 0.0], dt_s=0.1)
    with pytest.raises(ValidationError, match="time steps"):
        delta_encode(np.zeros((1, 1, 2)), threshold=1.0, dt_s=0.1)
    with pytest.raises(ValidationError, match="implementation"):
        delta_encode(np.zeros((1, 3, 2)), threshold=1.0, dt_s=0.1, implementation="gpu")
