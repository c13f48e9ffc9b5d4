"""51 — Han et al.'s DFA schemes for CNNs and RNNs on Fashion-MNIST, and UCI HAPT references.

Han, Park, Ryu, Yoo (arXiv 2006.12830) find plain DFA weak on convolutional networks and recover
BP-level accuracy with modular DFA, sparse feedback (a dilated convolution for feature maps, a
sparse matrix for RNNs) and hybrid DFA.  The paper's exact module split, sparsity and hybrid
configuration are not public (no code is released), so these are our readings, all through
``snn_dfa.deep``'s point placement and projectors:

* CNN (conv 5x5 8 -> 16, ReLU, max-pool, FC 128):
  ``bp``; ``dfa`` (dense random feedback to both feature maps and the FC layer); ``sparse``
  (periodic/dilated-convolution feedback, period 2, 2 of the 10 error components per kernel
  row; sparse rows for the FC layer); ``modular`` (two modules, the conv stack and the FC layer,
  BP inside each); ``hybrid`` (DFA to the FC layer only, the convolutions by BP from it).
* RNN (Elman tanh, 128 units, the 28 image rows as time steps): ``bp`` (BPTT), ``dfa`` (dense
  ``B e`` to the hidden state at every step), ``sparse`` (2 non-zeros per row of ``B``).
* UCI HAPT windows (9 channels x 128 samples, 6 basic activities, UCI-HAR subject split): the
  same CNN in 1-d and an RNN of 64 units, BP against DFA: the non-spiking reference for the
  spiking DFA results of examples 20 and 11.

Equal epochs (3 on Fashion-MNIST, 4 on HAPT) and optimiser for every method (Adam, lr 1e-3
[assumption: the paper's optimiser is not known]); Fashion-MNIST uses a fixed random
10,000-image training subset [assumption: CPU budget] and the full 10,000-image test set;
3 seeds.

Usage::

    python examples/51_dfa_cnn_rnn.py            # full run (runs resumable in --out)
    python examples/51_dfa_cnn_rnn.py --quick    # seconds: tiny subsets, 1 seed, 1 epoch

Writes one JSON per run and ``results.json`` to ``--out`` (default ``runs/51_dfa_cnn_rnn``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from snn_dfa.data import Normalizer, load_hapt, subject_split
from snn_dfa.data.fashion_mnist import load_fashion_mnist
from snn_dfa.deep import DFA, PeriodicConvProjector, RandomProjector
from snn_dfa.deep.models import RNN, ConvNet
from snn_dfa.deep.train import cached_run, fit_classifier, mean_std, seeded

SEEDS = (0, 1, 2)
LR = 1e-3
BATCH = 64
FMNIST_TRAIN = 10_000
SPARSE_K = 2          # non-zeros per feedback row [assumption]
PERIOD = 2            # period of the dilated-convolution feedback [assumption]
# experiment: (dataset, model, methods, epochs)
PLAN = [
    ("fashion_mnist", "cnn", ("bp", "dfa", "sparse", "modular", "hybrid"), 3),
    ("fashion_mnist", "rnn", ("bp", "dfa", "sparse"), 3),
    ("hapt", "cnn", ("bp", "dfa", "hybrid"), 4),
    ("hapt", "rnn", ("bp", "dfa"), 4),
]
QUICK_SIZES = (600, 300)


def load(dataset: str, quick: bool):
    """``(train, test)`` tensors: images ``[N, 1, 28, 28]`` or windows ``[N, 128, 9]``."""
    if dataset == "fashion_mnist":
        tr, te = load_fashion_mnist(split="train"), load_fashion_mnist(split="test")
        pick = np.random.default_rng(0).permutation(len(tr.y))[:FMNIST_TRAIN]
        xtr, ytr, xte, yte = tr.X[pick], tr.y[pick], te.X, te.y
        mu, sd = xtr.astype(np.float32).mean(), xtr.astype(np.float32).std()
        xtr, xte = [((x.astype(np.float32) - mu) / sd)[:, None] for x in (xtr, xte)]
    else:
        train, test = subject_split(load_hapt())
        norm = Normalizer().fit(train)
        xtr, ytr, xte, yte = norm.transform(train.X), train.y, norm.transform(test.X), test.y
    if quick:
        xtr, ytr, xte, yte = xtr[:QUICK_SIZES[0]], ytr[:QUICK_SIZES[0]], \
            xte[:QUICK_SIZES[1]], yte[:QUICK_SIZES[1]]
    return ((torch.as_tensor(np.ascontiguousarray(xtr, np.float32)), torch.as_tensor(ytr)),
            (torch.as_tensor(np.ascontiguousarray(xte, np.float32)), torch.as_tensor(yte)))


class _ChannelFirst(torch.nn.Module):
    """HAR windows ``[B, T, C]`` to ``[B, C, T]`` for the 1-d CNN."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2))


def build(dataset: str, model: str, method: str, seed: int) -> tuple[torch.nn.Module, DFA]:
    if method == "sparse":
        projector = PeriodicConvProjector(PERIOD, nonzeros_per_row=SPARSE_K, seed=seed) \
            if model == "cnn" else RandomProjector(nonzeros_per_row=SPARSE_K, seed=seed)
    else:
        projector = RandomProjector(seed=seed)
    dfa = DFA(projector, mode="bp" if method == "bp" else "dfa")
    scheme = method if method in ("modular", "hybrid") else "dfa"
    with seeded(seed):
        if dataset == "fashion_mnist":
            net = ConvNet(1, 10, (28, 28), dfa, scheme, channels=(8, 16)) if model == "cnn" \
                else _Rows(RNN(28, 128, 10, dfa))
        else:
            net = _ChannelFirst(ConvNet(9, 6, (128,), dfa, scheme, channels=(8, 16))) \
                if model == "cnn" else RNN(9, 64, 6, dfa)
    return net, dfa


class _Rows(torch.nn.Module):
    """Images ``[B, 1, 28, 28]`` as 28 time steps of 28 pixels."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, 0])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/51_dfa_cnn_rnn"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = SEEDS[:1] if args.quick else SEEDS
    summary: dict = {}
    cache: dict = {}
    for dataset, model, methods, epochs in PLAN:
        if args.quick:
            epochs = 1
        if dataset not in cache:
            cache[dataset] = load(dataset, args.quick)
        train, test = cache[dataset]

        def run(method: str, seed: int, model: str = model, epochs: int = epochs,
                dataset: str = dataset, train: tuple = train, test: tuple = test) -> dict:
            net, dfa = build(dataset, model, method, seed)
            res = fit_classifier(net, dfa, train, test, epochs=epochs, batch_size=BATCH, lr=LR,
                                 optimizer="adam", seed=seed)
            res.update(dataset=dataset, model=model, method=method, seed=seed)
            return res

        for method in methods:
            runs = [cached_run(args.out, f"{dataset}_{model}_{method}_s{s}",
                               lambda m=method, s=s: run(m, s)) for s in seeds]
            acc = mean_std([100 * r["test_acc"] for r in runs])
            last = {k: mean_std([r["epochs"][-1]["alignment"][k] for r in runs])[0]
                    for k in runs[0]["epochs"][-1]["alignment"]}
            name = f"{dataset}/{model}/{method}"
            summary[name] = {"test_acc_pct": acc[0], "test_acc_pct_std": acc[1],
                             "epochs": epochs, "seeds": list(seeds),
                             "step_ms": mean_std([r["step_ms"] for r in runs])[0],
                             "final_alignment_update_cosine": last}
            print(f"{name:30s} test acc {acc[0]:6.2f} ± {acc[1]:.2f} %  step "
                  f"{summary[name]['step_ms']:.2f} ms"
                  + "".join(f"  cos[{k}] {v:+.2f}" for k, v in last.items()))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
