"""50 — Nøkland's DFA against BP for MLPs (tanh and ReLU) on digits and Fashion-MNIST (issue 20).

Nøkland (NIPS 2016, arXiv 1609.01596) trains fully-connected nets with a fixed random matrix
from the output error to every hidden layer and reports test errors close to BP's (MNIST 2x800
tanh: BP 1.60 %, DFA 1.74 %).  Here, with ``snn_dfa.deep``:

* scikit-learn digits (8x8), MLP 64-256-256-10, BP / DFA / readout-only (the control);
* Fashion-MNIST (28x28), MLP 784-256-256-10 (TinyDFA's MNIST example), BP / DFA;

each with tanh and ReLU hidden units, 3 seeds, the same epochs and optimiser for every method
(SGD, momentum 0.9, batch 128 for Fashion-MNIST / 32 for digits, lr 0.01: TinyDFA's MNIST
defaults), uniform feedback scaled by ``1/sqrt(n_l)``.  Per epoch: test accuracy and, for DFA,
the per-layer cosine between the DFA update and the BP gradient on a fixed probe minibatch.

Usage::

    python examples/50_dfa_mlp.py            # full run (runs resumable in --out)
    python examples/50_dfa_mlp.py --quick    # seconds: digits only, 1 seed, 2 epochs

Writes one JSON per run and ``results.json`` (summary) to ``--out`` (default
``runs/50_dfa_mlp``).
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import numpy as np
import torch

from snn_dfa.data import load_digits
from snn_dfa.data.fashion_mnist import load_fashion_mnist
from snn_dfa.deep import DFA, RandomProjector
from snn_dfa.deep.models import MLP
from snn_dfa.deep.train import cached_run, fit_classifier, mean_std, seeded

SEEDS = (0, 1, 2)
ACTIVATIONS = ("tanh", "relu")
LR = 0.01            # TinyDFA MNIST example (lightonai/dfa-scales-to-modern-deep-learning)
HIDDEN = (256, 256)  # TinyDFA MNIST example
DATASETS = {
    # name: (epochs, batch, methods)
    "digits": (30, 32, ("bp", "dfa", "readout")),
    "fashion_mnist": (5, 128, ("bp", "dfa")),  # 5 epochs [assumption: CPU budget; TinyDFA 15]
}
QUICK = {"digits": (2, 32, ("bp", "dfa", "readout"))}


def load(name: str) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Standardised float32 images (statistics of the training part) and int64 labels."""
    if name == "digits":
        data = load_digits()
        order = np.random.default_rng(0).permutation(len(data.y))
        cut = int(0.8 * len(order))  # fixed 80/20 split, seed 0
        parts = [(data.X[order[:cut]], data.y[order[:cut]]),
                 (data.X[order[cut:]], data.y[order[cut:]])]
    else:
        tr, te = load_fashion_mnist(split="train"), load_fashion_mnist(split="test")
        parts = [(tr.X, tr.y), (te.X, te.y)]
    x_train = parts[0][0].astype(np.float32)
    mu, sd = x_train.mean(), x_train.std()
    return tuple((torch.as_tensor((x.astype(np.float32) - mu) / sd).flatten(1),  # type: ignore
                  torch.as_tensor(y)) for x, y in parts)


def run_one(dataset: str, data, activation: str, method: str, seed: int, epochs: int,
            batch: int) -> dict:
    train, test = data
    dfa = DFA(RandomProjector(distribution="uniform", scaling="fan", seed=seed),
              mode="dfa" if method == "dfa" else method)
    with seeded(seed):
        model = MLP((train[0].shape[1], *HIDDEN, 10), dfa, activation)
    res = fit_classifier(model, dfa, train, test, epochs=epochs, batch_size=batch, lr=LR,
                         optimizer="sgd", seed=seed)
    res.update(dataset=dataset, activation=activation, method=method, seed=seed)
    return res


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/50_dfa_mlp"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    plan = QUICK if args.quick else DATASETS
    seeds = SEEDS[:1] if args.quick else SEEDS
    summary: dict = {}
    for dataset, (epochs, batch, methods) in plan.items():
        data = load(dataset)
        for act in ACTIVATIONS:
            for method in methods:
                runs = [cached_run(args.out, f"{dataset}_{act}_{method}_s{s}",
                                   partial(run_one, dataset, data, act, method, s, epochs,
                                           batch)) for s in seeds]
                acc = mean_std([100 * r["test_acc"] for r in runs])
                align = {}
                for key in runs[0]["epochs"][-1]["alignment"]:
                    align[key] = [mean_std([r["epochs"][e]["alignment"][key] for r in runs])[0]
                                  for e in range(epochs + 1)]
                summary[f"{dataset}/{act}/{method}"] = {
                    "test_acc_pct": acc[0], "test_acc_pct_std": acc[1], "epochs": epochs,
                    "seeds": list(seeds), "step_ms": mean_std([r["step_ms"] for r in runs])[0],
                    "alignment_update_cosine_by_epoch": align}
                print(f"{dataset:14s} {act:5s} {method:8s} test acc {acc[0]:6.2f} ± {acc[1]:.2f} %"
                      f"  step {summary[f'{dataset}/{act}/{method}']['step_ms']:.2f} ms"
                      + "".join(f"  cos[{k}] {v[-1]:+.2f}" for k, v in align.items()))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
