"""snntorch <-> numba engine round trips (identical spikes) and DFA through snntorch Leaky."""

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")

from snn_dfa.deep import DFA, FixedProjector, RandomProjector
from snn_dfa.deep.snntorch_bridge import (
    Integrator,
    SnnTorchNet,
    default_leaky,
    engine_spikes,
    from_engine,
    to_engine,
)
from snn_dfa.engine.layers import Conv1d, Linear
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Surrogate
from snn_dfa.errors import ValidationError


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread avoids oversubscribing the shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def _inputs(seed, steps, batch, n):
    return np.random.default_rng(seed).normal(0.4, 1.0, (steps, batch, n)).astype(np.float32)


def _snntorch_net(reset, readout="spike_count"):
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(5, 12, 3, stride=1, padding=0)
    lin1 = torch.nn.Linear(12, 16)
    lin2 = torch.nn.Linear(16, 4)
    with torch.no_grad():  # scale up so every layer fires
        for m in (conv, lin1, lin2):
            m.weight.mul_(3.0)
    th = torch.linspace(0.6, 1.4, 16)  # per-neuron thresholds
    out = default_leaky(0.8, 1.0, reset) if readout == "spike_count" else Integrator(0.9)
    neurons = [default_leaky(0.9, 1.0, reset),
               snn.Leaky(beta=0.85, threshold=th, reset_mechanism=reset), out]
    return SnnTorchNet([conv, lin1, lin2], neurons, [(2, 0), None, None], readout=readout)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("readout", ["spike_count", "mean_membrane"])
def test_snntorch_to_engine_gives_identical_spikes(reset, readout):
    net = _snntorch_net(reset, readout)
    x = _inputs(1, 200, 3, 5)
    with torch.no_grad():
        z = net(torch.as_tensor(x))
    engine = to_engine(net)
    ze, trace = engine.forward(x, record=True)
    for k, li in enumerate(engine.synaptic_layers):
        np.testing.assert_array_equal(trace.spikes(li), net.spikes[k].numpy(), err_msg=f"layer {k}")
    assert all(s.sum() > 10 for s in net.spikes[:2])
    np.testing.assert_allclose(ze, z.numpy(), rtol=0, atol=1e-4 * max(1.0, float(z.abs().max())))
    assert engine.layers[1].neuron.reset_decays is False
    np.testing.assert_array_equal(engine.layers[1].threshold, net.neurons[1].threshold.numpy())


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_engine_to_snntorch_and_back(reset):
    p = LIFParams(beta=0.875, threshold=0.8, reset=reset, reset_decays=False,
                  surrogate=Surrogate("fast_sigmoid"))
    layers = [Conv1d(4, 10, 3, padding=(1, 1), stride=2, neuron=p, bias=True),
              Linear(10, 8, neuron=p), Linear(8, 3, neuron=LIFParams.integrator(0.7), bias=True)]
    engine = SpikingNetwork(layers, readout="last_membrane", seed=3)
    engine.apply_updates([{"weight": 2 * layer.parameters["weight"]} for layer in engine.layers])
    x = _inputs(2, 150, 4, 4)
    net = from_engine(engine)
    with torch.no_grad():
        z = net(torch.as_tensor(x))
    for a, b in zip(engine_spikes(engine, x), net.spikes):
        np.testing.assert_array_equal(a, b.numpy())
    assert engine_spikes(engine, x)[0].sum() > 10
    back = to_engine(net, surrogate=Surrogate("fast_sigmoid"))
    for a, b in zip(engine.state_dict().values(), back.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(back.layers, engine.layers):  # snntorch stores thresholds in float32
        assert a.neuron.threshold == pytest.approx(b.neuron.threshold, rel=1e-7)
        assert replace(a.neuron, threshold=1.0) == replace(b.neuron, threshold=1.0)
    np.testing.assert_allclose(back.forward(x)[0], z.numpy(), rtol=1e-5, atol=1e-5)


def test_engine_modes_without_snntorch_counterpart_are_refused():
    p = LIFParams(reset_decays=True)  # the engine default: decaying soft reset
    engine = SpikingNetwork([Linear(3, 4, neuron=p), Linear(4, 2)], seed=0)
    with pytest.raises(ValidationError, match="reset_decays=False"):
        from_engine(engine)


def test_dfa_through_leaky_matches_hand_computation():
    """One hidden Leaky layer, spike-count readout: dW_1 = sum_t (B e * dS/dU_t)^T x_t with the
    gradient also carried through the membrane leak; B = W_2^T turns it into BPTT."""
    torch.manual_seed(0)
    lin1, lin2 = torch.nn.Linear(3, 6), torch.nn.Linear(6, 2)
    with torch.no_grad():
        lin1.weight.mul_(3)
    x = torch.as_tensor(_inputs(4, 30, 2, 3))
    y = torch.tensor([0, 1])

    def net(dfa):
        neurons = [default_leaky(0.9, 1.0), Integrator(0.0)]
        return SnnTorchNet([lin1, lin2], neurons, [None, None], readout="mean_membrane", dfa=dfa)

    torch.nn.functional.cross_entropy(net(DFA(mode="bp"))(x), y).backward()
    want = lin1.weight.grad.clone()
    lin1.zero_grad()
    dfa = DFA(FixedProjector([lin2.weight.detach().T / 30]))  # mean over 30 steps
    torch.nn.functional.cross_entropy(net(dfa)(x), y).backward()
    torch.testing.assert_close(lin1.weight.grad, want, atol=1e-6, rtol=1e-5)
    lin1.zero_grad()
    torch.nn.functional.cross_entropy(net(DFA(RandomProjector(seed=0)))(x), y).backward()
    assert lin1.weight.grad.abs().sum() > 0 and not torch.allclose(lin1.weight.grad, want)


def test_snntorch_network_reaches_the_pipeline_as_a_network_file(tmp_path):
    from snn_dfa.engine.io import load_network, save_network

    net = _snntorch_net("subtract")
    x = _inputs(3, 120, 2, 5)
    with torch.no_grad():
        net(torch.as_tensor(x))
    save_network(to_engine(net), tmp_path / "net.npz")
    for a, b in zip(engine_spikes(load_network(tmp_path / "net.npz"), x), net.spikes):
        np.testing.assert_array_equal(a, b.numpy())
