"""53 — Low-rank DFA in SVD space (Roy et al. 2025, "SSA") against full-rank DFA and BP (issue 20).

Roy, Apolinario, Das Biswas, Roy (arXiv 2510.25594) keep every layer factored as ``U S V^T``,
train the factors with a local loss (cross-entropy through DFA, a subspace alignment term
towards feedback of the same SVD structure, an orthogonality term) and reduce the rank during
training; they report accuracy comparable to BP with fewer trainable parameters than full-rank
DFA, and that every loss term matters.  Their exact losses and schedule are not public;
``snn_dfa.deep.lowrank`` documents our reading.

Protocol ([assumption]: a CPU-sized stand-in for the paper's runs): scikit-learn digits, MLP
64-256-256-10 tanh, 3 seeds, 40 epochs, Adam lr 1e-3, batch 32 for every method:

* ``bp_dense``, ``dfa_dense``: full-rank MLP (``snn_dfa.deep.models.MLP``);
* ``ssa_r{8,16,32}``: low-rank layers of rank r, SVD-structured feedback, align + ortho terms
  (weights 0.1 and 1.0 [assumption]), rank reduction every 10 epochs (threshold 0.1 of the largest
  singular value [assumption]);
* ablations at r = 16: ``ssa_r16_no_align``, ``ssa_r16_no_ortho``, ``ssa_r16_ce_only``.

Reported: test accuracy, trainable parameters at the end (after rank reduction), final ranks,
the worst ``|U^T U - I|_F`` and ``|V^T V - I|_F`` over layers, per-layer DFA/BP alignment.

Usage::

    python examples/53_lowrank_ssa.py            # full run (runs resumable in --out)
    python examples/53_lowrank_ssa.py --quick    # seconds: 1 seed, 2 epochs

Writes one JSON per run and ``results.json`` to ``--out`` (default ``runs/53_lowrank_ssa``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from snn_dfa.data import load_digits
from snn_dfa.deep import DFA, RandomProjector
from snn_dfa.deep.lowrank import LowRankMLP, SVDProjector
from snn_dfa.deep.models import MLP
from snn_dfa.deep.train import cached_run, fit_classifier, mean_std, seeded

SEEDS = (0, 1, 2)
SIZES = (64, 256, 256, 10)
EPOCHS, BATCH, LR = 40, 32, 1e-3
ALIGN_WEIGHT, ORTHO_WEIGHT = 0.1, 1.0   # [assumption]
REDUCE_EVERY, REDUCE_THRESHOLD = 10, 0.1  # [assumption]
METHODS = {  # name: (rank or None for dense, mode, align, ortho)
    "bp_dense": (None, "bp", False, False),
    "dfa_dense": (None, "dfa", False, False),
    "ssa_r8": (8, "dfa", True, True),
    "ssa_r16": (16, "dfa", True, True),
    "ssa_r32": (32, "dfa", True, True),
    "ssa_r16_no_align": (16, "dfa", False, True),
    "ssa_r16_no_ortho": (16, "dfa", True, False),
    "ssa_r16_ce_only": (16, "dfa", False, False),
}


def load() -> tuple:
    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.y))
    cut = int(0.8 * len(order))  # the same fixed split as example 50
    x = data.X.reshape(len(data.y), -1).astype(np.float32)
    mu, sd = x[order[:cut]].mean(), x[order[:cut]].std()
    x = (x - mu) / sd
    return ((torch.as_tensor(x[order[:cut]]), torch.as_tensor(data.y[order[:cut]])),
            (torch.as_tensor(x[order[cut:]]), torch.as_tensor(data.y[order[cut:]])))


def run(method: str, seed: int, data: tuple, epochs: int) -> dict:
    rank, mode, use_align, use_ortho = METHODS[method]
    train, test = data
    if rank is None:
        dfa = DFA(RandomProjector(seed=seed), mode=mode)
        with seeded(seed):
            model = MLP(SIZES, dfa)
        res = fit_classifier(model, dfa, train, test, epochs=epochs, batch_size=BATCH, lr=LR,
                             optimizer="adam", seed=seed)
        res["n_parameters"] = sum(p.numel() for p in model.parameters())
    else:
        dfa = DFA(SVDProjector(rank, seed=seed))
        dfa.build([(n,) for n in SIZES[1:-1]], SIZES[-1])
        feedback = dfa.projector.matrices
        with seeded(seed):
            lr_model = LowRankMLP(SIZES, rank, dfa)

        def regulariser() -> torch.Tensor:
            align, ortho = lr_model.local_losses(feedback)
            return ALIGN_WEIGHT * use_align * align + ORTHO_WEIGHT * use_ortho * ortho

        def epoch_hook(epoch: int) -> dict:
            if epoch % REDUCE_EVERY == 0 and epoch < epochs:
                for lin in lr_model.layers:
                    lin.reduce_rank(REDUCE_THRESHOLD)
            with torch.no_grad():
                errs = [max(float((lin.U.T @ lin.U - torch.eye(lin.rank)).norm()),
                            float((lin.V.T @ lin.V - torch.eye(lin.rank)).norm()))
                        for lin in lr_model.layers]
            return {"ranks": [lin.rank for lin in lr_model.layers], "ortho_error": max(errs),
                    "n_parameters": lr_model.n_parameters()}

        res = fit_classifier(lr_model, dfa, train, test, epochs=epochs, batch_size=BATCH, lr=LR,
                             optimizer="adam", seed=seed, regulariser=regulariser,
                             epoch_hook=epoch_hook)
        last = res["epochs"][-1]
        res.update(n_parameters=last["n_parameters"], ranks=last["ranks"],
                   ortho_error=last["ortho_error"])
    res.update(method=method, seed=seed)
    return res


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/53_lowrank_ssa"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds, epochs = (SEEDS[:1], 2) if args.quick else (SEEDS, EPOCHS)
    data = load()
    summary: dict = {}
    for method in METHODS:
        runs = [cached_run(args.out, f"{method}_s{s}", lambda m=method, s=s: run(m, s, data, epochs))
                for s in seeds]
        acc = mean_std([100 * r["test_acc"] for r in runs])
        row = {"test_acc_pct": acc[0], "test_acc_pct_std": acc[1], "epochs": epochs,
               "seeds": list(seeds), "n_parameters": mean_std([r["n_parameters"] for r in runs])[0],
               "step_ms": mean_std([r["step_ms"] for r in runs])[0],
               "final_alignment_update_cosine": {
                   k: mean_std([r["epochs"][-1]["alignment"][k] for r in runs])[0]
                   for k in runs[0]["epochs"][-1]["alignment"]}}
        if "ranks" in runs[0]:
            row["ranks_seed0"] = runs[0]["ranks"]
            row["ortho_error_max"] = max(r["ortho_error"] for r in runs)
        summary[method] = row
        print(f"{method:18s} test acc {acc[0]:6.2f} ± {acc[1]:.2f} %  params {row['n_parameters']:8.0f}"
              + (f"  ranks {row['ranks_seed0']}  ortho err {row['ortho_error_max']:.3f}"
                 if "ranks" in row or "ranks_seed0" in row else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
