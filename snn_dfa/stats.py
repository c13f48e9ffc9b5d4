"""Intervals and paired comparisons for results over subjects and seeds.

A study's accuracy is a table ``values[subject, seed]``. Subjects are the main source of
spread (each has its own held-out windows), seeds the second (initialisation, devices,
stream order), and the seeds of one subject share that subject's data, so the cells are not
independent. The bootstrap here is therefore hierarchical: draw subjects with replacement,
then, within every drawn subject, draw seeds with replacement, and average. Its percentile
interval is the 95 % interval the study reports (Efron & Tibshirani 1993, ch. 13; the
two-stage resampling of clustered data: Davison & Hinkley 1997, §3.8).

Two rules are compared *paired*: on the same subject, seed, chip and stream, the difference
``a - b`` removes what both share, and the bootstrap runs on the table of differences. A rule
is said to beat another only where the paired interval excludes zero.

For a handful of independent runs (seeds of a small experiment) :func:`t_interval` gives the
classical Student-t interval of a mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

from snn_dfa.errors import ValidationError

__all__ = ["Comparison", "Interval", "bootstrap_interval", "paired_comparison", "t_interval"]


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval, in the unit of the data."""

    mean: float
    low: float
    high: float
    level: float
    n_subjects: int
    n_seeds: int

    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0

    def format(self, scale: float = 1.0, digits: int = 1) -> str:
        """``"mean [low, high]"`` with the values multiplied by ``scale`` (100 for percent)."""
        f = f"{{:.{digits}f}}"
        return (f"{f.format(self.mean * scale)} "
                f"[{f.format(self.low * scale)}, {f.format(self.high * scale)}]")


@dataclass(frozen=True)
class Comparison:
    """The paired difference ``a - b`` of two rules, and what it allows one to say."""

    a: str
    b: str
    difference: Interval

    @property
    def verdict(self) -> str:
        """``"a > b"``, ``"a < b"`` or ``"no difference shown"`` (the interval holds zero)."""
        if self.difference.low > 0.0:
            return f"{self.a} > {self.b}"
        if self.difference.high < 0.0:
            return f"{self.a} < {self.b}"
        return "no difference shown"


def _table(values: np.ndarray | list, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.size == 0:
        raise ValidationError(f"{name}: expected a non-empty table [subjects, seeds], "
                              f"got shape {np.shape(values)}")
    if not np.all(np.isfinite(v)):
        raise ValidationError(f"{name}: expected finite values, got {int(np.sum(~np.isfinite(v)))}"
                              " NaN or infinite entries")
    return v


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValidationError(f"level={level}: expected a confidence level in (0, 1)")


def bootstrap_interval(values: np.ndarray | list, level: float = 0.95, n_boot: int = 10_000,
                       seed: int | np.random.Generator = 0) -> Interval:
    """Mean of ``values [subjects, seeds]`` (or ``[subjects]``) and its hierarchical
    percentile-bootstrap interval (subjects, then seeds within subjects, with replacement).

    The resamples are drawn from ``seed`` alone, so the same table gives the same interval.
    """
    v = _table(values, "values")
    _check_level(level)
    if n_boot < 100:
        raise ValidationError(f"n_boot={n_boot}: expected at least 100 resamples")
    rng = np.random.default_rng(seed)
    n_sub, n_seed = v.shape
    subs = rng.integers(0, n_sub, size=(n_boot, n_sub))
    seeds = rng.integers(0, n_seed, size=(n_boot, n_sub, n_seed))
    means = v[subs[:, :, None], seeds].mean(axis=(1, 2))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(v.mean()), float(low), float(high), level, n_sub, n_seed)


def paired_comparison(a: np.ndarray | list, b: np.ndarray | list, names: tuple[str, str],
                      level: float = 0.95, n_boot: int = 10_000,
                      seed: int | np.random.Generator = 0) -> Comparison:
    """The paired difference ``a - b`` over the same ``[subjects, seeds]`` cells."""
    ta, tb = _table(a, names[0]), _table(b, names[1])
    if ta.shape != tb.shape:
        raise ValidationError(f"{names[0]} and {names[1]}: expected tables of the same "
                              f"[subjects, seeds] shape, got {ta.shape} and {tb.shape}")
    return Comparison(names[0], names[1], bootstrap_interval(ta - tb, level, n_boot, seed))


def t_interval(values: np.ndarray | list, level: float = 0.95) -> Interval:
    """Mean of independent runs ``values [n]`` and its Student-t interval (n >= 2)."""
    v = _table(values, "values").ravel()
    _check_level(level)
    if v.size < 2:
        raise ValidationError(f"values: expected at least 2 runs for an interval, got {v.size}")
    half = float(_sps.t.ppf(0.5 + level / 2.0, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    m = float(v.mean())
    return Interval(m, m - half, m + half, level, v.size, 1)
