"""Validation helpers of the crossbar package (which never imports snn_dfa).

Every failure raises :class:`~crossbar.errors.CrossbarError` naming the parameter, the value
received and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from crossbar.errors import CrossbarError

SeedLike = int | np.random.Generator | None


def check_random_state(seed: SeedLike) -> np.random.Generator:
    """A ``np.random.Generator`` from an int seed, a Generator or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise CrossbarError(
        f"seed={seed!r}: expected a non-negative int, a numpy.random.Generator or None"
    )


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """A finite real number within ``[low, high]``; returned as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CrossbarError(f"{name}={value!r}: expected a real number")
    v = float(value)
    if not math.isfinite(v):
        raise CrossbarError(f"{name}={value!r}: expected a finite number")
    if low is not None and v < low:
        raise CrossbarError(f"{name}={value!r}: expected a value >= {low}")
    if high is not None and v > high:
        raise CrossbarError(f"{name}={value!r}: expected a value <= {high}")
    return v


def check_positive(name: str, value: Any) -> float:
    """A finite real number > 0."""
    v = check_real(name, value)
    if not v > 0:
        raise CrossbarError(f"{name}={value!r}: expected a value > 0")
    return v


def check_int(name: str, value: Any, *, low: int | None = None) -> int:
    """An int (not bool) ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise CrossbarError(f"{name}={value!r}: expected an int")
    if low is not None and value < low:
        raise CrossbarError(f"{name}={value!r}: expected an int >= {low}")
    return int(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """One of ``choices``; the error lists them."""
    options = list(choices)
    if value not in options:
        raise CrossbarError(f"{name}={value!r}: expected one of {', '.join(map(repr, options))}")
    return value


def as_float_array(
    name: str,
    value: Any,
    ndim: int,
    shape: tuple[int | None, ...] | None = None,
    dtype: type = np.float64,
) -> np.ndarray:
    """A finite C-contiguous float array (float64 unless ``dtype``) with ``ndim`` dimensions."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested lists
        raise CrossbarError(f"{name}: could not be read as an array ({exc})") from exc
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise CrossbarError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise CrossbarError(f"{name}: expected {ndim} dimensions, got shape {arr.shape}")
    if shape is not None and any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise CrossbarError(f"{name}: expected shape {want}, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise CrossbarError(f"{name}: contains NaN or infinite values")
    return arr
