"""Sweep throughput on a local Dask cluster with 1 and 2 worker processes.

Every point runs the main pipeline (pre-training from the cache, deploy, adapt with DFA,
hwsim costs, results and report).  The reference, measured in the same run, is one point run
directly in this process; the figures are the throughput of the same points with 1 and 2
workers and the scaling efficiency ``t_1 / (2 t_2)``, over the whole command (cluster start-up
and aggregation included) and over the span from the first point's start to the last point's
end (from the points' provenance: start-up excluded).

    python benchmarks/bench_sweep.py [--points 8]

The load average printed before and after says how much else was running on the machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

from snn_dfa.app.config import config_from_dict
from snn_dfa.app.experiment import run
from snn_dfa.app.results import read_results
from snn_dfa.app.sweep import run_sweep, sweep_from_dict

# points of a few seconds each on this machine: a small network, one subject, one rule
BASE = {
    "seed": 0,
    "data": {"adapt_subjects": [2], "adapt_fraction": 0.5, "max_pretrain_windows": 400},
    "model": {"channels": [8, 16]},
    "pretrain": {"epochs": 1},
    "crossbar": {"noise_model": "relative"},  # the axis below is the relative stress spread
    "adapt": {"rules": ["dfa"], "epochs": 4},
}


def _span_s(points_dir: Path) -> tuple[float, float]:
    """Seconds from the first point's start to the last point's end, and the mean point."""
    times = []
    for path in points_dir.glob("*/results.h5"):
        prov = read_results(path)["provenance"]
        times.append((datetime.fromisoformat(prov["start_time"]),
                      datetime.fromisoformat(prov["end_time"])))
    span = max(t[1] for t in times) - min(t[0] for t in times)
    mean = sum((t[1] - t[0]).total_seconds() for t in times) / len(times)
    return span.total_seconds(), mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8, help="points per sweep")
    args = parser.parse_args()
    values = [round(0.05 * i, 3) for i in range(args.points)]
    sweep = sweep_from_dict({"base": BASE, "axes": {"crossbar.prog_sigma_rel": values}})
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        run(config_from_dict(BASE), Path(tmp) / "warm", cache_dir=cache)  # pre-training cached
        t0 = time.perf_counter()
        run(sweep.points[0].config, Path(tmp) / "direct", cache_dir=cache)
        t_direct = time.perf_counter() - t0
        print(f"one point run directly (reference): {t_direct:.2f} s")
        times, spans = {}, {}
        n = len(sweep.points)
        for workers in (1, 2):
            t0 = time.perf_counter()
            result = run_sweep(sweep, Path(tmp) / f"w{workers}", workers=workers,
                               cache_dir=cache)
            times[workers] = time.perf_counter() - t0
            assert result.n_ran == n and not result.failed
            spans[workers], mean = _span_s(Path(tmp) / f"w{workers}" / "points")
            print(f"{workers} worker(s): {n} points in {times[workers]:.1f} s "
                  f"({60 * n / times[workers]:.1f} points/min), first start to last end "
                  f"{spans[workers]:.1f} s ({60 * n / spans[workers]:.1f} points/min), "
                  f"mean point {mean:.2f} s = {mean / t_direct:.2f}x the direct run")
    for what, t in (("whole command", times), ("points span", spans)):
        speedup = t[1] / t[2]
        print(f"{what}: speed-up 2 vs 1 workers {speedup:.2f}x, scaling efficiency "
              f"{100 * speedup / 2:.0f} % (target >= 80 %)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
