"""Torch DFA (``snn_dfa.deep``) step time against BP on each model, in the same run.

One training step = forward + backward + SGD update on one minibatch (one intra-op thread).
Time is the CPU time of the calling thread (``time.thread_time``): on a shared, overloaded
machine wall-clock steps mostly measure the scheduler (two runs at load 17 gave DFA/BP ratios
from 0.6 to 1.35 for the same models).  BP and DFA steps of the same model alternate; the
figure is the median over repeats and the ratio DFA / BP.  For the MLP, BioTorch 0.0.16's DFA
(``BioModule(mode="dfa")``) is timed in the same loop when it can be imported (install it
``--no-deps`` into a folder on ``PYTHONPATH``; it is not a dependency of snn-dfa).

Usage: ``python benchmarks/bench_deep.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from snn_dfa.deep import DFA, RandomProjector
from snn_dfa.deep.lowrank import LowRankMLP, SVDProjector
from snn_dfa.deep.models import MLP, RNN, CharTransformer, ConvNet
from snn_dfa.deep.snntorch_bridge import Integrator, SnnTorchNet, default_leaky


def _mlp(dfa: DFA):
    return MLP((784, 256, 256, 10), dfa, "relu"), torch.randn(128, 784), torch.randint(0, 10, (128,))


def _deep_mlp(dfa: DFA):
    return MLP((784, *[256] * 8, 10), dfa, "tanh"), torch.randn(128, 784), \
        torch.randint(0, 10, (128,))


def _cnn(dfa: DFA):
    return ConvNet(1, 10, (28, 28), dfa, "dfa", channels=(8, 16)), torch.randn(64, 1, 28, 28), \
        torch.randint(0, 10, (64,))


def _rnn(dfa: DFA):
    return RNN(28, 128, 10, dfa), torch.randn(64, 28, 28), torch.randint(0, 10, (64,))


def _transformer(dfa: DFA):
    x = torch.randint(0, 65, (16, 64))
    return CharTransformer(65, dfa, d=64, layers=2, context=64), x, torch.randint(0, 65, (16, 64))


def _lowrank(dfa: DFA):
    return LowRankMLP((784, 256, 256, 10), 16, dfa), torch.randn(128, 784), \
        torch.randint(0, 10, (128,))


def _snntorch(dfa: DFA):
    net = SnnTorchNet([torch.nn.Linear(9, 64), torch.nn.Linear(64, 6)],
                      [default_leaky(0.9, 1.0), Integrator(0.9)], [None, None],
                      readout="mean_membrane", dfa=dfa)
    return net, torch.randn(128, 32, 9), torch.randint(0, 6, (32,))


MODELS: dict[str, Callable] = {
    "MLP 784-256-256-10 ReLU, batch 128": _mlp,
    "MLP 784-8x256-10 tanh, batch 128": _deep_mlp,
    "CNN conv8-conv16-FC128 (Fashion-MNIST), batch 64": _cnn,
    "Elman RNN 128, 28 steps, batch 64": _rnn,
    "char Transformer 2x64, ctx 64, batch 16 (macro)": _transformer,
    "low-rank MLP r16 (SVD feedback), batch 128": _lowrank,
    "snntorch Leaky 9-64-6, T 128, batch 32": _snntorch,
}


def _step_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
             forward: Callable | None = None) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    run = forward or model

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = run(x)
        F.cross_entropy(out.flatten(0, -2), y.flatten()).backward()
        opt.step()

    return step


def _biotorch_step(x: torch.Tensor, y: torch.Tensor) -> Callable[[], None] | None:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from biotorch.module.biomodule import BioModule
    except ImportError:
        return None
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 10))
    bio = BioModule(net, mode="dfa", output_dim=10)
    return _step_fn(bio, x, y, forward=lambda inp: bio(inp, targets=y,
                                                        loss_function=F.cross_entropy))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()}")
    print(f"{'model':52s} {'BP ms':>8s} {'DFA ms':>8s} {'DFA/BP':>7s}")
    for name, make in MODELS.items():
        steps = {}
        for mode in ("bp", "dfa"):
            torch.manual_seed(0)
            model, x, y = make(DFA(SVDProjector(16, seed=0) if make is _lowrank else
                                   RandomProjector(seed=0), mode=mode))
            steps[mode] = _step_fn(model, x, y)
        if make is _mlp:
            bio = _biotorch_step(x, y)
            if bio is not None:
                steps["biotorch_dfa"] = bio
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(2):  # warm-up
            for fn in steps.values():
                fn()
        for _ in range(args.repeats):
            for k, fn in steps.items():
                start = time.thread_time()
                fn()
                times[k].append(1e3 * (time.thread_time() - start))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{name:52s} {med['bp']:8.2f} {med['dfa']:8.2f} {med['dfa'] / med['bp']:7.2f}"
              + (f"   BioTorch DFA {med['biotorch_dfa']:.2f} ms "
                 f"({med['biotorch_dfa'] / med['bp']:.2f} x BP)" if "biotorch_dfa" in med else ""))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
