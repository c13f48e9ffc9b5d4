"""Event-driven LIF layer: exact spike times against an ODE solver, kernel against reference."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ode_spike_times, random_buffer

from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven.neuron import LIFParams, SpikeBuffer, simulate_layer


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spike_times_match_numerical_integration(seed):
    """Several spikes with resets, mixed-sign weights: equal to DOP853 within 1e-9 s."""
    rng = np.random.default_rng(seed)
    params = LIFParams(tau_syn_s=0.13, threshold_hat=0.2, t_sim_s=0.5)
    n_in = 8
    inputs = random_buffer(rng, 1, n_in, 3, 0.3)
    weights = rng.uniform(-0.8, 2.5, (1, n_in))
    out = simulate_layer(inputs, weights, params).spikes
    got = out.times_s[0, 0, :out.counts[0, 0]]
    mask = np.isfinite(inputs.times_s[0])
    in_t = inputs.times_s[0][mask]
    in_w = np.broadcast_to(weights[0][:, None], mask.shape)[mask]
    want = ode_spike_times(in_t, in_w, params)
    assert want.size >= 3
    assert got.size == want.size
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_numba_kernel_equals_reference():
    rng = np.random.default_rng(7)
    params = LIFParams(threshold_hat=0.15, max_n_spikes=6)
    inputs = random_buffer(rng, 4, 12, 4, 0.15, p_fire=0.6, tangents=True)
    weights = rng.uniform(-1.0, 2.0, (9, 12))
    pert = rng.standard_normal((4, 9))
    kw = {"perturbation": pert, "eligibility": True}
    fast = simulate_layer(inputs, weights, params, **kw)
    slow = simulate_layer(inputs, weights, params, implementation="reference", **kw)
    np.testing.assert_array_equal(fast.spikes.counts, slow.spikes.counts)
    assert fast.spikes.counts.max() == params.max_n_spikes  # the buffer bound is exercised
    assert (fast.spikes.counts > 1).sum() >= 5
    np.testing.assert_array_equal(np.isfinite(fast.spikes.times_s),
                                  np.isfinite(slow.spikes.times_s))
    fin = np.isfinite(fast.spikes.times_s)
    np.testing.assert_allclose(fast.spikes.times_s[fin], slow.spikes.times_s[fin],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.spikes.tangents, slow.spikes.tangents, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(fast.eligibility, slow.eligibility, rtol=1e-9, atol=1e-12)


def test_buffer_bound_keeps_the_first_spikes():
    rng = np.random.default_rng(3)
    inputs = random_buffer(rng, 2, 10, 3, 0.1)
    weights = np.full((3, 10), 3.0)
    big = simulate_layer(inputs, weights, LIFParams(max_n_spikes=40)).spikes
    small = simulate_layer(inputs, weights, LIFParams(max_n_spikes=4)).spikes
    assert big.counts.min() > 4
    assert (small.counts == 4).all()
    np.testing.assert_array_equal(small.times_s, big.times_s[:, :, :4])


def test_time_translation_invariance_across_rebasing():
    """Inputs shifted by 2000 tau_s (exp would overflow without the moving origin)."""
    rng = np.random.default_rng(11)
    inputs = random_buffer(rng, 3, 10, 3, 0.15, tangents=True)
    weights = rng.uniform(-0.5, 2.0, (5, 10))
    base = LIFParams(t_sim_s=0.3)
    shift = 2000 * base.tau_syn_s
    moved_in = SpikeBuffer.from_arrays(inputs.times_s + shift, inputs.counts, inputs.tangents)
    a = simulate_layer(inputs, weights, base, eligibility=True, track_tangents=True)
    b = simulate_layer(moved_in, weights, LIFParams(t_sim_s=0.3 + shift), eligibility=True,
                       track_tangents=True)
    np.testing.assert_array_equal(a.spikes.counts, b.spikes.counts)
    assert a.spikes.counts.sum() > 10
    fin = np.isfinite(a.spikes.times_s)
    np.testing.assert_allclose(b.spikes.times_s[fin] - shift, a.spikes.times_s[fin],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.eligibility, a.eligibility, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(b.spikes.tangents, a.spikes.tangents, rtol=1e-7, atol=1e-12)


def test_repeated_bursts_give_repeated_responses():
    """A long stream of well separated identical bursts rebases many times."""
    rng = np.random.default_rng(5)
    burst = random_buffer(rng, 1, 6, 2, 0.1)
    weights = rng.uniform(0.0, 2.5, (4, 6))
    params = LIFParams(t_sim_s=np.inf, max_n_spikes=1000)
    period = 60 * params.tau_mem_s
    n_rep = 20
    reps = [burst.times_s + r * period for r in range(n_rep)]
    stream = np.concatenate(reps, axis=2)
    order = np.argsort(stream, axis=2)
    stream = SpikeBuffer.from_arrays(np.take_along_axis(stream, order, axis=2))
    one = simulate_layer(burst, weights, params).spikes
    many = simulate_layer(stream, weights, params).spikes
    assert one.counts.sum() > 0
    np.testing.assert_array_equal(many.counts, n_rep * one.counts)
    for i in range(4):
        k = one.counts[0, i]
        got = many.times_s[0, i, :n_rep * k].reshape(n_rep, k)
        want = one.times_s[0, i, :k][None, :] + period * np.arange(n_rep)[:, None]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_inhibitory_weights_never_fire():
    rng = np.random.default_rng(0)
    inputs = random_buffer(rng, 2, 5, 2, 0.1)
    out = simulate_layer(inputs, -np.ones((3, 5)), LIFParams()).spikes
    assert out.counts.sum() == 0
    assert np.isinf(out.times_s).all()


def test_events_after_t_sim_are_ignored():
    rng = np.random.default_rng(2)
    inputs = random_buffer(rng, 1, 6, 2, 0.1)
    late = SpikeBuffer.from_arrays(np.concatenate(
        [inputs.times_s, np.full((1, 6, 1), 5.0)], axis=2))
    w = rng.uniform(0.5, 2.0, (3, 6))
    p = LIFParams(t_sim_s=0.4)
    a = simulate_layer(inputs, w, p).spikes
    b = simulate_layer(late, w, p).spikes
    np.testing.assert_array_equal(a.times_s, b.times_s)
    assert (b.times_s[np.isfinite(b.times_s)] <= 0.4).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"tau_syn_s": 0.0}, "tau_syn_s"),
    ({"threshold_hat": -1.0}, "threshold_hat"),
    ({"t_sim_s": 0.0}, "t_sim_s"),
    ({"max_n_spikes": 0}, "max_n_spikes"),
])
def test_params_validation(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        LIFParams(**kwargs)


def test_threshold_and_tau_follow_the_authors_convention():
    p = LIFParams(tau_syn_s=0.13, threshold_hat=0.2)
    assert p.tau_mem_s == pytest.approx(0.26)
    assert p.threshold == pytest.approx(0.2 / 0.26)


@pytest.mark.parametrize("times, counts, match", [
    (np.array([[[0.1, np.nan]]]), None, "NaN"),
    (np.array([[[-0.1, np.inf]]]), None, ">= 0"),
    (np.array([[[0.2, 0.1]]]), None, "ascending"),
    (np.array([[[0.1, np.inf]]]), np.array([[2]]), "inf after"),
    (np.array([[0.1]]), None, "dimensions"),
])
def test_spike_buffer_validation(times, counts, match):
    with pytest.raises(ValidationError, match=match):
        SpikeBuffer.from_arrays(times, counts)


def test_simulate_layer_validation():
    inputs = SpikeBuffer.from_arrays(np.array([[[0.1], [0.2]]]))
    with pytest.raises(ValidationError, match="weights"):
        simulate_layer(inputs, np.ones((3, 4)), LIFParams())
    with pytest.raises(ValidationError, match="implementation"):
        simulate_layer(inputs, np.ones((3, 2)), LIFParams(), implementation="cuda")
    with pytest.raises(ValidationError, match="perturbation"):
        simulate_layer(inputs, np.ones((3, 2)), LIFParams(), perturbation=np.ones((1, 2)))
    with pytest.raises(ValidationError, match="SpikeBuffer"):
        simulate_layer(np.zeros((1, 2, 1)), np.ones((3, 2)), LIFParams())


@pytest.mark.parametrize("tangent", ["exact", "published"])
def test_inputs_without_tangents_equal_zero_tangents_bitwise(tangent):
    """The kernel skips the tangent sums when the inputs carry none (the encoded input
    layer); the result is bit-identical to passing explicit zero tangents."""
    rng = np.random.default_rng(5)
    params = LIFParams(threshold_hat=0.2, t_sim_s=0.3)
    bare = random_buffer(rng, 3, 12, 2, 0.2, p_fire=0.8)
    zeros = SpikeBuffer(bare.times_s, bare.counts, np.zeros_like(bare.times_s))
    weights = rng.uniform(-0.5, 2.0, (6, 12))
    u = rng.standard_normal((3, 6))
    a, b = (simulate_layer(x, weights, params, perturbation=u, eligibility=True,
                           tangent=tangent) for x in (bare, zeros))
    assert (a.spikes.counts >= 2).sum() >= 3
    for got, want in ((a.spikes.times_s, b.spikes.times_s),
                      (a.spikes.tangents, b.spikes.tangents), (a.eligibility, b.eligibility)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("published", [False, True])
def test_each_neuron_is_simulated_as_if_alone_bitwise(published):
    """The kernel sweeps all neurons of a layer event by event; every neuron must still get
    exactly the arithmetic of a layer holding only that neuron (spike times, tangents and
    eligibilities bit for bit), with resets, the buffer bound and rebased time origins."""
    rng = np.random.default_rng(11)
    params = LIFParams(threshold_hat=0.15, t_sim_s=np.inf, max_n_spikes=5)
    inputs = random_buffer(rng, 3, 10, 6, 12.0, p_fire=0.7, tangents=True)  # > 40 tau_s
    weights = rng.uniform(-1.0, 2.5, (7, 10))
    u = rng.standard_normal((3, 7))
    variant = "published" if published else "exact"
    kw = {"eligibility": True, "denominator": variant, "tangent": variant}
    whole = simulate_layer(inputs, weights, params, perturbation=u, **kw)
    assert whole.spikes.counts.max() == params.max_n_spikes
    assert (whole.spikes.counts > 1).sum() >= 5
    for i in range(7):
        alone = simulate_layer(inputs, weights[i:i + 1], params, perturbation=u[:, i:i + 1],
                               **kw)
        np.testing.assert_array_equal(alone.spikes.counts[:, 0], whole.spikes.counts[:, i])
        np.testing.assert_array_equal(alone.spikes.times_s[:, 0], whole.spikes.times_s[:, i])
        np.testing.assert_array_equal(alone.spikes.tangents[:, 0],
                                      whole.spikes.tangents[:, i])
        np.testing.assert_array_equal(alone.eligibility[:, 0], whole.eligibility[:, i])
