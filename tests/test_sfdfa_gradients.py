"""Exact spike-time gradients and tangents against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_buffer

from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven.gradients import spike_time_gradient, weight_gradient
from snn_dfa.eventdriven.neuron import LIFParams, SpikeBuffer, simulate_layer

H = 1e-6


def _sum_times(inputs, weights, params):
    out = simulate_layer(inputs, weights, params).spikes
    return np.where(np.isfinite(out.times_s), out.times_s, 0.0).sum(axis=2), out.counts


@pytest.mark.parametrize("implementation", ["numba", "reference"])
def test_eligibility_equals_finite_differences_with_resets(implementation):
    rng = np.random.default_rng(21)
    params = LIFParams(threshold_hat=0.2, t_sim_s=0.3)
    inputs = random_buffer(rng, 2, 7, 3, 0.2, p_fire=0.8)
    weights = rng.uniform(-0.5, 2.0, (4, 7))
    elig = spike_time_gradient(inputs, weights, params, implementation=implementation)
    _, counts = _sum_times(inputs, weights, params)
    assert (counts >= 3).sum() >= 4  # several spikes: the reset dependency matters
    fd = np.zeros_like(elig)
    for i in range(4):
        for j in range(7):
            wp, wm = weights.copy(), weights.copy()
            wp[i, j] += H
            wm[i, j] -= H
            tp, cp = _sum_times(inputs, wp, params)
            tm, cm = _sum_times(inputs, wm, params)
            assert np.array_equal(cp, counts) and np.array_equal(cm, counts)
            fd[:, i, j] = (tp[:, i] - tm[:, i]) / (2 * H)
    np.testing.assert_allclose(elig, fd, rtol=1e-5, atol=1e-7)


def test_dropping_the_reset_dependency_breaks_the_gradient():
    """The per-synapse trace R matters: without it later spikes' derivatives are wrong."""
    rng = np.random.default_rng(4)
    params = LIFParams(t_sim_s=0.3)
    inputs = random_buffer(rng, 1, 5, 3, 0.15)
    weights = rng.uniform(0.5, 2.0, (1, 5))
    elig = spike_time_gradient(inputs, weights, params)[0, 0]
    out = simulate_layer(inputs, weights, params).spikes
    assert out.counts[0, 0] >= 3
    # the same sum without the reset term: each spike differentiated as if earlier spikes
    # were fixed in time
    tau, c = params.tau_mem_s, params.threshold
    t_out = out.times_s[0, 0, :out.counts[0, 0]]
    no_reset = np.zeros(5)
    for m, t in enumerate(t_out):
        x = np.exp(t / tau)
        before = inputs.times_s[0] < t
        da = np.where(before, np.exp(inputs.times_s[0] / params.tau_syn_s), 0.0).sum(axis=1)
        db = np.where(before, np.exp(inputs.times_s[0] / tau), 0.0).sum(axis=1)
        a = weights[0] @ da
        no_reset += tau * (da - x * db) / (a - c * x * x)
    assert np.abs(no_reset - elig).max() > 1e-3 * np.abs(elig).max()


def test_exact_denominator_matches_fd_and_the_public_one_does_not():
    """One spike: exact dt/dw = tau (A - x B) / (a - c x^2); the public kernel divides by a."""
    params = LIFParams(t_sim_s=0.3)
    times = np.array([[[0.01], [0.02], [0.03], [0.05]]])
    inputs = SpikeBuffer.from_arrays(times)
    weights = np.array([[1.5, 1.2, 1.0, 0.8]])
    out = simulate_layer(inputs, weights, params).spikes
    assert out.counts[0, 0] == 1
    t = out.times_s[0, 0, 0]
    tau, c = params.tau_mem_s, params.threshold
    x = np.exp(t / tau)
    big_a = np.exp(times[0, :, 0] / params.tau_syn_s)
    big_b = np.exp(times[0, :, 0] / tau)
    a = weights[0] @ big_a
    exact = tau * (big_a - x * big_b) / (a - c * x * x)
    public = tau * (big_a - x * big_b) / a
    elig = spike_time_gradient(inputs, weights, params)[0, 0]
    np.testing.assert_allclose(elig, exact, rtol=1e-10)
    fd = np.array([
        (_sum_times(inputs, weights + H * np.eye(4)[j], params)[0][0, 0]
         - _sum_times(inputs, weights - H * np.eye(4)[j], params)[0][0, 0]) / (2 * H)
        for j in range(4)])
    np.testing.assert_allclose(elig, fd, rtol=1e-6)
    assert np.abs(public - fd).max() > 0.1 * np.abs(fd).max()


def _delay_first_spikes(buf: SpikeBuffer, delay: np.ndarray) -> SpikeBuffer:
    """The buffer with each neuron's first spike moved by ``delay [B, n]`` (kept sorted)."""
    times = buf.times_s.copy()
    times[:, :, 0] += np.where(buf.counts > 0, delay, 0.0)
    assert np.all(np.diff(np.where(np.isfinite(times), times, 1e9), axis=2) >= 0)
    return SpikeBuffer.from_arrays(times, buf.counts)


def test_tangents_equal_directional_finite_differences():
    """Input tangents and per-neuron perturbations through two hidden layers to the output."""
    rng = np.random.default_rng(8)
    p_hid = LIFParams(threshold_hat=0.2, t_sim_s=0.3)
    p_out = LIFParams(threshold_hat=0.4, t_sim_s=0.3)
    inputs = random_buffer(rng, 3, 10, 2, 0.1, p_fire=0.8, tangents=True)
    w1 = rng.uniform(-0.3, 1.5, (8, 10))
    w2 = rng.uniform(-0.3, 1.5, (6, 8))
    w3 = rng.uniform(-0.3, 2.0, (3, 6))
    u1 = rng.standard_normal((3, 8))
    u2 = rng.standard_normal((3, 6))
    h1 = simulate_layer(inputs, w1, p_hid, perturbation=u1).spikes
    h2 = simulate_layer(h1, w2, p_hid, perturbation=u2).spikes
    out = simulate_layer(h2, w3, p_out, track_tangents=True).spikes
    assert (out.counts > 1).sum() >= 3
    dv = out.tangents.sum(axis=2)

    def total(eps):
        moved = SpikeBuffer.from_arrays(inputs.times_s + eps * inputs.tangents, inputs.counts)
        g1 = _delay_first_spikes(simulate_layer(moved, w1, p_hid).spikes, eps * u1)
        g2 = _delay_first_spikes(simulate_layer(g1, w2, p_hid).spikes, eps * u2)
        o = simulate_layer(g2, w3, p_out).spikes
        assert np.array_equal(o.counts, out.counts)
        return np.where(np.isfinite(o.times_s), o.times_s, 0.0).sum(axis=2)

    fd = (total(H) - total(-H)) / (2 * H)
    np.testing.assert_allclose(dv, fd, rtol=1e-5, atol=1e-7)


def test_weight_gradient_is_the_batch_mean_of_eligibility_times_error():
    rng = np.random.default_rng(0)
    elig = rng.standard_normal((5, 3, 4))
    delta = rng.standard_normal((5, 3))
    want = sum(elig[b] * delta[b][:, None] for b in range(5)) / 5
    np.testing.assert_allclose(weight_gradient(elig, delta), want, rtol=1e-12)
    with pytest.raises(ValidationError, match="delta"):
        weight_gradient(elig, delta[:, :2])


def test_eligibility_rows_store_exactly_the_neurons_that_spiked_and_channels_received():
    """The kernel stores one row per (sample, neuron that spiked) over the channels the sample
    delivered before the end of the simulation; everything else is exactly 0."""
    rng = np.random.default_rng(4)
    params = LIFParams(threshold_hat=0.2, t_sim_s=0.25)
    inputs = random_buffer(rng, 4, 14, 1, 0.35, p_fire=0.7)  # silent channels, late events
    weights = rng.uniform(-1.0, 2.0, (9, 14))
    out = simulate_layer(inputs, weights, params, eligibility=True)
    rows = out.eligibility_rows
    counts = out.spikes.counts
    assert 0 < (counts > 0).sum() < counts.size
    assert list(zip(rows.sample, rows.neuron)) == list(zip(*np.nonzero(counts > 0)))
    for s in range(4):
        received = np.nonzero(inputs.times_s[s, :, 0] <= params.t_sim_s)[0]
        assert received.size < 14
        np.testing.assert_array_equal(np.sort(rows.channels[s, :rows.n_active[s]]), received)
    reference = simulate_layer(inputs, weights, params, eligibility=True,
                               implementation="reference").eligibility
    np.testing.assert_array_equal(out.eligibility == 0.0, reference == 0.0)
    np.testing.assert_allclose(out.eligibility, reference, rtol=1e-9, atol=1e-12)


def test_weight_gradient_from_rows_equals_the_dense_sum_bitwise():
    """Rows skip entries that are exactly 0, and samples are summed in ascending order either
    way: the gradient from the kernel's rows equals the one from the dense array bit for bit,
    and the plain batch mean within rounding."""
    rng = np.random.default_rng(6)
    inputs = random_buffer(rng, 6, 12, 2, 0.2, p_fire=0.6)
    weights = rng.uniform(-1.0, 2.0, (8, 12))
    out = simulate_layer(inputs, weights, LIFParams(threshold_hat=0.2), eligibility=True)
    delta = rng.standard_normal((6, 8))
    dense = out.eligibility
    got = weight_gradient(out.eligibility_rows, delta)
    np.testing.assert_array_equal(got, weight_gradient(dense, delta))
    np.testing.assert_allclose(got, np.einsum("bij,bi->ij", dense, delta) / 6, rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_weight_gradient_refuses_non_finite_eligibility(bad):
    rng = np.random.default_rng(0)
    elig = rng.standard_normal((3, 2, 4))
    elig[1, 0, 2] = bad
    delta = rng.standard_normal((3, 2))
    delta[1, 0] = 0.0  # inf * 0 must still be caught
    with pytest.raises(ValidationError, match="eligibility: contains NaN or infinite"):
        weight_gradient(elig, delta)
