"""Private on-device adaptation (snn_dfa.privacy.spiking): the projector clip, the update clip
and its sensitivity, the equivalence with plain DFA when nothing clips and no noise is added,
the noise scale, and the refusal of SFDFA."""

import math

import numpy as np
import pytest

pytest.importorskip("dp_accounting")

from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.models import mlp
from snn_dfa.engine.optim import SGD
from snn_dfa.errors import ValidationError
from snn_dfa.privacy import SubsampledGaussian, epsilon
from snn_dfa.privacy.spiking import (
    ClippedProjector,
    PrivateAdapter,
    check_rule,
    clip_update,
)
from snn_dfa.rules.feedback import RandomFeedback
from snn_dfa.rules.learning import make_rule

T, C, K = 12, 5, 3


def _setup(seed=0, clip_backward=None):
    net = mlp(C, K, steps=T, hidden=(16, 8), seed=seed)
    rule = make_rule("dfa", net, seed=seed + 1)
    if clip_backward is not None:
        rule.projector = ClippedProjector(rule.projector, clip_backward)
    rng = np.random.default_rng(seed)
    X = (rng.random((10, T, C)) < 0.4).astype(np.float32) * 2.0
    y = np.arange(10) % K
    return net, rule, X, y


def _window_grads(net, rule, x, label):
    z, trace = net.forward(np.ascontiguousarray(x[:, None, :]), record=True)
    _, g = loss_and_grad(z, np.array([label]))
    return rule.gradients(net, trace, g)


def _norm(layer):
    return math.sqrt(sum(float(np.sum(v.astype(np.float64) ** 2)) for v in layer.values()))


def test_clipped_projector_bounds_every_row_and_keeps_small_ones():
    base = RandomFeedback([7, 4], 3, seed=0)
    e = np.array([[10.0, -3.0, 2.0], [0.01, 0.0, -0.01]], np.float32)
    clipped = ClippedProjector(base, [0.5, 2.0]).project_all(e)
    for p, raw, bound in zip(clipped, base.project_all(e), [0.5, 2.0]):
        assert np.linalg.norm(p[0]) <= bound * (1 + 1e-6)
        np.testing.assert_allclose(p[0], raw[0] * bound / np.linalg.norm(raw[0]), rtol=1e-5)
        np.testing.assert_array_equal(p[1], raw[1])   # already within the bound


def test_clip_update_bound():
    g = {"weight": np.full((3, 4), 2.0, np.float32), "bias": np.ones(3, np.float32)}
    out, was = clip_update(g, 1.0)
    assert was and _norm(out) == pytest.approx(1.0, rel=1e-6)
    same, was = clip_update(g, 100.0)
    assert not was and same is g


def test_without_clipping_or_noise_a_step_is_plain_dfa_on_the_sampled_windows():
    net, rule, X, y = _setup()
    ref_net, ref_rule, _, _ = _setup()
    adapter = PrivateAdapter(net, rule, SGD(lr=0.1), clip_update=1e9, noise_multiplier=0.0,
                             sampling_rate=0.5, seed=3)
    idx = np.flatnonzero(np.random.default_rng(3).random(10) < 0.5)   # the adapter's draw
    log = adapter.step(X, y)
    assert log.batch_size == len(idx) and log.clipped_fraction == 0.0
    total = None
    for i in idx:
        g = _window_grads(ref_net, ref_rule, X[i], int(y[i]))
        total = g if total is None else [{k: a[k] + b[k] for k in a} for a, b in zip(total, g)]
    ref_net.apply_updates(SGD(lr=0.1).step([{k: v / 5.0 for k, v in d.items()} for d in total]))
    for a, b in zip(net.get_params(), ref_net.get_params()):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-7)
    assert adapter.epsilon(1e-5) == math.inf


def test_removing_one_window_moves_each_layer_by_at_most_the_bound():
    net, rule, X, y = _setup(clip_backward=0.05)
    adapter = PrivateAdapter(net, rule, SGD(lr=0.1), clip_update=0.02, noise_multiplier=1.0,
                             sampling_rate=1.0, seed=0)
    full, n_clipped, _ = adapter.clipped_sum(X, y)
    assert n_clipped > 0      # the bound binds in this example
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        less, _, _ = adapter.clipped_sum(X[keep], y[keep])
        for a, b in zip(full, less):
            if a:
                assert _norm({k: a[k] - b[k] for k in a}) <= 0.02 * (1 + 1e-5)


def test_noise_has_the_stated_scale_and_the_ledger_counts_steps():
    # With lr = 1 and SGD, the update of an empty batch is -noise/(qN): entries N(0, σ²/(qN)²)
    # with σ = z sqrt(L) Δ; sample std within 6 sqrt(1/(2n)) relative (failure prob < 1e-9).
    net, rule, X, y = _setup()
    before = net.get_params()
    adapter = PrivateAdapter(net, rule, SGD(lr=1.0), clip_update=0.3, noise_multiplier=2.0,
                             sampling_rate=1e-9, seed=1)
    assert adapter.step(X, y).batch_size == 0
    sigma = 2.0 * math.sqrt(3) * 0.3 / (1e-9 * 10)
    moves = np.concatenate([(b[k] - a[k]).ravel().astype(np.float64)
                            for a, b in zip(before, net.get_params()) for k in a])
    assert abs(moves.std() / sigma - 1) < 6 * math.sqrt(1 / (2 * moves.size))
    assert adapter.n_private_layers == 3
    adapter.step(X, y)
    assert adapter.epsilon(1e-5) == pytest.approx(
        epsilon(SubsampledGaussian(1e-9, 2.0, 2), 1e-5), rel=1e-12)


def test_learned_feedback_is_refused_by_descriptor_and_by_projector():
    with pytest.raises(ValidationError, match="sfdfa"):
        check_rule("sfdfa")
    check_rule("dfa")
    check_rule("bptt")   # an alias of bp
    net = mlp(C, K, steps=T, hidden=(8,), seed=0)
    rule = make_rule("sfdfa", net, seed=0)
    rule.projector = ClippedProjector(rule.projector, 1.0)
    with pytest.raises(ValidationError, match="learns"):
        PrivateAdapter(net, rule, SGD(lr=0.1), 1.0, 1.0, 0.5)


def test_clipped_projector_counts_its_events():
    base = RandomFeedback([7, 4], 3, seed=0)
    wrapped = ClippedProjector(base, 1.0)
    wrapped.project_all(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(base.counters.update_mults, [2 * 2 * 7, 2 * 2 * 4])
    np.testing.assert_array_equal(base.counters.update_adds, [2 * 7, 2 * 4])
    np.testing.assert_array_equal(base.counters.feedback_macs, [2 * 7 * 3, 2 * 4 * 3])
