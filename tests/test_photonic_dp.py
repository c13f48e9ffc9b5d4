"""Photonic DP-DFA (snn_dfa.deep.photonic_dp, Ohana et al. 2021): the activation and projection
bounds, the sensitivity on inputs at the bounds, the noise scale of both noise sources (digital
Gaussian and the simulated OPU's dark-frame shot noise), every checked assumption, the step
against explicit per-example updates, ε against opacus, and why the data-path noise alone is
not counted."""

import itertools
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("dp_accounting")
F = torch.nn.functional

from helpers import opacus_epsilon, run_example

from snn_dfa.deep import DFA, FixedProjector, RandomProjector
from snn_dfa.deep.optical import OpticalProjector
from snn_dfa.deep.photonic_dp import (
    MIN_NOISE_PHOTONS,
    PhotonicDPDFA,
    ProjectionClip,
    bounded_activation,
)
from snn_dfa.errors import ValidationError
from snn_dfa.privacy import DEFAULT_RDP_ORDERS, SubsampledGaussian, epsilon
from snn_dfa.rules.optical import Camera

TAU = {"tau_x": 1.0, "tau_h_min": 1e-3, "tau_h_max": 1.0, "tau_f": 1.0}


@pytest.fixture(autouse=True)
def one_thread():
    """Small products: torch's intra-op threads only add contention (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _net(sizes=(8, 7, 6, 4), projector=None, seed=0, tau_f=1.0, weight_scale=1.0,
         activation=None):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
    with torch.no_grad():
        for lin in layers:
            lin.weight.mul_(weight_scale)
    inner = projector if projector is not None else RandomProjector("gaussian", seed=seed + 1)
    dfa = DFA(ProjectionClip(inner, tau_f))
    act = activation or (lambda a: bounded_activation(a, TAU["tau_h_min"], TAU["tau_h_max"]))

    def forward(x):
        h = x
        for lin in layers[:-1]:
            h = dfa.point(act(lin(h)))
        return dfa.output(layers[-1](h))
    return layers, dfa, forward


def _mech(layers, z=0.0, q=0.1, n=100, **kw):
    return PhotonicDPDFA(layers, **{**TAU, **kw}, noise_multiplier=z, sampling_rate=q,
                         dataset_size=n)


def _unit_rows(m, d, gen=None):
    x = torch.randn(m, d, generator=gen)
    return x / x.norm(dim=1, keepdim=True)


def _grads(layers):
    return [torch.cat([lin.weight.grad, lin.bias.grad[:, None]], 1).clone() for lin in layers]


def test_bounded_activation_keeps_both_bounds_and_a_slope_in_0_1():
    n, lo, hi = 50, 0.05, 0.7
    a = torch.cat([torch.zeros(1, n), 1e-9 * torch.randn(3, n), torch.randn(5, n),
                   1e4 * torch.randn(3, n)]).requires_grad_()
    h = bounded_activation(a, lo, hi)
    mag = h.detach().abs() * math.sqrt(n)
    assert float(mag.min()) >= lo * (1 - 1e-6) and float(mag.max()) <= hi * (1 + 1e-6)
    assert float(h.detach().norm(dim=1).max()) <= hi * (1 + 1e-6)
    assert torch.equal(torch.sign(h[5:]), torch.sign(a[5:]))
    (slope,) = torch.autograd.grad(h.sum(), a)
    assert float(slope.min()) >= 0.0 and float(slope.max()) <= 1.0 + 1e-6
    # between the bounds the slope is tanh'(a/c) = 1 - tanh²(a/c), c = hi/sqrt(n)
    mid = torch.full((1, n), 2 * lo / math.sqrt(n), dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(bounded_activation(mid, lo, hi).sum(), mid)
    torch.testing.assert_close(g, torch.full_like(g, 1 - math.tanh(2 * lo / hi) ** 2))
    with pytest.raises(ValidationError, match="tau_min"):
        bounded_activation(a, 1.0, 0.5)


@pytest.mark.parametrize("mode", ["clip", "normalise"])
def test_projection_clip_bounds_each_example_over_all_points(mode):
    inner = RandomProjector("gaussian", seed=3)
    clip = ProjectionClip(inner, tau_f=0.5, mode=mode)
    clip.build([(30,), (20,)], 5)
    m = 16
    e = torch.randn(m, 5) * torch.logspace(-3, 1, m)[:, None] / m   # some rows below the bound
    raw = torch.cat(inner.project(e), 1) * m
    out = torch.cat(clip.project(e), 1) * m
    norms, raw_norms = out.norm(dim=1), raw.norm(dim=1)
    if mode == "clip":
        assert float(norms.max()) <= 0.5 * (1 + 1e-6)
        small = raw_norms <= 0.5
        assert small.any() and (~small).any()
        torch.testing.assert_close(out[small], raw[small])
    else:
        torch.testing.assert_close(norms, torch.full((m,), 0.5))
    # same direction as the inner projection
    cos = (out * raw).sum(1) / (norms * raw_norms)
    torch.testing.assert_close(cos, torch.ones(m), atol=1e-5, rtol=0)
    assert clip.clipped_fraction == pytest.approx(float((raw_norms > 0.5).double().mean()))


def test_step_without_noise_equals_the_sum_of_explicit_per_example_updates():
    layers, dfa, forward = _net()
    mech = _mech(layers, q=0.2, n=40)
    x, y = _unit_rows(8, 8), torch.arange(8) % 4
    stats = mech.step(forward, dfa, x, y)
    got = [g * 0.2 * 40 for g in _grads(layers)]
    # the DFA update is per-example linear and the clip per example: a backward on each
    # example alone (M = 1) gives its update
    want = [torch.zeros_like(g) for g in got]
    for i in range(8):
        for lin in layers:
            lin.zero_grad(set_to_none=True)
        F.cross_entropy(forward(x[i:i + 1]), y[i:i + 1]).backward()
        for w, g in zip(want, _grads(layers)):
            w += g
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert stats.batch_size == 8 and 0 < stats.max_norm_over_sensitivity <= 1


@pytest.mark.parametrize("weight_scale, logit_scale", [(1.0, 1.0), (1e3, 1.0), (1e3, 1e4),
                                                       (1e-3, 1e4)])
def test_sensitivity_bound_holds_for_inputs_at_the_bounds(weight_scale, logit_scale):
    # Inputs of norm exactly tau_x, hidden activations driven to their upper bound (large
    # weights) or to the unit-slope region (tiny weights), output errors near |e| = sqrt(2)
    # (huge logits), projections longer than tau_f (so the clip acts): removing any one example
    # moves the whole summed update by at most Δ.
    big = FixedProjector([40 * torch.randn(7, 4), 40 * torch.randn(6, 4)])
    layers, dfa, forward = _net(projector=big, weight_scale=weight_scale)
    with torch.no_grad():
        layers[-1].weight.mul_(logit_scale)
    mech = _mech(layers, n=10, q=1.0)
    x, y = _unit_rows(10, 8), (torch.arange(10) + 1) % 4
    mech.step(forward, dfa, x, y)
    full = _grads(layers)
    moves = []
    for k in range(10):
        keep = torch.arange(10) != k
        mech.step(forward, dfa, x[keep], y[keep])
        moves.append(math.sqrt(sum(float(((a - b) * 10).norm()) ** 2
                                   for a, b in zip(full, _grads(layers)))))
    assert max(moves) <= mech.sensitivity * (1 + 1e-5)
    assert max(moves) > 0.3 * mech.sensitivity       # the bound is not vacuous


def test_noise_of_the_gaussian_source_has_the_calibrated_std():
    # An empty batch releases noise only: grad = N(0, σ²)/(qN) with σ = z Δ.  The sample std of
    # n i.i.d. normals is within 6 sqrt(1/(2n)) of σ, the mean within 6 σ/sqrt(n)
    # (probability > 1 - 2e-9 each).
    layers, dfa, forward = _net(sizes=(300, 200, 100, 10))
    mech = _mech(layers, z=1.7, q=0.05, n=160)
    mech.step(forward, dfa, torch.zeros(0, 300), torch.zeros(0, dtype=torch.long))
    noise = torch.cat([g.reshape(-1) for g in _grads(layers)]).double() * 0.05 * 160
    n = noise.numel()
    # Δ² = tau_f² (tau_x² + 1) + tau_e² (tau_h_max² + 1), the 1s from the biases
    assert mech.noise_std == pytest.approx(1.7 * math.sqrt(1 * 2 + 2 * 2))
    assert abs(float(noise.std()) / mech.noise_std - 1) < 6 * math.sqrt(1 / (2 * n))
    assert abs(float(noise.mean())) < 6 * mech.noise_std / math.sqrt(n)


def test_noise_of_the_opu_source_is_the_calibrated_gaussian_from_dark_frames():
    # Dark holographic frames: per pixel variance |a|²/(4 λ F3) with F3 the 64-frame calibration
    # of |a|² (relative error <= 1/sqrt(64 * MIN_NOISE_PHOTONS) = 1.25 % per pixel, unbiased),
    # so the pooled std is within 1 % + 6 sqrt(1/(2n)) of σ.  Shot noise of >= 100 photons:
    # excess kurtosis <= 1/(2*100) per pixel; the sample kurtosis' standard error is
    # sqrt(24/n), so |excess| < 0.01 + 6 sqrt(24/n).
    layers, dfa, forward = _net(sizes=(300, 200, 100, 10))
    mech = _mech(layers, z=1.7, q=0.05, n=160, noise_source="opu", photons_per_unit=2000.0)
    frames = mech.noise_opu.frames
    mech.step(forward, dfa, torch.zeros(0, 300), torch.zeros(0, dtype=torch.long))
    assert mech.noise_opu.frames - frames == 4 * 301     # two dark inputs per column, 2 frames each
    noise = torch.cat([g.reshape(-1) for g in _grads(layers)]).double() * 0.05 * 160
    n = noise.numel()
    assert abs(float(noise.std()) / mech.noise_std - 1) < 0.01 + 6 * math.sqrt(1 / (2 * n))
    assert abs(float(noise.mean())) < 6 * mech.noise_std / math.sqrt(n)
    w = (noise / noise.std()).numpy()
    excess = float(np.mean(w ** 4) - 3)
    assert abs(excess) < 0.01 + 6 * math.sqrt(24 / n)
    # noise entries of different rows come from different pixels: uncorrelated
    g1 = layers[0].weight.grad
    r = float(torch.corrcoef(g1[:2])[0, 1])
    assert abs(r) < 6 / math.sqrt(g1.shape[1])


def test_too_few_photons_for_the_gaussian_model_is_refused():
    layers, _, _ = _net()
    with pytest.raises(ValidationError, match="photons"):
        _mech(layers, z=1.0, noise_source="opu", photons_per_unit=MIN_NOISE_PHOTONS / 50)
    with pytest.raises(ValidationError, match="photons"):   # λ = 1/(4σ²) with σ = zΔ ≈ 2.4
        _mech(layers, z=1.0, noise_source="opu")
    with pytest.raises(ValidationError, match="photons_per_unit"):
        _mech(layers, z=1.0, photons_per_unit=1e3)


def test_every_assumption_is_checked():
    x, y = _unit_rows(6, 8), torch.arange(6) % 4
    layers, dfa, forward = _net()
    mech = _mech(layers)
    with pytest.raises(ValidationError, match="tau_x"):
        mech.step(forward, dfa, 1.5 * x, y)
    with pytest.raises(ValidationError, match="tau_e"):
        _mech(layers, tau_e=0.1).step(forward, dfa, x, y)
    with pytest.raises(ValidationError, match="tau_h_min, tau_h_max"):     # plain tanh
        layers2, dfa2, forward2 = _net(activation=torch.tanh)
        _mech(layers2).step(forward2, dfa2, x, y)
    with pytest.raises(ValidationError, match="ProjectionClip"):            # no clip
        plain = DFA(RandomProjector(seed=0))
        _mech(layers).step(lambda v: plain.output(layers[-1](plain.point(bounded_activation(
            layers[1](bounded_activation(layers[0](v), 1e-3, 1.0)), 1e-3, 1.0)))), plain, x, y)
    with pytest.raises(ValidationError, match="ProjectionClip"):            # a looser clip
        layers3, dfa3, forward3 = _net(tau_f=2.0)
        _mech(layers3).step(forward3, dfa3, x, y)
    with pytest.raises(ValidationError, match="tau_f"):   # |f'| > 1: a steeper activation
        layers4, dfa4, forward4 = _net(activation=lambda a: bounded_activation(3 * a, 1e-3, 1.0))
        _mech(layers4).step(forward4, dfa4, x, y)
    model = torch.nn.ModuleList([*layers, torch.nn.Linear(2, 2)])
    with pytest.raises(ValidationError, match="belongs to no layer"):
        mech.check_model(model, dfa)
    with pytest.raises(ValidationError, match="ternarise"):
        mech.check_model(torch.nn.ModuleList(layers),
                         DFA(ProjectionClip(RandomProjector(), 1.0), ternarise=0.1))


def test_epsilon_of_the_steps_matches_opacus():
    layers, dfa, forward = _net()
    mech = _mech(layers, z=1.1, q=0.05, n=200)
    gen = torch.Generator().manual_seed(0)
    for _ in range(7):
        idx = torch.nonzero(torch.rand(200, generator=gen) < 0.05).reshape(-1)
        mech.step(forward, dfa, _unit_rows(len(idx), 8, gen), idx % 4)
    assert mech.accountant.steps == 7
    ours = mech.epsilon(1e-5)
    assert ours == pytest.approx(epsilon(SubsampledGaussian(0.05, 1.1, 7), 1e-5), rel=1e-12)
    pytest.importorskip("opacus")
    assert ours == pytest.approx(opacus_epsilon(0.05, 1.1, 7, 1e-5, DEFAULT_RDP_ORDERS),
                                 rel=1e-6)


def test_optical_projector_inside_the_clip_trains_privately():
    # The whole photonic path: ternarised error through the simulated OPU with shot noise,
    # clipped, dark-frame noise; a few steps keep every bound.
    cam = Camera(photons_per_unit=100.0)
    layers, dfa, forward = _net(projector=OpticalProjector(0.25, cam, seed=2))
    mech = _mech(layers, z=0.8, noise_source="opu", photons_per_unit=1e3)
    opt = torch.optim.SGD([p for lin in layers for p in lin.parameters()], lr=0.1)
    for s in range(3):
        stats = mech.step(forward, dfa, _unit_rows(12, 8), torch.arange(12) % 4)
        opt.step()
        assert stats.max_norm_over_sensitivity <= 1
    assert dfa.projector.inner.feedback.opu.frames > 0
    assert mech.accountant.steps == 3


def test_data_path_noise_lies_in_the_span_of_the_batch_activations():
    # Why the mechanism does not count the shot noise of each example's own projection (the
    # paper's "adaptive" noise): in the summed update sum_i (p_i + g_i) h_i^T every row lies in
    # span{h_i}.  Without example k the update has no component outside the span of the
    # others' activations; with k it has one almost surely: a perfect distinguisher, so that
    # noise alone gives no finite privacy loss when the batch is smaller than the layer input.
    rng = np.random.default_rng(0)
    n_in, batch, rows = 12, 5, 4
    h = rng.normal(size=(batch, n_in))
    p = rng.normal(size=(batch, rows))

    def update(members):
        g = rng.normal(scale=10.0, size=(batch, rows))     # large per-example noise
        return sum(np.outer(p[i] + g[i], h[i]) for i in members)

    others = h[1:]
    basis, _ = np.linalg.qr(others.T)                    # span of the others' activations
    residual = lambda u: np.linalg.norm(u - (u @ basis) @ basis.T)   # noqa: E731
    assert residual(update(range(1, batch))) < 1e-10
    assert residual(update(range(batch))) > 1.0


@pytest.mark.slow
def test_photonic_dp_experiment_quick(tmp_path):
    run_example("72_photonic_dp.py", tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    methods = {r["method"] for r in rows}
    assert {"bp", "dfa", "pdfa"} <= methods
    private = [r for r in rows if r["method"] == "pdfa" and r["noise_multiplier"] > 0]
    assert private and all(r["epsilon"] > 0 and math.isfinite(r["epsilon"]) for r in private)
    assert all(-1 <= r[k] <= 1 for r in rows if r["method"] != "bp"
               for k in ("cosine_layer2", "cosine_layer2_noiseless"))
    # the photonic path keeps its bound on every step, and ε is what was asked for
    for r in private:
        assert r["clipped_fraction"] <= 1 and r["epsilon"] <= r["target_epsilon"] * (1 + 1e-6)
    assert (tmp_path / "summary.md").exists()
