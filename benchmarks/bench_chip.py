"""Chip-in-the-loop adaptation step per window against the same step on ideal weights.

The demo's network (SFCN 9 -> 32 -> 64 -> 128 channels, kernel 8, batch norm folded, 128
steps, 6 classes) adapts at batch 1 with plain SGD, one update per window, exactly as
``snn_dfa.app.experiment.run`` does it: once on ideal weights (``DenseSynapses``) and once
deployed on the chip of the ``[crossbar]`` defaults that ``snn-dfa demo`` and the study
(``reports/study.toml``, scenario "fresh") use: 64x64 tiles, fast IR drop (iterated to
its tolerance), the Wan 2022 programming error and relaxation, read noise, 6-bit ADCs
calibrated at deployment on ``calibration_windows`` windows, accumulate-mode pulse updates
with cycle-to-cycle noise; deployed ``time_at_deployment_s`` after programming, the clock
advancing ``window_period_s`` per window (cells relax), ``PhaseMeter`` hooks on.
The chip adapts over one stream from deployment (``--windows``, default 540: two passes
over a demo subject's ~270 adaptation windows), in ``--blocks`` blocks interleaved with
the same blocks on ideal weights, in one process; the script prints the mean time per
window of each and their ratio, by wall clock and by the process's CPU time (on a shared,
loaded machine the CPU time is the steadier figure).  The chip's cost falls along a stream
(relaxation re-evaluates cells less often as they age), so means over the whole stream,
not medians of blocks, are compared.

Beside each ratio the script counts the read-noise Gaussians the chip draws per window
(one per tile, column and read vector) and times drawing that many with NumPy in the same
run: the ideal step plus these draws is the least a chip step of this model can cost.

``--ablations`` times the whole stream again on chips with one effect switched off at a
time (read noise, IR drop, relaxation after deployment, then all three), each against the
ideal step of the same run: what each part of the model costs.

A second pass (timers on) splits the chip's window into phases by exclusive CPU time of
the functions that do the work: reads (``CrossbarArray.forward``/``backward``), IR drop
(the fast model's effective conductances), updates and programming (``apply_update``),
bookkeeping (cache refresh after updates, read counters, the phase meter) and the rest
(learning rule, neurons, engine).

Inputs are random windows (N(0, 1), the scale of normalised HAPT windows) and random
labels: the cost of a window does not depend on what it holds beyond the spike counts.
``--ir-update full`` times the chip with the fast IR-drop model solved again for every
changed array (``ir_fast_update="full"``) instead of the default incremental update; the
split pass prints how often arrays were solved from scratch, re-solved or updated along
their changed lines (``CrossbarArray.ir_update_counts``) and, at ``--ir-checks`` points of
the stream (outside the timed work), the largest deviation of any array's incrementally
updated effective conductances from a full solve of the same conductances, in units of
the tolerance ``ir_fast_tolerance * max(G of the array)`` (the bound is 1).
Usage: ``python benchmarks/bench_chip.py [--windows 540] [--blocks 6] [--rules dfa,bp]
[--clocks wall,cpu] [--no-split] [--ir-update incremental|full] [--ir-checks 6]
[--ablations]``
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

import crossbar
import crossbar.array
import snn_dfa.app.hardware
from snn_dfa.app.config import CrossbarSection
from snn_dfa.app.hardware import PhaseMeter, advance_clock, deploy
from snn_dfa.engine.models import sfcn
from snn_dfa.engine.optim import SGD
from snn_dfa.rules.learning import make_rule
from snn_dfa.rules.online import OnlineAdapter

CHANNELS, STEPS, CLASSES = 9, 128, 6
LR = 3e-4  # the demo's adaptation step
SECTION = CrossbarSection()  # the defaults of the demo and of the study's "fresh" scenario


def build(seed: int = 0):
    net = sfcn(CHANNELS, CLASSES, STEPS, seed=seed)
    net.fold_batch_norm()
    return net.train(False)


def adapter(net, rule_name: str, calibration: np.ndarray | None) -> OnlineAdapter:
    """An adapter on ideal weights (``calibration`` None) or on a freshly deployed chip."""
    net = copy.deepcopy(net)
    rule = make_rule(rule_name, net, seed=np.random.default_rng(3))
    if calibration is None:
        return OnlineAdapter(net, rule, SGD(lr=LR))
    arrays = deploy(net, SECTION, seed=0, calibration=calibration)
    meter = PhaseMeter(net, arrays, rule_name, projector=getattr(rule, "projector", None))

    def on_window(trace, learned: bool) -> None:  # as snn_dfa.app.experiment.run
        meter.add_digital(trace, learned)
        advance_clock(arrays, SECTION.window_period_s)

    return OnlineAdapter(net, rule, SGD(lr=LR), on_phase=meter.phase, on_window=on_window)


def total_time(ad: OnlineAdapter, x: np.ndarray, y: np.ndarray,
               clock: Callable[[], float] = time.perf_counter) -> float:
    """Time of adapting to ``x``, ``y`` (wall clock by default)."""
    t0 = clock()
    for i in range(len(y)):
        ad.partial_fit(x[i], int(y[i]))
    return clock() - t0


class PhaseTimer:
    """Exclusive time per category of wrapped functions (nested calls subtracted), and the
    inclusive time of the functions wrapped with ``inclusive`` set."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.total: dict[str, float] = defaultdict(float)
        self.inclusive: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, name: str, category: str, inclusive: str = "") -> None:
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
                if inclusive:
                    timer.inclusive[inclusive] += dt
                if timer._stack:
                    timer._stack[-1][0] += dt

        self._undo.append((owner, name, fn))
        setattr(owner, name, wrapped)

    def restore(self) -> None:
        for owner, name, fn in reversed(self._undo):
            setattr(owner, name, fn)
        self._undo.clear()


def phase_targets() -> list[tuple[object, str, str, str]]:
    """Functions to time: (owner, name, exclusive phase, inclusive label or "")
    (those that do not exist in this version are skipped)."""
    arr = crossbar.CrossbarArray
    return [
        (arr, "forward", "reads", ""),
        (arr, "backward", "reads", ""),
        (crossbar.array, "fast_ir_tiles", "IR drop", ""),
        (crossbar.array, "fast_ir_incremental", "IR drop", ""),
        (arr, "_ir", "IR drop", ""),
        (arr, "apply_update", "updates + programming", "updates (inclusive)"),
        (arr, "set_time", "relaxation (clock)", "clock (inclusive)"),
        (arr, "_aged", "relaxation (clock)", ""),
        (arr, "_refresh_cells", "bookkeeping", ""),
        (arr, "_read_matrices", "bookkeeping", ""),
        (arr, "_count_read", "bookkeeping", ""),
        (crossbar.CrossbarCounters, "totals", "bookkeeping", ""),
        (PhaseMeter, "phase", "bookkeeping", ""),
        (PhaseMeter, "add_digital", "bookkeeping", ""),
    ]


def ir_deviation(net) -> float:
    """Largest ``|T_incremental - T_full| / (ir_fast_tolerance * max G)`` over the physical
    arrays of the network's crossbars and the read directions they cached (0 without
    incremental IR drop): each array solved again from scratch (``CrossbarArray._ir``)."""
    worst = 0.0
    for layer in net.layers:
        arr = getattr(layer, "synapses", None)
        if not isinstance(arr, crossbar.CrossbarArray) or not arr._ir_incremental():
            continue
        g = arr._g_now()
        tol = arr.config.ir_fast_tolerance
        for transposed in list(arr._read_cache):
            arr._read_matrices(transposed)  # bring stale arrays up to date
            eff = arr._read_cache[transposed][0]
            for tile in range(len(arr.counters.tiles)):
                cb, rb = arr._tile_slices(tile)
                for k in range(g.shape[0]):
                    for p in range(g.shape[1]):
                        cells = g[k, p, cb, rb]
                        full = (arr._ir(cells, True) if transposed
                                else arr._ir(cells.T, False).T)
                        dev = np.abs(eff[k, p, cb, rb] - full).max()
                        worst = max(worst, float(dev / (tol * cells.max())))
    return worst


def read_noise_draws(chip: OnlineAdapter, x: np.ndarray, y: np.ndarray) -> float:
    """Read-noise Gaussians the chip draws per window (one per tile, column and read
    vector: the ``z`` handed to ``crossbar._kernels.digitise_and_sum``), over ``x, y``."""
    seen = [0]
    fn = crossbar.array.digitise_and_sum

    def counting(cur, var, z, *rest):
        seen[0] += z.size
        return fn(cur, var, z, *rest)

    crossbar.array.digitise_and_sum = counting
    try:
        total_time(chip, x, y)
    finally:
        crossbar.array.digitise_and_sum = fn
    return seen[0] / len(y)


def draw_time(draws: float, clock: Callable[[], float], repeats: int = 200) -> float:
    """Time of drawing ``draws`` standard normals with NumPy's default generator, as the
    chip draws them (float64, one call), median of ``repeats`` calls."""
    rng = np.random.default_rng(1)
    n = int(round(draws))
    times = []
    for _ in range(repeats):
        t0 = clock()
        rng.standard_normal(n)
        times.append(clock() - t0)
    return float(np.median(times))


#: The chip's effects switched off one at a time for ``--ablations``: (label, changes of
#: the ``crossbar.CrossbarConfig`` the ``[crossbar]`` section gives, as a function).
ABLATIONS: tuple[tuple[str, Callable[[crossbar.CrossbarConfig], crossbar.CrossbarConfig]], ...] = (
    ("the demo's chip", lambda c: c),
    ("no read noise", lambda c: dataclasses.replace(
        c, noise=dataclasses.replace(c.noise, read_sigma_rel=0.0))),
    ("no IR drop", lambda c: dataclasses.replace(c, ir_drop="none")),
    ("relaxation frozen after deployment", lambda c: dataclasses.replace(
        c, noise=dataclasses.replace(c.noise, time_step_decades=300.0))),
    ("none of these three", lambda c: dataclasses.replace(
        c, ir_drop="none", noise=dataclasses.replace(c.noise, read_sigma_rel=0.0,
                                                     time_step_decades=300.0))),
)


def ablated_adapter(net, rule_name: str, calibration: np.ndarray,
                    change: Callable[[crossbar.CrossbarConfig], crossbar.CrossbarConfig]
                    ) -> OnlineAdapter:
    """:func:`adapter` on a chip whose crossbar configuration is ``change(config)`` (the
    deployment's ``crossbar_config`` is wrapped while the chip is built)."""
    build_config = snn_dfa.app.hardware.crossbar_config
    snn_dfa.app.hardware.crossbar_config = lambda section: change(build_config(section))
    try:
        return adapter(net, rule_name, calibration)
    finally:
        snn_dfa.app.hardware.crossbar_config = build_config


def ablations(base, rule_name: str, x: np.ndarray, y: np.ndarray, x_cal: np.ndarray) -> None:
    """CPU time per window of the whole stream with the chip's effects switched off one at
    a time (:data:`ABLATIONS`), against the ideal step timed before and after them."""
    clock = time.process_time
    t_ideal = [total_time(adapter(base, rule_name, None), x, y, clock)]
    rows = []
    for label, change in ABLATIONS:
        chip = ablated_adapter(base, rule_name, x_cal, change)
        total_time(chip, x[:2], y[:2])  # compile what this configuration adds
        chip = ablated_adapter(base, rule_name, x_cal, change)
        rows.append((label, total_time(chip, x, y, clock)))
    t_ideal.append(total_time(adapter(base, rule_name, None), x, y, clock))
    ideal = float(np.mean(t_ideal)) / len(y)
    print(f"  effects switched off (cpu, {len(y)} windows; ideal {1e3 * ideal:.2f} ms/window):")
    for label, t in rows:
        print(f"    {label:<36}{1e3 * t / len(y):6.2f} ms/window  {t / len(y) / ideal:6.2f}x")


def main() -> None:
    global SECTION
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=540, help="windows of the stream")
    ap.add_argument("--blocks", type=int, default=6, help="interleaved blocks per side")
    ap.add_argument("--rules", default="dfa,bp", help="comma-separated rules")
    ap.add_argument("--no-split", action="store_true", help="skip the phase split pass")
    ap.add_argument("--clocks", default="wall,cpu", help="wall, cpu or both (comma-separated)")
    ap.add_argument("--ir-update", default=CrossbarSection.ir_fast_update,
                    choices=("incremental", "full"), help="crossbar.ir_fast_update")
    ap.add_argument("--ablations", action="store_true",
                    help="also time the chip with read noise, IR drop and relaxation off")
    ap.add_argument("--ir-checks", type=int, default=6,
                    help="points of the split pass where the incremental IR drop is checked")
    args = ap.parse_args()
    SECTION = dataclasses.replace(SECTION, ir_fast_update=args.ir_update)
    print(f"load average {os.getloadavg()}; numpy {np.__version__}")
    print(f"chip: ir_drop={SECTION.ir_drop}, update_mode={SECTION.update_mode}, "
          f"noise_model={SECTION.noise_model}, adc_range={SECTION.adc_range}, "
          f"ir_fast_update={SECTION.ir_fast_update}, read_sigma_rel={SECTION.read_sigma_rel}, "
          f"c2c_sigma_rel={SECTION.c2c_sigma_rel}, "
          f"deployed at {SECTION.time_at_deployment_s} s, {SECTION.window_period_s} s/window")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (args.windows, STEPS, CHANNELS)).astype(np.float32)
    y = rng.integers(0, CLASSES, args.windows)
    x_cal = rng.normal(0, 1, (SECTION.calibration_windows, STEPS, CHANNELS)).astype(np.float32)
    bounds = np.linspace(0, args.windows, args.blocks + 1).astype(int)
    base = build()
    for rule_name in args.rules.split(","):
        ideal = adapter(base, rule_name, None)
        total_time(ideal, x[:3], y[:3])  # warm-up: numba compilation, caches
        total_time(adapter(base, rule_name, x_cal), x[:3], y[:3])
        print(f"\n{rule_name}:")
        clocks = {"wall": time.perf_counter, "cpu": time.process_time}
        for label, clock in ((c, clocks[c]) for c in args.clocks.split(",")):
            chip = adapter(base, rule_name, x_cal)  # a fresh chip: the stream from deployment
            t_ideal, t_chip = [], []
            for b0, b1 in zip(bounds[:-1], bounds[1:]):
                t_ideal.append(total_time(ideal, x[b0:b1], y[b0:b1], clock) / (b1 - b0))
                t_chip.append(total_time(chip, x[b0:b1], y[b0:b1], clock) / (b1 - b0))
            mi = float(np.average(t_ideal, weights=np.diff(bounds)))
            mc = float(np.average(t_chip, weights=np.diff(bounds)))
            print(f"  {label:>4}: ideal {1e3 * mi:.2f} ms/window, chip {1e3 * mc:.2f} ms/window, "
                  f"ratio {mc / mi:.2f}x  (blocks: ideal "
                  + ", ".join(f"{1e3 * t:.2f}" for t in t_ideal) + "; chip "
                  + ", ".join(f"{1e3 * t:.2f}" for t in t_chip) + ")")
            draws = read_noise_draws(adapter(base, rule_name, x_cal), x[:20], y[:20])
            t_draw = draw_time(draws, clock)
            print(f"        the chip's read noise alone: {draws:,.0f} Gaussian draws per window, "
                  f"{1e3 * t_draw:.2f} ms drawn with NumPy; ideal + draws = "
                  f"{(mi + t_draw) / mi:.2f}x the ideal step (the least any chip step of this "
                  "model can cost)")
        if args.ablations:
            ablations(base, rule_name, x, y, x_cal)
        if args.no_split:
            continue
        chip = adapter(base, rule_name, x_cal)
        timer = PhaseTimer(time.process_time)
        for owner, name, cat, incl in phase_targets():
            timer.wrap(owner, name, cat, incl)
        wall, worst = 0.0, 0.0
        checks = np.linspace(0, args.windows, max(args.ir_checks, 1) + 1).astype(int)
        for c0, c1 in zip(checks[:-1], checks[1:]):
            t0 = time.process_time()
            try:
                total_time(chip, x[c0:c1], y[c0:c1])
            finally:
                wall += time.process_time() - t0
            if args.ir_checks and SECTION.ir_fast_update == "incremental":
                timer.restore()  # the check is not timed
                worst = max(worst, ir_deviation(chip.network))
                for owner, name, cat, incl in phase_targets():
                    timer.wrap(owner, name, cat, incl)
        timer.restore()
        timer.total["learning rule + engine (rest)"] = wall - sum(timer.total.values())
        print(f"  chip window split by CPU time ({args.windows} windows, timers on, "
              f"{1e3 * wall / args.windows:.2f} ms/window):")
        for cat, sec in sorted(timer.total.items(), key=lambda kv: -kv[1]):
            print(f"    {cat:<32}{1e3 * sec / args.windows:8.2f} ms  {100 * sec / wall:5.1f} %")
        for cat, sec in timer.inclusive.items():
            print(f"    [{cat:<30}{1e3 * sec / args.windows:8.2f} ms  {100 * sec / wall:5.1f} %]")
        counts = defaultdict(int)
        for syn in chip.network.layers:
            arr = getattr(syn, "synapses", None)
            for name, value in getattr(arr, "ir_update_counts", {}).items():
                counts[name] += value
        if counts:
            print("  fast IR drop per window: " + ", ".join(
                f"{name} {value / args.windows:.1f}" for name, value in counts.items()))
        if args.ir_checks and SECTION.ir_fast_update == "incremental":
            print(f"  incremental IR drop against a full solve at {args.ir_checks} points: "
                  f"largest deviation {worst:.3f} of the tolerance (bound 1)")
    print(f"\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main()
