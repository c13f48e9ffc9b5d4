"""Step-by-step streaming DFA: equal to DFA on the recorded trace, per-step updates by hand,
memory independent of the window length."""

import tracemalloc

import numpy as np
import pytest
from helpers import toy_task

from snn_dfa.engine.layers import AvgPool, Conv1d, Linear
from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Surrogate
from snn_dfa.engine.optim import SGD
from snn_dfa.errors import ValidationError
from snn_dfa.rules.feedback import RandomFeedback
from snn_dfa.rules.learning import DFA
from snn_dfa.rules.streaming import StreamingDFA

HID = LIFParams(beta=0.8, threshold=0.3, refractory_steps=1,
                surrogate=Surrogate("fast_sigmoid", 5.0))
OUT_SPIKING = LIFParams(beta=0.9, threshold=0.5, reset_decays=False,
                        surrogate=Surrogate("arctan"))


def net_for(readout, bn=False, seed=0):
    out = OUT_SPIKING if readout == "spike_count" else LIFParams.integrator(0.6)
    layers = [Conv1d(3, 6, 3, padding="causal", neuron=HID, batch_norm=bn),
              Linear(6, 5, neuron=HID, bias=True), Linear(5, 3, neuron=out, bias=True)]
    net = SpikingNetwork(layers, readout=readout, seed=seed, dtype=np.float64)
    if bn:
        bn_ = net.layers[0].bn
        bn_.gamma[:] = np.linspace(0.5, 1.5, 6)
        bn_.running_mean[:] = 0.1
        bn_.running_var[:] = 0.5
    return net.train(False)


def weights(net):
    return [dict(p) for p in net.get_params()]


@pytest.mark.parametrize("readout", ["mean_membrane", "last_membrane", "spike_count"])
@pytest.mark.parametrize("bn", [False, True])
def test_window_update_equals_dfa_on_recorded_trace(readout, bn):
    net = net_for(readout, bn)
    x = np.random.default_rng(1).normal(0.6, 1.0, (25, 3))
    proj = RandomFeedback([6, 5], 3, seed=2, dtype=np.float64)
    z, trace = net.forward(x[:, None], record=True)
    _, e = loss_and_grad(z, np.array([1]))
    want = DFA(proj).gradients(net, trace, e)
    before = weights(net)
    stream = StreamingDFA(net, proj, SGD(lr=1.0), timing="window")
    assert stream.partial_fit(x, 1) == int(np.argmax(z[0]))
    after = weights(net)
    for li in range(3):
        for k in want[li]:
            if k.startswith("bn_"):
                continue  # batch norm stays frozen while streaming
            np.testing.assert_allclose(before[li][k] - after[li][k], want[li][k],
                                       rtol=1e-9, atol=1e-12, err_msg=f"{li} {k}")
    assert sum(np.abs(g["weight"]).sum() for g in want) > 1e-3


def test_step_timing_updates_by_hand():
    """Two steps of fully online DFA on Linear layers, recomputed by hand."""
    hid = LIFParams(beta=0.5, threshold=0.2, surrogate=Surrogate("triangle", 1.0))
    net = SpikingNetwork([Linear(2, 4, neuron=hid), Linear(4, 3, neuron=LIFParams.integrator(
        0.5))], readout="mean_membrane", seed=3, dtype=np.float64)
    proj = RandomFeedback([4], 3, seed=4, dtype=np.float64)
    x = np.array([[1.0, 0.5], [0.2, 1.5]])
    w1, w2 = net.layers[0].parameters["weight"].copy(), net.layers[1].parameters["weight"].copy()
    lr = 0.1
    StreamingDFA(net, proj, SGD(lr=lr), timing="step").partial_fit(x, 2)
    # by hand
    B = proj.matrices[0]
    u1 = np.zeros(4)
    s1 = np.zeros(4)
    u2 = np.zeros(3)
    eps = np.zeros(4)
    acc = np.zeros(3)
    eps_sum = np.zeros(4)
    for t in range(2):
        u1 = 0.5 * u1 - s1 * 0.2 * 0.5 + w1 @ x[t]
        s1 = (u1 > 0.2).astype(float)
        slope = np.maximum(0, 1 - abs(u1 - 0.2))
        u2 = 0.5 * u2 + w2 @ s1
        eps = 0.5 * eps + s1
        eps_sum += eps
        acc += u2
        z = acc / (t + 1)
        p = np.exp(z - z.max())
        e = p / p.sum() - np.eye(3)[2]
        w1 = w1 - lr * np.outer((B @ e) * slope, x[t])
        w2 = w2 - lr * np.outer(e, eps_sum / (t + 1))
    np.testing.assert_allclose(net.layers[0].parameters["weight"], w1, rtol=1e-12)
    np.testing.assert_allclose(net.layers[1].parameters["weight"], w2, rtol=1e-12)


@pytest.mark.parametrize("timing", ["window", "step"])
def test_streaming_dfa_learns(timing):
    X, y = toy_task(n=300)
    hid = LIFParams(beta=0.8, threshold=0.4, surrogate=Surrogate("fast_sigmoid", 5.0))
    net = SpikingNetwork([Conv1d(3, 16, 4, padding="causal", neuron=hid),
                          Linear(16, 2, neuron=LIFParams.integrator(0.5))],
                         readout="mean_membrane", seed=0)
    proj = RandomFeedback([16], 2, seed=0)
    log = StreamingDFA(net, proj, SGD(lr=0.02 if timing == "window" else 0.002),
                       timing=timing).run(X, y)
    acc = log.curve("correct")[1]
    assert np.nanmean(acc[-100:]) > 0.85 and np.nanmean(acc[-100:]) > np.nanmean(acc[:20])


def _peak_bytes(steps: int) -> int:
    net = SpikingNetwork([Conv1d(3, 32, 8, padding="causal", neuron=HID),
                          Conv1d(32, 32, 8, padding="causal", neuron=HID),
                          Linear(32, 4, neuron=LIFParams.integrator(0.9))],
                         readout="mean_membrane", seed=0)
    stream = StreamingDFA(net, RandomFeedback([32, 32], 4, seed=0), SGD(lr=0.01))
    x = np.random.default_rng(0).normal(size=(steps, 3)).astype(np.float32)
    stream.partial_fit(x[:8], 0)  # warm-up: compile, allocate optimiser state
    tracemalloc.start()
    stream.partial_fit(x, 1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_window_length():
    short, long = _peak_bytes(64), _peak_bytes(2048)
    # the input itself is not traced (allocated before); everything else is O(1) in T
    assert long < 1.2 * short + 4096, (short, long)


def test_unstreamable_networks_are_refused():
    net = SpikingNetwork([Conv1d(3, 4, 3), AvgPool(4, 2), Linear(4, 2)], seed=0)
    with pytest.raises(ValidationError, match="AvgPool"):
        StreamingDFA(net, RandomFeedback([4], 2), SGD())
    net = SpikingNetwork([Conv1d(3, 4, 3, padding=1), Linear(4, 2)], seed=0)
    with pytest.raises(ValidationError, match="padding='causal'"):
        StreamingDFA(net, RandomFeedback([4], 2), SGD())
    net = SpikingNetwork([Linear(3, 4), Linear(4, 2)], seed=0)
    with pytest.raises(ValidationError, match="timing='batch'"):
        StreamingDFA(net, RandomFeedback([4], 2), SGD(), timing="batch")
    stream = StreamingDFA(net, RandomFeedback([4], 2), SGD())
    with pytest.raises(ValidationError, match=r"expected shape \(T, 3\)"):
        stream.partial_fit(np.zeros((5, 4)), 0)
