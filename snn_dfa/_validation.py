"""Validation and coercion at the public boundary: done once, kernels never see bad input."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from snn_dfa.errors import ConfigError, ValidationError

SeedLike = int | np.random.Generator | None


def check_random_state(seed: SeedLike) -> np.random.Generator:
    """Return a ``np.random.Generator`` from ``seed`` (an int, a Generator or None).

    All randomness in snn_dfa flows from one generator built here; nothing seeds the
    global NumPy state.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValidationError(f"seed={seed!r}: expected a non-negative integer")
        return np.random.default_rng(seed)
    raise ValidationError(
        f"seed={seed!r}: expected an int, a numpy.random.Generator or None"
    )


def check_array(
    name: str,
    value: Any,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: Any = np.float32,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = True,
) -> np.ndarray:
    """Coerce ``value`` to a C-contiguous array of ``dtype`` and check it.

    ``shape`` entries of ``None`` match any size.  Raises :class:`ValidationError`
    naming ``name``, what was received and what was expected.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValidationError(f"{name}: could not be read as an array ({exc})") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise ValidationError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValidationError(
                f"{name}: expected {' or '.join(map(str, allowed))} dimensions, "
                f"got shape {arr.shape}"
            )
    if shape is not None:
        if arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape)
        ):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValidationError(f"{name}: expected shape {want}, got {arr.shape}")
    if dtype is not None:
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValidationError(f"{name}: contains {bad} NaN or infinite value(s)")
    return arr


def check_scalar(
    name: str,
    value: Any,
    kind: type | tuple[type, ...] = (int, float),
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> Any:
    """Check a scalar's type and range; return it unchanged."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    numeric_ok = any(k in (int, float) for k in kinds) and isinstance(
        value, (np.integer, np.floating)
    )
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds) or numeric_ok
    if float in kinds and int not in kinds and isinstance(value, (int, np.integer)):
        ok = not isinstance(value, bool)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise ValidationError(f"{name}={value!r}: expected {names}")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not np.isfinite(value):
            raise ValidationError(f"{name}={value!r}: expected a finite number")
        if low is not None and (value < low or (value == low and not low_inclusive)):
            op = ">=" if low_inclusive else ">"
            raise ValidationError(f"{name}={value!r}: expected a value {op} {low}")
        if high is not None and (value > high or (value == high and not high_inclusive)):
            op = "<=" if high_inclusive else "<"
            raise ValidationError(f"{name}={value!r}: expected a value {op} {high}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``choices``; the error lists them all."""
    options = list(choices)
    if value not in options:
        raise ValidationError(
            f"{name}={value!r}: expected one of {', '.join(map(repr, options))}"
        )
    return value


def check_keys(where: str, given: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Raise :class:`ConfigError` for the first unknown key, with a "did you mean"."""
    allowed = list(allowed)
    for key in given:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown key {key!r}{hint} (valid keys: {', '.join(sorted(allowed))})"
            )


def coerce_enum(cls: Any, name: str, value: Any) -> Any:
    """``value`` as a member of the value-Enum ``cls`` (a member or its value); the error
    lists every valid value."""
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        raise ValidationError(
            f"{name}={value!r}: expected one of {', '.join(repr(m.value) for m in cls)}"
        ) from None
