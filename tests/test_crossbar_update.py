"""Pulse-based updates: the exponential response, asymmetry, write noise, write-verify."""

import numpy as np
import pytest
from scipy import stats

from crossbar import NEURRAM_HFO2, CrossbarError, UpdateConfig
from crossbar.update import apply_pulses, program_with_pulses, pulse_response, pulses_for_change

DEV = NEURRAM_HFO2
Z = 5.0


def test_linear_device_moves_one_nominal_step_per_pulse():
    dev = DEV.replace(nonlinearity_ltp=0.0, nonlinearity_ltd=0.0)
    step = dev.g_range_uS / dev.n_pulses_full_range
    g = np.array([10.0, 20.0, 30.0])
    np.testing.assert_allclose(
        pulse_response(g, np.array([3, -2, 0]), 1.0, dev), g + step * np.array([3, -2, 0])
    )


def test_full_pulse_train_spans_the_range_on_both_curves():
    P = DEV.n_pulses_full_range
    np.testing.assert_allclose(
        pulse_response(np.array([DEV.g_min_uS]), np.array([P]), 1.0, DEV), DEV.g_max_uS
    )
    np.testing.assert_allclose(
        pulse_response(np.array([DEV.g_max_uS]), np.array([-P]), 1.0, DEV), DEV.g_min_uS
    )


def test_exponential_curve_matches_closed_form():
    P, nu = DEV.n_pulses_full_range, DEV.nonlinearity_ltp
    p = np.arange(0, P + 1)
    g = pulse_response(np.full(p.shape, DEV.g_min_uS), p, 1.0, DEV)
    closed = DEV.g_min_uS + DEV.g_range_uS * (1 - np.exp(-nu * p / P)) / (1 - np.exp(-nu))
    np.testing.assert_allclose(g, closed, rtol=1e-12)
    # pulses are additive along the curve
    g2 = pulse_response(
        pulse_response(np.array([DEV.g_min_uS]), np.array([7]), 1.0, DEV), np.array([5]), 1.0, DEV
    )
    np.testing.assert_allclose(g2, closed[12], rtol=1e-12)


def test_nonlinear_steps_shrink_toward_the_bound_and_are_asymmetric():
    g = np.linspace(DEV.g_min_uS, DEV.g_max_uS, 50)
    up = pulse_response(g, np.ones_like(g), 1.0, DEV) - g
    down = g - pulse_response(g, -np.ones_like(g), 1.0, DEV)
    assert np.all(np.diff(up) <= 1e-12)  # potentiation saturates near g_max
    assert np.all(np.diff(down) >= -1e-12)  # depression saturates near g_min
    assert up[-1] == pytest.approx(0.0, abs=1e-12) and down[0] == pytest.approx(0.0, abs=1e-12)
    # with nu_ltd != nu_ltp, a potentiation followed by a depression does not return
    mid = np.array([20.0])
    back = pulse_response(pulse_response(mid, np.array([10]), 1.0, DEV), np.array([-10]), 1.0, DEV)
    assert abs(back[0] - 20.0) > 0.1


def test_conductances_stay_in_bounds_under_any_pulses():
    rng = np.random.default_rng(0)
    g = rng.uniform(DEV.g_min_uS, DEV.g_max_uS, 1000)
    n = rng.integers(-300, 300, 1000)
    out = apply_pulses(g, n, rng.uniform(0, 2, 1000), DEV, 0.05, rng)
    assert out.min() >= DEV.g_min_uS and out.max() <= DEV.g_max_uS


def test_cycle_to_cycle_noise_statistics_and_zero_is_deterministic():
    dev = DEV.replace(nonlinearity_ltp=0.0, nonlinearity_ltd=0.0)
    rng = np.random.default_rng(1)
    N, c2c, n = 200_000, 0.002, 4
    g = np.full(N, 15.0)
    expected = pulse_response(g[:1], np.array([n]), 1.0, dev)[0]
    out = apply_pulses(g, np.full(N, n), 1.0, dev, c2c, rng)
    sigma = c2c * dev.g_range_uS * np.sqrt(n)
    assert abs(out.mean() - expected) < Z * sigma / np.sqrt(N)
    lo, hi = stats.chi2.ppf([stats.norm.cdf(-Z), stats.norm.cdf(Z)], N - 1) / (N - 1)
    assert lo < out.var(ddof=1) / sigma**2 < hi
    np.testing.assert_array_equal(
        apply_pulses(g[:10], np.full(10, n), 1.0, dev, 0.0, rng),
        pulse_response(g[:10], np.full(10, n), 1.0, dev),
    )


def test_pulses_for_change_rounds_to_nominal_steps():
    step = DEV.g_range_uS / DEV.n_pulses_full_range
    np.testing.assert_array_equal(
        pulses_for_change(np.array([0.4 * step, 2.6 * step, -1.6 * step]), DEV), [0, 3, -2]
    )


def test_write_verify_reaches_tolerance_and_counts():
    rng = np.random.default_rng(2)
    g = rng.uniform(5, 30, 500)
    target = np.clip(g + rng.uniform(-8, 8, 500), 5.0, 30.0)
    stuck = np.zeros(500, dtype=bool)
    open_loop, p0, r0 = program_with_pulses(g, target, 1.0, DEV, UpdateConfig(), 0.0, stuck, rng)
    # tolerance window (2 tol = 2.3 uS) wider than the largest pulse step between 5 and 30 uS
    cfg = UpdateConfig(write_verify=True, verify_tolerance_rel=0.03, verify_max_iterations=30)
    verified, p1, r1 = program_with_pulses(g, target, 1.0, DEV, cfg, 0.0, stuck, rng)
    tol = 0.03 * DEV.g_range_uS
    moved = p0 > 0
    # the nonlinear device misses in open loop; verification fixes it
    assert np.abs(open_loop - target)[moved].max() > tol
    assert np.abs(verified - target)[moved].max() <= tol
    assert np.all(r0 == 0) and np.all(r1[moved] >= 1) and np.all(r1[~moved] == 0)
    assert p1.sum() >= p0.sum()


def test_stuck_cells_count_pulses_but_do_not_move():
    g = np.array([10.0, 10.0])
    out, pulses, _ = program_with_pulses(
        g,
        np.array([30.0, 30.0]),
        1.0,
        DEV,
        UpdateConfig(),
        0.0,
        np.array([True, False]),
        np.random.default_rng(3),
    )
    assert out[0] == 10.0 and out[1] > 10.0
    assert pulses[0] == pulses[1] > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "magic"}, "mode"),
        ({"c2c_sigma_rel": -1.0}, "c2c_sigma_rel"),
        ({"verify_tolerance_rel": 0.0}, "verify_tolerance_rel"),
        ({"verify_max_iterations": 0}, "verify_max_iterations"),
        ({"write_verify": 1}, "write_verify"),
    ],
)
def test_bad_update_config_raises(kwargs, match):
    with pytest.raises(CrossbarError, match=match):
        UpdateConfig(**kwargs)
