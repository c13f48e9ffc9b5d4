"""Self-describing HDF5 results, written atomically.

Layout: ``/config`` (the resolved configuration as a TOML-like JSON string
attribute), ``/provenance`` (package versions, git revision, seed, times, host cores),
``/metrics/<name>`` (arrays) and ``/costs/...`` (added by the hardware issues), with units in
attribute names.  The file is written under a temporary name in the destination folder and
renamed when complete, so an interrupted run never leaves a file that looks finished.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from snn_dfa.errors import DataError


def provenance(seed: int | None, started: datetime) -> dict[str, Any]:
    """Versions, git revision, seed, times, host cores and the thread counts of this run.

    Results are bit-identical for a given seed, library versions and BLAS thread count; the
    BLAS thread count changes the order of float reductions (see docs/engine.md,
    "Reproducibility"), so it is recorded.
    """
    import importlib.metadata as md

    import numba
    import threadpoolctl

    versions = {}
    for pkg in ("snn-dfa", "numpy", "numba", "scipy", "h5py", "scikit-learn"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return {
        "versions": versions,
        "git_revision": rev or "unknown",
        "seed": seed,
        "start_time": started.isoformat(),
        "end_time": datetime.now(UTC).isoformat(),
        "host_cores": os.cpu_count(),
        "blas_threads": max((p["num_threads"] for p in threadpoolctl.threadpool_info()
                             if p.get("user_api") == "blas"), default=0),
        "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(),
    }


def _write_group(group: h5py.Group, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, Mapping):
            _write_group(group.require_group(key), value)
        elif isinstance(value, str):
            group.create_dataset(key, data=np.bytes_(value.encode()))
        else:
            arr = np.asarray(value)
            big = arr.ndim > 0 and arr.size >= 1024
            group.create_dataset(key, data=arr, compression="gzip" if big else None)


def write_results(path: str | os.PathLike[str], config: Mapping[str, Any],
                  prov: Mapping[str, Any], metrics: Mapping[str, Any],
                  costs: Mapping[str, Any] | None = None) -> Path:
    """Write a results file atomically; nested mappings become groups, leaves datasets."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "snn-dfa results v1"
            f.create_group("config").attrs["json"] = json.dumps(config, sort_keys=True)
            f.create_group("provenance").attrs["json"] = json.dumps(prov, sort_keys=True)
            _write_group(f.create_group("metrics"), metrics)
            if costs:
                _write_group(f.create_group("costs"), costs)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a results file back into nested dicts.

    Raises DataError (one line naming the file and what is wrong) for a missing, unreadable,
    truncated or damaged file, one that is not an snn-dfa results file, or malformed embedded
    JSON; the groups ``config``, ``provenance`` and ``metrics`` must be present.
    """

    def read_group(group: h5py.Group) -> dict[str, Any]:
        return {k: read_group(v) if isinstance(v, h5py.Group) else v[()] for k, v in group.items()}

    where = repr(str(path))
    if not Path(path).is_file():
        raise DataError(f"results file {where}: missing or not a file")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != "snn-dfa results v1":
                raise DataError(f"{where}: not an snn-dfa results file (no format marker)")
            for group in ("config", "provenance", "metrics"):
                if group not in f:
                    raise DataError(f"{where}: damaged results file: no group {group!r}")
            return {
                "config": json.loads(f["config"].attrs["json"]),
                "provenance": json.loads(f["provenance"].attrs["json"]),
                "metrics": read_group(f["metrics"]),
                "costs": read_group(f["costs"]) if "costs" in f else {},
            }
    except DataError:
        raise
    except Exception as exc:  # h5py raises many types for damaged files: one line each
        message = " ".join(str(exc).split())[:200]
        raise DataError(f"{where}: cannot read results file ({type(exc).__name__}: "
                        f"{message})") from None
