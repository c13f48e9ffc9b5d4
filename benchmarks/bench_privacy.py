"""Per-step time of DP-DFA against opacus DP-SGD on the same model, in one run.

Models: the tanh MLPs of examples/40_dp_dfa_fashion_mnist.py (784-256-10 and
784-256-256-256-10), a batch of 256 random inputs, one thread.  One step = forward, per-example
clipping, noise, SGD step.  Methods: DP-DFA (``snn_dfa.deep.privacy.DPDFA``: two factor norms
per example and layer), opacus DP-SGD with per-example gradients materialised (hooks, the
default ``GradSampleModule``) and with ghost clipping (norms without per-example gradients,
a second backward), non-private DFA, and non-private BP as the reference every ratio is taken
against.
Median of ``REPEATS`` timings of ``STEPS`` steps after a warm-up; prints ``uptime``.

Usage: ``python benchmarks/bench_privacy.py``
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from snn_dfa.deep import DFA, RandomProjector
from snn_dfa.deep.privacy import DPDFA, dp_sgd

BATCH, STEPS, REPEATS, WARMUP = 256, 4, 3, 1
DEPTHS = {"784-256-10": (784, 256, 10), "784-256x3-10": (784, 256, 256, 256, 10)}


def _models(sizes):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
    model = torch.nn.Sequential(*[m for lin in layers[:-1] for m in (lin, torch.nn.Tanh())],
                                layers[-1])
    return layers, model


def _timed(step) -> float:
    for _ in range(WARMUP):
        step()
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(STEPS):
            step()
        runs.append((time.perf_counter() - start) / STEPS)
    return statistics.median(runs)


def bench(sizes) -> dict[str, float]:
    x, y = torch.rand(BATCH, sizes[0]), torch.randint(0, sizes[-1], (BATCH,))
    out = {}

    layers, model = _models(sizes)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def bp_step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    out["bp (non-private)"] = _timed(bp_step)

    layers, model = _models(sizes)
    dfa = DFA(RandomProjector(seed=0))

    def forward(inp):
        h = inp
        for lin in layers[:-1]:
            h = dfa.point(torch.tanh(lin(h)))
        return dfa.output(layers[-1](h))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def dfa_step():
        opt.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        opt.step()
    out["dfa (non-private)"] = _timed(dfa_step)

    mech = DPDFA(layers, 3.0, 0.2, noise_multiplier=1.0, seed=0)

    def dp_dfa_step():
        opt.zero_grad()
        mech.step(forward, dfa, x, y, float(BATCH))
        opt.step()
    out["DP-DFA"] = _timed(dp_dfa_step)

    for ghost, name in ((False, "DP-SGD opacus (per-example grads)"),
                        (True, "DP-SGD opacus (ghost clipping)")):
        layers, model = _models(sizes)
        module, dp_opt, loss_fn = dp_sgd(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                         1.0, 1.0, BATCH, ghost=ghost)

        def sgd_step(module=module, dp_opt=dp_opt, loss_fn=loss_fn):
            dp_opt.zero_grad()
            loss_fn(module(x), y).backward()
            dp_opt.step()
        out[name] = _timed(sgd_step)
        module._close()
    return out


def main() -> None:
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    torch.set_num_threads(1)
    print("uptime:", os.popen("uptime").read().strip())
    for label, sizes in DEPTHS.items():
        res = bench(sizes)
        ref = res["bp (non-private)"]
        dfa = res["DP-DFA"]
        print(f"\n{label}, batch {BATCH}, 1 thread (median of {REPEATS} x {STEPS} steps)")
        print(f"{'method':36s} {'ms/step':>9s} {'x BP':>7s} {'x DP-DFA':>9s}")
        for name, t in res.items():
            print(f"{name:36s} {1e3 * t:9.2f} {t / ref:7.2f} {t / dfa:9.2f}")
    print("\nuptime:", os.popen("uptime").read().strip())


if __name__ == "__main__":
    main()
