"""Gaussian-process-regression noise model fitted to a characterisation table.

The table holds pairs ``(target, measured)``: programmed target conductance and the
conductance measured afterwards (or, just as well, the ideal and the measured output of an
MVM).  The model learns the mean ``mu(target)`` and the spread ``sigma(target)`` of the
measurements and samples ``measured ~ N(mu(target), sigma(target)^2)`` at run time.

Fit.  Rows are grouped by target (by unique target values when targets repeat, otherwise
into ``n_bins`` quantile bins); each group gives the mean and the log standard deviation of
the residuals ``measured - target``.  Two scikit-learn ``GaussianProcessRegressor`` s with a
``ConstantKernel * RBF + WhiteKernel`` kernel are fitted to these against the group's mean
target, each point carrying its known sampling variance as ``alpha`` (``s^2 / n`` for a
mean, ``1 / (2 (n - 1))`` for a log standard deviation) so that the white term only absorbs
what sampling does not explain.  Outside the table the targets are clamped to its range.

The default table ``crossbar/data/wan2022_synthetic_conductance.csv`` is synthetic, **not
chip data**: :func:`make_wan2022_synthetic_table` documents exactly how it was made.
"""

from __future__ import annotations

import csv
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

from crossbar._checks import SeedLike, as_float_array, check_int, check_random_state
from crossbar.errors import CrossbarError
from crossbar.noise import wan2022_sigma_uS

DEFAULT_TABLE = "wan2022_synthetic_conductance.csv"
_GRID_POINTS = 2049

def make_wan2022_synthetic_table(
    seed: SeedLike = 2022,
    n_levels: int = 16,
    n_per_level: int = 64,
    g_min_uS: float = 1.0,
    g_max_uS: float = 40.0,
) -> np.ndarray:
    """Synthetic characterisation table in the style of NeuRRAM programming statistics.

    ``n_levels`` equally spaced targets from ``g_min_uS`` to ``g_max_uS``; each is
    "measured" ``n_per_level`` times as ``max(0, target + sigma(target) z)``, ``z ~ N(0, 1)``
    from ``np.random.default_rng(seed)`` in target order, with ``sigma`` the published 1 s fit
    :func:`crossbar.noise.wan2022_sigma_uS`.  This is a stand-in for chip data, not chip data.

    Returns
    -------
    array [n_levels * n_per_level, 2]
        Columns ``target_uS``, ``measured_uS``.
    """
    rng = check_random_state(seed)
    check_int("n_levels", n_levels, low=2)
    check_int("n_per_level", n_per_level, low=2)
    targets = np.repeat(np.linspace(g_min_uS, g_max_uS, n_levels), n_per_level)
    measured = np.maximum(
        0.0, targets + wan2022_sigma_uS(targets) * rng.standard_normal(targets.size)
    )
    return np.column_stack([targets, measured])


def write_table_csv(path: str | Path, table: np.ndarray) -> None:
    """Write ``[N, 2]`` pairs as CSV with header ``target_uS,measured_uS`` (6 decimals)."""
    t = as_float_array("table", table, ndim=2, shape=(None, 2))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["target_uS", "measured_uS"])
        for a, b in t:
            w.writerow([f"{a:.6f}", f"{b:.6f}"])


def read_table_csv(
    path: str | Path, columns: tuple[str, str] = ("target_uS", "measured_uS")
) -> np.ndarray:
    """Read the two named columns of a CSV with a header row: ``[N, 2]`` (target, measured)."""
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            for col in columns:
                if col not in fields:
                    raise CrossbarError(
                        f"table {str(path)!r}: missing column {col!r} (found {fields})"
                    )
            rows = [(float(r[columns[0]]), float(r[columns[1]])) for r in reader]
    except (OSError, ValueError) as exc:
        raise CrossbarError(f"table {str(path)!r}: could not be read ({exc})") from exc
    return as_float_array(
        f"table {str(path)!r}", np.array(rows, dtype=np.float64).reshape(-1, 2), ndim=2
    )


def default_table_path() -> Path:
    """Path of the shipped synthetic table."""
    return Path(str(resources.files("crossbar") / "data" / DEFAULT_TABLE))


def _fit_gp(x: np.ndarray, y: np.ndarray, var: np.ndarray, scale: float) -> tuple:
    """GP on standardised ``y`` with known per-point noise variances ``var`` (as ``alpha``).

    Kernel ``C * RBF + White``: the white term absorbs any spread beyond ``var``.  Returns
    ``(regressor, y_mean, y_std)``.
    """
    # scikit-learn is imported here so that ``import crossbar`` stays light.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    mu = float(y.mean())
    sd = float(y.std()) or 1.0
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(
        length_scale=0.3 * scale, length_scale_bounds=(0.05 * scale, 10.0 * scale)
    ) + WhiteKernel(1e-3, (1e-8, 1e1))
    gp = GaussianProcessRegressor(kernel, alpha=var / sd**2, normalize_y=False)
    with warnings.catch_warnings():
        # Hyper-parameters at a bound are a property of the data, not an error here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(x, (y - mu) / sd)
    return gp, mu, sd


class GPRNoiseModel:
    """Mean and spread of measured values as smooth functions of the target.

    Parameters
    ----------
    n_bins : int
        Quantile bins used when targets do not repeat (``>= 3``).
    min_group_size : int
        Groups with fewer rows are ignored (``>= 2``).

    Attributes (after :meth:`fit`)
    ------------------------------
    group_targets_ : array [K]
        Mean target of each group.
    group_means_, group_stds_ : array [K]
        Mean and standard deviation (ddof=1) of each group, taken of ``measured - target``
        (the mean is reported with the group's mean target added back).
    target_range_ : tuple[float, float]
        Smallest and largest group target; predictions clamp targets into this range.
    grid_, grid_offset_, grid_logstd_ : array [2049]
        The fitted mean offset and log standard deviation tabulated over ``target_range_``;
        :meth:`predict` interpolates linearly between them.
    kernels_ : tuple
        The two fitted scikit-learn kernels (mean offset, log standard deviation).
    """

    def __init__(self, n_bins: int = 16, min_group_size: int = 2) -> None:
        self.n_bins = n_bins
        self.min_group_size = min_group_size

    def fit(self, target: np.ndarray, measured: np.ndarray) -> GPRNoiseModel:
        """Fit to pairs ``target [N]``, ``measured [N]``; returns ``self``."""
        check_int("n_bins", self.n_bins, low=3)
        check_int("min_group_size", self.min_group_size, low=2)
        t = as_float_array("target", target, ndim=1)
        y = as_float_array("measured", measured, ndim=1, shape=(t.size,))
        uniq, inverse = np.unique(t, return_inverse=True)
        if uniq.size * self.min_group_size > t.size:
            edges = np.quantile(t, np.linspace(0, 1, self.n_bins + 1))
            inverse = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, self.n_bins - 1)
        groups = [np.flatnonzero(inverse == k) for k in range(int(inverse.max()) + 1)]
        groups = [g for g in groups if g.size >= self.min_group_size]
        if len(groups) < 2:
            raise CrossbarError(
                f"target: expected at least 2 groups of >= {self.min_group_size} rows, "
                f"got {len(groups)} from {t.size} rows"
            )
        resid = y - t  # spread around each row's own target, so binning adds no width
        gt = np.array([t[g].mean() for g in groups])
        gm = gt + np.array([resid[g].mean() for g in groups])
        gs = np.array([resid[g].std(ddof=1) for g in groups])
        if (gs <= 0).any():
            raise CrossbarError("measured: every group needs a non-zero spread")
        n = np.array([g.size for g in groups], dtype=np.float64)
        self.group_targets_, self.group_means_, self.group_stds_ = gt, gm, gs
        self.target_range_ = (float(gt.min()), float(gt.max()))
        scale = max(float(np.ptp(gt)), 1e-12)
        x = gt[:, None]
        # Sampling variances of a group mean (s^2 / n) and of log s (1 / (2 (n - 1))).
        mean_fit = _fit_gp(x, gm - gt, gs**2 / n, scale)
        logstd_fit = _fit_gp(x, np.log(gs), 1.0 / (2.0 * (n - 1.0)), scale)
        # Tabulate both posterior means once; predictions interpolate (the GP is smooth on
        # the scale of the grid step: length scales are bounded below by 5 % of the range).
        self.grid_ = np.linspace(*self.target_range_, _GRID_POINTS)
        self.grid_offset_ = self._eval(mean_fit, self.grid_[:, None])
        self.grid_logstd_ = self._eval(logstd_fit, self.grid_[:, None])
        self.kernels_ = (mean_fit[0].kernel_, logstd_fit[0].kernel_)
        return self

    @classmethod
    def from_csv(
        cls,
        path: str | Path | None = None,
        columns: tuple[str, str] = ("target_uS", "measured_uS"),
        **kwargs: int,
    ) -> GPRNoiseModel:
        """Fit to two columns of a CSV table (``path=None``: the shipped synthetic table).

        ``columns`` names the target and measured columns, e.g. ``("ideal", "measured")``
        for normalised MVM outputs.
        """
        table = read_table_csv(default_table_path() if path is None else path, columns)
        return cls(**kwargs).fit(table[:, 0], table[:, 1])

    def _check_fitted(self) -> None:
        if not hasattr(self, "grid_"):
            raise CrossbarError("GPRNoiseModel: call fit() or from_csv() before predict/sample")

    @staticmethod
    def _eval(fit: tuple, x: np.ndarray) -> np.ndarray:
        gp, mu, sd = fit
        return mu + sd * gp.predict(x)

    def predict(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the measurement at ``target`` (any shape)."""
        self._check_fitted()
        t = np.asarray(target, dtype=np.float64)
        mean = t + np.interp(t, self.grid_, self.grid_offset_)
        std = np.exp(np.interp(t, self.grid_, self.grid_logstd_))
        return mean, std

    def sample(self, target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw ``N(mean(target), std(target)^2)`` per entry of ``target``."""
        mean, std = self.predict(target)
        return mean + std * rng.standard_normal(mean.shape)
