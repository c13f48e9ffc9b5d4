"""Device non-idealities: programming variation, read noise, stuck-at faults, drift/relaxation.

Each is switched off by a strength of zero, and then it is exactly the identity.

Models (``g_range = g_max_uS - g_min_uS``; every result is clipped to ``[g_min_uS, g_max_uS]``):

* programming variation (device to device, drawn once when a cell is programmed):
  ``G = G_target + prog_sigma_rel * g_range * z`` with ``z ~ N(0, 1)``; alternatively samples
  from a fitted :class:`~crossbar.gpr.GPRNoiseModel` (``G ~ N(mu(G_target), sigma(G_target)^2)``);
* read noise (fresh at every read): every cell reads ``G (1 + read_sigma_rel * z)``; for a
  column this adds Gaussian noise of variance ``sum_i V_i^2 read_sigma_rel^2 G_ij^2`` to its
  current, which is how it is sampled (same distribution, one draw per output);
* stuck-at faults (drawn once): each cell is independently stuck at ``g_min_uS`` (SA0, the
  high-resistance state) with probability ``sa0_fraction`` or at ``g_max_uS`` (SA1) with
  probability ``sa1_fraction``;
* drift and relaxation with the age ``t`` of a cell since it was programmed:
  ``G(t) = G(0) (1 + t / t0_s)^(-drift_nu) + relax_sigma_rel * g_range * log10(1 + t / t0_s) * z``
  with ``z ~ N(0, 1)`` drawn when the cell is programmed; ``t = 0`` gives ``G(0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossbar._checks import check_positive, check_real
from crossbar.devices import DeviceParams
from crossbar.errors import CrossbarError

FAULT_NONE = 0
FAULT_SA0 = 1
FAULT_SA1 = 2


@dataclass(frozen=True)
class NoiseConfig:
    """Strengths of the device non-idealities (all zero: an ideal device).

    Attributes
    ----------
    prog_sigma_rel : float
        Programming error, standard deviation as a fraction of the conductance range.
    read_sigma_rel : float
        Read noise, standard deviation relative to the cell's conductance.
    sa0_fraction, sa1_fraction : float
        Fractions of cells stuck at ``g_min_uS`` / ``g_max_uS`` (sum ``<= 1``).
    drift_nu : float
        Power-law drift exponent (``>= 0``).
    relax_sigma_rel : float
        Relaxation spread per decade of ``1 + t / t0_s``, fraction of the conductance range.
    t0_s : float
        Time constant of drift and relaxation (seconds, ``> 0``).
    """

    prog_sigma_rel: float = 0.0
    read_sigma_rel: float = 0.0
    sa0_fraction: float = 0.0
    sa1_fraction: float = 0.0
    drift_nu: float = 0.0
    relax_sigma_rel: float = 0.0
    t0_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("prog_sigma_rel", "read_sigma_rel", "drift_nu", "relax_sigma_rel"):
            check_real(name, getattr(self, name), low=0.0)
        for name in ("sa0_fraction", "sa1_fraction"):
            check_real(name, getattr(self, name), low=0.0, high=1.0)
        if self.sa0_fraction + self.sa1_fraction > 1.0:
            raise CrossbarError(
                f"sa0_fraction + sa1_fraction = {self.sa0_fraction + self.sa1_fraction!r}: "
                "expected a sum <= 1"
            )
        check_positive("t0_s", self.t0_s)


def programming_noise(
    g_target_uS: np.ndarray, device: DeviceParams, sigma_rel: float, rng: np.random.Generator
) -> np.ndarray:
    """Programmed conductances: target plus Gaussian error, clipped to the device range."""
    g = np.asarray(g_target_uS, dtype=np.float64)
    if sigma_rel == 0:
        return g.copy()
    noisy = g + sigma_rel * device.g_range_uS * rng.standard_normal(g.shape)
    return np.clip(noisy, device.g_min_uS, device.g_max_uS)


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
    """Conductances after ``age_s`` seconds of drift and relaxation (see the module docstring)."""
    g0 = np.asarray(g0_uS, dtype=np.float64)
    age = np.asarray(age_s, dtype=np.float64)
    if (age < 0).any():
        raise CrossbarError("age_s: expected non-negative ages")
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
