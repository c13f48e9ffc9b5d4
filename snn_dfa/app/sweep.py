"""Design-space sweeps: many runs of the main pipeline as independent points on Dask.

A sweep file (TOML) holds a ``[base]`` table (any run configuration, as for ``snn-dfa run``)
and the dimensions to explore, as dotted config keys:

- ``[axes]``: a grid, every combination of the listed values, e.g.
  ``"crossbar.prog_sigma_rel" = [0.0, 0.1, 0.3]``;
- ``[random]``: ``samples = N`` random draws, each key drawn from a range
  (``{low = 0.0, high = 0.1}``, ``log = true`` for log-uniform, integer bounds for integers)
  or from ``{choices = [...]}``, with a generator seeded by the base config's seed.

With both, every grid combination is crossed with the same ``N`` draws.  Each point is a full
:class:`~snn_dfa.app.config.RunConfig`, validated while the sweep is expanded (a bad value fails
before anything runs), and runs :func:`snn_dfa.app.experiment.run` on a ``dask.distributed``
worker: a local cluster of worker processes, or the workers of an existing scheduler.

Layout of the output folder::

    points/<hash>/      one finished point (results.h5, report.md, figures/); <hash> is
                        RunConfig.digest() of the point's resolved configuration
    points/.partial-*   a point in progress (removed when the next sweep starts)
    errors/<hash>.txt   why a point failed (traceback)
    table.h5, table.csv one row per point: axis values, status, headline metrics
    figures/            accuracy vs each non-ideality axis, energy and latency vs ADC bits
                        and array size, one line per rule

A point is done when ``points/<hash>/results.h5`` reads back and describes that configuration.
Points run in a staging folder that is renamed into place only when complete, so rerunning a
sweep after a crash (even SIGKILL) skips the finished points and runs each missing one once.
The output folder must be visible to every worker (one machine, or a shared filesystem).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from snn_dfa._validation import check_keys
from snn_dfa.app.config import RunConfig, config_from_dict, read_toml, show
from snn_dfa.app.outdir import check_out
from snn_dfa.app.progress import Progress, as_progress, format_duration
from snn_dfa.errors import ConfigError, DataError, SnnDfaError
from snn_dfa.rules import registry

#: Crossbar non-idealities whose axes get an accuracy-after-adaptation figure.
NONIDEALITY_KEYS = ("crossbar.prog_sigma_rel", "crossbar.prog_noise_scale",
                    "crossbar.time_at_deployment_s", "crossbar.read_sigma_rel",
                    "crossbar.c2c_sigma_rel", "crossbar.sa0_fraction", "crossbar.sa1_fraction",
                    "crossbar.drift_nu", "crossbar.ir_drop")
#: Hardware sizes whose axes get an energy and latency figure.
COST_KEYS = ("crossbar.adc_bits", "crossbar.array_size")

#: The cost columns the cost figures draw: summary suffix, scale to the unit, axis label.
COST_COLUMNS = (("energy_pJ_per_learned_window", 1e-3, "energy per learned window (nJ)"),
                ("latency_ns_per_learned_window", 1e-3, "latency per learned window (us)"))
#: Most lines per panel (one per combination of the other axes) before figures show means.
MAX_SERIES = 8
#: Human names of the configuration keys a sweep varies: key -> (name, unit).
AXIS_NAMES = {
    "scenario": ("scenario", ""),
    "seed": ("seed", ""),
    "data.adapt_subjects": ("adaptation subjects", ""),
    "data.adapt_fraction": ("share of blocks that adapt", ""),
    "data.block_windows": ("block length", "windows"),
    "data.max_pretrain_windows": ("pre-training windows", "0 = all"),
    "model.channels": ("channels per layer", ""),
    "model.kernel_size": ("kernel size", "steps"),
    "model.beta": ("membrane leak per step", ""),
    "model.threshold": ("firing threshold", ""),
    "pretrain.rule": ("pre-training rule", ""),
    "pretrain.epochs": ("pre-training epochs", ""),
    "pretrain.batch_size": ("pre-training batch size", "windows"),
    "pretrain.lr": ("pre-training learning rate", ""),
    "crossbar.device": ("device preset", ""),
    "crossbar.array_size": ("array size", "rows = columns"),
    "crossbar.adc_bits": ("ADC resolution", "bits"),
    "crossbar.adc_full_scale_fraction": ("ADC full scale", "fraction of the largest current"),
    "crossbar.columns_per_adc": ("columns per ADC", ""),
    "crossbar.ir_drop": ("IR-drop model", ""),
    "crossbar.prog_sigma_rel": ("programming spread", "relative to the conductance range"),
    "crossbar.read_sigma_rel": ("read noise", "relative"),
    "crossbar.sa0_fraction": ("stuck-at-Gmin devices", "fraction of devices"),
    "crossbar.sa1_fraction": ("stuck-at-Gmax devices", "fraction of devices"),
    "crossbar.drift_nu": ("conductance drift exponent", ""),
    "crossbar.c2c_sigma_rel": ("write noise, cycle to cycle", "relative"),
    "adapt.rules": ("rules", ""),
    "adapt.epochs": ("adaptation epochs", ""),
    "adapt.order": ("adaptation order", ""),
    "adapt.lr": ("adaptation learning rate", ""),
    "adapt.sfdfa_feedback_lr": ("SFDFA feedback learning rate", ""),
    "hwsim.tech": ("technology preset", ""),
    "hwsim.feedback_storage": ("feedback matrix storage", ""),
}

_PARTIAL = ".partial-"
#: random draws of one sweep: beyond this the expansion alone would take minutes [assumption]
MAX_SAMPLES = 100_000
SCENARIO = "scenario"  # the axis of named scenarios
_MISSING_EXTRA = ("snn-dfa sweep needs dask.distributed, which is not installed; "
                  "install the extra: pip install 'snn-dfa[sweep]'")


class SweepError(SnnDfaError):
    """A sweep cannot start: missing extra, unreachable scheduler, bad runner arguments."""


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its axis values and resolved configuration."""

    key: str  # RunConfig.digest() of ``config``: the point's folder name
    values: Mapping[str, Any]  # axis key -> value, in the sweep's axis order
    config: RunConfig


@dataclass(frozen=True)
class Sweep:
    """An expanded sweep: the base configuration, the axis keys and the unique points."""

    base: RunConfig
    axes: tuple[str, ...]
    points: tuple[Point, ...]
    spec: Mapping[str, Any]  # the sweep file as parsed


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` did: counts, and where the aggregate went."""

    out_dir: Path
    n_points: int
    n_skipped: int  # finished before this call
    n_ran: int  # finished by this call
    failed: tuple[str, ...]  # keys of the points that failed in this call
    table_h5: Path
    table_csv: Path
    figures: tuple[Path, ...]


# --- the sweep file ---------------------------------------------------------------------------

def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """Set ``tree["a"]["b"] = value`` for ``key = "a.b"``, creating tables on the way."""
    *parents, leaf = key.split(".")
    node = tree
    for i, name in enumerate(parents):
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise ConfigError(f"axis {key!r}: {'.'.join(parents[:i + 1])!r} is not a table")
        node = child
    node[leaf] = value


def _check_values(where: str, values: Any) -> list[Any]:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}={values!r}: expected a non-empty list of values")
    return values


def _number(where: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}={value!r}: expected a finite number")
    return value


def _draw(key: str, spec: Any, rng: np.random.Generator) -> Any:
    """One random value for ``key`` from its ``[random]`` entry."""
    where = f"random.{key}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}={spec!r}: expected a table {{low, high[, log]}} "
                          "or {choices}")
    if "choices" in spec:
        check_keys(where, spec, ["choices"])
        choices = _check_values(f"{where}.choices", spec["choices"])
        return choices[int(rng.integers(len(choices)))]
    check_keys(where, spec, ["low", "high", "log"])
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: expected both 'low' and 'high' (or 'choices')")
    low, high = _number(f"{where}.low", spec["low"]), _number(f"{where}.high", spec["high"])
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log={log!r}: expected true or false")
    if low > high:
        raise ConfigError(f"{where}: low={low!r} > high={high!r}; expected low <= high")
    if isinstance(low, int) and isinstance(high, int):
        if log:
            raise ConfigError(f"{where}: log=true needs float bounds; "
                              "for integers list them as choices")
        return int(rng.integers(low, high + 1))
    if log:
        if low <= 0:
            raise ConfigError(f"{where}.low={low!r}: log=true expects low > 0")
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))


def sweep_from_dict(data: Mapping[str, Any]) -> Sweep:
    """Expand a parsed sweep file into validated points.

    Parameters
    ----------
    data : mapping
        ``{"base": {...}, "scenarios": {"name": {"section.field": value, ...}, ...},
        "axes": {"section.field": [values]}, "random": {"samples": N,
        "section.field": {"low": .., "high": .., "log": bool} | {"choices": [..]}}}``;
        ``base`` may be omitted (defaults), and at least one of ``scenarios``, ``axes`` or
        ``random`` given. A scenario is a named set of settings applied together on top of
        ``base``; the scenarios form the first axis, ``"scenario"``, whose values are their
        names (a scenario may be an empty table: the base itself).

    Returns
    -------
    Sweep
        Points in grid order (last axis fastest) crossed with the random draws; points with
        the same resolved configuration appear once.

    Raises
    ------
    ConfigError
        Unknown sections or keys, empty axes, bad ranges, or a point whose configuration is
        invalid (the message names the point's axis values).
    """
    check_keys("sweep", data, ["base", "scenarios", "axes", "random"])
    base_dict = data.get("base", {})
    if not isinstance(base_dict, dict):
        raise ConfigError(f"[base]: expected a table, got {base_dict!r}")
    base = config_from_dict(base_dict)
    scenarios = data.get("scenarios", {})
    grid = data.get("axes", {})
    random = dict(data.get("random", {}))
    if not all(isinstance(t, dict) for t in (scenarios, grid, random)):
        raise ConfigError("[scenarios], [axes] and [random]: expected tables")
    if not grid and not random and not scenarios:
        raise ConfigError("sweep: expected a [scenarios], [axes] or [random] table")
    for name, settings in scenarios.items():
        if not isinstance(settings, dict):
            raise ConfigError(f"scenarios.{name}={settings!r}: expected a table of "
                              "\"section.field\" = value")
        if SCENARIO in settings:
            raise ConfigError(f"scenarios.{name}: {SCENARIO!r} cannot be set inside a scenario")
    if SCENARIO in grid or SCENARIO in random:
        raise ConfigError(f"{SCENARIO!r}: reserved for the names of [scenarios]")
    if scenarios:
        grid = {SCENARIO: list(scenarios)} | dict(grid)
    grid_values = [_check_values(f"axes.{k}", v) for k, v in grid.items()]
    draws: list[dict[str, Any]] = [{}]
    if random:
        samples = random.pop("samples", None)
        if (isinstance(samples, bool) or not isinstance(samples, int)
                or not 1 <= samples <= MAX_SAMPLES):
            raise ConfigError(f"random.samples={show(samples)}: expected an integer from 1 to "
                              f"{MAX_SAMPLES}")
        if not random:
            raise ConfigError("[random]: expected at least one key to draw besides 'samples'")
        overlap = sorted(set(random) & set(grid))
        if overlap:
            raise ConfigError(f"{overlap[0]!r}: in both [axes] and [random]; expected one")
        rng = np.random.default_rng([base.seed, 9])
        draws = [{k: _draw(k, spec, rng) for k, spec in random.items()} for _ in range(samples)]
    axes = tuple(grid) + tuple(random)
    points: dict[str, Point] = {}
    for combo in itertools.product(*grid_values):
        for draw in draws:
            values = dict(zip(grid, combo)) | draw
            tree = json.loads(json.dumps(base.to_dict()))
            settings = dict(scenarios.get(values[SCENARIO], {})) if scenarios else {}
            settings |= {k: v for k, v in values.items() if k != SCENARIO}
            for k, v in settings.items():
                _set_dotted(tree, k, v)
            try:
                config = config_from_dict(tree)
            except ConfigError as exc:
                raise ConfigError(f"sweep point {json.dumps(values)}: {exc}") from exc
            key = config.digest()
            if key in points and SCENARIO in values and (
                    points[key].values[SCENARIO] != values[SCENARIO]):
                raise ConfigError(f"scenarios {points[key].values[SCENARIO]!r} and "
                                  f"{values[SCENARIO]!r} give the same configuration; "
                                  "expected scenarios that differ")
            points.setdefault(key, Point(key, values, config))
    return Sweep(base, axes, tuple(points.values()), dict(data))


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Read and expand a sweep file (see :func:`sweep_from_dict`)."""
    return sweep_from_dict(read_toml(path, "sweep file"))


# --- running ----------------------------------------------------------------------------------

def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise SweepError(_MISSING_EXTRA) from exc
    return distributed


def point_done(point_dir: str | os.PathLike[str], key: str) -> bool:
    """Whether ``point_dir`` holds a finished point: its results file reads back, has the
    headline summary, and its configuration hashes to ``key``."""
    from snn_dfa.app.results import read_results

    path = Path(point_dir) / "results.h5"
    if not path.is_file():
        return False
    try:
        res = read_results(path)
        return "summary" in res["metrics"] and config_from_dict(res["config"]).digest() == key
    except (DataError, ConfigError):
        return False


def _run_point(config: dict[str, Any], point_dir: str, cache_dir: str | None) -> str:
    """Worker task: run one point in a staging folder and rename it into ``point_dir``."""
    from snn_dfa.app.experiment import run

    target = Path(point_dir)
    staging = Path(tempfile.mkdtemp(prefix=f"{_PARTIAL}{target.name}-", dir=target.parent))
    try:
        run(config_from_dict(config), staging / "run", cache_dir=cache_dir)
        if target.exists():  # a folder that did not pass point_done: replace it
            shutil.rmtree(target)
        (staging / "run").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target.name


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def _folders(*folders: Path) -> Iterator[None]:
    """Create ``folders`` once the scheduler answered (an unreachable one leaves nothing)."""
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    yield


@contextmanager
def _client(distributed: Any, scheduler: str | None, workers: int) -> Iterator[Any]:
    """A client of ``scheduler``, or of a local cluster of ``workers`` processes."""
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"scheduler={scheduler!r}: cannot connect ({exc})") from exc
        with client:
            yield client
        return
    # no dashboard; the scheduler's remaining HTTP routes (health, metrics) would still bind
    # the fixed port 8787 (distributed falls back to it), so they get a free port instead
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": ":0"},
                                  silence_logs=logging.CRITICAL
                                  ) as cluster, distributed.Client(cluster) as client:
        yield client


def run_sweep(sweep: Sweep, out_dir: str | os.PathLike[str], scheduler: str | None = None,
              workers: int | None = None, cache_dir: str | os.PathLike[str] | None = None,
              progress: Progress | bool = False) -> SweepResult:
    """Run every unfinished point of ``sweep`` on Dask, then aggregate.

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep` or :func:`sweep_from_dict`.
    out_dir : path
        Output folder (layout in the module docstring); must be visible to every worker.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler; by default a local cluster.
    workers : int, optional
        Worker processes of the local cluster (one thread each); default: the CPU count.
        Not allowed with ``scheduler`` (that cluster has its own workers).
    cache_dir : path, optional
        Pre-training cache folder handed to :func:`snn_dfa.app.experiment.run` on the workers.
    progress : Progress or bool
        Stage lines (one per finished point) and, on a terminal, a bar over points; ``True``
        for both on stderr. Failures are printed whatever this is.

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepError
        dask.distributed is not installed, the scheduler cannot be reached, or bad arguments.
        A point that fails does not raise: its traceback goes to ``errors/<hash>.txt`` and
        its row of the table says ``failed``.
    """
    progress = as_progress(progress)
    distributed = _import_distributed()
    if scheduler is not None and workers is not None:
        raise SweepError(f"workers={workers}: only for the local cluster, not with a scheduler")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"workers={workers!r}: expected an integer >= 1")
    out = check_out(out_dir, resumable=True).resolve()
    points_dir, errors_dir = out / "points", out / "errors"
    if points_dir.is_dir():
        for stale in points_dir.glob(f"{_PARTIAL}*"):  # points a killed sweep left half-done
            shutil.rmtree(stale, ignore_errors=True)
    todo = [p for p in sweep.points if not point_done(points_dir / p.key, p.key)]
    for key in {p.key for p in sweep.points} - {p.key for p in todo}:  # done: no stale error
        (errors_dir / f"{key}.txt").unlink(missing_ok=True)
    cache = str(Path(cache_dir).resolve()) if cache_dir is not None else None
    failed = []
    where = f"scheduler {scheduler}" if scheduler else f"{workers} local worker(s)"
    progress.stage(f"sweep: {len(sweep.points)} points, {len(sweep.points) - len(todo)} "
                   f"finished earlier, {len(todo)} to run on {where}")
    if todo:
        with _client(distributed, scheduler, workers) as client, \
                _folders(points_dir, errors_dir), \
                progress.bar(len(todo), "sweep", "point") as bar:
            futures = {client.submit(_run_point, p.config.to_dict(), str(points_dir / p.key),
                                     cache, key=f"snn-dfa-point-{p.key}", pure=False): p
                       for p in todo}
            for n_done, future in enumerate(distributed.as_completed(futures), start=1):
                point = futures[future]
                error_file = errors_dir / f"{point.key}.txt"
                try:
                    future.result()
                    error_file.unlink(missing_ok=True)
                    progress.stage(f"sweep: point {n_done}/{len(todo)} done: "
                                   f"{_values_text(point.values)} ({point.key})")
                except Exception as exc:  # noqa: BLE001 - a point's failure is recorded, not raised
                    text = "".join(traceback.format_exception(exc))
                    _write_atomic(error_file, (f"point {point.key} "
                                               f"{json.dumps(dict(point.values))}\n\n{text}"
                                               ).encode())
                    failed.append(point.key)
                    message = (f"sweep: point {n_done}/{len(todo)} failed: "
                               f"{_values_text(point.values)} ({point.key}): {_last_line(text)}")
                    if progress.quiet:
                        print(f"snn-dfa {message}", file=sys.stderr)
                    progress.stage(message)
                bar.update()
    progress.stage("sweep: writing table.h5, table.csv and figures/")
    table_h5, table_csv, figures = aggregate(sweep, out)
    return SweepResult(out, len(sweep.points), len(sweep.points) - len(todo),
                       len(todo) - len(failed), tuple(failed), table_h5, table_csv, figures)


def axis_label(key: str, short: bool = False) -> str:
    """The human name of a sweep axis, with its unit unless ``short``."""
    name, unit = AXIS_NAMES.get(key, (key, ""))
    return name if short or not unit else f"{name} ({unit})"


def _value_text(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    if isinstance(value, np.integer):
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def _values_text(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{axis_label(k, short=True)} = {_value_text(v)}"
                     for k, v in values.items()) or "the base configuration"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


# --- aggregation ------------------------------------------------------------------------------

def _axis_column(values: list[Any]) -> np.ndarray:
    """One axis as a typed column: bool, int64, float64, or strings (JSON for lists)."""
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array([v if isinstance(v, str) else json.dumps(v) for v in values], dtype=object)


def collect(sweep: Sweep, out_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The aggregate table, read from the point folders and error files.

    Returns
    -------
    dict of str to ndarray [n_points]
        ``key``, ``status`` ("done", "failed" or "pending"), one column per axis (named by its
        dotted key), one per headline metric of ``metrics["summary"]`` (NaN where a point has
        none), and ``error`` (the last line of the point's error, empty when none).
    """
    from snn_dfa.app.results import read_results

    out = Path(out_dir)
    status, errors, summaries = [], [], []
    for p in sweep.points:
        summary: dict[str, float] = {}
        error = ""
        if point_done(out / "points" / p.key, p.key):
            state = "done"
            res = read_results(out / "points" / p.key / "results.h5")
            summary = {k: float(v) for k, v in res["metrics"]["summary"].items()}
        elif (out / "errors" / f"{p.key}.txt").is_file():
            state = "failed"
            error = _last_line((out / "errors" / f"{p.key}.txt").read_text())
        else:
            state = "pending"
        status.append(state)
        errors.append(error)
        summaries.append(summary)
    table: dict[str, np.ndarray] = {
        "key": np.array([p.key for p in sweep.points], dtype=object),
        "status": np.array(status, dtype=object)}
    for axis in sweep.axes:
        table[axis] = _axis_column([p.values[axis] for p in sweep.points])
    metric_names = sorted({k for s in summaries for k in s})
    for name in metric_names:
        table[name] = np.array([s.get(name, np.nan) for s in summaries], dtype=np.float64)
    table["error"] = np.array(errors, dtype=object)
    return table


def _table_h5(table: Mapping[str, np.ndarray], sweep: Sweep) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["format"] = "snn-dfa sweep table v1"
        f.attrs["columns"] = json.dumps(list(table))
        f.attrs["axes"] = json.dumps(list(sweep.axes))
        f.attrs["sweep"] = json.dumps(sweep.spec, sort_keys=True, default=str)
        group = f.create_group("table")
        for name, column in table.items():
            if column.dtype == object:
                group.create_dataset(name, data=column.astype(str).tolist(),
                                     dtype=h5py.string_dtype())
            else:
                group.create_dataset(name, data=column)
    return buffer.getvalue()


def read_table(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read ``table.h5`` back: columns in their written order, strings as ``str`` objects."""
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != "snn-dfa sweep table v1":
                raise DataError(f"{path}: not an snn-dfa sweep table (no format marker)")
            out = {}
            for name in json.loads(f.attrs["columns"]):
                data = f["table"][name]
                out[name] = (data.asstr()[()].astype(object) if h5py.check_string_dtype(data.dtype)
                             else data[()])
            return out
    except (OSError, KeyError) as exc:
        raise DataError(f"{path}: cannot read sweep table ({exc})") from exc


def _csv_cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, np.bool_ | bool):
        return "true" if value else "false"
    return str(value)


def _table_csv(table: Mapping[str, np.ndarray]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(list(table))
    for row in zip(*table.values()):
        writer.writerow([_csv_cell(v) for v in row])
    return text.getvalue().encode()


def _x_positions(column: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """Numeric axis values, or category positions (order of appearance) and their labels."""
    if column.dtype != object:
        return column.astype(np.float64), None
    labels = list(dict.fromkeys(column.tolist()))
    return np.array([labels.index(v) for v in column], dtype=np.float64), labels


def _series(table: Mapping[str, np.ndarray], axis: str, axes: Sequence[str]
            ) -> list[tuple[str, np.ndarray]]:
    """The rows of each combination of the other axes: ``(legend text, row mask)``; one
    series when there are no other axes or more than :data:`MAX_SERIES` combinations (then
    each x shows the mean over the other axes)."""
    others = [a for a in axes if a != axis]
    if not others:
        return [("", np.ones(len(table["key"]), bool))]
    combos = [tuple(table[a][i] for a in others) for i in range(len(table["key"]))]
    unique = list(dict.fromkeys(combos))
    if len(unique) > MAX_SERIES:
        return [("mean over the other axes", np.ones(len(combos), bool))]
    return [(", ".join(f"{axis_label(a, short=True)} = {_value_text(v)}"
                       for a, v in zip(others, combo)),
             np.array([c == combo for c in combos])) for combo in unique]


def _format_x(ax: Any, column: np.ndarray, labels: list[str] | None) -> None:
    """Ticks at the swept values (integers as integers, categories by name) and a log scale
    for positive values spanning two decades or more (the figure names the axis once)."""
    from matplotlib.ticker import MaxNLocator

    if labels is not None:
        ax.set_xticks(range(len(labels)), labels)
    else:
        values = np.unique(column.astype(np.float64))
        if values.min() > 0 and values.max() / values.min() >= 100:
            ax.set_xscale("log")
        if len(values) <= 8:
            ax.set_xticks(values, [_value_text(v) for v in np.unique(column)])
            ax.minorticks_off()
        elif column.dtype.kind in "iu":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _figures(table: Mapping[str, np.ndarray], axes: Sequence[str], folder: Path) -> list[Path]:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    done = table["status"] == "done"
    rules = [r for r in registry.names() if f"{r}_final_accuracy_pct" in table]
    written: list[Path] = []
    if not rules:  # no point has finished
        return written

    def save(fig: Any, name: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        _write_atomic(folder / name, buffer.getvalue())
        written.append(folder / name)

    def draw(ax: Any, x: np.ndarray, y: np.ndarray, mask: np.ndarray, style: str,
             colour: Any, gid: str) -> None:
        ok = mask & done & np.isfinite(y)
        if ok.any():
            xs = np.unique(x[ok])
            ax.plot(xs, [y[ok][x[ok] == v].mean() for v in xs], style, color=colour,
                    marker="o", markersize=4, gid=gid)

    def legend(fig: Any, series: list[tuple[str, np.ndarray]], extra: list[Any]) -> None:
        handles = [Line2D([], [], color=_series_colour(k, len(series)), lw=2, label=text)
                   for k, (text, _) in enumerate(series) if text] + extra
        if handles:
            fig.legend(handles=handles, loc="outside lower center", fontsize=8,
                       ncols=min(3, len(handles)))

    for axis in (a for a in axes if a in NONIDEALITY_KEYS):
        x_all, labels = _x_positions(table[axis])
        series = _series(table, axis, axes)
        fig = Figure(figsize=(3.6 * len(rules) + 0.6, 3.6 + 0.25 * len(series)),
                     layout="constrained")
        panels = fig.subplots(1, len(rules), squeeze=False, sharey=True)[0]
        for ax, r in zip(panels, rules):
            for k, (_, mask) in enumerate(series):
                colour = _series_colour(k, len(series))
                draw(ax, x_all, table[f"{r}_final_accuracy_pct"], mask, "-", colour,
                     f"final:{r}:{k}")
                draw(ax, x_all, table[f"{r}_deployed_accuracy_pct"], mask, "--", colour,
                     f"deployed:{r}:{k}")
            _format_x(ax, table[axis], labels)
            ax.set_title(registry.label(r))
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
        panels[0].set_ylabel("held-out accuracy (%)")
        legend(fig, series, [Line2D([], [], color="grey", ls="-", label="after adaptation"),
                             Line2D([], [], color="grey", ls="--", label="right after "
                                    "deployment")])
        panels[len(panels) // 2].set_xlabel(axis_label(axis))  # once, under the middle panel
        fig.suptitle(f"Accuracy against {axis_label(axis, short=True)} (mean over subjects)")
        save(fig, f"accuracy_vs_{axis.split('.')[-1]}.png")
    for axis in (a for a in axes if a in COST_KEYS):
        x_all, labels = _x_positions(table[axis])
        series = _series(table, axis, axes)
        fig = Figure(figsize=(3.6 * len(rules) + 0.6, 6.2 + 0.25 * len(series)),
                     layout="constrained")
        grid = fig.subplots(len(COST_COLUMNS), len(rules), squeeze=False, sharey="row")
        for row, (suffix, scale, ylabel) in enumerate(COST_COLUMNS):
            for ax, r in zip(grid[row], rules):
                for k, (_, mask) in enumerate(series):
                    draw(ax, x_all, scale * table[f"{r}_{suffix}"], mask, "-",
                         _series_colour(k, len(series)), f"{suffix}:{r}:{k}")
                _format_x(ax, table[axis], labels)
                ax.set_ylim(bottom=0)
                ax.grid(alpha=0.3)
                if row == 0:
                    ax.set_title(registry.label(r))
            grid[row][0].set_ylabel(ylabel)
        legend(fig, series, [])
        grid[-1][len(rules) // 2].set_xlabel(axis_label(axis))  # once, under the middle panel
        fig.suptitle(f"Costs against {axis_label(axis, short=True)}")
        save(fig, f"costs_vs_{axis.split('.')[-1]}.png")
    return written


def _series_colour(k: int, n: int) -> Any:
    from matplotlib import colormaps

    return "C0" if n == 1 else colormaps["viridis"](0.85 * k / (n - 1))


def aggregate(sweep: Sweep, out_dir: str | os.PathLike[str]
              ) -> tuple[Path, Path, tuple[Path, ...]]:
    """Write ``table.h5``, ``table.csv`` (atomically) and ``figures/`` from the point folders.

    Returns
    -------
    (table_h5, table_csv, figures)
    """
    out = Path(out_dir)
    table = collect(sweep, out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "table.h5", _table_h5(table, sweep))
    _write_atomic(out / "table.csv", _table_csv(table))
    figures = _figures(table, sweep.axes, out / "figures")
    if SCENARIO in sweep.axes and "seed" in sweep.axes and (table["status"] == "done").any():
        from snn_dfa.app.study import write_study

        figures += [p for p in write_study(sweep, out) if p.suffix == ".png"]
    return out / "table.h5", out / "table.csv", tuple(figures)


# --- before and after a sweep: the plan and the summary -----------------------------------------

#: Windows of each held-out subject's UCI HAPT stream (counted from the data), for estimates.
STREAM_WINDOWS = {2: 537, 4: 522, 9: 495, 10: 577, 12: 509, 13: 544, 18: 660, 20: 585, 24: 624}
#: Labelled pre-training windows of UCI HAPT (the UCI-HAR training subjects).
TRAIN_WINDOWS = 7143
#: Seconds of pre-training per window and epoch: a fixed part and a part per weight-step
#: (weights x time steps); the same for on-chip adaptation per window, epoch and rule; and
#: per point for everything else.  Fitted to the demo and a tiny run on 2 shared cores
#: [measured, rough: a factor of 2 either way with the machine and its load].
PRETRAIN_S_PER_WINDOW, PRETRAIN_S_PER_WEIGHT_STEP = 5e-4, 3.2e-10
ADAPT_S_PER_WINDOW, ADAPT_S_PER_WEIGHT_STEP = 1e-2, 5e-9
POINT_OVERHEAD_S = 15.0


def _weight_steps(config: RunConfig) -> float:
    """Weights of the network times its time steps: the work of one window, roughly."""
    from snn_dfa.engine.layers import SynapticLayer
    from snn_dfa.engine.models import build_model

    m = config.model
    net = build_model(m.name, 9, 6, 128, {"channels": m.channels, "kernel_size": m.kernel_size,
                                          "beta": m.beta, "threshold": m.threshold}, seed=0)
    weights = 0
    for i in net.synaptic_layers:
        layer = net.layers[i]
        assert isinstance(layer, SynapticLayer)
        weights += layer.n_out * layer.fan_in
    return float(weights) * 128


def estimate_seconds(sweep: Sweep, cache_dir: str | os.PathLike[str] | None = None
                     ) -> tuple[float, int]:
    """A rough estimate of a sweep's compute time (seconds, summed over points) and the number
    of pre-trainings it needs (points sharing data, model, pre-training settings and seed
    share one; cached ones cost nothing)."""
    from snn_dfa.app.experiment import pretrain_cache_path, pretrain_sources

    total, pretrainings = 0.0, set()
    for p in sweep.points:
        c = p.config
        work = _weight_steps(c)
        for rule in dict.fromkeys(pretrain_sources(c).values()):
            path = pretrain_cache_path(c, rule, cache_dir)
            if path in pretrainings or path.is_file():
                continue
            pretrainings.add(path)
            n = c.data.max_pretrain_windows or TRAIN_WINDOWS
            total += (min(n, TRAIN_WINDOWS) * c.pretrain.epochs
                      * (PRETRAIN_S_PER_WINDOW + PRETRAIN_S_PER_WEIGHT_STEP * work))
        windows = sum(c.data.adapt_fraction * STREAM_WINDOWS.get(s, 550)
                      for s in c.data.adapt_subjects)
        total += (windows * c.adapt.epochs * len(c.adapt.rules)
                  * (ADAPT_S_PER_WINDOW + ADAPT_S_PER_WEIGHT_STEP * work) + POINT_OVERHEAD_S)
    return total, len(pretrainings)


def describe_sweep(sweep: Sweep, out_dir: str | os.PathLike[str], workers: int | None = None,
                   cache_dir: str | os.PathLike[str] | None = None) -> str:
    """What ``snn-dfa sweep --dry-run`` prints: every point with its axis values and whether it
    finished earlier in ``out_dir``, and a rough time estimate."""
    out = Path(out_dir)
    workers = workers or os.cpu_count() or 1
    done = [point_done(out / "points" / p.key, p.key) for p in sweep.points]
    header = ["#", "point"] + [axis_label(a, short=True) for a in sweep.axes] + ["state"]
    rows = [[str(i + 1), p.key] + [_value_text(p.values[a]) for a in sweep.axes]
            + ["finished" if d else "to run"] for i, (p, d) in enumerate(zip(sweep.points, done))]
    from snn_dfa.app.report import format_console

    todo = Sweep(sweep.base, sweep.axes,
                 tuple(p for p, d in zip(sweep.points, done) if not d), sweep.spec)
    seconds, pretrainings = estimate_seconds(todo, cache_dir)
    parallel = min(workers, max(1, len(todo.points)))
    return "\n".join([
        f"sweep: {len(sweep.points)} points over "
        + (" x ".join(f"{axis_label(a, short=True)} ({len({_value_text(p.values[a]) for p in sweep.points})})"
                      for a in sweep.axes) or "no axes"),
        format_console(header, rows),
        f"{sum(done)} finished earlier in {out}, {len(todo.points)} to run, needing "
        f"{pretrainings} pre-training(s) not yet cached",
        f"estimated time: about {format_duration(seconds / parallel)} on {parallel} worker(s) "
        f"({format_duration(seconds)} of compute; a rough figure scaled from the demo's speed "
        "on 2 cores, off by a factor of 2 either way)",
    ])


def summary_table(table_h5: str | os.PathLike[str], max_rows: int = 15) -> str:
    """A short text summary of a sweep table: per point, its axis values, status and, per
    rule, the held-out accuracy after adaptation (%) and the energy per learned window (nJ)."""
    from snn_dfa.app.report import format_console

    with h5py.File(table_h5, "r") as f:
        axes = json.loads(f.attrs["axes"])
    table = read_table(table_h5)
    rules = [r for r in registry.names() if f"{r}_final_accuracy_pct" in table]
    energy, scale, _ = COST_COLUMNS[0]
    header = [axis_label(a, short=True) for a in axes] + ["status"]
    for r in rules:
        header += [f"{registry.label(r)} acc. (%)", f"{registry.label(r)} nJ/window"]
    rows = []
    for i in range(len(table["key"])):
        row = [_value_text(table[a][i]) for a in axes] + [str(table["status"][i])]
        for r in rules:
            acc, e = table[f"{r}_final_accuracy_pct"][i], table[f"{r}_{energy}"][i]
            row += ["" if np.isnan(acc) else f"{acc:.1f}", "" if np.isnan(e) else f"{scale * e:.1f}"]
        rows.append(row)
    text = format_console(header, rows[:max_rows])
    if len(rows) > max_rows:
        text += f"\n... {len(rows) - max_rows} more rows in table.csv"
    return text
