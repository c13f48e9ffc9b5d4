"""Periphery: input drivers / DACs, ADCs with bits, range and clipping, shift-and-add.

Conventions
-----------
* Binary inputs (every value 0 or 1, e.g. spikes) drive a row at ``v_read_V`` or leave it
  at 0 V: no DAC is used or counted.
* Any other input vector is normalised by its largest magnitude (dynamic input scaling, the
  scale is re-applied digitally after the ADC) and converted by a signed DAC with
  ``dac_bits`` bits: ``2**(dac_bits-1) - 1`` levels per sign (``dac_bits=None``: ideal).
* The ADC converts a column's (difference) current with a signed mid-tread quantiser of
  ``adc_bits`` bits over ``[-I_fs, I_fs]``, clipping outside.  ``adc_bits=None``: ideal.
  ``adc_range="max"``: ``I_fs`` is ``adc_full_scale_fraction`` times the largest current
  the tile can produce (all rows at ``v_read_V``, every cell pair at full range).
  ``adc_range="calibrated"``: ``I_fs`` is the ``calibration_percentile``-th percentile of
  the magnitudes of the (pre-ADC) column currents measured on a calibration batch when the
  array is deployed (``CrossbarArray.calibrate``), one value per tile and bit slice
  (``calibration_scope="tile"``) or per array and bit slice (``"layer"``), as chips
  calibrate their ADC references once after programming.
* ``dac_range="dynamic"`` normalises each input vector by its own largest magnitude (the
  "largest possible" input range); ``"calibrated"`` uses one fixed input full scale per
  array, the ``calibration_percentile``-th percentile of ``|x|`` over the calibration batch,
  clipping larger inputs.
* ``columns_per_adc`` only describes multiplexing for hwsim (conversions are counted per
  column either way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossbar._checks import check_choice, check_int, check_real
from crossbar._kernels import all_binary, normalise_rows
from crossbar.errors import CrossbarError

ADC_RANGES = ("max", "calibrated")
DAC_RANGES = ("dynamic", "calibrated")
CALIBRATION_SCOPES = ("tile", "layer")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class PeripheryConfig:
    """DAC / ADC settings.

    Attributes
    ----------
    dac_bits : int or None
        Input DAC resolution (``>= 2``); ``None`` is an ideal analog driver.
    adc_bits : int or None
        Output ADC resolution (``>= 2``); ``None`` is an ideal ADC.
    adc_range : {"max", "calibrated"}
        ADC full scale: the tile's largest possible current (times
        ``adc_full_scale_fraction``) or calibrated at deployment (see the module docstring).
    adc_full_scale_fraction : float
        ``adc_range="max"`` only: fraction of the worst-case current, in ``(0, 1]``.
    dac_range : {"dynamic", "calibrated"}
        Per-vector input normalisation, or a fixed calibrated input full scale.
    calibration_percentile : float
        Percentile of calibration magnitudes taken as full scale, in ``(0, 100]``
        (default 99.9 [assumption]: clips about one output in a thousand, against the
        4 to 5 times coarser steps of the worst-case range measured in issue 13).
    calibration_scope : {"tile", "layer"}
        One calibrated ADC range per tile (and bit slice) or one per array.
    columns_per_adc : int
        Columns sharing one multiplexed ADC (recorded for hwsim; ``>= 1``).
    """

    dac_bits: int | None = None
    adc_bits: int | None = None
    adc_range: str = "max"
    adc_full_scale_fraction: float = 1.0
    dac_range: str = "dynamic"
    calibration_percentile: float = 99.9
    calibration_scope: str = "tile"
    columns_per_adc: int = 1

    def __post_init__(self) -> None:
        for name in ("dac_bits", "adc_bits"):
            value = getattr(self, name)
            if value is not None:
                check_int(name, value, low=2)
        check_choice("adc_range", self.adc_range, ADC_RANGES)
        check_choice("dac_range", self.dac_range, DAC_RANGES)
        check_choice("calibration_scope", self.calibration_scope, CALIBRATION_SCOPES)
        frac = check_real("adc_full_scale_fraction", self.adc_full_scale_fraction)
        if not 0 < frac <= 1:
            raise CrossbarError(
                f"adc_full_scale_fraction={self.adc_full_scale_fraction!r}: expected a value in (0, 1]"
            )
        if self.adc_range == "calibrated" and frac != 1.0:
            raise CrossbarError(
                f"adc_full_scale_fraction={frac!r}: expected 1.0 with adc_range='calibrated' "
                "(the range comes from calibration_percentile)"
            )
        pct = check_real("calibration_percentile", self.calibration_percentile)
        if not 0 < pct <= 100:
            raise CrossbarError(
                f"calibration_percentile={self.calibration_percentile!r}: expected a value in (0, 100]"
            )
        check_int("columns_per_adc", self.columns_per_adc, low=1)

    @property
    def needs_calibration(self) -> bool:
        """True if a range comes from ``CrossbarArray.calibrate``."""
        return self.adc_range == "calibrated" or self.dac_range == "calibrated"


def is_binary(x: np.ndarray) -> bool:
    """True if every entry is 0 or 1 (spikes need no DAC)."""
    return bool(all_binary(np.ravel(x)))


def normalise_inputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide each row by its largest magnitude: ``(x_n [M, n], norm [M])``, ``|x_n| <= 1``,
    in ``x``'s float dtype (float64 for other dtypes).

    All-zero rows keep norm 1.
    """
    x = np.asarray(x)
    x = np.ascontiguousarray(x, dtype=x.dtype if x.dtype in _FLOATS else np.float64)
    xn = np.empty_like(x)
    norm = np.empty(x.shape[0], dtype=x.dtype)
    normalise_rows(x, xn, norm)
    return xn, norm


def dac_quantize(x_n: np.ndarray, bits: int | None) -> np.ndarray:
    """Signed uniform DAC on normalised inputs in ``[-1, 1]`` (``None``: unchanged)."""
    if bits is None:
        return x_n
    n = 2 ** (bits - 1) - 1
    return np.rint(np.clip(x_n, -1.0, 1.0) * n) / n


def adc_quantize(current: np.ndarray, bits: int | None,
                 full_scale: float | np.ndarray) -> np.ndarray:
    """Signed mid-tread ADC over ``[-full_scale, full_scale]`` with clipping.

    ``full_scale`` is one value or an array broadcast against ``current`` (one per tile of
    a stacked read).  Returns the reconstructed value (code times step), in the unit and
    dtype of ``current``; with ``bits=None`` the input is returned unchanged (no clipping
    either).
    """
    if bits is None:
        return current
    if not np.all(np.asarray(full_scale) > 0):
        raise CrossbarError(f"full_scale={full_scale!r}: expected values > 0")
    n = 2 ** (bits - 1) - 1
    step = np.asarray(np.asarray(full_scale, dtype=np.float64) / n, dtype=current.dtype)
    return np.clip(np.rint(current / step), -n, n) * step


def shift_add(partials: np.ndarray, base: int) -> np.ndarray:
    """Combine bit-slice results: ``sum_k base**k * partials[k]`` over the first axis."""
    p = np.asarray(partials, dtype=np.float64)
    weights = float(base) ** np.arange(p.shape[0])
    return np.tensordot(weights, p, axes=1)
