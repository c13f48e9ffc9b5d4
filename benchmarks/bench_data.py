"""Benchmark of the UCI HAPT data path: conversion, cached load, window counts, balance.

Prints each time with a ratio to a reference measured in the same run:
  * conversion (unpickle + filter + write the HDF5 cache) vs the bare restricted unpickle;
  * cached load (read + SHA-256 check + windowing) vs reading the same arrays with h5py;
  * a cold start in a new process (imports included) vs a process that imports numpy only.
Targets from the issue: conversion under 30 s, cached load under 1 s.

Run:  python benchmarks/bench_data.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from snn_dfa.data import hapt, load_hapt, subject_split

REPEATS = 3
REPO = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int = REPEATS) -> float:
    """Median wall time of ``fn()`` in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_h5_read(path: Path) -> None:
    with h5py.File(path, "r") as fh:
        for name in fh:
            fh[name][()]


def process_time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp)
        t_unpickle = timed(hapt.read_source)
        t_convert = timed(lambda: hapt.convert(cache_dir))
        path = hapt.cache_path(cache_dir)
        t_h5 = timed(lambda: plain_h5_read(path), 5)
        t_load = timed(lambda: load_hapt(cache_dir), 5)
        t_load_all = timed(lambda: load_hapt(cache_dir, basic_only=False), 5)
        code = f"from snn_dfa.data import load_hapt; load_hapt({str(cache_dir)!r})"
        t_cold = statistics.median(process_time(code) for _ in range(REPEATS))
        t_numpy = statistics.median(process_time("import numpy") for _ in range(REPEATS))
        size_mb = path.stat().st_size / 1e6
        windows = load_hapt(cache_dir)
        everything = load_hapt(cache_dir, basic_only=False)
    train, test = subject_split(windows)

    print(f"cache file: {size_mb:.1f} MB")
    print(f"conversion            {t_convert:7.3f} s   x{t_convert / t_unpickle:5.2f} of the bare "
          f"unpickle ({t_unpickle:.3f} s)   target < 30 s")
    print(f"cached load (6 basic) {t_load:7.3f} s   x{t_load / t_h5:5.2f} of a plain h5py read "
          f"({t_h5:.3f} s)   target < 1 s")
    print(f"cached load (stream)  {t_load_all:7.3f} s   x{t_load_all / t_h5:5.2f} of a plain h5py "
          "read")
    print(f"new process + load    {t_cold:7.3f} s   x{t_cold / t_numpy:5.2f} of 'import numpy' "
          f"({t_numpy:.3f} s)")
    print()
    print(f"windows: {len(windows)} labelled (train {len(train)}, test {len(test)}); "
          f"{len(everything)} in the streams ({int((~everything.labelled).sum())} labelled -1)")
    print(f"{'class':<20}{'all':>7}{'train':>7}{'test':>7}{'share':>8}")
    for k, name in enumerate(windows.class_names):
        n_all = int(windows.class_counts()[k])
        print(f"{name:<20}{n_all:>7}{int(train.class_counts()[k]):>7}"
              f"{int(test.class_counts()[k]):>7}{n_all / len(windows):>8.1%}")
    per_subject = np.bincount(windows.subject)[1:]
    print(f"windows per subject: min {per_subject.min()}, median {int(np.median(per_subject))}, "
          f"max {per_subject.max()}")


if __name__ == "__main__":
    main()
