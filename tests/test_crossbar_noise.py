"""Device non-idealities: statistics within computed confidence bounds, identity at zero strength."""

import numpy as np
import pytest
from scipy import stats

from crossbar import NEURRAM_HFO2, CrossbarError, NoiseConfig
from crossbar.noise import (
    FAULT_SA0,
    FAULT_SA1,
    apply_faults,
    drift,
    programming_noise,
    read_noise_std,
    sample_faults,
)

DEV = NEURRAM_HFO2
Z = 5.0  # width of every confidence bound, in standard errors (false-alarm rate ~6e-7)


def _mid_targets(n, rng):
    """Targets far from the bounds, so clipping never acts at the tested strengths."""
    return rng.uniform(15.0, 25.0, n)


def test_programming_noise_mean_and_std():
    rng = np.random.default_rng(0)
    n, sigma_rel = 200_000, 0.02
    target = _mid_targets(n, rng)
    err = programming_noise(target, DEV, sigma_rel, rng) - target
    sigma = sigma_rel * DEV.g_range_uS
    assert abs(err.mean()) < Z * sigma / np.sqrt(n)
    # sample variance: (n-1) s^2 / sigma^2 ~ chi2(n-1)
    lo, hi = stats.chi2.ppf([stats.norm.cdf(-Z), stats.norm.cdf(Z)], n - 1) / (n - 1)
    assert lo < err.var(ddof=1) / sigma**2 < hi


def test_programming_noise_clips_to_bounds_and_zero_is_identity():
    rng = np.random.default_rng(1)
    g = np.array([DEV.g_min_uS, DEV.g_max_uS] * 500)
    noisy = programming_noise(g, DEV, 0.5, rng)
    assert noisy.min() >= DEV.g_min_uS and noisy.max() <= DEV.g_max_uS
    target = _mid_targets(10, rng)
    np.testing.assert_array_equal(programming_noise(target, DEV, 0.0, rng), target)


@pytest.mark.parametrize("f0, f1", [(0.1, 0.05), (0.0, 0.3), (0.02, 0.0)])
def test_fault_fractions_within_binomial_bounds(f0, f1):
    n = 100_000
    faults = sample_faults((n,), f0, f1, np.random.default_rng(2))
    for frac, code in ((f0, FAULT_SA0), (f1, FAULT_SA1)):
        count = int((faults == code).sum())
        se = np.sqrt(n * frac * (1 - frac))
        assert abs(count - n * frac) <= Z * se


def test_fault_fraction_zero_and_one():
    rng = np.random.default_rng(3)
    g = _mid_targets(50, rng)
    none = sample_faults(g.shape, 0.0, 0.0, rng)
    np.testing.assert_array_equal(apply_faults(g, none, DEV), g)
    all0 = sample_faults(g.shape, 1.0, 0.0, rng)
    np.testing.assert_array_equal(apply_faults(g, all0, DEV), DEV.g_min_uS)
    all1 = sample_faults(g.shape, 0.0, 1.0, rng)
    np.testing.assert_array_equal(apply_faults(g, all1, DEV), DEV.g_max_uS)


def test_drift_at_time_zero_and_at_zero_strength_is_identity():
    rng = np.random.default_rng(4)
    g0 = _mid_targets(100, rng)
    z = rng.standard_normal(100)
    strong = NoiseConfig(noise_model="relative", drift_nu=0.1, relax_sigma_rel=0.05)
    np.testing.assert_array_equal(drift(g0, 0.0, z, DEV, strong), g0)
    np.testing.assert_array_equal(drift(g0, 1e6, z, DEV, NoiseConfig()), g0)


def test_drift_power_law_and_relaxation_spread():
    rng = np.random.default_rng(5)
    n = 200_000
    g0 = np.full(n, 20.0)
    t, cfg = 99.0, NoiseConfig(noise_model="relative", drift_nu=0.05, relax_sigma_rel=0.01, t0_s=1.0)
    g = drift(g0, t, rng.standard_normal(n), DEV, cfg)
    mean_expected = 20.0 * (1 + t) ** -0.05
    sigma = 0.01 * DEV.g_range_uS * np.log10(1 + t)
    assert abs(g.mean() - mean_expected) < Z * sigma / np.sqrt(n)
    lo, hi = stats.chi2.ppf([stats.norm.cdf(-Z), stats.norm.cdf(Z)], n - 1) / (n - 1)
    assert lo < g.var(ddof=1) / sigma**2 < hi
    with pytest.raises(CrossbarError, match="age_s"):
        drift(g0[:2], -1.0, np.zeros(2), DEV, cfg)


def test_read_noise_std_matches_cellwise_sampling():
    """The column-level draw has the variance of independent per-cell read noise."""
    rng = np.random.default_rng(6)
    g = rng.uniform(1, 40, (8, 3))
    v = rng.uniform(0, 0.2, (1, 8))
    sigma_rel = 0.05
    predicted = read_noise_std(v**2, g**2, sigma_rel)[0]
    n = 100_000
    cells = g[None] * (1 + sigma_rel * rng.standard_normal((n, 8, 3)))
    currents = np.einsum("i,nij->nj", v[0], cells)
    lo, hi = stats.chi2.ppf([stats.norm.cdf(-Z), stats.norm.cdf(Z)], n - 1) / (n - 1)
    ratio = currents.var(axis=0, ddof=1) / predicted**2
    assert np.all((lo < ratio) & (ratio < hi))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prog_sigma_rel": -0.1}, "prog_sigma_rel"),
        ({"sa0_fraction": 1.5}, "sa0_fraction"),
        ({"sa0_fraction": 0.6, "sa1_fraction": 0.6}, "sum"),
        ({"t0_s": 0.0}, "t0_s"),
        ({"time_step_decades": -0.1}, "time_step_decades"),
        ({"time_step_decades": 400.0}, r"time_step_decades=400.0: expected a value <= 300"),
    ],
)
def test_bad_noise_config_raises(kwargs, match):
    with pytest.raises(CrossbarError, match=match):
        NoiseConfig(**kwargs)
