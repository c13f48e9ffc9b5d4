"""Engine speed against snntorch on the HAR-sized network, measured in one run.

Network (SNN_HAR's SFCN without batch norm, core-papers.md §5.3): 9 input channels,
128 time steps, three Conv1d(k=8, padding 4) spiking layers of 32/64/128 channels each
followed by AvgPool(2, 2, padding 1), flatten, Linear readout to 6 classes.  Both sides use
snntorch's reset convention (full threshold subtracted one step after a spike), fast-sigmoid
surrogate, float32, the same weights and the same input.  snntorch runs the convolution over
the whole sequence and loops ``snn.Leaky`` over time, as SNN_HAR does.

Prints the median time per call of forward and forward+BPTT (loss and all gradients) at
batch 1 and 64, and the ratio snntorch / snn-dfa.  Usage: ``python benchmarks/bench_engine.py``
"""

from __future__ import annotations

import statistics
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


def timeit(fn, repeats: int) -> float:
    fn()  # warm-up (numba compilation, torch allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    net = build()
    tnet = TorchSFCN(net)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    print(f"{'case':<28}{'snn-dfa ms':>12}{'snntorch ms':>13}{'ratio':>8}")
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

        for name, a, b in (("forward", ours_fwd, theirs_fwd), ("forward+BPTT", ours_bptt, theirs_bptt)):
            ta, tb = timeit(a, REPEATS[batch]), timeit(b, REPEATS[batch])
            print(f"{name + f', batch {batch}':<28}{1e3 * ta:>12.2f}{1e3 * tb:>13.2f}{tb / ta:>7.1f}x")


if __name__ == "__main__":
    main()
