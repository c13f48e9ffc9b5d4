"""Direct Feedback Alignment: the formula by hand, equality with BP, fixed feedback, training,
and the online adaptation loop."""

import numpy as np
import pytest
from helpers import toy_task

from snn_dfa.engine.layers import Conv1d, Linear
from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Surrogate
from snn_dfa.engine.optim import SGD
from snn_dfa.errors import ConfigError, ValidationError
from snn_dfa.rules.estimator import SpikingClassifier
from snn_dfa.rules.feedback import RandomFeedback
from snn_dfa.rules.learning import BPTT, DFA, alignment, make_rule
from snn_dfa.rules.online import MetricLog, OnlineAdapter

HID = LIFParams(beta=0.8, threshold=0.4, surrogate=Surrogate("triangle", 1.0))


def small_net(steps_beta=0.7, seed=0):
    layers = [Linear(5, 7, neuron=HID, bias=True), Linear(7, 3, neuron=LIFParams.integrator(
        steps_beta), bias=True)]
    return SpikingNetwork(layers, readout="mean_membrane", seed=seed, dtype=np.float64)


def test_dfa_update_equals_formula_by_hand():
    net = small_net()
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 1.0, (6, 4, 5))
    y = np.array([0, 2, 1, 2])
    proj = RandomFeedback([7], 3, seed=1, dtype=np.float64)
    z, trace = net.forward(x, record=True)
    _, e = loss_and_grad(z, y)
    grads = DFA(proj).gradients(net, trace, e)

    # by hand, with explicit loops
    w1, b1 = net.layers[0].parameters["weight"], net.layers[0].bias
    B = proj.matrices[0]
    u = np.zeros((4, 7))
    s = np.zeros((4, 7))
    dw1 = np.zeros_like(w1)
    db1 = np.zeros(7)
    spikes = []
    for t in range(6):
        u = 0.8 * u - s * 0.4 * 0.8 + x[t] @ w1.T + b1  # soft reset that decays
        s = (u > 0.4).astype(float)
        spikes.append(s)
        slope = np.maximum(0.0, 1.0 - np.abs(u - 0.4))
        delta = (e @ B.T) * slope
        dw1 += delta.T @ x[t]
        db1 += delta.sum(0)
    # output: z = mean_t u2[t], u2[t] = 0.7 u2[t-1] + W2 s[t] + b2
    # -> dz/dW2 = (1/T) sum_t sum_{t'<=t} 0.7^(t-t') s[t']
    trace_in = np.zeros((4, 7))
    elig = np.zeros((4, 7))
    for t in range(6):
        trace_in = 0.7 * trace_in + spikes[t]
        elig += trace_in / 6
    dw2 = e.T @ elig
    np.testing.assert_allclose(grads[0]["weight"], dw1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[0]["bias"], db1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[1]["weight"], dw2, rtol=1e-12, atol=1e-14)
    assert np.abs(dw1).max() > 1e-3  # not vacuous


def test_dfa_conv_layer_projection_broadcasts_over_time():
    conv = Conv1d(2, 4, 3, padding="causal", neuron=HID)
    net = SpikingNetwork([conv, Linear(4, 3, neuron=LIFParams.integrator(0.5))],
                         readout="mean_membrane", seed=2, dtype=np.float64)
    x = np.random.default_rng(3).normal(0.5, 1, (9, 2, 2))
    z, trace = net.forward(x, record=True)
    _, e = loss_and_grad(z, np.array([1, 0]))
    proj = RandomFeedback([4], 3, seed=0, dtype=np.float64)
    g = DFA(proj).gradients(net, trace, e)[0]["weight"]
    u = trace.membranes(0)
    delta = (e @ proj.matrices[0].T)[None] * np.maximum(0, 1 - np.abs(u - 0.4))
    xp = np.concatenate([np.zeros((2, 2, 2)), x])  # causal padding of k - 1 = 2 steps
    want = np.zeros((4, 2, 3))
    for t in range(9):
        for j in range(3):
            want[:, :, j] += delta[t].T @ xp[t + j]
    np.testing.assert_allclose(g, want.reshape(4, 6), rtol=1e-12, atol=1e-14)


def test_dfa_with_transposed_weights_equals_bp_at_one_step():
    """One hidden layer, T = 1, B = W_out^T: DFA's hidden update is exactly BP's."""
    net = small_net()
    x = np.random.default_rng(5).normal(0.5, 1.0, (1, 8, 5))
    y = np.arange(8) % 3
    z, trace = net.forward(x, record=True)
    _, e = loss_and_grad(z, y)

    class Transposed:
        def project_all(self, err):
            return [err @ net.layers[1].parameters["weight"]]

        def project(self, layer, err):
            return self.project_all(err)[layer]

    dfa = DFA(Transposed()).gradients(net, trace, e)
    bp = net.backward(trace, e)
    for gd, gb in zip(dfa, bp):
        assert gd.keys() == gb.keys()
        for k in gd:
            np.testing.assert_allclose(gd[k], gb[k], rtol=1e-12, atol=1e-15)
    assert alignment(dfa, bp) == pytest.approx([1.0, 1.0])


def test_feedback_is_fixed_through_training_and_read_only():
    X, y = toy_task()
    model = SpikingClassifier(model="mlp", model_params={"hidden": (16, 12),
                              "readout": "mean_membrane"}, rule="dfa", epochs=2, lr=5e-3,
                              batch_size=16, seed=0)
    model.partial_fit(X[:16], y[:16], classes=[0, 1])
    before = [m.copy() for m in model.rule_.projector.matrices]
    for i in range(16, 240, 16):
        model.partial_fit(X[i:i + 16], y[i:i + 16])
    for a, b in zip(before, model.rule_.projector.matrices):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        model.rule_.projector.matrices[0][0, 0] = 1.0


def test_dfa_trains_deep_network():
    X, y = toy_task()
    model = SpikingClassifier(model="mlp", model_params={"hidden": (32, 32, 32),
                              "readout": "mean_membrane"}, rule="dfa", epochs=10, lr=5e-3,
                              batch_size=16, seed=0).fit(X, y)
    Xt, yt = toy_task(seed=1)
    assert model.score(Xt, yt) > 0.9


def test_dfa_updates_align_with_bp():
    """Alignment (cosine with BPTT) of the hidden layers after some DFA training is > 0."""
    X, y = toy_task()
    model = SpikingClassifier(model="mlp", model_params={"hidden": (32, 32),
                              "readout": "mean_membrane"}, rule="dfa", epochs=5, lr=5e-3,
                              batch_size=16, seed=1).fit(X, y)
    net = model.network_
    z, trace = net.forward(np.ascontiguousarray(X[:64].transpose(1, 0, 2)), record=True)
    _, e = loss_and_grad(z, y[:64])
    cos = alignment(model.rule_.gradients(net, trace, e), net.backward(trace, e))
    assert cos[-1] == pytest.approx(1.0)  # the output layer uses its true gradient
    assert all(c > 0.1 for c in cos[:-1]), cos


def test_random_feedback_conventions():
    fb = RandomFeedback([300, 200], 10, distribution="uniform", scaling="none", seed=0)
    b0, b1 = fb.matrices
    assert b0.shape == (300, 10) and b1.shape == (200, 10)
    assert b0.min() >= -1 and b0.max() < 1 and abs(b0.mean()) < 0.05
    g = RandomFeedback([4000], 10, distribution="gaussian", scaling="fan", seed=0).matrices[0]
    # entries N(0, 1/4000): the sample variance is within a 5-sigma band of 1/4000
    var, n = g.var(), g.size
    assert abs(var - 1 / 4000) < 5 * (1 / 4000) * np.sqrt(2 / n)
    sh = RandomFeedback([5, 8], 3, shared=True, seed=1)
    np.testing.assert_array_equal(sh.matrices[0], sh.matrices[1][:5])
    e = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    for k, p in enumerate(sh.project_all(e)):
        np.testing.assert_allclose(p, sh.project(k, e), rtol=1e-6)
    a = RandomFeedback([5], 3, seed=7).matrices[0]
    np.testing.assert_array_equal(a, RandomFeedback([5], 3, seed=7).matrices[0])


def test_shallow_rule_trains_the_output_layer_only():
    net = small_net()
    z, trace = net.forward(np.random.default_rng(0).normal(0.5, 1, (4, 3, 5)), record=True)
    _, e = loss_and_grad(z, np.array([0, 1, 2]))
    shallow = make_rule("shallow", net).gradients(net, trace, e)
    assert shallow[0] == {}
    bp = net.backward(trace, e)
    np.testing.assert_allclose(shallow[1]["weight"], bp[1]["weight"], rtol=1e-12)


def test_feedback_and_rule_errors():
    with pytest.raises(ValidationError, match="distribution='cauchy'"):
        RandomFeedback([3], 2, distribution="cauchy")
    with pytest.raises(ValidationError, match="e: expected 2 columns"):
        RandomFeedback([3], 2).project(0, np.zeros((1, 3)))
    net = small_net()
    with pytest.raises(ConfigError, match="did you mean 'shared'"):
        make_rule("dfa", net, seed=0, sharde=True)
    with pytest.raises(ValidationError, match="rule='fa'"):
        make_rule("fa", net)
    wrong = DFA(RandomFeedback([7, 7], 3, seed=0, dtype=np.float64))
    z, trace = net.forward(np.ones((2, 1, 5)), record=True)
    with pytest.raises(ValidationError, match="gives 2 projections"):
        wrong.gradients(net, trace, np.ones((1, 3)))


# -- online adaptation ------------------------------------------------------------------

def _adapter(rule="dfa", **kw):
    net = SpikingNetwork([Linear(3, 16, neuron=HID), Linear(16, 2, neuron=LIFParams.integrator(
        0.5))], readout="mean_membrane", seed=0)
    return OnlineAdapter(net, make_rule(rule, net, seed=0), SGD(lr=0.05), **kw)


def test_prequential_predicts_before_learning():
    X, y = toy_task(n=40)
    ad = _adapter()
    for i in range(40):
        z, _ = ad.network.forward(X[i][:, None, :])
        assert ad.partial_fit(X[i], int(y[i])) == int(np.argmax(z[0]))
    assert ad.log.total("correct")[1] == 40


def test_unlabelled_windows_are_not_learned():
    X, y = toy_task(n=10)
    ad = _adapter()
    before = ad.network.get_params()
    for i in range(10):
        ad.partial_fit(X[i], -1)
    for a, b in zip(before, ad.network.get_params()):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert ad.log.total("correct")[1] == 0 and ad.log.total("labelled") == (0.0, 10)


def test_update_every_averages_gradients():
    X, y = toy_task(n=4)
    ad = _adapter(rule="bptt", update_every=4)
    net = ad.network
    grads = []
    for i in range(4):
        z, trace = net.forward(X[i][:, None, :], record=True)
        grads.append(net.backward(trace, loss_and_grad(z, y[i:i + 1])[1]))
    start = net.get_params()
    for i in range(4):
        ad.partial_fit(X[i], int(y[i]))
    end = net.get_params()
    for li in range(2):
        mean = sum(g[li]["weight"] for g in grads) / 4
        np.testing.assert_allclose(end[li]["weight"] - start[li]["weight"], -0.05 * mean,
                                   rtol=1e-4, atol=1e-7)


def test_online_dfa_adapts_and_logs_alignment():
    X, y = toy_task(n=300)
    ad = _adapter(measure_alignment=True)
    log = ad.run(X, y)
    steps, acc = log.curve("correct")
    assert np.nanmean(acc[-100:]) > np.nanmean(acc[:30]) and np.nanmean(acc[-100:]) > 0.85
    cos = log.curve("alignment_layer0")[1]
    assert np.all(np.abs(cos) <= 1 + 1e-9) and np.nanmean(cos) > 0
    assert log.mean("update_norm") > 0


def test_metric_log_is_bounded_and_exact():
    log = MetricLog(max_points=8)
    values = np.arange(1000, dtype=float)
    for v in values:
        log.append({"v": v, "odd": v if v % 2 else float("nan")})
    steps, curve = log.curve("v")
    assert len(curve) <= 8 and log.width == 128
    assert log.mean("v") == values.mean()
    assert log.mean("odd") == values[1::2].mean()
    np.testing.assert_allclose(curve[0], values[:128].mean())
    assert steps[1] == 128


def test_adapter_bad_input():
    ad = _adapter()
    with pytest.raises(ValidationError, match="batch 1"):
        ad.partial_fit(np.zeros((2, 5, 3)), 0)
    with pytest.raises(ValidationError, match="y=7"):
        ad.partial_fit(np.zeros((5, 3)), 7)
    with pytest.raises(ValidationError, match="NaN"):
        ad.partial_fit(np.full((5, 3), np.nan), 0)
    with pytest.raises(ValidationError, match=r"y: expected shape \(3,\)"):
        ad.run(np.zeros((3, 5, 3)), np.zeros(2, int))
    assert isinstance(make_rule("bptt", small_net()), BPTT)  # the alias builds backprop
