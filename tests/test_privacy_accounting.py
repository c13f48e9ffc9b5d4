"""The accountant (snn_dfa.privacy.accounting) against opacus's RDP analysis, closed forms of
the Gaussian mechanism (Mironov 2017, arXiv 1702.07476) and the integer-order subsampled-Gaussian
RDP formula (Mironov, Talwar & Zhang 2019, arXiv 1908.10530)."""

import math
import warnings

import numpy as np
import pytest
from scipy.special import comb
from scipy.stats import norm

pytest.importorskip("dp_accounting")

from helpers import opacus_epsilon

from snn_dfa.errors import ValidationError
from snn_dfa.privacy import (
    DEFAULT_RDP_ORDERS,
    BudgetError,
    PrivacyAccountant,
    SubsampledGaussian,
    epsilon,
    noise_multiplier_for,
)


@pytest.mark.parametrize("q", [0.001, 0.01, 0.1, 1.0])
@pytest.mark.parametrize("z", [0.7, 1.0, 2.5])
@pytest.mark.parametrize("steps", [1, 300, 10_000])
@pytest.mark.parametrize("delta", [1e-5, 1e-7])
def test_rdp_epsilon_equals_opacus(q, z, steps, delta):
    pytest.importorskip("opacus")
    ours = epsilon(SubsampledGaussian(q, z, steps), delta, method="rdp")
    theirs = opacus_epsilon(q, z, steps, delta, DEFAULT_RDP_ORDERS)
    assert ours == pytest.approx(theirs, rel=1e-6)


@pytest.mark.parametrize("q, z, steps", [(0.01, 0.7, 300), (0.004, 1.0, 2000),
                                         (0.1, 2.5, 100)])
def test_fractional_orders_of_dp_accounting_are_conservative(q, z, steps):
    # At fractional orders dp-accounting bounds the signed series from above (the note of
    # DEFAULT_RDP_ORDERS): with opacus's fractional orders it never gives the smaller ε.
    from opacus.accountants import RDPAccountant

    pytest.importorskip("opacus")
    alphas = RDPAccountant.DEFAULT_ALPHAS
    ours = epsilon(SubsampledGaussian(q, z, steps), 1e-5, orders=alphas)
    assert ours >= opacus_epsilon(q, z, steps, 1e-5, alphas) * (1 - 1e-9)


def _balle_conversion(orders, rdp, delta):
    orders = np.asarray(orders, dtype=float)
    return float(np.min(rdp + np.log1p(-1 / orders) - np.log(delta * orders) / (orders - 1)))


@pytest.mark.parametrize("z, steps", [(1.0, 1), (3.0, 50), (10.0, 1000)])
def test_full_batch_gaussian_matches_closed_form_rdp(z, steps):
    # q = 1: RDP(α) = T·α/(2 z²) (Mironov 2017), converted with the same improved bound.
    orders = np.arange(2, 65)
    expected = _balle_conversion(orders, steps * orders / (2 * z * z), 1e-5)
    assert epsilon(SubsampledGaussian(1.0, z, steps), 1e-5, orders=orders) == pytest.approx(
        expected, rel=1e-9)


@pytest.mark.parametrize("q, z, steps", [(0.01, 1.0, 1000), (0.05, 2.0, 200), (0.2, 4.0, 50)])
def test_subsampled_rdp_matches_integer_order_formula(q, z, steps):
    # Mironov, Talwar & Zhang (2019, arXiv 1908.10530), integer α, in log space.
    orders = np.arange(2, 65)
    rdp = []
    for a in orders:
        k = np.arange(a + 1)
        logs = (np.log(comb(a, k)) + (a - k) * math.log1p(-q) + k * math.log(q)
                + (k * k - k) / (2 * z * z))
        top = logs.max()
        rdp.append(steps * (top + math.log(np.exp(logs - top).sum())) / (a - 1))
    expected = _balle_conversion(orders, np.array(rdp), 1e-5)
    assert epsilon(SubsampledGaussian(q, z, steps), 1e-5, orders=orders) == pytest.approx(
        expected, rel=1e-6)


@pytest.mark.parametrize("z, steps", [(2.0, 1), (5.0, 20)])
def test_pld_matches_exact_gaussian_and_is_tighter_than_rdp(z, steps):
    # T Gaussians of multiplier z compose to one of multiplier z/√T; its exact (ε, δ) curve is
    # δ(ε) = Φ(μ/2 − ε/μ) − e^ε Φ(−μ/2 − ε/μ), μ = √T/z (Balle & Wang 2018).
    mu = math.sqrt(steps) / z
    eps = epsilon(SubsampledGaussian(1.0, z, steps), 1e-5, method="pld")
    delta_at = norm.cdf(mu / 2 - eps / mu) - math.exp(eps) * norm.cdf(-mu / 2 - eps / mu)
    assert delta_at <= 1e-5 * (1 + 1e-6)
    assert eps == pytest.approx(  # the PLD's pessimistic discretisation costs < 1 %
        _exact_gaussian_epsilon(mu, 1e-5), rel=1e-2)
    assert eps <= epsilon(SubsampledGaussian(1.0, z, steps), 1e-5, method="rdp")


def _exact_gaussian_epsilon(mu, delta):
    from scipy.optimize import brentq

    def gap(e):
        return norm.cdf(mu / 2 - e / mu) - math.exp(e) * norm.cdf(-mu / 2 - e / mu) - delta
    return brentq(gap, 0.0, 100.0, xtol=1e-12)


def test_pld_tighter_than_rdp_when_subsampled():
    m = SubsampledGaussian(0.01, 1.1, 1000)
    pld, rdp = epsilon(m, 1e-5, method="pld"), epsilon(m, 1e-5, method="rdp")
    assert 0.7 * rdp < pld < rdp


@pytest.mark.parametrize("method, target, steps", [("rdp", 0.5, 500), ("rdp", 2.0, 500),
                                                   ("rdp", 8.0, 500), ("pld", 1.0, 30)])
def test_noise_multiplier_for_is_the_smallest_within_budget(method, target, steps):
    q = 0.02
    z = noise_multiplier_for(target, 1e-5, q, steps, method=method)
    assert epsilon(SubsampledGaussian(q, z, steps), 1e-5, method=method) <= target
    assert epsilon(SubsampledGaussian(q, z * (1 - 1e-4), steps), 1e-5,
                   method=method) > target


def test_noise_multiplier_agrees_with_opacus_calibration():
    pytest.importorskip("opacus")
    from opacus.accountants.utils import get_noise_multiplier

    ours = noise_multiplier_for(1.0, 1e-5, 0.01, 1000)
    # opacus stops its search at |ε − target| < 0.01, so its z is above ours by a little
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the")
        theirs = get_noise_multiplier(target_epsilon=1.0, target_delta=1e-5,
                                      sample_rate=0.01, steps=1000, accountant="rdp",
                                      epsilon_tolerance=0.001)
    assert ours <= theirs <= ours * 1.01


def test_unmeetable_budget_raises_budget_error():
    with pytest.raises(BudgetError, match="epsilon=0.001"):
        noise_multiplier_for(1e-3, 1e-5, 1.0, 100_000, max_noise_multiplier=10.0)


def test_ledger_composes_like_one_mechanism():
    acc = PrivacyAccountant()
    assert acc.epsilon(1e-5) == 0.0
    for _ in range(3):
        acc.step(0.01, 1.2, count=100)
    assert acc.steps == 300 and len(acc.ledger) == 1
    assert acc.epsilon(1e-5) == pytest.approx(
        epsilon(SubsampledGaussian(0.01, 1.2, 300), 1e-5), rel=1e-12)
    acc.step(0.05, 2.0, count=10)
    assert len(acc.ledger) == 2
    assert acc.epsilon(1e-5) > epsilon(SubsampledGaussian(0.01, 1.2, 300), 1e-5)


@pytest.mark.parametrize("kwargs, name", [
    ({"sampling_rate": 0.0, "noise_multiplier": 1.0, "steps": 1}, "sampling_rate"),
    ({"sampling_rate": 1.5, "noise_multiplier": 1.0, "steps": 1}, "sampling_rate"),
    ({"sampling_rate": 0.1, "noise_multiplier": 0.0, "steps": 1}, "noise_multiplier"),
    ({"sampling_rate": 0.1, "noise_multiplier": 1.0, "steps": -1}, "steps"),
])
def test_bad_mechanism_is_rejected(kwargs, name):
    with pytest.raises(ValidationError, match=name):
        SubsampledGaussian(**kwargs)


def test_bad_delta_method_and_orders_are_rejected():
    m = SubsampledGaussian(0.1, 1.0, 10)
    with pytest.raises(ValidationError, match="delta"):
        epsilon(m, 0.0)
    with pytest.raises(ValidationError, match="method"):
        epsilon(m, 1e-5, method="moments")
    with pytest.raises(ValidationError, match="orders"):
        epsilon(m, 1e-5, orders=[1.0, 2.0])
