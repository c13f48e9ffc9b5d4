"""Engine speed against snntorch on the HAR-sized network, measured in one run.

Network (SNN_HAR's SFCN without batch norm, Intelligent-Computing-Lab-Yale/SNN_HAR): 9 input channels,
128 time steps, three Conv1d(k=8, padding 4) spiking layers of 32/64/128 channels each
followed by AvgPool(2, 2, padding 1), flatten, Linear readout to 6 classes.  Both sides use
snntorch's reset convention (full threshold subtracted one step after a spike), fast-sigmoid
surrogate, float32, the same weights and the same input.  snntorch runs the convolution over
the whole sequence and loops ``snn.Leaky`` over time, as SNN_HAR does.

Prints the median time per call of forward and forward+BPTT (loss and all gradients) at
batch 1 and 64, the ratio snntorch / snn-dfa, and snn-dfa's time as a multiple of the matmul
floor measured in the same run: plain NumPy BLAS products at the network's shapes, on
preallocated contiguous float32 operands, of what no implementation can skip (forward: the
current of every synaptic layer, ``patches @ W.T``; BPTT adds the weight gradient
``dI.T @ patches`` of every layer and the input gradient ``dI @ W`` of every layer above the
first).  Usage: ``python benchmarks/bench_engine.py [--cpu] [--malloc]`` (``--cpu``: CPU time of
the process instead of wall time, for a loaded machine; then run with one thread,
``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1``; ``--malloc``: the allocator settings of the
command line, :func:`snn_dfa.app.runtime.tune_allocator`)
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np
import snntorch as snn
import torch
import torch.nn.functional as F

from snn_dfa.engine.layers import AvgPool, Conv1d, Flatten, Linear
from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Surrogate

CHANNELS, STEPS, CLASSES = 9, 128, 6
REPEATS = {1: 30, 64: 8}


def build() -> SpikingNetwork:
    p = LIFParams(beta=0.75, threshold=0.5, reset_decays=False, surrogate=Surrogate("fast_sigmoid"))
    layers, c_in, t = [], CHANNELS, STEPS
    for c_out in (32, 64, 128):
        conv = Conv1d(c_in, c_out, 8, padding=4, neuron=p)
        pool = AvgPool(c_out, 2, 2, padding=1)
        t = pool.output_steps(conv.output_steps(t))
        layers += [conv, pool]
        c_in = c_out
    layers += [Flatten(c_in, t), Linear(c_in * t, CLASSES, neuron=LIFParams.integrator(), bias=True)]
    return SpikingNetwork(layers, readout="last_membrane", seed=0)


class TorchSFCN(torch.nn.Module):
    def __init__(self, net: SpikingNetwork) -> None:
        super().__init__()
        convs = [layer for layer in net.layers if isinstance(layer, Conv1d)]
        self.w = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(c.weight_3d)) for c in convs])
        fc = net.layers[-1]
        self.fc_w = torch.nn.Parameter(torch.tensor(fc.parameters["weight"]))
        self.fc_b = torch.nn.Parameter(torch.tensor(fc.bias))
        sg = snn.surrogate.fast_sigmoid(25)
        self.lifs = torch.nn.ModuleList(
            snn.Leaky(beta=0.75, threshold=0.5, spike_grad=sg) for _ in convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, C, T]
        h = x
        for w, lif in zip(self.w, self.lifs):
            cur = F.conv1d(h, w, padding=4)
            mem = lif.init_leaky()
            spikes = []
            for t in range(cur.shape[2]):
                s, mem = lif(cur[:, :, t], mem)
                spikes.append(s)
            h = F.avg_pool1d(torch.stack(spikes, dim=2), 2, 2, 1)
        return h.flatten(1) @ self.fc_w.T + self.fc_b


def floor_products(net: SpikingNetwork, x: np.ndarray):
    """Forward and forward+BPTT floors: the unavoidable matrix products at ``net``'s shapes."""
    _, trace = net.forward(x, record=True)
    rng = np.random.default_rng(0)
    shapes = []
    for i in net.synaptic_layers:
        layer, cache = net.layers[i], trace.caches[i]
        rows = cache["s"].shape[0] * cache["s"].shape[1]
        shapes.append((rows, layer.fan_in, layer.n_out, i > net.synaptic_layers[0]))
    ops = [(rng.random((m, k), np.float32), rng.random((n, k), np.float32),
            rng.random((m, n), np.float32), np.empty((m, n), np.float32),
            np.empty((n, k), np.float32), np.empty((m, k), np.float32), below)
           for m, k, n, below in shapes]

    def fwd():
        for a, w, _, out, _, _, _ in ops:
            np.matmul(a, w.T, out=out)

    def bptt():
        for a, w, g, out, gw, gx, below in ops:
            np.matmul(a, w.T, out=out)
            np.matmul(g.T, a, out=gw)
            if below:
                np.matmul(g, w, out=gx)

    return fwd, bptt


CLOCK = time.perf_counter


def timeit(fn, repeats: int) -> float:
    fn()  # warm-up (numba compilation, torch allocator)
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


def main() -> None:
    global CLOCK
    if "--cpu" in sys.argv:  # process CPU time: steadier on a shared machine (one thread)
        CLOCK = time.process_time
    if "--malloc" in sys.argv:  # the allocator settings the command line applies
        from snn_dfa.app.runtime import tune_allocator

        print(f"allocator tuned: {tune_allocator()}")
    print(f"load average {os.getloadavg()}; clock {CLOCK.__name__}")
    net = build()
    tnet = TorchSFCN(net)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    print(f"{'case':<28}{'snn-dfa ms':>12}{'snntorch ms':>13}{'ratio':>8}{'floor ms':>10}"
          f"{'x floor':>9}")
    for batch in (1, 64):
        rng = np.random.default_rng(batch)
        x = rng.normal(0, 1, (STEPS, batch, CHANNELS)).astype(np.float32)
        y = rng.integers(0, CLASSES, batch)
        xt = torch.tensor(x).permute(1, 2, 0).contiguous()
        yt = torch.tensor(y)

        def ours_fwd():
            net.forward(x)

        def ours_bptt():
            z, trace = net.forward(x, record=True)
            net.backward(trace, loss_and_grad(z, y)[1])

        def theirs_fwd():
            with torch.no_grad():
                tnet(xt)

        def theirs_bptt():
            tnet.zero_grad()
            F.cross_entropy(tnet(xt), yt).backward()

        floor_fwd, floor_bptt = floor_products(net, x)
        for name, a, b, f in (("forward", ours_fwd, theirs_fwd, floor_fwd),
                              ("forward+BPTT", ours_bptt, theirs_bptt, floor_bptt)):
            ta, tb, tf = (timeit(fn, REPEATS[batch]) for fn in (a, b, f))
            print(f"{name + f', batch {batch}':<28}{1e3 * ta:>12.2f}{1e3 * tb:>13.2f}"
                  f"{tb / ta:>7.1f}x{1e3 * tf:>10.2f}{ta / tf:>8.2f}x")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
