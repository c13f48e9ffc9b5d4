"""Device non-idealities: programming error, relaxation with time, read noise, stuck-at faults.

Three programming-error models (``NoiseConfig.noise_model``; ``g_range = g_max_uS - g_min_uS``):

* ``"wan2022"`` (default): conductance-dependent Gaussian error fitted to the NeuRRAM chip
  (Wan et al., Nature 608, 504-512, 2022, Extended Data Fig. 3) as 4th-order polynomials
  ``sigma_t(g) = sum_k c_k (g / g_max)^k`` (µS, fitted at ``g_max = 40`` µS) at
  ``t = 1 s, 1 day, 2 days`` after programming, the fits of IBM aihwkit's
  ``ReRamWan2022NoiseModel`` (:data:`WAN2022_FITS`).  A cell programmed to ``G_t`` reads, at
  age ``t``,

      G(t) = max(0, G_t + s (sigma_1s(G_t) z1 + sqrt(sigma_t(G_t)^2 - sigma_1s(G_t)^2)^+ z2))

  with ``z1``, ``z2 ~ N(0, 1)`` drawn once when the cell is programmed, ``s`` the
  ``prog_noise_scale`` and ``sigma_t`` interpolated linearly in ``log10 t`` between the fitted
  times.  So the marginal spread at every fitted time is the published one, the programming
  error persists, and relaxation adds an independent part that grows with the cell's age.
  Ages below 1 s use the 1 s fit (the earliest measurement: the programming error as
  measured); ages beyond 2 days extrapolate the last segment in ``log10 t`` and warn
  (:class:`~crossbar.errors.CrossbarWarning`).  As in aihwkit, the fit is scaled to a
  device's range by ``g_max_uS / 40`` and conductances are clamped at 0 only (the fit's
  spread at ``g_max`` would be cut by a clip there).
* ``"gpr"``: the programming error is drawn from a fitted :class:`~crossbar.gpr.GPRNoiseModel`
  (by default the shipped table, the 1 s state); relaxation then adds the same increment
  ``sqrt(sigma_t^2 - sigma_1s^2)^+ z2`` as ``"wan2022"`` [assumption: the table is the
  1 s state and relaxation after it follows the published fits].
* ``"relative"``: the scalar stress setting, the same spread at every level,
  ``G = clip(G_t + prog_sigma_rel * g_range * z)``, with the generic drift and relaxation law
  ``G(t) = G(0) (1 + t / t0_s)^(-drift_nu) + relax_sigma_rel * g_range * log10(1 + t / t0_s) * z``
  (not fitted to any measurement).  All strengths zero is the ideal device.

Other effects:

* read noise (fresh at every read): every cell reads ``G (1 + read_sigma_rel * z)``; for a
  column this adds Gaussian noise of variance ``sum_i V_i^2 read_sigma_rel^2 G_ij^2`` to its
  current, which is how it is sampled (same distribution, one draw per output);
* stuck-at faults (drawn once): each cell is independently stuck at ``g_min_uS`` (SA0, the
  high-resistance state) with probability ``sa0_fraction`` or at ``g_max_uS`` (SA1) with
  probability ``sa1_fraction``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from crossbar._checks import check_choice, check_positive, check_real
from crossbar.devices import DeviceParams
from crossbar.errors import CrossbarError, CrossbarWarning

FAULT_NONE = 0
FAULT_SA0 = 1
FAULT_SA1 = 2

NOISE_MODELS = ("wan2022", "gpr", "relative")

WAN2022_SOURCE = (
    "Wan et al., Nature 608, 504-512 (2022), Extended Data Fig. 3, as fitted by IBM aihwkit "
    "ReRamWan2022NoiseModel (src/aihwkit/inference/noise/reram.py, commit 0c9de57)"
)
#: Reference maximum conductance of the fits (µS).
WAN2022_G_REF_uS = 40.0
#: Programming-error standard deviation (µS) against ``x = g / g_max``: coefficients
#: ``c0..c4`` of ``sum c_k x^k`` per time after programming (s).  Numbers from
#: :data:`WAN2022_SOURCE`; the code here is our own.
WAN2022_FITS: Mapping[float, tuple[float, ...]] = MappingProxyType(
    {
        1.0: (0.348, 16.030, -43.853, 45.393, -16.815),
        86400.0: (0.701, 22.086, -50.773, 47.095, -16.458),
        172800.0: (0.782, 20.274, -43.507, 37.062, -11.934),
    }
)
_FIT_TIMES_S = np.array(sorted(WAN2022_FITS))
_FIT_LOG_T = np.log10(_FIT_TIMES_S)
#: ``log10`` of the fitted times (s), in time order (the interpolation's knots).
WAN2022_FIT_LOG_T = _FIT_LOG_T


def wan2022_fit_values(g_target_uS: np.ndarray | float,
                       g_max_uS: float = WAN2022_G_REF_uS) -> np.ndarray:
    """The fits of :data:`WAN2022_FITS`, in time order, at ``x = clip(g / g_max, 0, 1)``:
    ``[n_fits, *shape]`` (µS of the 40 µS reference range).

    They depend on the programmed conductance only, so a caller that evaluates the same
    cells at many ages can compute them once and pass them as ``fits`` below.
    """
    x = np.clip(np.asarray(g_target_uS, dtype=np.float64) / g_max_uS, 0.0, 1.0)
    return np.stack(
        [np.polynomial.polynomial.polyval(x, WAN2022_FITS[t]) for t in _FIT_TIMES_S]
    )


def warn_beyond_fits(age_s: np.ndarray, stacklevel: int = 2) -> None:
    """:class:`~crossbar.errors.CrossbarWarning` if an age exceeds the last fitted time."""
    if (age_s > _FIT_TIMES_S[-1]).any():
        warnings.warn(
            f"time since programming {float(np.max(age_s)):.4g} s is beyond the last fitted "
            f"time {_FIT_TIMES_S[-1]:.0f} s (2 days) of the Wan 2022 fits: the spread is "
            "extrapolated linearly in log10(t)",
            CrossbarWarning,
            stacklevel=stacklevel + 1,
        )


def wan2022_sigma_uS(
    g_target_uS: np.ndarray | float,
    age_s: np.ndarray | float = 1.0,
    g_max_uS: float = WAN2022_G_REF_uS,
    *,
    warn: bool = True,
    fits: np.ndarray | None = None,
) -> np.ndarray:
    """Published spread (µS) of cells programmed to ``g_target_uS``, ``age_s`` seconds later.

    Linear interpolation in ``log10(age)`` between the fits of :data:`WAN2022_FITS`; ages
    below 1 s use the 1 s fit; ages beyond the last fit (2 days) extrapolate the last
    segment and, if ``warn``, emit a :class:`~crossbar.errors.CrossbarWarning`.  The fit is
    scaled to a range ``g_max_uS`` as aihwkit does: ``x = g / g_max``, spread times
    ``g_max / 40``.  ``g_target_uS`` and ``age_s`` broadcast; the result has their shape.
    ``fits``: :func:`wan2022_fit_values` of ``g_target_uS`` if already known (same result).
    """
    g = np.asarray(g_target_uS, dtype=np.float64)
    age = np.asarray(age_s, dtype=np.float64)
    if (age < 0).any() or not np.isfinite(age).all():
        raise CrossbarError(f"age_s={_show(age)}: expected finite times >= 0 (seconds)")
    check_positive("g_max_uS", g_max_uS)
    if warn:
        warn_beyond_fits(age)
    shape = np.broadcast_shapes(g.shape, age.shape)
    per_fit = wan2022_fit_values(g, g_max_uS) if fits is None else fits
    per_fit = np.broadcast_to(per_fit, (per_fit.shape[0], *shape))
    lt = np.broadcast_to(np.log10(np.maximum(age, 1.0)), shape)
    seg = np.clip(np.searchsorted(_FIT_LOG_T, lt, side="right") - 1, 0, _FIT_LOG_T.size - 2)
    frac = (lt - _FIT_LOG_T[seg]) / (_FIT_LOG_T[seg + 1] - _FIT_LOG_T[seg])
    lo = np.take_along_axis(per_fit, seg[None], 0)[0]
    hi = np.take_along_axis(per_fit, (seg + 1)[None], 0)[0]
    return (lo + frac * (hi - lo)) * (g_max_uS / WAN2022_G_REF_uS)


def wan2022_relaxation_sigma_uS(
    g_target_uS: np.ndarray | float,
    age_s: np.ndarray | float,
    g_max_uS: float = WAN2022_G_REF_uS,
    *,
    warn: bool = True,
    fits: np.ndarray | None = None,
    sigma_1s_uS: np.ndarray | None = None,
) -> np.ndarray:
    """Spread added by relaxation after 1 s: ``sqrt(max(sigma_t^2 - sigma_1s^2, 0))`` (µS).

    ``fits`` (:func:`wan2022_fit_values`) and ``sigma_1s_uS`` (``wan2022_sigma_uS(g, 1.0,
    g_max_uS)``) of ``g_target_uS`` may be passed if already known (same result).
    """
    s_t = wan2022_sigma_uS(g_target_uS, age_s, g_max_uS, warn=warn, fits=fits)
    s_1 = (wan2022_sigma_uS(g_target_uS, 1.0, g_max_uS, warn=False, fits=fits)
           if sigma_1s_uS is None else sigma_1s_uS)
    return np.sqrt(np.maximum(s_t**2 - s_1**2, 0.0))


def _show(a: np.ndarray) -> str:
    return repr(float(a)) if a.ndim == 0 else f"array with min {float(np.min(a))!r}"


@dataclass(frozen=True)
class NoiseConfig:
    """Device non-idealities (default: the measured NeuRRAM-style chip, ``"wan2022"``).

    Attributes
    ----------
    noise_model : {"wan2022", "gpr", "relative"}
        Programming-error and relaxation model (see the module docstring).
    prog_noise_scale : float
        Multiplier of the ``"wan2022"`` / ``"gpr"`` spread (1: as measured; 0: no
        programming error nor relaxation).  Must be 1 for ``"relative"``.
    prog_sigma_rel : float
        ``"relative"`` only: programming error as a fraction of the conductance range.
    read_sigma_rel : float
        Read noise, standard deviation relative to the cell's conductance.
    sa0_fraction, sa1_fraction : float
        Fractions of cells stuck at ``g_min_uS`` / ``g_max_uS`` (sum ``<= 1``).
    drift_nu : float
        ``"relative"`` only: power-law drift exponent (``>= 0``).
    relax_sigma_rel : float
        ``"relative"`` only: relaxation spread per decade of ``1 + t / t0_s``.
    t0_s : float
        ``"relative"`` only: time constant of drift and relaxation (seconds, ``> 0``).
    time_step_decades : float
        Time resolution of drift and relaxation: a cell's conductance is re-evaluated when its
        age has grown by more than this many decades since it was last evaluated (0: at every
        change of time; at most 300, which already means never).  The default, 0.05 decades
        (12 % of the age), is 1 % of the span between the Wan 2022 fits at 1 s and 1 day
        [assumption: finer than the fits resolve]; it saves re-evaluating every cell at
        every window of a stream.
    """

    noise_model: str = "wan2022"
    prog_noise_scale: float = 1.0
    prog_sigma_rel: float = 0.0
    read_sigma_rel: float = 0.0
    sa0_fraction: float = 0.0
    sa1_fraction: float = 0.0
    drift_nu: float = 0.0
    relax_sigma_rel: float = 0.0
    t0_s: float = 1.0
    time_step_decades: float = 0.05

    def __post_init__(self) -> None:
        check_choice("noise_model", self.noise_model, NOISE_MODELS)
        for name in (
            "prog_noise_scale",
            "prog_sigma_rel",
            "read_sigma_rel",
            "drift_nu",
            "relax_sigma_rel",
        ):
            check_real(name, getattr(self, name), low=0.0)
        # 10 ** step must stay a float: 300 decades is already "never re-evaluated"
        check_real("time_step_decades", self.time_step_decades, low=0.0, high=300.0)
        for name in ("sa0_fraction", "sa1_fraction"):
            check_real(name, getattr(self, name), low=0.0, high=1.0)
        if self.sa0_fraction + self.sa1_fraction > 1.0:
            raise CrossbarError(
                f"sa0_fraction + sa1_fraction = {self.sa0_fraction + self.sa1_fraction!r}: "
                "expected a sum <= 1"
            )
        check_positive("t0_s", self.t0_s)
        if self.noise_model == "relative":
            if self.prog_noise_scale != 1.0:
                raise CrossbarError(
                    f"prog_noise_scale={self.prog_noise_scale!r}: expected 1.0 with "
                    "noise_model='relative' (use prog_sigma_rel)"
                )
        else:
            for name, default in (
                ("prog_sigma_rel", 0.0),
                ("drift_nu", 0.0),
                ("relax_sigma_rel", 0.0),
                ("t0_s", 1.0),
            ):
                if getattr(self, name) != default:
                    raise CrossbarError(
                        f"{name}={getattr(self, name)!r}: expected {default} with "
                        f"noise_model={self.noise_model!r} (it belongs to noise_model='relative')"
                    )

    @classmethod
    def ideal(cls) -> NoiseConfig:
        """No programming error, relaxation, read noise or faults."""
        return cls(noise_model="relative")

    @property
    def is_fitted_model(self) -> bool:
        """True for the models grounded in measurements (``"wan2022"``, ``"gpr"``)."""
        return self.noise_model != "relative"


def programming_noise(
    g_target_uS: np.ndarray, device: DeviceParams, sigma_rel: float, rng: np.random.Generator
) -> np.ndarray:
    """``"relative"`` model: target plus Gaussian error, clipped to the device range."""
    g = np.asarray(g_target_uS, dtype=np.float64)
    if sigma_rel == 0:
        return g.copy()
    noisy = g + sigma_rel * device.g_range_uS * rng.standard_normal(g.shape)
    return np.clip(noisy, device.g_min_uS, device.g_max_uS)


def wan2022_programming_noise(
    g_target_uS: np.ndarray, device: DeviceParams, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """``"wan2022"`` model at 1 s: ``G_t + scale * sigma_1s(G_t) * z`` (not clamped).

    Clamping at 0 happens when the conductance is read (:func:`relaxed`), after relaxation.
    """
    g = np.asarray(g_target_uS, dtype=np.float64)
    if scale == 0:
        return g.copy()
    sigma = wan2022_sigma_uS(g, 1.0, device.g_max_uS, warn=False)
    return g + scale * sigma * rng.standard_normal(g.shape)


def relaxed(
    g_prog_uS: np.ndarray,
    g_anchor_uS: np.ndarray,
    age_s: np.ndarray | float,
    z: np.ndarray,
    device: DeviceParams,
    scale: float,
    *,
    fits: np.ndarray | None = None,
    sigma_1s_uS: np.ndarray | None = None,
) -> np.ndarray:
    """``"wan2022"`` / ``"gpr"``: ``max(0, G_prog + scale * sigma_relax(G_anchor, age) * z)``.

    ``g_anchor_uS`` is the conductance the cell was programmed to (the fit's variable);
    ``fits`` and ``sigma_1s_uS`` of it may be passed if already known (see
    :func:`wan2022_relaxation_sigma_uS`).  Warns (:class:`~crossbar.errors.CrossbarWarning`)
    for ages beyond the fitted times.
    """
    g = np.asarray(g_prog_uS, dtype=np.float64)
    if scale == 0:
        return np.maximum(g, 0.0)
    sigma = wan2022_relaxation_sigma_uS(g_anchor_uS, age_s, device.g_max_uS, fits=fits,
                                        sigma_1s_uS=sigma_1s_uS)
    return np.maximum(g + scale * sigma * z, 0.0)


def sample_faults(
    shape: tuple[int, ...], sa0_fraction: float, sa1_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Fault map (``int8``): 0 healthy, 1 stuck at ``g_min``, 2 stuck at ``g_max``."""
    if sa0_fraction == 0 and sa1_fraction == 0:
        return np.zeros(shape, dtype=np.int8)
    u = rng.random(shape)
    out = np.zeros(shape, dtype=np.int8)
    out[u < sa0_fraction] = FAULT_SA0
    out[(u >= sa0_fraction) & (u < sa0_fraction + sa1_fraction)] = FAULT_SA1
    return out


def apply_faults(g_uS: np.ndarray, faults: np.ndarray, device: DeviceParams) -> np.ndarray:
    """Conductances with stuck cells forced to ``g_min_uS`` (SA0) or ``g_max_uS`` (SA1)."""
    g = np.where(faults == FAULT_SA0, device.g_min_uS, g_uS)
    return np.where(faults == FAULT_SA1, device.g_max_uS, g)


def drift(
    g0_uS: np.ndarray,
    age_s: np.ndarray | float,
    z: np.ndarray,
    device: DeviceParams,
    noise: NoiseConfig,
) -> np.ndarray:
    """``"relative"`` model: conductances after ``age_s`` seconds of the generic drift and
    relaxation law (see the module docstring)."""
    g0 = np.asarray(g0_uS, dtype=np.float64)
    age = np.asarray(age_s, dtype=np.float64)
    if (age < 0).any():
        raise CrossbarError(f"age_s={_show(age)}: expected non-negative ages")
    if noise.drift_nu == 0 and noise.relax_sigma_rel == 0:
        return g0.copy()
    x = 1.0 + age / noise.t0_s
    g = g0 * x ** (-noise.drift_nu)
    g = g + noise.relax_sigma_rel * device.g_range_uS * np.log10(x) * z
    return np.clip(g, device.g_min_uS, device.g_max_uS)


def read_noise_std(v_sq: np.ndarray, g_sq_sum: np.ndarray, read_sigma_rel: float) -> np.ndarray:
    """Standard deviation of column currents from read noise.

    Parameters
    ----------
    v_sq : array [M, rows]
        Squared row voltages.
    g_sq_sum : array [rows, cols]
        Sum over the cells read together (``G+^2 + G-^2`` for a pair) of squared conductances.

    Returns
    -------
    array [M, cols]
        ``read_sigma_rel * sqrt(v_sq @ g_sq_sum)``.
    """
    return read_sigma_rel * np.sqrt(v_sq @ g_sq_sum)
