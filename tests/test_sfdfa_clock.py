"""SFDFA in clock-driven form: forward tangents are the transpose of BPTT, and the learned
feedback converges to the true output-to-hidden sensitivity."""

import numpy as np
import pytest
from helpers import toy_task

from snn_dfa.engine.layers import AvgPool, Conv1d, Flatten, Linear, SynapticLayer
from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Surrogate
from snn_dfa.rules.estimator import SpikingClassifier
from snn_dfa.rules.learning import SFDFA, make_rule

HID = LIFParams(beta=0.8, threshold=0.5, surrogate=Surrogate("arctan"))


def grads_wrt_spikes(net, trace, grad_z):
    """dL/ds_i[t] for every synaptic layer i (BPTT, keeping the intermediate gradients)."""
    grad_s, grad_u = net.readout_gradient(trace, grad_z)
    out = {len(net.layers) - 1: grad_s}
    g, _ = net.layers[-1].backward(trace.caches[-1], grad_s, grad_u)
    for i in range(len(net.layers) - 2, -1, -1):
        if isinstance(net.layers[i], SynapticLayer):
            out[i] = g
        g, _ = net.layers[i].backward(trace.caches[i], g)
    return out


def conv_net(readout="mean_membrane"):
    out = HID if readout == "spike_count" else LIFParams.integrator(0.7)
    layers = [Conv1d(3, 6, 3, padding=(1, 1), neuron=HID, batch_norm=True), AvgPool(6, 2, 2, 1),
              Conv1d(6, 5, 2, padding="causal", neuron=HID), Flatten(5, 11),
              Linear(55, 4, neuron=out, bias=True)]
    return SpikingNetwork(layers, readout=readout, seed=0, dtype=np.float64)


@pytest.mark.parametrize("readout", ["mean_membrane", "spike_count"])
def test_network_jvp_is_the_transpose_of_bptt(readout):
    net = conv_net(readout)
    if readout == "spike_count":  # make the output layer fire
        net.apply_updates([{}] * 4 + [{"weight": 4 * net.layers[-1].parameters["weight"]}])
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 1.0, (20, 3, 3))
    z, trace = net.forward(x, record=True)
    xis = {0: rng.normal(size=(3, 6)), 2: rng.normal(size=(3, 5))}
    dz = net.jvp(trace, xis)
    w = rng.normal(size=dz.shape)
    gs = grads_wrt_spikes(net, trace, w)
    expected = sum(np.sum(gs[i] * xis[i][None] * trace.caches[i]["s"]) for i in xis)
    assert np.sum(w * dz) == pytest.approx(expected, rel=1e-9)
    assert abs(expected) > 1e-6


def test_learned_feedback_converges_to_true_sensitivity():
    """One hidden layer, weights fixed: B approaches E[sum_t s_i[t] dz/ds_i[t] | i active]."""
    hid = LIFParams(beta=0.8, threshold=0.3, surrogate=Surrogate("fast_sigmoid", 5.0))
    net = SpikingNetwork([Linear(4, 20, neuron=hid), Linear(20, 3, neuron=LIFParams.integrator(
        0.8))], readout="mean_membrane", seed=1, dtype=np.float64)
    rng = np.random.default_rng(2)
    x = rng.normal(0.4, 1.0, (15, 256, 4))
    z, trace = net.forward(x, record=True)
    s = trace.caches[0]["s"]
    true = np.zeros((20, 3))
    for k in range(3):
        onehot = np.zeros((256, 3))
        onehot[:, k] = 1.0
        g = grads_wrt_spikes(net, trace, onehot)[0]
        per_sample = (g * s).sum(axis=0)  # [B, 20]
        active = s.any(axis=0)
        true[:, k] = (per_sample * active).sum(0) / np.maximum(active.sum(0), 1)
    rule = SFDFA(net, feedback_lr=0.05, seed=3)
    _, e = loss_and_grad(z, rng.integers(0, 3, 256))
    for _ in range(200):  # the same batch, fresh perturbations each time
        rule.gradients(net, trace, e)
    b = rule.projector.matrices[0]
    cos = float(np.sum(b * true) / np.linalg.norm(b) / np.linalg.norm(true))
    assert cos > 0.9, cos


def test_sfdfa_trains_and_feedback_starts_at_zero():
    X, y = toy_task()
    model = SpikingClassifier(model="mlp", model_params={"hidden": (32,),
                              "readout": "mean_membrane"}, rule="sfdfa",
                              feedback={"feedback_lr": 0.01}, epochs=8, lr=5e-3, batch_size=16,
                              seed=0)
    model.partial_fit(X[:1], y[:1], classes=[0, 1])
    assert np.count_nonzero(make_rule("sfdfa", model.network_).projector.matrices[0]) == 0
    model.fit(X, y)
    assert np.abs(model.rule_.projector.matrices[0]).max() > 0
    Xt, yt = toy_task(seed=1)
    assert model.score(Xt, yt) > 0.9
