"""The engine against snntorch (forward) and torch autograd through snntorch (BPTT).

snntorch's ``Leaky`` subtracts the full threshold one step after a spike and detaches the
reset from the graph: ``LIFParams(reset_decays=False, detach_reset=True)``.  For the modes
snntorch lacks (decaying soft reset, gradient through the reset) the oracle is the same
recursion written directly in torch, differentiated by autograd.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
F = torch.nn.functional

from snn_dfa.engine.layers import AvgPool, Conv1d, Flatten, Linear  # noqa: E402
from snn_dfa.engine.losses import loss_and_grad  # noqa: E402
from snn_dfa.engine.network import SpikingNetwork  # noqa: E402
from snn_dfa.engine.neurons import LIFParams, Surrogate  # noqa: E402


class _Triangle(torch.autograd.Function):
    """SNN_HAR's triangle surrogate: Heaviside forward, max(0, g - |x|)/g^2 backward."""

    @staticmethod
    def forward(ctx, x, width):
        ctx.save_for_backward(x)
        ctx.width = width
        return (x > 0).to(x.dtype)  # the same strict ">" as snntorch

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        w = ctx.width
        return grad * torch.clamp(w - x.abs(), min=0) / (w * w), None


def torch_surrogate(sg: Surrogate):
    if sg.kind.name == "FAST_SIGMOID":
        return snn.surrogate.fast_sigmoid(slope=sg.scale)
    if sg.kind.name == "ARCTAN":
        return snn.surrogate.atan(alpha=sg.scale)
    return lambda x: _Triangle.apply(x, sg.scale)


def make_leaky(p: LIFParams):
    assert not p.reset_decays or p.reset.name == "ZERO"
    return snn.Leaky(beta=p.beta, threshold=p.threshold, reset_mechanism=p.reset.name.lower(),
                     spike_grad=torch_surrogate(p.surrogate))


def torch_lif(current, p: LIFParams):
    """The LIF recursion of snn_dfa.engine.neurons in torch (any reset mode, attached or not)."""
    spike_fn = torch_surrogate(p.surrogate)
    u = torch.zeros_like(current[0])
    s = torch.zeros_like(current[0])
    spikes, mems = [], []
    for t in range(current.shape[0]):
        s_r = s.detach() if p.detach_reset else s
        if p.reset.name == "SUBTRACT":
            rho = s_r * p.threshold * (p.beta if p.reset_decays else 1.0)
        elif p.reset.name == "ZERO":
            rho = s_r * p.beta * u
        else:
            rho = torch.zeros_like(u)
        u = p.beta * u - rho + current[t]
        s = spike_fn(u - p.threshold)
        spikes.append(s)
        mems.append(u)
    return torch.stack(spikes), torch.stack(mems)


def run_torch(net: SpikingNetwork, x: np.ndarray, use_snntorch: bool, dtype=torch.float32):
    """Run the same network in torch. Returns readout, per-layer spikes/membranes, params."""
    h = torch.tensor(x, dtype=dtype)  # [T, B, C]
    params, spikes, mems = [], [], []
    for layer in net.layers:
        if isinstance(layer, (Linear, Conv1d)):
            w = torch.tensor(layer.parameters["weight"], dtype=dtype, requires_grad=True)
            params.append(w)
            if isinstance(layer, Conv1d):
                w3 = w.reshape(layer.n_out, layer.n_in, layer.kernel_size)
                hb = F.pad(h.permute(1, 2, 0), layer.pad)  # [B, C, T + pads]
                cur = F.conv1d(hb, w3, stride=layer.stride).permute(2, 0, 1)
            else:
                cur = h @ w.T
            if layer.bias is not None:
                b = torch.tensor(layer.bias, dtype=dtype, requires_grad=True)
                params.append(b)
                cur = cur + b
            p = layer.neuron
            if not p.spiking:
                u, acc = torch.zeros_like(cur[0]), []
                for t in range(cur.shape[0]):
                    u = p.beta * u + cur[t]
                    acc.append(u)
                m = torch.stack(acc)
                s = torch.zeros_like(m)
            elif use_snntorch:
                leaky = make_leaky(p)
                mem = leaky.init_leaky()
                out_s, out_m = [], []
                for t in range(cur.shape[0]):
                    st, mem = leaky(cur[t], mem)
                    out_s.append(st)
                    out_m.append(mem)
                # snntorch's spike functions return float32 whatever the input dtype
                s, m = torch.stack(out_s).to(dtype), torch.stack(out_m)
            else:
                s, m = torch_lif(cur, p)
            spikes.append(s)
            mems.append(m)
            h = s
        elif isinstance(layer, AvgPool):
            h = F.avg_pool1d(h.permute(1, 2, 0), layer.kernel_size, layer.stride,
                             layer.padding).permute(2, 0, 1)
        elif isinstance(layer, Flatten):
            h = h.permute(1, 2, 0).reshape(1, h.shape[1], -1)
    readout = net.readout.value
    z = {"spike_count": lambda: spikes[-1].sum(0), "mean_membrane": lambda: mems[-1].mean(0),
         "last_membrane": lambda: mems[-1][-1]}[readout]()
    return z, spikes, mems, params


# float64 on our side; snntorch rounds spikes (and the gradients through them) to float32
SNNTORCH_RTOL = 20 * np.finfo(np.float32).eps


def snntorch_params(**kw):
    kw.setdefault("reset_decays", False)
    return LIFParams(**kw)


def active(net, gain=3.0):
    """Scale the default initialisation up so every layer fires."""
    net.apply_updates([{"weight": (gain - 1) * layer.parameters["weight"]}
                       if isinstance(layer, (Linear, Conv1d)) else {} for layer in net.layers])
    return net


def linear_net(seed, p, readout="spike_count", dtype=np.float32):
    out = p if readout == "spike_count" else LIFParams.integrator(0.9)
    layers = [Linear(7, 20, neuron=p), Linear(20, 15, neuron=p),
              Linear(15, 4, neuron=out, bias=True)]
    return active(SpikingNetwork(layers, readout=readout, seed=seed, dtype=dtype))


def conv_net(seed, p, dtype=np.float32, padding="causal"):
    layers = [Conv1d(5, 12, 4, padding=padding, neuron=p),
              Conv1d(12, 10, 3, padding=padding, neuron=p, bias=True), Linear(10, 3, neuron=p)]
    return active(SpikingNetwork(layers, readout="spike_count", seed=seed, dtype=dtype))


def inputs(seed, steps, batch, n, dtype=np.float32):
    return np.random.default_rng(100 + seed).normal(0.4, 1.0, (steps, batch, n)).astype(dtype)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_forward_equals_snntorch(seed, reset, kind):
    p = snntorch_params(beta=0.9, threshold=1.0, reset=reset, surrogate=Surrogate("fast_sigmoid"))
    net = linear_net(seed, p) if kind == "linear" else conv_net(seed, p)
    x = inputs(seed, 600, 3, net.n_in)
    z, trace = net.forward(x, record=True)
    with torch.no_grad():
        zt, spikes, mems, _ = run_torch(net, x, use_snntorch=True)
    for k, li in enumerate(net.synaptic_layers):
        np.testing.assert_array_equal(trace.spikes(li), spikes[k].numpy(), err_msg=f"layer {li}")
        scale = max(1.0, float(np.abs(mems[k].numpy()).max()))
        np.testing.assert_allclose(trace.membranes(li), mems[k].numpy(), rtol=0,
                                   atol=200 * np.finfo(np.float32).eps * scale)
    assert trace.spikes(net.synaptic_layers[-1]).sum() > 10  # the outputs are active
    np.testing.assert_array_equal(z, zt.numpy())


def _compare_grads(net, x, y, use_snntorch, dtype, rtol):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    z, trace = net.forward(x, record=True)
    _, grad_z = loss_and_grad(z, y)
    grads = net.backward(trace, grad_z)
    zt, _, _, params = run_torch(net, x, use_snntorch, tdtype)
    F.cross_entropy(zt, torch.tensor(y)).backward()
    ours = [g[k] for g in grads for k in ("weight", "bias") if k in g]
    assert len(ours) == len(params)
    for a, b in zip(ours, params):
        ref = b.grad.numpy()
        assert np.abs(ref).max() > 0
        err = np.abs(a - ref).max() / np.abs(ref).max()
        assert err < rtol, err


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan", "triangle"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_bptt_equals_autograd_through_snntorch(seed, surrogate, reset):
    # beta exact in float32, as snntorch stores it
    p = snntorch_params(beta=0.875, threshold=1.0, reset=reset, surrogate=Surrogate(surrogate))
    net = conv_net(seed, p, dtype=np.float64)
    x = inputs(seed, 120, 4, net.n_in, np.float64)
    # snntorch's spike functions return float32, so gradients pass through float32 there
    _compare_grads(net, x, np.array([0, 1, 2, 1]), True, np.float64, SNNTORCH_RTOL)


@pytest.mark.parametrize("readout", ["mean_membrane", "last_membrane", "spike_count"])
def test_bptt_float32_within_1e_4(readout):
    p = snntorch_params(beta=0.9, threshold=1.0, surrogate=Surrogate("fast_sigmoid"))
    net = linear_net(3, p, readout=readout)
    x = inputs(3, 500, 8, net.n_in)
    _compare_grads(net, x, np.arange(8) % 4, True, np.float32, 1e-4)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach", [True, False])
def test_bptt_other_modes_equal_torch_recursion(reset, detach):
    p = LIFParams(beta=0.8, threshold=0.7, reset=reset, reset_decays=True, detach_reset=detach,
                  surrogate=Surrogate("triangle", 0.8))
    net = conv_net(5, p, dtype=np.float64, padding=(2, 1))
    x = inputs(5, 90, 3, net.n_in, np.float64)
    _compare_grads(net, x, np.array([2, 0, 1]), False, np.float64, 1e-10)


def test_sfcn_shape_network_with_pooling_and_flatten():
    """Conv -> LIF -> AvgPool (x2) -> Flatten -> Linear readout, against torch."""
    p = snntorch_params(beta=0.75, threshold=0.5, surrogate=Surrogate("arctan"))
    layers = [Conv1d(6, 8, 8, padding=4, neuron=p), AvgPool(8, 2, 2, padding=1),
              Conv1d(8, 16, 8, padding=4, neuron=p), AvgPool(16, 2, 2, padding=1),
              Flatten(16, 34), Linear(16 * 34, 6, neuron=LIFParams.integrator(), bias=True)]
    net = SpikingNetwork(layers, readout="last_membrane", seed=0, dtype=np.float64)
    x = inputs(0, 128, 5, 6, np.float64)
    _compare_grads(net, x, np.array([0, 1, 2, 3, 4]), True, np.float64, SNNTORCH_RTOL)
