"""DP-DFA's mechanism (snn_dfa.deep.privacy): the two-factor norms against explicit per-example
updates, the clipping bounds and the sensitivity, the noise scale, Poisson sampling, and the
opacus DP-SGD baseline against a hand-written per-example loop."""

import itertools
import math

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from snn_dfa.deep import DFA, RandomProjector, record_factors
from snn_dfa.deep.privacy import (
    DPDFA,
    clip_rows,
    dp_sgd,
    poisson_batch,
    two_factor_norms,
)
from snn_dfa.errors import ValidationError

RTOL = 1e-5  # float32 products and sums of a few dozen terms of order 1


def _net(sizes=(7, 9, 6, 4), seed=0):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
    dfa = DFA(RandomProjector(distribution="gaussian", seed=seed + 1))

    def forward(x):
        h = x
        for lin in layers[:-1]:
            h = dfa.point(torch.tanh(lin(h)))
        return dfa.output(layers[-1](h))
    return layers, dfa, forward


def _explicit_updates(layers, forward, x, y):
    """Per example, each layer's (weight, bias) gradient from a backward on that example
    alone (the DFA update is per-example linear, so these are the per-example updates)."""
    out = []
    for i in range(x.shape[0]):
        for lin in layers:
            lin.zero_grad(set_to_none=True)
        F.cross_entropy(forward(x[i:i + 1]), y[i:i + 1], reduction="sum").backward()
        out.append([torch.cat([lin.weight.grad, lin.bias.grad[:, None]], 1).clone()
                    for lin in layers])
    return out


def _factors(layers, forward, x, y):
    with record_factors(layers) as log:
        F.cross_entropy(forward(x), y, reduction="sum").backward()
    return log


def test_two_factor_norms_equal_norms_of_explicit_per_example_updates():
    layers, _, forward = _net()
    x, y = torch.randn(10, 7), torch.arange(10) % 4
    explicit = _explicit_updates(layers, forward, x, y)
    log = _factors(layers, forward, x, y)
    for j, lin in enumerate(layers):
        norms = two_factor_norms(log[lin][0], lin)
        want = torch.stack([u[j].norm() for u in explicit])
        torch.testing.assert_close(norms, want, rtol=RTOL, atol=1e-7)


@pytest.mark.parametrize("cx, cd", [(0.5, 0.05), (3.0, 10.0), ([1.0, 2.0, 0.3], [0.1, 0.2, 1.0])])
def test_clipped_sum_equals_sum_of_clipped_explicit_updates_and_respects_bounds(cx, cd):
    layers, _, forward = _net()
    x, y = 2 * torch.randn(12, 7), torch.arange(12) % 4
    explicit = _explicit_updates(layers, forward, x, y)
    mech = DPDFA(layers, cx, cd, noise_multiplier=0.0)
    sums, stats = mech.clipped_sum(_factors(layers, forward, x, y))
    assert stats.batch_size == 12
    for j, delta_l in enumerate(mech.sensitivities):
        # explicit update u = d x^T: clipping both factors scales it by the product of scales
        clipped = []
        for u in explicit:
            d_norm = u[j][:, -1].norm()                    # the bias column is d itself
            x_norm = u[j].norm() / d_norm                  # |(x, 1)|
            scale = (min(1.0, mech.clip_backward[j] / float(d_norm))
                     * min(1.0, mech.clip_forward[j] / float(x_norm)))
            clipped.append(u[j] * scale)
            assert float(clipped[-1].norm()) <= delta_l * (1 + RTOL)
        torch.testing.assert_close(sums[j], torch.stack(clipped).sum(0), rtol=RTOL, atol=1e-6)


def test_removing_one_example_moves_each_layer_by_at_most_its_sensitivity():
    layers, _, forward = _net()
    x, y = 3 * torch.randn(9, 7), torch.arange(9) % 4
    mech = DPDFA(layers, [0.7, 0.9, 1.1], [0.05, 0.1, 1.4], noise_multiplier=0.0)
    full, _ = mech.clipped_sum(_factors(layers, forward, x, y))
    for i in range(9):
        keep = torch.arange(9) != i
        less, _ = mech.clipped_sum(_factors(layers, forward, x[keep], y[keep]))
        moves = [float((a - b).norm()) for a, b in zip(full, less)]
        assert all(m <= s * (1 + RTOL) for m, s in zip(moves, mech.sensitivities))
        assert math.sqrt(sum(m * m for m in moves)) <= mech.sensitivity * (1 + RTOL)


def test_clip_rows_bound_and_identity_below_it():
    t = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    out = clip_rows(t, 1.0)
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]]))


def test_noise_has_the_stated_scale():
    # An empty batch releases noise only: grad = N(0, σ_l²)/E with σ_l = z sqrt(L) C_d C_x.
    # For n i.i.d. normal samples the sample std is within 6 sqrt(1/(2n)) of σ, and the mean
    # within 6 σ/sqrt(n), with probability > 1 - 2e-9 each.
    layers, dfa, forward = _net(sizes=(300, 200, 100, 10))
    mech = DPDFA(layers, [2.0, 3.0, 4.0], [0.5, 0.25, 1.0], noise_multiplier=1.7, seed=5)
    expected_batch = 8.0
    mech.step(forward, dfa, torch.zeros(0, 300), torch.zeros(0, dtype=torch.long),
              expected_batch)
    for lin, cx, cd in zip(layers, [2.0, 3.0, 4.0], [0.5, 0.25, 1.0]):
        sigma = 1.7 * math.sqrt(3) * cx * cd / expected_batch
        g = torch.cat([lin.weight.grad.reshape(-1), lin.bias.grad]).double()
        n = g.numel()
        assert abs(float(g.std()) / sigma - 1) < 6 * math.sqrt(1 / (2 * n))
        assert abs(float(g.mean())) < 6 * sigma / math.sqrt(n)


def test_whole_step_is_one_gaussian_mechanism_of_multiplier_z():
    layers, _, _ = _net()
    mech = DPDFA(layers, [1.0, 2.0, 3.0], [0.5, 0.1, 1.0], noise_multiplier=1.3)
    whitened = math.sqrt(sum((d / s) ** 2 for d, s in zip(mech.sensitivities, mech.noise_stds)))
    assert whitened == pytest.approx(1 / 1.3, rel=1e-12)


def test_step_writes_clipped_sum_over_expected_batch_without_noise():
    layers, dfa, forward = _net()
    x, y = torch.randn(6, 7), torch.arange(6) % 4
    mech = DPDFA(layers, 1.0, 0.2, noise_multiplier=0.0)
    sums, _ = mech.clipped_sum(_factors(layers, forward, x, y))
    mech.step(forward, dfa, x, y, expected_batch_size=4.0)
    for lin, s in zip(layers, sums):
        torch.testing.assert_close(lin.weight.grad, s[:, :-1] / 4, rtol=RTOL, atol=1e-7)
        torch.testing.assert_close(lin.bias.grad, s[:, -1] / 4, rtol=RTOL, atol=1e-7)


def test_mechanism_rejects_uncovered_parameters_and_bad_bounds():
    layers, _, _ = _net()
    mech = DPDFA(layers[:2], 1.0, 1.0, 1.0)
    with pytest.raises(ValidationError, match="belongs to no layer"):
        mech.check_model(torch.nn.Sequential(*layers))
    with pytest.raises(ValidationError, match="clip_forward"):
        DPDFA(layers, [1.0, 2.0], 1.0, 1.0)
    with pytest.raises(ValidationError, match="clip_backward"):
        DPDFA(layers, 1.0, -1.0, 1.0)


def test_poisson_batch_size_is_binomial():
    # 400 draws of Binomial(n=1000, q=0.05): the mean batch size is within 6 standard errors.
    gen = torch.Generator().manual_seed(0)
    sizes = torch.tensor([float(poisson_batch(1000, 0.05, gen).numel()) for _ in range(400)])
    mean, sd = 50.0, math.sqrt(1000 * 0.05 * 0.95)
    assert abs(float(sizes.mean()) - mean) < 6 * sd / math.sqrt(400)
    assert abs(float(sizes.std()) / sd - 1) < 6 * math.sqrt(1 / (2 * 399))


# opacus' per-sample hooks on a first layer whose input needs no gradient make torch warn
@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_dp_sgd_without_noise_equals_per_example_clipping_by_hand():
    pytest.importorskip("opacus")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x, y = 3 * torch.randn(7, 5), torch.arange(7) % 3
    by_hand = [torch.zeros_like(p) for p in model.parameters()]
    for i in range(7):
        grads = torch.autograd.grad(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]),
                                    list(model.parameters()))
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
        for acc, g in zip(by_hand, grads):
            acc += g * min(1.0, 0.5 / float(norm))
    for ghost in (False, True):
        wrapped, opt, loss = dp_sgd(model, torch.optim.SGD(model.parameters(), lr=1.0), 0.0,
                                    0.5, 10, ghost=ghost)
        opt.zero_grad()
        loss(wrapped(x), y).backward()
        opt.pre_step()
        for p, want in zip(model.parameters(), by_hand):
            torch.testing.assert_close(p.grad, want / 10, rtol=1e-4, atol=1e-6)
        wrapped._close()  # detach the hooks before wrapping the model again
