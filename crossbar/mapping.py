"""Weights <-> conductances: differential pairs or an offset column, levels, scaling, slicing.

Orientation: a weight matrix ``W`` is ``[n_out, n_in]``.  On the array, input ``i`` drives
row (word line) ``i`` and output ``j`` is sensed on column (bit line) ``j``, so the physical
conductance matrix of a tile is the transpose of the stored ``[n_out, n_in]`` block.

Integer levels.  With ``L = device.n_levels`` levels per cell and ``S`` slices, a weight is
``w = s_j * q`` with a signed integer ``q``, ``|q| <= L**S - 1``, and ``s_j`` the scale of
output ``j`` (one value per array or one per output column).  ``q`` is written in base ``L``:
``|q| = sum_k d_k L**k``, one cell per digit ``d_k`` (bit slicing; ``S = 1`` is one cell).

* ``"differential"``: ``q = q_plus - q_minus``; the positive part sits on ``G+`` cells, the
  negative part on ``G-`` cells, the other cell of the pair at level 0 (``g_min_uS``).
* ``"offset"``: one cell per weight at level ``q + q_ref`` with ``q_ref = (L - 1) // 2``; a
  reference column at level ``q_ref`` is subtracted from every column (needs ``L >= 3`` and
  ``S = 1``).

A level ``d`` is the conductance ``g_min_uS + d * level_step_uS``.  With ``quantize=False``
the levels are real numbers (an analog device with infinite resolution) and only ``S = 1``
is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossbar._checks import as_float_array, check_choice, check_int, check_real
from crossbar.devices import DeviceParams
from crossbar.errors import CrossbarError

SCHEMES = ("differential", "offset")
SCALINGS = ("array", "column")


@dataclass(frozen=True)
class MappingConfig:
    """How weights become conductances.

    Attributes
    ----------
    scheme : {"differential", "offset"}
        Signed weights as a ``G+ - G-`` pair or as ``G - G_ref`` with a reference column.
    scaling : {"array", "column"}
        One scale for the whole matrix, or one per output (column of the array).
    n_slices : int
        Cells per weight magnitude (bit slicing, base ``n_levels``); ``>= 1``.
    quantize : bool
        Round to the device's levels; ``False`` keeps real-valued levels (ideal analog cell).
    w_max : float or None
        Weight magnitude mapped to the top level.  ``None``: the largest ``|W|`` of the
        array (or of each column with ``scaling="column"``).  A fixed value leaves head room
        for in-situ updates; larger weights are clipped.
    """

    scheme: str = "differential"
    scaling: str = "array"
    n_slices: int = 1
    quantize: bool = True
    w_max: float | None = None

    def __post_init__(self) -> None:
        check_choice("scheme", self.scheme, SCHEMES)
        check_choice("scaling", self.scaling, SCALINGS)
        check_int("n_slices", self.n_slices, low=1)
        if not isinstance(self.quantize, bool):
            raise CrossbarError(f"quantize={self.quantize!r}: expected a bool")
        if self.w_max is not None and not check_real("w_max", self.w_max) > 0:
            raise CrossbarError(f"w_max={self.w_max!r}: expected a value > 0 or None")
        if self.n_slices > 1 and (not self.quantize or self.scheme == "offset"):
            raise CrossbarError(
                f"n_slices={self.n_slices}: bit slicing needs quantize=True and "
                "scheme='differential'"
            )

    @property
    def n_polarities(self) -> int:
        """Cells per digit: 2 for differential pairs, 1 for the offset scheme."""
        return 2 if self.scheme == "differential" else 1


def check_mapping_device(mapping: MappingConfig, device: DeviceParams) -> None:
    """Raise if ``mapping`` cannot be realised with ``device``."""
    if mapping.scheme == "offset" and device.n_levels < 3:
        raise CrossbarError(
            f"scheme='offset' needs n_levels >= 3, got n_levels={device.n_levels} "
            f"for device {device.name!r}"
        )


def max_level_count(mapping: MappingConfig, device: DeviceParams) -> float:
    """Largest representable ``|q|`` (``L**S - 1``, or ``q_ref`` for the offset scheme)."""
    L = device.n_levels
    if mapping.scheme == "offset":
        return float((L - 1) // 2)
    return float(L**mapping.n_slices - 1)


def weight_scales(weights: np.ndarray, mapping: MappingConfig, device: DeviceParams) -> np.ndarray:
    """Scale ``s_j`` per output (``[n_out]``; all equal for ``scaling="array"``).

    ``s = w_max / max_level_count``; a zero ``w_max`` (all-zero weights) or one-level devices
    give ``s = w_max`` or 1, so that every weight maps to level 0.
    """
    w = as_float_array("weights", weights, ndim=2)
    n_out = w.shape[0]
    if mapping.w_max is not None:
        wmax = np.full(n_out, float(mapping.w_max))
    elif mapping.scaling == "array":
        wmax = np.full(n_out, float(np.abs(w).max()) if w.size else 0.0)
    else:
        wmax = np.abs(w).max(axis=1) if w.shape[1] else np.zeros(n_out)
    qmax = max_level_count(mapping, device)
    wmax = np.where(wmax > 0, wmax, 1.0)
    if qmax == 0:
        return wmax
    return wmax / qmax


def weights_to_levels(
    weights: np.ndarray, mapping: MappingConfig, device: DeviceParams, scales: np.ndarray
) -> np.ndarray:
    """Levels of every cell: ``[n_slices, n_polarities, n_out, n_in]`` (float; integers if quantised).

    Weights beyond the representable range are clipped.
    """
    w = as_float_array("weights", weights, ndim=2)
    check_mapping_device(mapping, device)
    n_out, n_in = w.shape
    s = as_float_array("scales", scales, ndim=1, shape=(n_out,))
    q = w / s[:, None]
    qmax = max_level_count(mapping, device)
    if mapping.quantize:
        q = np.rint(q)
    q = np.clip(q, -qmax, qmax)
    L = device.n_levels
    out = np.zeros((mapping.n_slices, mapping.n_polarities, n_out, n_in))
    if mapping.scheme == "offset":
        out[0, 0] = q + (L - 1) // 2
        return out
    mag = np.abs(q)
    for k in range(mapping.n_slices):
        if mapping.n_slices == 1:
            digit = mag
        else:
            digit = np.floor_divide(mag, L**k) % L
        out[k, 0] = np.where(q > 0, digit, 0.0)
        out[k, 1] = np.where(q < 0, digit, 0.0)
    return out


def levels_to_weights(
    levels: np.ndarray, mapping: MappingConfig, device: DeviceParams, scales: np.ndarray
) -> np.ndarray:
    """Inverse of :func:`weights_to_levels` (real-valued levels allowed): ``[n_out, n_in]``."""
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim != 4 or lv.shape[:2] != (mapping.n_slices, mapping.n_polarities):
        raise CrossbarError(
            f"levels: expected shape ({mapping.n_slices}, {mapping.n_polarities}, n_out, n_in), "
            f"got {lv.shape}"
        )
    L = device.n_levels
    if mapping.scheme == "offset":
        q = lv[0, 0] - (L - 1) // 2
    else:
        base = float(L) ** np.arange(mapping.n_slices)
        q = np.tensordot(base, lv[:, 0] - lv[:, 1], axes=1)
    return q * np.asarray(scales, dtype=np.float64)[:, None]


def levels_to_conductances(levels: np.ndarray, device: DeviceParams) -> np.ndarray:
    """``g_min_uS + level * level_step_uS`` (µS), clipped to ``[g_min_uS, g_max_uS]``."""
    g = device.g_min_uS + np.asarray(levels, dtype=np.float64) * device.level_step_uS
    return np.clip(g, device.g_min_uS, device.g_max_uS)


def conductances_to_levels(g_uS: np.ndarray, device: DeviceParams) -> np.ndarray:
    """Real-valued levels of conductances (µS): ``(g - g_min_uS) / level_step_uS``."""
    return (np.asarray(g_uS, dtype=np.float64) - device.g_min_uS) / device.level_step_uS


def weights_to_conductances(
    weights: np.ndarray, device: DeviceParams, mapping: MappingConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Map weights to target conductances.

    Returns
    -------
    g_uS : array [n_slices, n_polarities, n_out, n_in]
        Target conductances in µS, within ``[g_min_uS, g_max_uS]``.
    scales : array [n_out]
        Weight per level of the least-significant slice.
    """
    mapping = mapping or MappingConfig()
    scales = weight_scales(weights, mapping, device)
    levels = weights_to_levels(weights, mapping, device, scales)
    return levels_to_conductances(levels, device), scales


def conductances_to_weights(
    g_uS: np.ndarray, scales: np.ndarray, device: DeviceParams, mapping: MappingConfig | None = None
) -> np.ndarray:
    """Weights ``[n_out, n_in]`` that conductances ``g_uS`` represent (inverse of the above)."""
    mapping = mapping or MappingConfig()
    return levels_to_weights(conductances_to_levels(g_uS, device), mapping, device, scales)


def tile_slices(n: int, size: int) -> list[slice]:
    """Split ``range(n)`` into consecutive blocks of at most ``size``."""
    check_int("tile size", size, low=1)
    return [slice(a, min(a + size, n)) for a in range(0, n, size)]
