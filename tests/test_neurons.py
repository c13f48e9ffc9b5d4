"""LIF dynamics: numba kernels against the NumPy reference, closed forms, golden traces."""

import math

import numpy as np
import pytest

from snn_dfa.engine.neurons import LIFParams, LIFState, Reset, Surrogate, lif_backward, lif_run
from snn_dfa.engine.reference import lif_backward_reference, lif_forward_reference
from snn_dfa.errors import ValidationError

MODES = [
    dict(reset="subtract", reset_decays=True),
    dict(reset="subtract", reset_decays=False),
    dict(reset="zero"),
    dict(reset="none"),
    dict(reset="subtract", refractory_steps=3),
    dict(reset="zero", refractory_steps=1),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_kernel_equals_reference(mode, dtype):
    rng = np.random.default_rng(0)
    current = rng.normal(0.3, 1.0, size=(200, 3, 17)).astype(dtype)
    params = LIFParams(beta=0.85, threshold=1.0, **mode)
    theta = rng.uniform(0.5, 1.5, 17).astype(dtype)
    s, u, state = lif_run(current, params, theta, record_membrane=True)
    s_ref, u_ref, state_ref = lif_forward_reference(current, params, theta)
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(u, u_ref, rtol=0, atol=10 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(state.refractory, state_ref.refractory)
    assert s.sum() > 50  # the test exercises resets


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "triangle", "arctan"])
@pytest.mark.parametrize("detach", [True, False])
def test_backward_kernel_equals_reference(mode, surrogate, detach):
    rng = np.random.default_rng(1)
    current = rng.normal(0.3, 1.0, size=(80, 2, 9))
    params = LIFParams(beta=0.8, threshold=1.0, detach_reset=detach,
                       surrogate=Surrogate(surrogate), **mode)
    theta = np.full(9, 1.0)
    ref0 = rng.integers(0, 3, size=(2, 9)).astype(np.int32)
    state = LIFState(np.zeros((2, 9)), np.zeros((2, 9)), ref0)
    s, u, _ = lif_run(current, params, theta, state, record_membrane=True)
    gu, gs = rng.normal(size=u.shape), rng.normal(size=u.shape)
    got = lif_backward(u, s, gu, gs, params, theta, ref0)
    want = lif_backward_reference(u, s, gu, gs, params, theta, ref0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_state_is_carried_across_calls():
    rng = np.random.default_rng(2)
    current = rng.normal(0.5, 1.0, size=(60, 2, 5)).astype(np.float32)
    params = LIFParams(beta=0.9, threshold=1.0, refractory_steps=2)
    theta = np.ones(5, np.float32)
    s_all, _, _ = lif_run(current, params, theta)
    s1, _, st = lif_run(current[:25], params, theta)
    s2, _, _ = lif_run(current[25:], params, theta, st)
    np.testing.assert_array_equal(np.concatenate([s1, s2]), s_all)


def test_subthreshold_decay_closed_form():
    """Constant input I below threshold: u[t] = I (1 - beta^(t+1)) / (1 - beta)."""
    beta, amp, steps = 0.9, 0.05, 300
    params = LIFParams(beta=beta, threshold=1.0)
    current = np.full((steps, 1, 1), amp)
    s, u, _ = lif_run(current, params, np.ones(1), record_membrane=True)
    t = np.arange(steps)
    np.testing.assert_allclose(u[:, 0, 0], amp * (1 - beta ** (t + 1)) / (1 - beta), rtol=1e-12)
    assert s.sum() == 0  # the fixed point amp / (1 - beta) = 0.5 stays below threshold
    # free decay after the input stops
    current2 = np.zeros((50, 1, 1))
    _, u2, _ = lif_run(current2, params, np.ones(1), LIFState(u[-1:, 0], s[-1:, 0],
                                                              np.zeros((1, 1), np.int32)), True)
    np.testing.assert_allclose(u2[:, 0, 0], u[-1, 0, 0] * beta ** np.arange(1, 51), rtol=1e-12)


@pytest.mark.parametrize("amp", [0.21, 0.3, 0.7, 2.5])
def test_firing_rate_zero_reset_closed_form(amp):
    """Zero reset, constant I: interspike interval n = min{n : I (1 - beta^n)/(1 - beta) > theta}."""
    beta, theta, steps = 0.8, 1.0, 1000
    params = LIFParams(beta=beta, threshold=theta, reset="zero")
    s, _, _ = lif_run(np.full((steps, 1, 1), amp), params, np.full(1, theta))
    n = next(k for k in range(1, 10_000) if amp * (1 - beta**k) / (1 - beta) > theta)
    times = np.flatnonzero(s[:, 0, 0])
    assert times[0] == n - 1
    np.testing.assert_array_equal(np.diff(times), n)


@pytest.mark.parametrize("amp", [0.13, 0.5, 0.999])
def test_integrate_and_fire_rate(amp):
    """beta = 1 with subtractive reset is exact charge counting: spikes up to step t equal
    floor((t + 1) I / theta) (until the charge first exceeds theta strictly)."""
    theta, steps = 1.0, 777
    params = LIFParams(beta=1.0, threshold=theta, reset="subtract")
    s, _, _ = lif_run(np.full((steps, 1, 1), amp), params, np.full(1, theta))
    counts = np.cumsum(s[:, 0, 0])
    charge = amp * np.arange(1, steps + 1)
    # spike whenever the accumulated charge minus emitted spikes exceeds theta (strict)
    expected = np.ceil(charge / theta - 1).clip(min=0)
    np.testing.assert_allclose(counts, expected, atol=1)
    assert abs(counts[-1] - charge[-1] / theta) <= 1


def test_golden_trace():
    """A hand-computed trace (beta = 0.5, theta = 1, soft reset that decays)."""
    params = LIFParams(beta=0.5, threshold=1.0, reset="subtract", reset_decays=True)
    current = np.array([0.8, 0.8, 0.0, 1.5, 0.2]).reshape(5, 1, 1)
    s, u, _ = lif_run(current, params, np.ones(1), record_membrane=True)
    # u0 = .8; u1 = .4 + .8 = 1.2 -> spike; u2 = .5 (1.2 - 1) = .1; u3 = .05 + 1.5 = 1.55 -> spike
    # u4 = .5 (.55) + .2 = .475
    np.testing.assert_allclose(u[:, 0, 0], [0.8, 1.2, 0.1, 1.55, 0.475], rtol=1e-12)
    np.testing.assert_array_equal(s[:, 0, 0], [0, 1, 0, 1, 0])


def test_refractory_blocks_input():
    params = LIFParams(beta=1.0, threshold=1.0, reset="zero", refractory_steps=2)
    s, u, _ = lif_run(np.full((7, 1, 1), 1.5), params, np.ones(1), record_membrane=True)
    np.testing.assert_array_equal(s[:, 0, 0], [1, 0, 0, 1, 0, 0, 1])
    np.testing.assert_allclose(u[:, 0, 0], [1.5, 0, 0, 1.5, 0, 0, 1.5])


def test_surrogate_shapes():
    x = np.linspace(-3, 3, 101)
    tri = Surrogate("triangle", 1.0).derivative(x)
    np.testing.assert_allclose(tri, np.maximum(0, 1 - abs(x)))
    fs = Surrogate("fast_sigmoid", 25.0).derivative(x)
    np.testing.assert_allclose(fs, 1 / (25 * abs(x) + 1) ** 2)
    at = Surrogate("arctan").derivative(x)  # derivative of atan(pi alpha x / 2) / pi
    np.testing.assert_allclose(at, 1 / (1 + (math.pi * x) ** 2))
    # areas under the curves: 1 for triangle and arctan (normalised), 2 / k for fast sigmoid
    grid = np.linspace(-2000, 2000, 4_000_001)
    for sg, area in ((Surrogate("triangle", 0.7), 1.0), (Surrogate("fast_sigmoid", 5), 0.4),
                     (Surrogate("arctan", 2), 1.0)):
        assert np.trapezoid(sg.derivative(grid), grid) == pytest.approx(area, abs=2e-3)


def test_from_tau():
    p = LIFParams.from_tau(tau_mem_ms=20.0, dt_ms=1.0)
    assert p.beta == pytest.approx(math.exp(-0.05))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(beta=1.5), "beta=1.5"),
        (dict(beta=float("nan")), "beta=nan"),
        (dict(threshold=0.0), "threshold=0.0"),
        (dict(threshold=-1), "threshold=-1"),
        (dict(reset="soft"), "reset='soft'"),
        (dict(refractory_steps=-1), "refractory_steps=-1"),
        (dict(refractory_steps=1.5), "refractory_steps=1.5"),
        (dict(threshold=math.inf, reset="subtract"), "reset='none'"),
    ],
)
def test_bad_parameters(kwargs, fragment):
    with pytest.raises(ValidationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        LIFParams(**kwargs)


def test_bad_surrogate():
    with pytest.raises(ValidationError, match="surrogate='relu'"):
        Surrogate("relu")
    with pytest.raises(ValidationError, match="surrogate scale"):
        Surrogate("triangle", -1.0)


def test_reset_enum_coercion():
    assert Reset.coerce("ZERO") is Reset.ZERO


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("detach", [True, False])
def test_jvp_kernel_equals_reference_and_is_the_transpose_of_bptt(mode, detach):
    from snn_dfa.engine.neurons import lif_jvp
    from snn_dfa.engine.reference import lif_jvp_reference

    rng = np.random.default_rng(3)
    params = LIFParams(beta=0.8, threshold=1.0, detach_reset=detach,
                       surrogate=Surrogate("arctan"), **mode)
    theta = np.full(6, 1.0)
    ref0 = rng.integers(0, 3, size=(2, 6)).astype(np.int32)
    state = LIFState(np.zeros((2, 6)), np.zeros((2, 6)), ref0)
    s, u, _ = lif_run(rng.normal(0.3, 1.0, (70, 2, 6)), params, theta, state, True)
    v = rng.normal(size=u.shape)
    du, ds = lif_jvp(u, s, v, params, theta, ref0)
    du_ref, ds_ref = lif_jvp_reference(u, s, v, params, theta, ref0)
    np.testing.assert_allclose(du, du_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ds, ds_ref, rtol=1e-12, atol=1e-12)
    gu, gs = rng.normal(size=u.shape), rng.normal(size=u.shape)
    vjp = lif_backward(u, s, gu, gs, params, theta, ref0)
    assert np.sum(gu * du + gs * ds) == pytest.approx(np.sum(vjp * v), rel=1e-10)


@pytest.mark.parametrize("mode", [m for m in MODES if "refractory_steps" not in m])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "triangle", "arctan"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_kernels_equal_general_kernels_bitwise(mode, surrogate, dtype):
    """Without a refractory period ``lif_run``/``lif_backward`` take the branch-free kernels;
    they must give bit-for-bit the results of the general kernels."""
    from snn_dfa.engine import _kernels

    rng = np.random.default_rng(2)
    T, B, n = 60, 3, 11
    current = rng.normal(0.3, 1.0, size=(T, B, n)).astype(dtype)
    params = LIFParams(beta=0.8, threshold=1.0, detach_reset=False,
                       surrogate=Surrogate(surrogate), **mode)
    theta = rng.uniform(0.5, 1.5, n).astype(dtype)
    s, u, _ = lif_run(current, params, theta, record_membrane=True)
    beta, reset = dtype(params.beta), params.reset.value
    zeros = np.zeros((B, n), dtype)
    s_g, u_g = np.empty_like(current), np.empty_like(current)
    _kernels.lif_forward(current, beta, theta, reset, params.reset_decays, 0, zeros.copy(),
                         zeros.copy(), np.zeros((B, n), np.int32), s_g, u_g, True)
    np.testing.assert_array_equal(s, s_g)
    np.testing.assert_array_equal(u, u_g)
    gu, gs = (rng.normal(size=u.shape).astype(dtype) for _ in range(2))
    zeros = np.zeros_like(u)
    for g_u, g_s in ((gu, gs), (None, gs), (gu, None)):  # a missing gradient is zero
        got = lif_backward(u, s, g_u, g_s, params, theta)
        want = np.empty_like(current)
        _kernels.lif_backward(u, s, zeros if g_u is None else g_u,
                              zeros if g_s is None else g_s, beta, theta, reset,
                              params.reset_decays, 0, np.zeros((B, n), np.int32), False,
                              params.surrogate.kind.value, dtype(params.surrogate.scale), want)
        np.testing.assert_array_equal(got, want)
    assert s.sum() > 20
