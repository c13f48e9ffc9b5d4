"""54 — An snntorch network trained with DFA, then deployed on the numba engine (issue 20).

A spiking network written with snntorch (``nn.Linear`` + ``snn.Leaky`` hidden layer, a leaky
integrator readout averaged over time) is trained on UCI HAPT windows (9 channels x 128
samples, UCI-HAR subject split) with BPTT through snntorch and with ``snn_dfa.deep``'s DFA
(one feedback point per hidden population, called at every time step: ``B e`` times the
surrogate derivative of the spike).  Each trained network is then converted to the engine
(``snn_dfa.deep.snntorch_bridge.to_engine``) and tested there: identical spikes mean the same
accuracy, so a network pre-trained in snntorch can be deployed and adapted on the crossbar
chain.

Settings: 64 hidden LIF neurons (beta 0.9, threshold 1, subtractive reset, atan surrogate:
snntorch's defaults), readout beta 0.9, Adam lr 1e-3, batch 64, 4 epochs, 3 seeds
[assumption: small for the shared CPU].

Usage::

    python examples/54_snntorch_dfa_har.py            # full run (runs resumable in --out)
    python examples/54_snntorch_dfa_har.py --quick    # seconds: 300 windows, 1 seed, 1 epoch

Writes one JSON per run and ``results.json`` to ``--out`` (default ``runs/54_snntorch_dfa_har``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from snn_dfa.data import Normalizer, load_hapt, subject_split
from snn_dfa.deep import DFA, RandomProjector
from snn_dfa.deep.snntorch_bridge import (
    Integrator,
    SnnTorchNet,
    default_leaky,
    to_engine,
)
from snn_dfa.deep.train import cached_run, fit_classifier, mean_std, seeded

SEEDS = (0, 1, 2)
HIDDEN, EPOCHS, BATCH, LR = 64, 4, 64, 1e-3
QUICK = {"train": 300, "test": 200, "epochs": 1}


class TimeMajor(torch.nn.Module):
    """Batch-first windows ``[B, T, C]`` into a time-major spiking network."""

    def __init__(self, net: SnnTorchNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(0, 1))


def run(method: str, seed: int, train, test, epochs: int) -> dict:
    dfa = DFA(RandomProjector(seed=seed), mode="bp" if method == "bptt" else "dfa")
    with seeded(seed):
        net = SnnTorchNet([torch.nn.Linear(9, HIDDEN), torch.nn.Linear(HIDDEN, 6)],
                          [default_leaky(0.9, 1.0), Integrator(0.9)], [None, None],
                          readout="mean_membrane", dfa=dfa)
    res = fit_classifier(TimeMajor(net), dfa, train, test, epochs=epochs, batch_size=BATCH,
                         lr=LR, optimizer="adam", seed=seed, probe_size=64)
    engine = to_engine(net)
    x_test = np.ascontiguousarray(test[0].numpy().transpose(1, 0, 2))  # [T, B, C]
    z, _ = engine.forward(x_test)
    res.update(method=method, seed=seed,
               engine_test_acc=float((z.argmax(1) == test[1].numpy()).mean()))
    return res


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/54_snntorch_dfa_har"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tr, te = subject_split(load_hapt())
    norm = Normalizer().fit(tr)
    xtr, ytr, xte, yte = norm.transform(tr.X), tr.y, norm.transform(te.X), te.y
    seeds, epochs = SEEDS, EPOCHS
    if args.quick:
        pick = np.random.default_rng(0).permutation(len(ytr))[:QUICK["train"]]
        xtr, ytr, xte, yte = xtr[pick], ytr[pick], xte[:QUICK["test"]], yte[:QUICK["test"]]
        seeds, epochs = SEEDS[:1], QUICK["epochs"]
    train = (torch.as_tensor(np.ascontiguousarray(xtr, np.float32)), torch.as_tensor(ytr))
    test = (torch.as_tensor(np.ascontiguousarray(xte, np.float32)), torch.as_tensor(yte))
    summary: dict = {}
    for method in ("bptt", "dfa"):
        runs = [cached_run(args.out, f"{method}_s{s}",
                           lambda m=method, s=s: run(m, s, train, test, epochs)) for s in seeds]
        acc = mean_std([100 * r["test_acc"] for r in runs])
        eng = mean_std([100 * r["engine_test_acc"] for r in runs])
        summary[method] = {"test_acc_pct": acc[0], "test_acc_pct_std": acc[1],
                           "engine_test_acc_pct": eng[0], "epochs": epochs, "seeds": list(seeds),
                           "step_ms": mean_std([r["step_ms"] for r in runs])[0],
                           "final_alignment_update_cosine": {
                               k: mean_std([r["epochs"][-1]["alignment"][k] for r in runs])[0]
                               for k in runs[0]["epochs"][-1]["alignment"]}}
        print(f"{method:5s} snntorch test acc {acc[0]:6.2f} ± {acc[1]:.2f} %   on the engine "
              f"{eng[0]:6.2f} %   step {summary[method]['step_ms']:.0f} ms")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
