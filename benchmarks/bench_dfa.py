"""Online DFA adaptation: speed against snntorch, and memory against the window length.

1. Speed (batch 1, the HAR network of ``bench_engine.py``: SFCN without batch norm).  One
   adaptation step = forward pass of one window + DFA update of every layer.  snn-dfa runs
   :class:`~snn_dfa.rules.online.OnlineAdapter` with :class:`~snn_dfa.rules.learning.DFA`; the reference
   is the same DFA in torch on snntorch: inputs of every layer and the membrane recurrence
   detached, and ``torch.autograd.backward`` injecting ``B_l e`` into each hidden layer's
   spikes and ``e`` into the readout (the TinyDFA construction), then the same SGD step.
2. Memory (peak bytes allocated during one adaptation step, ``tracemalloc``) against the
   window length T for a streaming HAR network (three causal Conv1d layers 9->32->64->128,
   kernel 8, and a Linear readout): streaming DFA (:mod:`snn_dfa.rules.streaming`) against BPTT
   (:class:`~snn_dfa.rules.online.OnlineAdapter`, which must keep the whole trace).

Usage: ``python benchmarks/bench_dfa.py``
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import CHANNELS, CLASSES, STEPS, TorchSFCN, build, timeit  # noqa: E402

from snn_dfa.engine.layers import Conv1d, Linear  # noqa: E402
from snn_dfa.engine.network import SpikingNetwork  # noqa: E402
from snn_dfa.engine.neurons import LIFParams, Surrogate  # noqa: E402
from snn_dfa.engine.optim import SGD  # noqa: E402
from snn_dfa.rules.feedback import RandomFeedback  # noqa: E402
from snn_dfa.rules.learning import BPTT, DFA, random_feedback_for  # noqa: E402
from snn_dfa.rules.online import OnlineAdapter  # noqa: E402
from snn_dfa.rules.streaming import StreamingDFA  # noqa: E402

LR = 1e-3


class TorchDFA:
    """DFA on the snntorch SFCN: detached layers and membranes, injected gradients."""

    def __init__(self, tnet: TorchSFCN, feedback: list[np.ndarray]) -> None:
        self.net = tnet
        self.B = [torch.tensor(b) for b in feedback]
        self.opt = torch.optim.SGD(tnet.parameters(), lr=LR)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        net = self.net
        h = x
        spikes_all = []
        for w, lif in zip(net.w, net.lifs):
            cur = F.conv1d(h.detach(), w, padding=4)
            mem = lif.init_leaky()
            spikes = []
            for t in range(cur.shape[2]):
                s, mem = lif(cur[:, :, t], mem)
                mem = mem.detach()  # no temporal credit assignment: DFA is local in time
                spikes.append(s)
            s_all = torch.stack(spikes, dim=2)
            spikes_all.append(s_all)
            h = F.avg_pool1d(s_all, 2, 2, 1)
        z = h.detach().flatten(1) @ net.fc_w.T + net.fc_b
        with torch.no_grad():
            e = torch.softmax(z, dim=1) - F.one_hot(y, CLASSES).to(z.dtype)
            injected = [(e @ b.T)[:, :, None].expand_as(s) for b, s in zip(self.B, spikes_all)]
        self.opt.zero_grad()
        torch.autograd.backward([*spikes_all, z], [*injected, e])
        self.opt.step()


def speed() -> None:
    net = build()
    tnet = TorchSFCN(net)
    rule = DFA(random_feedback_for(net, seed=0))
    ours = OnlineAdapter(net, rule, SGD(lr=LR))
    theirs = TorchDFA(tnet, rule.projector.matrices)  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS, CHANNELS)).astype(np.float32)
    xt = torch.tensor(x.T[None].copy())
    yt = torch.tensor([3])
    ta = timeit(lambda: ours.partial_fit(x, 3), 30)
    tb = timeit(lambda: theirs.step(xt, yt), 10)
    print(f"online DFA step, batch 1: snn-dfa {1e3 * ta:.2f} ms, snntorch+torch "
          f"{1e3 * tb:.2f} ms, ratio {tb / ta:.1f}x")


def streaming_net() -> SpikingNetwork:
    hid = LIFParams(beta=0.75, threshold=0.5, surrogate=Surrogate("triangle"))
    layers = [Conv1d(CHANNELS, 32, 8, neuron=hid), Conv1d(32, 64, 8, neuron=hid),
              Conv1d(64, 128, 8, neuron=hid), Linear(128, CLASSES, neuron=LIFParams.integrator(0.9))]
    return SpikingNetwork(layers, readout="mean_membrane", seed=0)


def peak_bytes(fn) -> int:
    fn()  # warm-up: compilation, optimiser state
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def memory() -> None:
    print(f"{'T':>6}{'streaming DFA KiB':>20}{'BPTT KiB':>12}{'DFA step ms':>14}")
    for steps in (64, 128, 256, 512, 1024, 2048):
        x = np.random.default_rng(steps).normal(size=(steps, CHANNELS)).astype(np.float32)
        net = streaming_net()
        stream = StreamingDFA(net, RandomFeedback([32, 64, 128], CLASSES, seed=0), SGD(lr=LR))
        dfa = peak_bytes(lambda: stream.partial_fit(x, 1))
        t0 = time.perf_counter()
        stream.partial_fit(x, 2)
        dt = time.perf_counter() - t0
        net_b = streaming_net()
        bptt = OnlineAdapter(net_b, BPTT(), SGD(lr=LR))
        bp = peak_bytes(lambda: bptt.partial_fit(x, 1))
        print(f"{steps:>6}{dfa / 1024:>20.0f}{bp / 1024:>12.0f}{1e3 * dt:>14.1f}")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    speed()
    memory()
