"""60 — DFA-GNN: forward learning of a GCN on Cora and CiteSeer against BP (issue 21).

Zhao et al., "DFA-GNN: Forward Learning of Graph Neural Networks by Direct Feedback Alignment",
NeurIPS 2024 (arXiv 2406.02040).  A 3-layer GCN (64 hidden units, sigmoid outputs with BCE,
Adam with an L2 penalty, 1000 full-graph epochs; the paper's Table 6 per data set) trained by

* ``bp``: backpropagation;
* ``dfa``: plain graph DFA (errors of labelled nodes only, sent through ``(Sᵀ)^k`` and fixed
  random feedback);
* ``dfa_eg``: graph DFA with the pseudo-error generator (EG);
* ``dfa_eg_nf``: the full DFA-GNN, EG and the node filter (NF);
* ``bp_eg``: BP fed the EG's pseudo-errors (the paper's Table 8).

``dfa``, ``dfa_eg`` and ``dfa_eg_nf`` are the rows of the paper's ablation (its Table 2).  Each
method runs on 10 random stratified 60/20/20 splits (seed = split = initial weights = feedback);
the test accuracy is taken at the epoch of best validation accuracy, reported as mean ± 95 %
confidence interval (Student t over seeds).  The sparse regime (20 labels per class, 500
validation and 1000 test nodes, random by seed) runs the same methods.  Alignment angles (each
layer's update against the BP gradient; weights against feedback products) are recorded every
100 epochs for seed 0.  Training time per epoch is the median over epochs of every run, all
measured in this one invocation, with one torch thread.

Usage::

    python examples/60_dfa_gnn.py                 # full run (resumable; ~1 h on one busy core)
    python examples/60_dfa_gnn.py --quick         # seconds: Cora, 1 seed, 15 epochs

Writes ``runs.jsonl`` (one line per finished run: a rerun skips those), ``results.json``
(summary) and ``summary.md`` (tables beside the paper's) to ``--out``
(default ``runs/60_dfa_gnn``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from snn_dfa.data import load_graph, per_class_split, random_split
from snn_dfa.deep.graph import GraphTensors, GraphTrainConfig, train_gcn

SEEDS = tuple(range(10))
EPOCHS = 1000
DIAGNOSTICS_EVERY = 100
#: method -> (rule, pseudo_errors, node_filter)
METHODS = {
    "bp": ("bp", False, False),
    "dfa": ("dfa", False, False),
    "dfa_eg": ("dfa", True, False),
    "dfa_eg_nf": ("dfa", True, True),
    "bp_eg": ("bp", True, False),
}
#: The paper's Table 6 (lr, alpha, iterations); hidden 64, eps 0.5, weight decay 5e-4.
HYPER = {"cora": {"lr": 0.01, "alpha": 0.1, "n_iterations": 50},
         "citeseer": {"lr": 0.01, "alpha": 0.01, "n_iterations": 200}}
#: The paper's Table 1 (BP, DFA-GNN), Table 2 (ablation) and Table 8 (BP + EG), % mean ± 95 % CI.
PAPER = {
    "cora": {"bp": "86.04 ± 0.62", "dfa": "83.02", "dfa_eg": "86.70",
             "dfa_eg_nf": "87.72 ± 1.63", "bp_eg": "87.41"},
    "citeseer": {"bp": "78.20 ± 0.57", "dfa": "78.17", "dfa_eg": "79.26",
                 "dfa_eg_nf": "80.49 ± 0.41", "bp_eg": "80.24"},
}
REGIMES = ("random_60_20_20", "per_class_20")
ALIGNMENT_EPOCHS = (0, 5, 10, 100, 500, 900)  # rows of the alignment table (those recorded)
TIMING_EPOCHS = 50
QUICK = {"datasets": ("cora",), "seeds": (0,), "epochs": 15, "diagnostics_every": 5,
         "regimes": ("random_60_20_20",)}


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % Student-t confidence interval (nan for one value)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return float(x.mean()), math.nan
    return float(x.mean()), float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def run_one(tensors: GraphTensors, labels: np.ndarray, dataset: str, regime: str, method: str,
            seed: int, epochs: int, diagnostics_every: int) -> dict:
    split = (random_split(labels, (0.6, 0.2, 0.2), seed=seed) if regime == REGIMES[0]
             else per_class_split(labels, 20, 500, 1000, seed=seed))
    rule, eg, nf = METHODS[method]
    cfg = GraphTrainConfig(rule=rule, pseudo_errors=eg, node_filter=nf, epochs=epochs,
                           diagnostics_every=diagnostics_every if seed == 0 else 0,
                           **HYPER[dataset])
    res = train_gcn(tensors, split, cfg, seed=seed)
    return {"dataset": dataset, "regime": regime, "method": method, "seed": seed,
            "test_at_best_val": res.test_at_best_val, "best_epoch": res.best_epoch,
            "best_val": float(res.val_accuracy[res.best_epoch]),
            "final_test": float(res.test_accuracy[-1]),
            "final_train_loss": float(res.train_loss[-1]),
            "mean_kept_fraction": float(res.kept_fraction.mean()),
            "seconds_per_epoch": res.seconds_per_epoch, "diagnostics": res.diagnostics}


def summarise(runs: list[dict], datasets: tuple[str, ...], regimes: tuple[str, ...]) -> dict:
    out: dict = {}
    for regime in regimes:
        for ds in datasets:
            for method in METHODS:
                sel = [r for r in runs if (r["dataset"], r["regime"], r["method"]) ==
                       (ds, regime, method)]
                if not sel:
                    continue
                m, ci = mean_ci([100 * r["test_at_best_val"] for r in sel])
                diag = [r["diagnostics"] for r in sel if r["diagnostics"]]
                out.setdefault(regime, {}).setdefault(ds, {})[method] = {
                    "n_seeds": len(sel), "accuracy_pct": m, "ci95_pct": ci,
                    "seconds_per_epoch_median": float(np.median([r["seconds_per_epoch"]
                                                                 for r in sel])),
                    "best_epoch_median": float(np.median([r["best_epoch"] for r in sel])),
                    "mean_kept_fraction": float(np.mean([r["mean_kept_fraction"] for r in sel])),
                    "alignment_seed0": diag[0] if diag else [],
                }
    return out


def _fmt(m: float, ci: float) -> str:
    return f"{m:.2f} ± {ci:.2f}" if math.isfinite(ci) else f"{m:.2f}"


def markdown(summary: dict, meta: dict) -> str:
    lines = [f"# DFA-GNN on Cora and CiteSeer ({meta['command']})", "",
             (f"{meta['n_runs']} runs, {meta['epochs']} epochs each; machine load "
              f"(uptime) at the start {meta['load_start']}, at the end {meta['load_end']}; "
              f"torch {meta['torch']}, 1 thread."), ""]
    for regime, per_ds in summary.items():
        lines += [f"## Test accuracy, {regime.replace('_', ' ')} (%, mean ± 95 % CI)", "",
                  "| method | " + " | ".join(f"{ds} (ours) | {ds} (paper)" for ds in per_ds) + " |",
                  "| --- |" + " --- | --- |" * len(per_ds)]
        for method in METHODS:
            cells = []
            for ds, rows in per_ds.items():
                r = rows.get(method)
                paper = PAPER[ds][method] if regime == REGIMES[0] else "–"
                ours = f"{_fmt(r['accuracy_pct'], r['ci95_pct'])} (n={r['n_seeds']})" if r else "–"
                cells.append(f"{ours} | {paper}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "Median training time per epoch (ms) and median best epoch:", "",
                  "| method | " + " | ".join(per_ds) + " |", "| --- |" + " --- |" * len(per_ds)]
        for method in METHODS:
            cells = [f"{1e3 * rows[method]['seconds_per_epoch_median']:.1f} ms, epoch "
                     f"{rows[method]['best_epoch_median']:.0f}" if method in rows else "–"
                     for rows in per_ds.values()]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"Alignment, seed 0 ({regime.replace('_', ' ')}): angle (degrees) between each "
                  "layer's update and the BP gradient of the training loss (input layer first), "
                  "and between the weights W1, W2 and the feedback products B1 B2ᵀ, B2:", "",
                  "| data set | method | epoch | update angles | weight angles |",
                  "| --- | --- | --- | --- | --- |"]
        for ds, rows in per_ds.items():
            for method, row in rows.items():
                for rec in row["alignment_seed0"]:
                    if rec["epoch"] in ALIGNMENT_EPOCHS:
                        ua = ", ".join(f"{a:.0f}" for a in rec["update_angle_deg"])
                        wa = ", ".join(f"{a:.0f}" for a in rec["weight_angle_deg"])
                        lines.append(f"| {ds} | {method} | {rec['epoch']} | {ua} | {wa} |")
        lines.append("")
    return "\n".join(lines)


def timing(out: Path, datasets: tuple[str, ...], methods: tuple[str, ...]) -> None:
    """Median time per epoch of each method, all measured here, rounds interleaved so that a
    change of machine load affects every method alike; writes ``timing.json``."""
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    result: dict = {}
    for ds in datasets:
        graph = load_graph(ds)
        tensors = GraphTensors.from_graph(graph)
        split = random_split(graph.labels, seed=0)
        per: dict[str, list[float]] = {m: [] for m in methods}
        for round_ in range(3):
            for method in methods[round_ % len(methods):] + methods[:round_ % len(methods)]:
                rule, eg, nf = METHODS[method]
                res = train_gcn(tensors, split, GraphTrainConfig(
                    rule=rule, pseudo_errors=eg, node_filter=nf, epochs=TIMING_EPOCHS,
                    **HYPER[ds]), seed=0)
                per[method].append(res.seconds_per_epoch)
        result[ds] = {m: {"ms_per_epoch": 1e3 * float(np.median(v)),
                          "ratio_to_bp": float(np.median(v) / np.median(per["bp"]))
                          if "bp" in per else None} for m, v in per.items()}
        for m, row in result[ds].items():
            print(f"{ds:9s} {m:10s} {row['ms_per_epoch']:.1f} ms/epoch "
                  f"({row['ratio_to_bp']:.2f} x BP)", flush=True)
    (out / "timing.json").write_text(json.dumps({
        "epochs": TIMING_EPOCHS, "rounds": 3, "load_start":
        [round(v, 2) for v in load_start], "load_end": [round(v, 2) for v in os.getloadavg()],
        "torch_threads": 1, "result": result}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Cora, one seed, 15 epochs")
    parser.add_argument("--out", type=Path, default=Path("runs/60_dfa_gnn"))
    parser.add_argument("--datasets", nargs="+", default=list(HYPER), choices=list(HYPER))
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--timing", action="store_true",
                        help="only measure the time per epoch of every method, in one process, "
                        f"{TIMING_EPOCHS} epochs x 3 interleaved rounds per method and data set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.timing:
        timing(args.out, tuple(args.datasets), tuple(args.methods))
        return
    if args.quick:
        datasets, seeds, epochs = QUICK["datasets"], QUICK["seeds"], QUICK["epochs"]
        diag_every, regimes = QUICK["diagnostics_every"], QUICK["regimes"]
    else:
        datasets, seeds, epochs = tuple(args.datasets), SEEDS, EPOCHS
        diag_every, regimes = DIAGNOSTICS_EVERY, tuple(args.regimes)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "runs.jsonl"
    runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["dataset"], r["regime"], r["method"], r["seed"]) for r in runs
            if r.get("epochs") == epochs}
    runs = [r for r in runs if r.get("epochs") == epochs]
    load_start = os.getloadavg()
    graphs = {ds: load_graph(ds) for ds in datasets}
    prepared = {ds: GraphTensors.from_graph(g) for ds, g in graphs.items()}
    # Seeds outermost: an interrupted run leaves every method and data set with the same seeds.
    for regime in regimes:
        for seed in seeds:
            for ds in datasets:
                graph, tensors = graphs[ds], prepared[ds]
                for method in (args.methods if not args.quick else METHODS):
                    if (ds, regime, method, seed) in done:
                        continue
                    start = time.perf_counter()
                    rec = run_one(tensors, graph.labels, ds, regime, method, seed, epochs,
                                  diag_every)
                    rec["epochs"] = epochs
                    runs.append(rec)
                    with open(log, "a") as fh:
                        fh.write(json.dumps(rec) + "\n")
                    print(f"{ds:9s} {regime:16s} {method:10s} seed {seed}: test "
                          f"{100 * rec['test_at_best_val']:.2f} % (best epoch "
                          f"{rec['best_epoch']}), {1e3 * rec['seconds_per_epoch']:.1f} ms/epoch, "
                          f"{time.perf_counter() - start:.0f} s", flush=True)
    # The summary covers every finished run in the log (earlier invocations included).
    summary = summarise(runs, tuple(d for d in HYPER if any(r["dataset"] == d for r in runs)),
                        tuple(g for g in REGIMES if any(r["regime"] == g for r in runs)))
    meta = {"command": "python examples/60_dfa_gnn.py" + (" --quick" if args.quick else ""),
            "n_runs": len(runs), "epochs": epochs,
            "load_start": [round(v, 2) for v in load_start],
            "load_end": [round(v, 2) for v in os.getloadavg()],
            "torch": torch.__version__, "python": platform.python_version(),
            "hyperparameters": HYPER, "paper": PAPER}
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary},
                                                      indent=1))
    text = markdown(summary, meta)
    (args.out / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
