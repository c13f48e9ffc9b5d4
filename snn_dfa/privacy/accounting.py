"""Privacy accounting for the Poisson-subsampled Gaussian mechanism, through Google's
``dp-accounting`` (RDP and PLD accountants); nothing here is computed by hand.

The mechanism (one step): every record of a dataset of ``n`` records joins the step's batch
independently with probability ``q`` (Poisson sampling); the sum of the batch's clipped
contributions, whose L2 sensitivity is ``Δ``, is released with Gaussian noise of standard
deviation ``σ = z·Δ`` (``z`` is the *noise multiplier*).  ``steps`` such steps compose.
Adjacency is **add/remove one record** (the relation under which Poisson subsampling
amplifies privacy and under which opacus accounts as well); docs/privacy.md derives the
sensitivities of the mechanisms that use this module.

Methods:

* ``"rdp"``: Rényi DP of the subsampled Gaussian (Mironov, Talwar & Zhang 2019) at a fixed set
  of orders, composed additively, converted to (ε, δ) with the improved conversion of
  Balle et al. (2020, Thm 21) / Canonne, Kamath & Steinke (2020, Prop. 12).
* ``"pld"``: privacy-loss distributions (Koskela et al. 2020; Doroshenko et al. 2022), tighter
  than RDP, at the accountant's discretisation (``value_discretization_interval``).

``dp-accounting`` is an optional dependency (``pip install 'snn-dfa[privacy]'``); it is
imported on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from snn_dfa._validation import check_choice, check_scalar
from snn_dfa.errors import SnnDfaError, ValidationError

__all__ = [
    "DEFAULT_RDP_ORDERS",
    "METHODS",
    "BudgetError",
    "PrivacyAccountant",
    "SubsampledGaussian",
    "epsilon",
    "noise_multiplier_for",
]

#: RDP orders used unless the caller passes others: the integers 2..64 [assumption]
#: and 128, 256, 512, 1024 (dp-accounting's large default orders, for tiny ε per step).
#: Integer orders only: there the subsampled-Gaussian RDP is an exact finite sum that
#: dp-accounting and opacus evaluate identically.  At fractional orders dp-accounting 0.6.0
#: sums the absolute values of the signed series of Mironov et al. (2019, §3.3) (opacus 1.6.0
#: keeps the signs) and its series fails to converge for some (q, z) (e.g. q = 0.1, z = 0.66),
#: excluding the order with a log warning; for δ <= 1e-5 and ε <= 8 the optimal order is
#: above 2 anyway (log(1/δ)/(α-1) <= ε needs α >= 2.4), so little is lost.
DEFAULT_RDP_ORDERS: tuple[int, ...] = (*range(2, 65), 128, 256, 512, 1024)

#: The accounting methods (see the module docstring).
METHODS = ("rdp", "pld")

#: PLD discretisation of the privacy loss [dp-accounting's default, 1e-4].
PLD_DISCRETIZATION = 1e-4

#: Below this noise multiplier the calibration stops searching [assumption: the Gaussian
#: mechanism at z < 1e-3 is non-private for any practical budget].
MIN_NOISE_MULTIPLIER = 1e-3

_MISSING = ("privacy accounting needs the optional package dp-accounting: "
            "pip install 'snn-dfa[privacy]'")


class BudgetError(SnnDfaError, ValueError):
    """A privacy budget that the configured mechanism cannot meet."""


def _dp() -> Any:
    try:
        import dp_accounting
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise SnnDfaError(_MISSING) from exc
    return dp_accounting


@dataclass(frozen=True)
class SubsampledGaussian:
    """``steps`` compositions of the Poisson-subsampled Gaussian mechanism.

    Attributes:
        sampling_rate: ``q`` in (0, 1], the probability that a record joins a step's batch
            (``q = 1``: the full dataset every step, no amplification).
        noise_multiplier: ``z = σ/Δ`` > 0, the noise standard deviation in units of the
            L2 sensitivity of one step's summed update.
        steps: number of steps composed, >= 0.
    """

    sampling_rate: float
    noise_multiplier: float
    steps: int

    def __post_init__(self) -> None:
        check_scalar("sampling_rate", self.sampling_rate, low=0.0, high=1.0,
                     low_inclusive=False)
        check_scalar("noise_multiplier", self.noise_multiplier, low=0.0, low_inclusive=False)
        check_scalar("steps", self.steps, int, low=0)

    def event(self) -> Any:
        """The mechanism as a ``dp_accounting.DpEvent``."""
        dp = _dp()
        step = dp.GaussianDpEvent(self.noise_multiplier)
        if self.sampling_rate < 1.0:
            step = dp.PoissonSampledDpEvent(self.sampling_rate, step)
        return dp.SelfComposedDpEvent(step, self.steps)


def _check_delta(delta: float) -> float:
    return check_scalar("delta", delta, float, low=0.0, high=1.0, low_inclusive=False,
                        high_inclusive=False)


def _orders(orders: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(a) for a in orders)
    if not out or min(out) <= 1.0:
        raise ValidationError(f"orders={orders!r}: expected a non-empty list of orders > 1")
    return out


def _fresh(method: str, orders: Sequence[float] | None) -> Any:
    dp = _dp()
    check_choice("method", method, METHODS)
    if method == "rdp":
        return dp.rdp.RdpAccountant(list(_orders(DEFAULT_RDP_ORDERS if orders is None
                                                 else orders)))
    return dp.pld.PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)


def epsilon(mechanism: SubsampledGaussian, delta: float, *, method: str = "rdp",
            orders: Sequence[float] | None = None) -> float:
    """ε spent by ``mechanism`` at ``delta`` (add/remove adjacency).

    ``orders`` (RDP only) defaults to :data:`DEFAULT_RDP_ORDERS`.
    """
    _check_delta(delta)
    accountant = _fresh(method, orders)
    accountant.compose(mechanism.event())
    return float(accountant.get_epsilon(delta))


def noise_multiplier_for(target_epsilon: float, delta: float, sampling_rate: float,
                         steps: int, *, method: str = "rdp",
                         orders: Sequence[float] | None = None,
                         max_noise_multiplier: float = 1e3) -> float:
    """The smallest noise multiplier ``z`` (to ``1e-6`` relative, found by
    ``dp_accounting.calibrate_dp_mechanism``) whose mechanism
    ``SubsampledGaussian(sampling_rate, z, steps)`` spends at most ``target_epsilon`` at
    ``delta``.

    Raises :class:`BudgetError` when even ``z = max_noise_multiplier`` spends more than
    ``target_epsilon`` (an unmeetable budget: more noise than that drowns any update).
    """
    check_scalar("target_epsilon", target_epsilon, low=0.0, low_inclusive=False)
    _check_delta(delta)
    check_scalar("max_noise_multiplier", max_noise_multiplier, low=0.0, low_inclusive=False)
    SubsampledGaussian(sampling_rate, 1.0, steps)   # validates q and steps

    def eps(z: float) -> float:
        return epsilon(SubsampledGaussian(sampling_rate, z, steps), delta, method=method,
                       orders=orders)

    if steps == 0:
        return 0.0
    high = max_noise_multiplier
    if method == "pld":
        # PLD is tighter than RDP, so RDP's calibration bounds PLD's from above: a cheap
        # upper end for the bracket (PLD evaluations at small z are the slow ones).
        high = noise_multiplier_for(target_epsilon, delta, sampling_rate, steps,
                                    method="rdp", max_noise_multiplier=max_noise_multiplier)
    elif eps(high) > target_epsilon:
        raise BudgetError(
            f"epsilon={target_epsilon:g} at delta={delta:g} cannot be met with "
            f"sampling_rate={sampling_rate:g} over steps={steps}: even noise_multiplier="
            f"{max_noise_multiplier:g} spends epsilon={eps(high):.3g}; raise epsilon or "
            f"delta, or take fewer steps or a lower sampling rate")
    # Bracket the root by halving from above (ε(z) is non-increasing in z), then let
    # dp-accounting's calibration (Brent's method) find the smallest z within the budget.
    low = high
    while eps(low) <= target_epsilon:
        high, low = low, low / 2.0
        if low < MIN_NOISE_MULTIPLIER:
            return high
    dp = _dp()
    z = dp.calibrate_dp_mechanism(
        lambda: _fresh(method, orders),
        lambda z: SubsampledGaussian(sampling_rate, z, steps).event(),
        target_epsilon, delta,
        bracket_interval=dp.mechanism_calibration.ExplicitBracketInterval(low, high),
        tol=1e-6 * low)
    return float(z)


class PrivacyAccountant:
    """Running ledger of Poisson-subsampled Gaussian steps spent on one dataset.

    ``step(q, z, count)`` records ``count`` steps; ``epsilon(delta)`` is the ε spent so far
    (recomputed from the ledger, so steps of different ``q`` or ``z`` compose correctly).
    """

    def __init__(self, *, method: str = "rdp", orders: Sequence[float] | None = None):
        check_choice("method", method, METHODS)
        self.method = method
        self.orders = None if orders is None else _orders(orders)
        self._ledger: list[SubsampledGaussian] = []

    @property
    def ledger(self) -> tuple[SubsampledGaussian, ...]:
        """The recorded mechanisms, in order."""
        return tuple(self._ledger)

    @property
    def steps(self) -> int:
        """Total number of steps recorded."""
        return sum(m.steps for m in self._ledger)

    def step(self, sampling_rate: float, noise_multiplier: float, count: int = 1) -> None:
        """Record ``count`` steps of rate ``sampling_rate`` and multiplier
        ``noise_multiplier``; consecutive identical records are merged."""
        new = SubsampledGaussian(sampling_rate, noise_multiplier, count)
        last = self._ledger[-1] if self._ledger else None
        if last is not None and (last.sampling_rate, last.noise_multiplier) == (
                sampling_rate, noise_multiplier):
            self._ledger[-1] = SubsampledGaussian(sampling_rate, noise_multiplier,
                                                  last.steps + count)
        else:
            self._ledger.append(new)

    def epsilon(self, delta: float) -> float:
        """ε spent so far at ``delta``; 0 before any step."""
        _check_delta(delta)
        if not self._ledger:
            return 0.0
        dp = _dp()
        accountant = _fresh(self.method, self.orders)
        accountant.compose(dp.ComposedDpEvent([m.event() for m in self._ledger]))
        return float(accountant.get_epsilon(delta))
