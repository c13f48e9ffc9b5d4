"""The simulated OPU (a model like lightonai/lightonml's lightonml/internal/simulated_device.py,
plus shot noise and holography): intensity statistics, holographic linear projection, ternary
inputs, frame counting, and its use as DFA feedback in both engines."""

import numpy as np
import pytest
from scipy import stats

from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.models import mlp
from snn_dfa.errors import ValidationError
from snn_dfa.rules.feedback import FeedbackProjector
from snn_dfa.rules.learning import DFA
from snn_dfa.rules.optical import OPU, Camera, OpticalFeedback, ternarise

IDEAL = Camera(bit_depth=None)


def test_intensity_is_exponential_with_the_mean_of_the_complex_gaussian_model():
    # x R with k ones and Re, Im ~ N(0, 1/n) is complex Gaussian with E|.|^2 = 2k/n, so the
    # intensity is exponential with that mean.  KS test at a false-alarm rate of 1e-3.
    opu = OPU(8, 20000, camera=IDEAL, seed=0)
    for x in ([1, 0, 1, 1, 0, 0, 0, 0], [1] * 8):
        k = sum(x)
        y = opu.intensity(np.array([x]))[0]
        mean = 2 * k / opu.n_mirrors
        assert stats.kstest(y, "expon", args=(0, mean)).pvalue > 1e-3
        # Mean within 4 standard errors (exponential: std = mean).
        assert abs(y.mean() - mean) < 4 * mean / np.sqrt(y.size)
    # A wrong mean is rejected by the same test (the check can fail).
    y = opu.intensity(np.ones((1, 8)))[0]
    assert stats.kstest(y, "expon", args=(0, 1.3 * 16 / opu.n_mirrors)).pvalue < 1e-3


def test_shot_noise_adds_poisson_variance_and_quantisation_saturates():
    g = 50.0
    noisy = OPU(8, 20000, camera=Camera(photons_per_unit=g, bit_depth=None), seed=1)
    ideal = OPU(8, 20000, camera=IDEAL, seed=1)  # same matrix
    x = np.ones((1, 8))
    i_true = ideal.intensity(x)[0]
    i_meas = noisy.intensity(x)[0]
    resid = i_meas - i_true
    # Poisson(g I) / g: unbiased, variance I / g; standardised residuals have unit variance.
    z = resid / np.sqrt(i_true / g)
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 0.05
    cam = Camera(bit_depth=4, full_scale=1.5)
    q = cam.record(np.array([0.0, 0.04, 0.06, 1.49, 7.0]), np.random.default_rng(0))
    np.testing.assert_allclose(q, [0, 0, 0.1, 1.5, 1.5])  # 15 levels of 0.1, saturating


def test_holographic_linear_mode_is_exact_with_an_ideal_camera():
    opu = OPU(6, 300, camera=IDEAL, seed=2)
    x = np.random.default_rng(0).integers(0, 2, (5, 6))
    np.testing.assert_allclose(opu.linear(x), x @ opu.linear_matrix, rtol=1e-9, atol=1e-12)
    # The effective matrix is real Gaussian N(0, 1/n_mirrors): Re of a rotated complex one.
    b = opu.linear_matrix
    assert abs(b.var() * opu.n_mirrors - 1) < 4 * np.sqrt(2 / b.size)
    assert opu.frames == 64 + 2 * 5  # calibration, then two frames per input


def test_holographic_projection_converges_as_the_photon_budget_grows():
    # Shot noise only: F1 - F2 - F3 has an error of variance ~ (F1 + F2) / g, divided by the
    # reference amplitude 2|a_j| of each output, so every output's error falls as 1/sqrt(g).
    # |a_j|^2 is exponential, so 1/|a_j| has a heavy tail and the RMS over outputs is not a
    # stable statistic; the median absolute error over 5000 outputs x 8 inputs is (about 1 %).
    x = np.random.default_rng(3).integers(0, 2, (8, 10))
    x[:, 0] = 1
    err = []
    budgets = [1e2, 1e3, 1e4, 1e5]
    for g in budgets:
        opu = OPU(10, 5000, camera=Camera(photons_per_unit=g, bit_depth=None), seed=4)
        exact = x @ opu.linear_matrix
        err.append(np.median(np.abs(opu.linear(x) - exact)))
    ratios = np.array(err[:-1]) / np.array(err[1:])
    np.testing.assert_allclose(ratios, np.sqrt(10), rtol=0.1)
    assert err[-1] < 0.01 * np.std(x @ opu.linear_matrix)


def test_ternary_projection_is_the_difference_of_two_binary_projections():
    t = np.array([[1, 0, -1, 1], [-1, -1, 0, 0], [0, 0, 0, 0]])
    cam = Camera(photons_per_unit=20.0, bit_depth=8)
    a, b = OPU(4, 50, camera=cam, seed=5), OPU(4, 50, camera=cam, seed=5)
    got = a.ternary(t)
    want = b.linear(t > 0) - b.linear(t < 0)
    np.testing.assert_array_equal(got, want)  # same frames, same noise draws
    assert a.frames == b.frames == 64 + 4 * 3
    ideal = OPU(4, 50, camera=IDEAL, seed=5)
    np.testing.assert_allclose(ideal.ternary(t), t @ ideal.linear_matrix, atol=1e-12)
    assert a.seconds == pytest.approx(a.frames / 750.0)
    with pytest.raises(ValidationError, match="ternary"):
        a.ternary(np.array([[2, 0, 0, 0]]))
    with pytest.raises(ValidationError, match="binary"):
        a.linear(np.array([[0.5, 0, 0, 0]]))
    with pytest.raises(ValidationError, match="4 columns"):
        a.intensity(np.ones((1, 3)))


def test_ternarise_uses_the_per_example_error():
    e = np.array([[0.06, -0.01, -0.2], [0.0, 0.3, -0.04]]) / 2  # a batch-averaged gradient, M = 2
    np.testing.assert_array_equal(ternarise(e, 0.05), [[1, 0, -1], [0, 1, 0]])


def test_optical_feedback_serves_the_spiking_engine():
    net = mlp(12, 3, steps=4, hidden=(16, 8), seed=0)
    fb = OpticalFeedback([16, 8], 3, threshold=0.1, camera=IDEAL, seed=0)
    assert isinstance(fb, FeedbackProjector)
    e = np.array([[0.3, -0.2, 0.01], [-0.4, 0.0, 0.25]], np.float32)
    parts = fb.project_all(e)
    signs = ternarise(e.astype(np.float64), 0.1)
    for p, b in zip(parts, fb.matrices):
        np.testing.assert_allclose(p, signs @ b.T / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fb.project(1, e), parts[1], rtol=1e-6)
    assert not fb.counters.feedback_macs.any()  # the projection is optical
    np.testing.assert_allclose(fb.counters.update_adds, [2 * 5 * 2 * 16, 2 * 5 * 2 * 8])
    x = np.random.default_rng(0).random((4, 2, 12)).astype(np.float32) * 2
    z, trace = net.forward(x, record=True)
    _, dz = loss_and_grad(z, np.array([0, 2]))
    grads = DFA(fb).gradients(net, trace, dz)
    assert any(g for g in grads) and all(np.isfinite(v).all() for g in grads for v in g.values())


def test_optical_projector_in_the_torch_mechanism_matches_ternarised_fixed_feedback():
    torch = pytest.importorskip("torch")
    from snn_dfa.deep import DFA as TorchDFA
    from snn_dfa.deep import FixedProjector
    from snn_dfa.deep.optical import OpticalProjector

    gen = torch.Generator().manual_seed(0)
    l1, l2 = torch.nn.Linear(5, 7), torch.nn.Linear(7, 3)
    x, y = torch.randn(6, 5, generator=gen), torch.tensor([0, 1, 2, 0, 1, 2])

    def grads(dfa):
        for p in (*l1.parameters(), *l2.parameters()):
            p.grad = None
        out = dfa.output(l2(dfa.point(torch.tanh(l1(x)))))
        torch.nn.functional.cross_entropy(out, y).backward()
        return l1.weight.grad.clone()

    optical = OpticalProjector(threshold=0.1, camera=IDEAL, seed=1)
    g_opt = grads(TorchDFA(optical))
    b = optical.matrices[0].double()
    g_ref = grads(TorchDFA(FixedProjector([b.numpy()]), ternarise=0.1))
    torch.testing.assert_close(g_opt, g_ref, rtol=1e-4, atol=1e-6)
    assert optical.feedback.opu.frames == 64 + 4 * 6
