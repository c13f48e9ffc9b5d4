"""Crossbar benchmarks: fast IR-drop model vs ideal matmul, exact solver vs badcrossbar.

Run from the repository root::

    .venv/bin/python benchmarks/bench_crossbar.py            # everything
    .venv/bin/python benchmarks/bench_crossbar.py --quick    # skip the 256 x 256 exact solves
    .venv/bin/python benchmarks/bench_crossbar.py --ir-table # only the fast-vs-exact IR table

Every figure is a ratio against a reference measured in the same run (median of repeats).
The machine has 2 cores shared with other jobs, so absolute times vary by tens of percent.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time
import warnings

import numpy as np

from crossbar import (
    NEURRAM_HFO2,
    CrossbarArray,
    CrossbarConfig,
    ExactIRDropSolver,
    fast_effective_conductance,
)

SEED = 0
TILE = 128
BATCH = 64


def median_time(fn, repeats: int, inner: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs of ``inner`` calls (seconds per call)."""
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t) / inner)
    return statistics.median(out)


def wires(dev) -> dict[str, float]:
    return {
        "r_row_ohm": dev.r_wire_row_ohm,
        "r_col_ohm": dev.r_wire_col_ohm,
        "r_driver_ohm": dev.r_driver_ohm,
        "r_sense_ohm": dev.r_sense_ohm,
    }


def bench_fast_model() -> None:
    rng = np.random.default_rng(SEED)
    dev = NEURRAM_HFO2
    w = rng.standard_normal((TILE, TILE))
    x = (rng.random((BATCH, TILE)) < 0.3).astype(np.float64)
    g_S = rng.uniform(dev.g_min_uS, dev.g_max_uS, (TILE, TILE)) * 1e-6
    v = x * dev.v_read_V
    g_eff = fast_effective_conductance(g_S, **wires(dev))

    t_ideal64 = median_time(lambda: x @ w.T, 31, 200)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    t_ideal32 = median_time(lambda: x32 @ w32.T, 31, 200)
    t_fast_mvm = median_time(lambda: v @ g_eff, 31, 200)
    t_fast_pre = median_time(lambda: fast_effective_conductance(g_S, **wires(dev)), 21, 20)
    arr_none = CrossbarArray(w, dev, CrossbarConfig(tile_rows=TILE, tile_cols=TILE), seed=SEED)
    arr_fast = CrossbarArray(
        w, dev, CrossbarConfig(ir_drop="fast", tile_rows=TILE, tile_cols=TILE), seed=SEED
    )
    t_arr_none = median_time(lambda: arr_none.forward(x), 21, 20)
    t_arr_fast = median_time(lambda: arr_fast.forward(x), 21, 20)
    dw = np.zeros_like(w)

    def update_then_read() -> None:
        arr_fast.apply_update(dw)  # invalidates the cached effective matrices
        arr_fast.forward(x)

    t_after_update = median_time(update_then_read, 11, 5) - median_time(
        lambda: arr_fast.apply_update(dw), 11, 5
    )

    f64, f32 = t_ideal64, t_ideal32
    lines = [
        f"\n## Fast IR-drop model, {TILE}x{TILE} tile, batch {BATCH} (binary spikes)",
        f"ideal matmul x @ W.T float64:  {f64 * 1e6:8.1f} us   (float32: {f32 * 1e6:.1f} us)",
        (
            f"fast-model MVM v @ G_eff, f64: {t_fast_mvm * 1e6:8.1f} us   ratio to f64: "
            f"{t_fast_mvm / f64:5.2f}x"
        ),
        f"fast-model precompute G_eff:   {t_fast_pre * 1e6:8.1f} us   (n_iter=3, per change)",
        "CrossbarArray (dtype float32: reads computed in float32), ratios to the f32 matmul:",
        f"forward, ir_drop='none':       {t_arr_none * 1e6:8.1f} us   ratio: {t_arr_none / f32:5.2f}x",
        f"forward, ir_drop='fast':       {t_arr_fast * 1e6:8.1f} us   ratio: {t_arr_fast / f32:5.2f}x",
        (
            f"first forward after an update: {t_after_update * 1e6:8.1f} us   ratio: "
            f"{t_after_update / f32:5.2f}x   (re-derives G_eff of G+ and G-)"
        ),
    ]
    print("\n".join(lines))


def bench_layer() -> None:
    """A HAR-sized layer: 561 inputs, 256 outputs, T x B = 100 x 64 spike vectors, float32."""
    rng = np.random.default_rng(SEED)
    w = rng.standard_normal((256, 561))
    x = (rng.random((6400, 561)) < 0.2).astype(np.float32)
    w32 = w.astype(np.float32)
    t_ideal = median_time(lambda: x @ w32.T, 11, 3)
    print("\n## Layer 561 -> 256, 6400 spike vectors, float32, 128x128 tiles (5 x 2)")
    print(f"ideal matmul x @ W.T float32: {t_ideal * 1e3:8.2f} ms")
    for mode in ("none", "fast"):
        arr = CrossbarArray(w, NEURRAM_HFO2, CrossbarConfig(ir_drop=mode), seed=SEED)
        t = median_time(lambda arr=arr: arr.forward(x), 11, 3)
        print(
            f"CrossbarArray.forward ir_drop={mode:5s} {t * 1e3:8.2f} ms   ratio: {t / t_ideal:5.2f}x"
        )


def fast_model_error() -> None:
    """Mean relative column-current error of the fast model against the exact solve."""
    rng = np.random.default_rng(SEED)
    dev = NEURRAM_HFO2
    print(
        f"\n## Fast-model error vs exact solve, {TILE}x{TILE}, preset {dev.name} "
        f"({dev.r_wire_row_ohm} ohm segments, g {dev.g_min_uS}-{dev.g_max_uS} uS)"
    )
    w = rng.standard_normal((TILE, TILE))
    mapped = (
        CrossbarArray(w, dev, seed=SEED).conductances_uS[0, 0].T * 1e-6
    )  # G+ of a mapped matrix
    cases = {
        "uniform g in [g_min, g_max]": rng.uniform(dev.g_min_uS, dev.g_max_uS, (TILE, TILE)) * 1e-6,
        "all cells at g_max (worst case)": np.full((TILE, TILE), dev.g_max_uS * 1e-6),
        "G+ of a mapped Gaussian matrix": mapped,
    }
    for p_active in (0.3, 1.0):
        v = (rng.random((BATCH, TILE)) < p_active) * dev.v_read_V
        for name, g in cases.items():
            exact = ExactIRDropSolver(g, **wires(dev)).currents(v)
            ok = exact > 0

            def err(i: np.ndarray, exact: np.ndarray = exact, ok: np.ndarray = ok) -> float:
                return float(np.mean(np.abs(i - exact)[ok] / exact[ok]))

            e1 = err(v @ fast_effective_conductance(g, **wires(dev), n_iter=1))
            e3 = err(v @ fast_effective_conductance(g, **wires(dev), n_iter=3))
            et = err(v @ fast_effective_conductance(g, **wires(dev)))
            print(
                f"{name:34s} active rows {p_active:4.0%}: fast to tolerance {et:7.3%}, "
                f"fixed 3 {e3:7.3%}, first order {e1:7.3%}, no IR model {err(v @ g):7.3%}"
            )


def ir_table(sizes: list[int]) -> None:
    """Fast (to tolerance, with fallback) vs exact: error and time, 0.3-5 ohm, two g ranges."""
    print("\n## Fast IR-drop model vs exact nodal solve (binary drive, 30 % rows active, batch 32)")
    print(
        "| size | wire (ohm) | g (uS) | fast outcome | substitutions | fast error | fixed 3 (old) "
        "error | no IR error | fast time | exact time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    from crossbar._kernels import fast_ir_fixed_point

    fast_ir_fixed_point(np.ones((2, 2)), 1.0, 1.0, 1.0, 1.0, 2, 1e-6)  # compile first
    for n in sizes:
        for g_hi in (40.0, 100.0):
            for r in (0.3, 1.0, 2.0, 5.0):
                rng = np.random.default_rng([SEED, n, int(g_hi), int(10 * r)])
                g = rng.uniform(1.0, g_hi, (n, n)) * 1e-6
                v = (rng.random((32, n)) < 0.3) * 0.2
                w = {"r_row_ohm": r, "r_col_ohm": r, "r_driver_ohm": r, "r_sense_ohm": r}
                out: dict[str, object] = {}

                def fast(g: np.ndarray = g, v: np.ndarray = v, w: dict = w) -> None:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        out["fast"] = v @ fast_effective_conductance(g, **w)
                    out["fell_back"] = bool(caught)

                def exact(g: np.ndarray = g, v: np.ndarray = v, w: dict = w) -> None:
                    out["exact"] = ExactIRDropSolver(g, **w).currents(v)

                t_fast, t_exact = _once(fast), _once(exact)
                ref = out["exact"]
                scale = float(np.mean(np.abs(ref)))

                def err(i: np.ndarray, ref: np.ndarray = ref, scale: float = scale) -> float:
                    return float(np.mean(np.abs(i - ref)) / scale)

                _, done, status, _ = fast_ir_fixed_point(g, r, r, r, r, 100, 1e-6)
                outcome = "fell back to exact" if out["fell_back"] else "converged"
                reason = {1: " (not contracting)", 2: " (no convergence)"}.get(int(status), "")
                old = v @ fast_effective_conductance(g, **w, n_iter=3)
                print(
                    f"| {n}² | {r} | 1–{g_hi:.0f} | {outcome}{reason} | {done} | "
                    f"{err(out['fast']):.2%} | {err(old):.1%} | {err(v @ g):.1%} | "
                    f"{t_fast * 1e3:.1f} ms | {t_exact * 1e3:.0f} ms |"
                )


def bench_exact(sizes: list[int], batch: int) -> None:
    with warnings.catch_warnings(record=True):
        import badcrossbar
    logging.getLogger().setLevel(logging.WARNING)  # badcrossbar configures INFO logging
    rng = np.random.default_rng(SEED)
    dev = NEURRAM_HFO2
    r = dev.r_wire_row_ohm
    print(f"\n## Exact nodal solve vs badcrossbar 1.1 ({r} ohm segments, batch {batch})")
    print("size   ours (factor+solve)   badcrossbar   ratio bc/ours   max rel diff")
    for n in sizes:
        g = rng.uniform(dev.g_min_uS, dev.g_max_uS, (n, n)) * 1e-6
        v = rng.uniform(0, dev.v_read_V, (batch, n))
        reps = 3 if n <= 128 else 1
        out: dict[str, np.ndarray] = {}

        def ours(g: np.ndarray = g, v: np.ndarray = v, out: dict = out) -> None:
            out["i"] = ExactIRDropSolver(g, **wires(dev)).currents(v)

        def theirs(g: np.ndarray = g, v: np.ndarray = v, out: dict = out) -> None:
            out["ref"] = badcrossbar.compute(
                v.T,
                1.0 / g,
                r_i_word_line=r,
                r_i_bit_line=r,
                node_voltages=False,
                all_currents=False,
            ).currents.output

        t_ours = statistics.median([_once(ours) for _ in range(reps)])
        t_bc = statistics.median([_once(theirs) for _ in range(reps)])
        diff = np.max(np.abs(out["i"] - out["ref"]) / np.abs(out["ref"]))
        print(
            f"{n:4d}   {t_ours:10.3f} s          {t_bc:8.3f} s    {t_bc / t_ours:8.2f}x      {diff:.1e}"
        )


def _once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="exact solves up to 128 only")
    parser.add_argument("--ir-table", action="store_true", help="only the fast-vs-exact table")
    args = parser.parse_args()
    if args.ir_table:
        ir_table([64, 128] if args.quick else [64, 128, 256])
        return
    print(
        f"# crossbar benchmarks  ({platform.processor() or platform.machine()}, numpy {np.__version__})"
    )
    bench_fast_model()
    bench_layer()
    fast_model_error()
    bench_exact([64, 128] if args.quick else [64, 128, 256], batch=8)
    ir_table([64, 128] if args.quick else [64, 128, 256])


if __name__ == "__main__":
    main()
