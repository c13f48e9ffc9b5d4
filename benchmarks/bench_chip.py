"""Chip-in-the-loop adaptation step per window against the same step on ideal weights.

The demo's network (SFCN 9 -> 32 -> 64 -> 128 channels, kernel 8, batch norm folded, 128
steps, 6 classes) adapts at batch 1 with plain SGD, one update per window, exactly as
``snn_dfa.experiment`` runs it: once on ideal weights (``DenseSynapses``) and once deployed
on the demo's crossbar (``[crossbar]`` defaults: 64x64 tiles, fast IR drop, programming,
read and cycle-to-cycle noise, 6-bit ADC, pulse updates) with the ``PhaseMeter`` hooks on.
Both run in the same process, interleaved in blocks, and the script prints the median time
per window of each and their ratio, by wall clock and by the process's CPU time (on a
shared, loaded machine the CPU time is the steadier figure).

A second pass (timers on) splits the chip's window into phases by exclusive CPU time of
the functions that do the work: reads (``CrossbarArray.forward``/``backward``), IR drop
(the fast model's effective conductances), updates and programming (``apply_update``),
bookkeeping (cache refresh after updates, read counters, the phase meter) and the rest
(learning rule, neurons, engine).

Inputs are random windows (N(0, 1), the scale of normalised HAPT windows) and random
labels: the cost of a window does not depend on what it holds beyond the spike counts.
Usage: ``python benchmarks/bench_chip.py [--windows 60] [--blocks 3] [--rules dfa,bp]``
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

import crossbar
import crossbar.array
from snn_dfa.app.config import CrossbarSection
from snn_dfa.app.hardware import PhaseMeter, deploy
from snn_dfa.engine.models import sfcn
from snn_dfa.engine.optim import SGD
from snn_dfa.rules.learning import make_rule
from snn_dfa.rules.online import OnlineAdapter

CHANNELS, STEPS, CLASSES = 9, 128, 6
LR = 3e-4  # the demo's adaptation step


def build(seed: int = 0):
    net = sfcn(CHANNELS, CLASSES, STEPS, seed=seed)
    net.fold_batch_norm()
    return net.train(False)


def adapter(net, rule_name: str, chip: bool) -> tuple[OnlineAdapter, dict]:
    net = copy.deepcopy(net)
    arrays = deploy(net, CrossbarSection(), seed=0) if chip else {}
    rule = make_rule(rule_name, net, seed=np.random.default_rng(3))
    if chip:
        meter = PhaseMeter(net, arrays, rule_name, projector=getattr(rule, "projector", None))
        return OnlineAdapter(net, rule, SGD(lr=LR), on_phase=meter.phase,
                             on_window=meter.add_digital), arrays
    return OnlineAdapter(net, rule, SGD(lr=LR)), arrays


def per_window(ad: OnlineAdapter, x: np.ndarray, y: np.ndarray,
               clock: Callable[[], float] = time.perf_counter) -> float:
    """Mean time per window of adapting to ``x``, ``y`` (wall clock by default)."""
    t0 = clock()
    for i in range(len(y)):
        ad.partial_fit(x[i], int(y[i]))
    return (clock() - t0) / len(y)


class PhaseTimer:
    """Exclusive wall time per category of wrapped functions (nested calls subtracted)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.total: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, name: str, category: str) -> None:
        if not hasattr(owner, name):
            return
        fn = getattr(owner, name)
        timer = self

        def wrapped(*args, **kwargs):
            timer._stack.append([0.0])
            t0 = timer.clock()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = timer.clock() - t0
                child = timer._stack.pop()[0]
                timer.total[category] += dt - child
                if timer._stack:
                    timer._stack[-1][0] += dt

        self._undo.append((owner, name, fn))
        setattr(owner, name, wrapped)

    def restore(self) -> None:
        for owner, name, fn in reversed(self._undo):
            setattr(owner, name, fn)
        self._undo.clear()


def phase_targets() -> list[tuple[object, str, str]]:
    """Functions to time, by phase (those that do not exist in this version are skipped)."""
    arr = crossbar.CrossbarArray
    return [
        (arr, "forward", "reads"),
        (arr, "backward", "reads"),
        (crossbar.array, "fast_ir_tiles", "IR drop"),
        (arr, "_ir", "IR drop"),
        (arr, "apply_update", "updates + programming"),
        (arr, "_refresh_cells", "bookkeeping"),
        (arr, "_read_matrices", "bookkeeping"),
        (arr, "_count_read", "bookkeeping"),
        (crossbar.CrossbarCounters, "totals", "bookkeeping"),
        (PhaseMeter, "phase", "bookkeeping"),
        (PhaseMeter, "add_digital", "bookkeeping"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=60, help="windows per timed block")
    ap.add_argument("--blocks", type=int, default=3, help="interleaved blocks per side")
    ap.add_argument("--rules", default="dfa,bp", help="comma-separated rules")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}; numpy {np.__version__}")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (args.windows, STEPS, CHANNELS)).astype(np.float32)
    y = rng.integers(0, CLASSES, args.windows)
    base = build()
    for rule_name in args.rules.split(","):
        ideal, _ = adapter(base, rule_name, chip=False)
        chip, _ = adapter(base, rule_name, chip=True)
        per_window(ideal, x[:3], y[:3])  # warm-up: numba compilation, caches
        per_window(chip, x[:3], y[:3])
        print(f"\n{rule_name}:")
        for label, clock in (("wall", time.perf_counter), ("CPU", time.process_time)):
            t_ideal, t_chip = [], []
            for _ in range(args.blocks):
                t_ideal.append(per_window(ideal, x, y, clock))
                t_chip.append(per_window(chip, x, y, clock))
            mi, mc = statistics.median(t_ideal), statistics.median(t_chip)
            print(f"  {label:>4}: ideal {1e3 * mi:.2f} ms/window, chip {1e3 * mc:.2f} ms/window, "
                  f"ratio {mc / mi:.2f}x  (blocks: ideal "
                  + ", ".join(f"{1e3 * t:.2f}" for t in t_ideal) + "; chip "
                  + ", ".join(f"{1e3 * t:.2f}" for t in t_chip) + ")")
        timer = PhaseTimer(time.process_time)
        for owner, name, cat in phase_targets():
            timer.wrap(owner, name, cat)
        t0 = time.process_time()
        try:
            per_window(chip, x, y)
        finally:
            timer.restore()
        wall = time.process_time() - t0
        timer.total["learning rule + engine (rest)"] = wall - sum(timer.total.values())
        print(f"  chip window split by CPU time ({args.windows} windows, timers on, "
              f"{1e3 * wall / args.windows:.2f} ms/window):")
        for cat, sec in sorted(timer.total.items(), key=lambda kv: -kv[1]):
            print(f"    {cat:<32}{1e3 * sec / args.windows:8.2f} ms  {100 * sec / wall:5.1f} %")
    print(f"\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main()
