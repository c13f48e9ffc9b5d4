"""71 — When does optical DFA pay? Time and energy per step against electronic BP and DFA (issue 23).

The analytic model of ``hwsim.photonic`` (constants and sources in its presets: a LightOn-class
OPU at 750 frames/s and 30 W, a V100 at half of 15.7 TFLOPS fp32 and 300 W) for fully connected
networks of ``depth`` equal hidden layers of ``width`` units, batch 64, input 1024, with
``c = 10`` outputs (a classifier) and ``c = 50257`` (a GPT-2-sized vocabulary, the regime of
Wang et al. 2024).  Prints and writes the crossover widths (optical DFA faster than electronic
DFA, and than BP) for depths 2 to 64, and a figure of time and energy per step against width.

Usage::

    python examples/71_optical_scaling.py [--out runs/71_optical_scaling]   # a second
    python examples/71_optical_scaling.py --quick                              # the same, no figure
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from hwsim.photonic import LIGHTON_OPU, V100, crossover_width, step_costs

BATCH = 64
N_IN = 1024
CLASSES = (10, 50257)
DEPTHS = (2, 4, 8, 16, 32, 64)
FIGURE_DEPTHS = (4, 32)
WIDTHS = np.unique(np.logspace(6, 17, 45, base=2).astype(int))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/71_optical_scaling"))
    parser.add_argument("--quick", action="store_true", help="tables only, no figure")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table = {}
    for c in CLASSES:
        for depth in DEPTHS:
            table[f"c={c},depth={depth}"] = {
                against: crossover_width(depth, c, N_IN, BATCH, against)
                for against in ("dfa", "bp")}
    curves = {}
    for c in CLASSES:
        for depth in FIGURE_DEPTHS:
            rows = [step_costs([N_IN, *[int(w)] * depth, c], BATCH) for w in WIDTHS]
            curves[f"c={c},depth={depth}"] = {
                m: {"time_s": [r[m].time_s for r in rows], "energy_J": [r[m].energy_J for r in rows]}
                for m in ("bp", "dfa", "optical_dfa")}
    lines = ["# Optical DFA against electronic BP and DFA: crossover widths", "",
             (f"Batch {BATCH}, input {N_IN}; hidden width at which optical DFA's step becomes "
             "faster (None: not up to 2^24)."), "",
             "| outputs c | depth | vs electronic DFA | vs electronic BP |", "| --- | --- | --- | --- |"]
    for key, row in table.items():
        c, depth = (part.split("=")[1] for part in key.split(","))
        lines.append(f"| {c} | {depth} | {row['dfa']} | {row['bp']} |")
    lines += ["", "Constants: " + "; ".join(f"{k} = {getattr(LIGHTON_OPU, k)} ({v})"
                                            for k, v in LIGHTON_OPU.sources.items()),
              "", "GPU: " + "; ".join(f"{k} = {getattr(V100, k)} ({v})"
                                      for k, v in V100.sources.items())]
    text = "\n".join(lines)
    (args.out / "summary.md").write_text(text + "\n")
    (args.out / "results.json").write_text(json.dumps(
        {"batch": BATCH, "n_in": N_IN, "crossover_width": table,
         "widths": WIDTHS.tolist(), "curves": curves,
         "optical": asdict(LIGHTON_OPU), "gpu": asdict(V100)}, indent=1))
    print(text)
    if args.quick:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(curves), figsize=(4 * len(curves), 6.5), sharex=True)
    for col, (key, per_method) in enumerate(curves.items()):
        for m, style in (("bp", "k-"), ("dfa", "b--"), ("optical_dfa", "r-")):
            axes[0, col].loglog(WIDTHS, per_method[m]["time_s"], style, label=m)
            axes[1, col].loglog(WIDTHS, per_method[m]["energy_J"], style, label=m)
        axes[0, col].set_title(key.replace(",", ", "), fontsize=9)
        axes[1, col].set_xlabel("hidden width")
    axes[0, 0].set_ylabel("time per step (s)")
    axes[1, 0].set_ylabel("energy per step (J)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Optical DFA (OPU 750 fps, 30 W) vs GPU BP / DFA (V100), batch {BATCH}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out / "scaling.png", dpi=120)


if __name__ == "__main__":
    main()
