"""Low-rank SVD-space DFA: factor structure, orthonormality under the ortho term, rank
reduction, SVD-structured feedback and the alignment loss, against closed forms."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from snn_dfa.deep import DFA
from snn_dfa.deep.lowrank import (
    LowRankLinear,
    LowRankMLP,
    SVDProjector,
    align_loss,
    ortho_loss,
    random_orthonormal,
)
from snn_dfa.errors import ValidationError

EPS32 = np.finfo(np.float32).eps


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread avoids oversubscribing the shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_low_rank_layer_is_the_truncated_svd_of_its_dense_init():
    torch.manual_seed(0)
    lin = LowRankLinear(12, 9, 4)
    torch.manual_seed(0)
    dense = torch.nn.Linear(12, 9).weight.detach()
    u, s, vh = torch.linalg.svd(dense, full_matrices=False)
    torch.testing.assert_close(lin.weight, (u[:, :4] * s[:4]) @ vh[:4], atol=1e-6, rtol=0)
    assert ortho_loss(lin).item() < 100 * EPS32
    x = torch.randn(5, 12)
    torch.testing.assert_close(lin(x), x @ lin.weight.T + lin.bias, atol=1e-6, rtol=0)
    assert sum(p.numel() for p in lin.parameters()) == 4 * (12 + 9 + 1) + 9
    with pytest.raises(ValidationError, match="rank=10"):
        LowRankLinear(12, 9, 10)


def test_rank_reduction_drops_small_components_and_keeps_the_function():
    torch.manual_seed(1)
    lin = LowRankLinear(10, 8, 6)
    with torch.no_grad():
        lin.s.copy_(torch.tensor([3.0, 2.0, 1.0, 0.0, 0.0, 0.0]))  # rank 3 in fact
    x = torch.randn(4, 10)
    before = lin(x)
    assert lin.reduce_rank(0.1) == 3
    torch.testing.assert_close(lin(x), before, atol=1e-6, rtol=0)
    assert lin.U.shape == (8, 3) and lin.V.shape == (10, 3)
    assert lin.reduce_rank(0.1) == 3  # nothing more to drop


def test_svd_projector_has_the_stated_structure():
    proj = SVDProjector(rank=3, seed=0)
    proj.build([(20,), (7,)], 5)
    for b, (u, sv, v), n in zip(proj.matrices, proj.factors, (20, 7)):
        np.testing.assert_allclose(u.T @ u, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(v.T @ v, np.eye(3), atol=1e-12)
        sing = np.linalg.svd(b.numpy().astype(np.float64), compute_uv=False)
        np.testing.assert_allclose(sing[:3], np.sort(sv)[::-1] / np.sqrt(n), rtol=1e-5)
        assert sing[3:].max() < 1e-6  # rank 3
    with pytest.raises(ValidationError, match="cols=4"):
        random_orthonormal(3, 4, np.random.default_rng(0))


def test_align_loss_closed_forms():
    t = torch.randn(4, 3)
    assert align_loss(2.5 * t, t).item() == pytest.approx(0.0, abs=1e-6)
    assert align_loss(-t, t).item() == pytest.approx(2.0, abs=1e-6)
    w = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert align_loss(w, torch.tensor([[0.0, 1.0], [0.0, 0.0]])).item() == pytest.approx(1.0)


def _train(ortho_weight, steps=60):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 16, generator=gen)
    y = (x[:, :4].argmax(1))
    dfa = DFA(SVDProjector(4, seed=0))
    dfa.build([(32,)], 4)
    torch.manual_seed(0)
    model = LowRankMLP((16, 32, 4), 8, dfa)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        opt.zero_grad()
        align, ortho = model.local_losses(dfa.projector.matrices)
        (F.cross_entropy(model(x), y) + 0.1 * align + ortho_weight * ortho).backward()
        opt.step()
    err = max((lin.U.T @ lin.U - torch.eye(lin.rank)).norm().item() for lin in model.layers)
    return err, F.cross_entropy(model(x), y).item()


def test_factors_stay_orthonormal_with_the_ortho_term_and_drift_without():
    with_term, loss = _train(1.0)
    without, _ = _train(0.0)
    assert with_term < 0.1, with_term  # tolerance on |U^T U - I|_F after 60 Adam steps
    assert without > 10 * with_term
    assert loss < 1.0  # and it learns (chance: log 4 = 1.39)
