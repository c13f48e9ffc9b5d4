"""DFA-GNN (Zhao et al. 2024) on the torch DFA mechanism: error generator, node filter, graph
feedback, DFA = BP with transposed weights on one hidden layer, and short training runs."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from snn_dfa.data import NodeSplit, normalized_adjacency, random_split
from snn_dfa.deep import DFA, FixedProjector, Mode
from snn_dfa.deep.graph import (
    GCN,
    GraphProjector,
    GraphTensors,
    GraphTrainConfig,
    SparseMatrix,
    node_filter,
    output_error,
    pseudo_errors,
    train_gcn,
    update_angles,
    weight_angles,
)
from snn_dfa.errors import ValidationError

EPS32 = float(np.finfo(np.float32).eps)


def small_graph():
    """Two triangles joined by an edge (0-1-2, 3-4-5, 2-3), a pendant node 6 on 5, and an
    isolated node 7."""
    edges = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3), (5, 6)]
    a = np.zeros((8, 8))
    for i, j in edges:
        a[i, j] = a[j, i] = 1
    return a


def test_sparse_matrix_products_and_gradient_match_dense():
    rng = np.random.default_rng(0)
    dense = sp.random(6, 4, density=0.5, random_state=1).toarray()
    a = SparseMatrix(dense, dtype=torch.float64)
    x = torch.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    y = a @ x
    np.testing.assert_allclose(y.detach().numpy(), dense @ x.detach().numpy(), rtol=1e-14)
    g = rng.normal(size=(6, 3))
    y.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), dense.T @ g, rtol=1e-14)
    np.testing.assert_allclose((a.T @ torch.tensor(g)).numpy(), dense.T @ g, rtol=1e-14)


def test_pseudo_errors_follow_the_iteration_formula():
    s_dense = normalized_adjacency(small_graph()).toarray()
    s = SparseMatrix(s_dense, dtype=torch.float64)
    rng = np.random.default_rng(1)
    labelled = np.zeros(8, bool)
    labelled[[0, 4]] = True
    e = np.zeros((8, 3))
    e[labelled] = rng.normal(size=(2, 3))
    alpha, iters = 0.3, 7
    got = pseudo_errors(s, torch.tensor(e), torch.tensor(labelled), alpha, iters).numpy()
    # The paper's iteration, written out with dense NumPy.
    z = e.copy()
    for _ in range(iters):
        z = (1 - alpha) * e + alpha * s_dense @ z
    eta = np.abs(e[labelled]).sum(1).mean()
    want = e.copy()
    for j in np.flatnonzero(~labelled):
        norm = np.abs(z[j]).sum()
        want[j] = eta * z[j] / norm if norm > 0 else 0.0
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # Every reachable unlabelled node carries the mean labelled L1 norm; the isolated one none.
    reach = ~labelled & (np.arange(8) != 7)
    np.testing.assert_allclose(np.abs(got[reach]).sum(1), eta, rtol=1e-12)
    assert not got[7].any()
    np.testing.assert_array_equal(got[labelled], e[labelled])


def test_pseudo_errors_converge_to_the_label_spreading_fixed_point():
    # Many iterations reach Z* = (1 - alpha) (I - alpha S)^-1 E, the minimiser of
    # tr(Z^T (I - S) Z) + mu ||Z - E||^2 with alpha = 1 / (1 + mu): rows agree in direction.
    s_dense = normalized_adjacency(small_graph()).toarray()
    e = np.zeros((8, 2))
    e[1] = [0.5, -0.25]
    labelled = np.zeros(8, bool)
    labelled[1] = True
    alpha = 0.5
    got = pseudo_errors(SparseMatrix(s_dense, dtype=torch.float64), torch.tensor(e),
                        torch.tensor(labelled), alpha, 200).numpy()
    z_star = (1 - alpha) * np.linalg.solve(np.eye(8) - alpha * s_dense, e)
    for j in range(7):
        np.testing.assert_allclose(got[j] / np.abs(got[j]).sum(),
                                   z_star[j] / np.abs(z_star[j]).sum(), rtol=1e-10)


def test_pseudo_errors_validate_their_parameters():
    s = SparseMatrix(normalized_adjacency(small_graph()))
    e = torch.zeros(8, 2)
    lab = torch.zeros(8, dtype=torch.bool)
    with pytest.raises(ValidationError, match="alpha=1.5"):
        pseudo_errors(s, e, lab, 1.5, 3)
    with pytest.raises(ValidationError, match="n_iterations=0"):
        pseudo_errors(s, e, lab, 0.1, 0)
    with pytest.raises(ValidationError, match="labelled"):
        pseudo_errors(s, e, torch.zeros(8), 0.1, 3)


def test_node_filter_keeps_nodes_with_exactly_one_confident_class():
    y_hat = torch.tensor([[0.9, 0.2, 0.1],    # labelled node, label 0: corrected = one-hot
                          [0.7, 0.6, 0.1],    # two entries above 0.5 after correction
                          [0.4, 0.3, 0.2],    # none
                          [0.6, 0.1, 0.45],   # pseudo-error pushes class 2 above 0.5, class 0 below
                          [0.55, 0.2, 0.1]])  # exactly one
    e_hat = torch.tensor([[-0.1, 0.2, 0.1],
                          [0.0, 0.0, 0.0],
                          [-0.05, 0.0, 0.0],
                          [0.2, 0.0, -0.1],
                          [0.0, 0.1, 0.0]])
    keep = node_filter(y_hat, e_hat, 0.5)
    assert keep.tolist() == [True, False, False, True, True]
    assert node_filter(y_hat, e_hat, 0.65).tolist() == [True, True, False, False, False]
    with pytest.raises(ValidationError, match="threshold"):
        node_filter(y_hat, e_hat, 1.0)


def test_graph_projector_sends_the_error_through_powers_of_s_transposed():
    rng = np.random.default_rng(2)
    a = (rng.random((9, 9)) < 0.3).astype(float)  # asymmetric on purpose
    s_t = SparseMatrix(a.T, dtype=torch.float64)
    b = [rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=(6, 3))]
    proj = GraphProjector(s_t, FixedProjector(b))
    proj.build([(5,), (4,), (6,)], 3)
    e = rng.normal(size=(9, 3))
    got = proj.project(torch.tensor(e))
    for i, (bi, g) in enumerate(zip(b, got)):
        hops = 3 - i  # point i of 3 sits after hidden layer i + 1 of L = 4
        want = np.linalg.matrix_power(a.T, hops) @ e @ bi.T
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-5, atol=1e-5)


def _tiny_tensors(seed=0, n_per_class=12, n_classes=3, n_features=10):
    """A tiny homophilic contextual stochastic block model (Deshpande et al., NeurIPS 2018)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    same = y[:, None] == y[None, :]
    a = np.triu(rng.random((y.size, y.size)) < np.where(same, 0.3, 0.02), 1)
    a = (a | a.T).astype(float)
    x = 0.5 * rng.normal(size=(y.size, n_features)) + np.eye(n_classes, n_features)[y]
    return GraphTensors(SparseMatrix(normalized_adjacency(a)), sp.csr_matrix(x),
                        torch.as_tensor(y), n_classes)


def test_dfa_with_transposed_weights_equals_bp_on_one_hidden_layer():
    t = _tiny_tensors()
    train = torch.arange(0, 36, 2)
    model = GCN(t.s, t.features, t.n_classes, hidden=7, n_layers=2,
                generator=torch.Generator().manual_seed(0))

    def grads(dfa):
        for p in model.parameters():
            p.grad = None
        out = model(dfa)
        out.backward(output_error(out.detach(), t.labels, train) / train.numel())
        return [p.grad.clone() for p in model.parameters()]

    # BP of the BCE loss by autograd, without any feedback point in the way.
    logits = model(DFA(mode=Mode.BP))
    target = torch.nn.functional.one_hot(t.labels[train], 3).to(logits.dtype)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[train], target, reduction="sum") / train.numel()
    bp = torch.autograd.grad(loss, list(model.parameters()))
    w_out = model.weights[1].detach()  # [hidden, c]: B_1 = W^(1)^T in the paper's notation
    dfa_t = grads(DFA(GraphProjector(t.s.T, FixedProjector([w_out]))))
    for g_bp, g_dfa in zip(bp, dfa_t):
        np.testing.assert_allclose(g_dfa.numpy(), g_bp.numpy(), rtol=50 * EPS32,
                                   atol=50 * EPS32 * float(g_bp.abs().max()))
    # With random feedback the hidden update differs (the check above can fail).
    dfa_r = grads(DFA(GraphProjector(t.s.T, seed=0)))
    assert not np.allclose(dfa_r[0].numpy(), bp[0].numpy(), rtol=0.1)
    np.testing.assert_allclose(dfa_r[1].numpy(), bp[1].numpy(), rtol=1e-5, atol=1e-7)


def test_update_angles_are_zero_for_bp_and_weight_angles_measure_feedback():
    t = _tiny_tensors()
    split = NodeSplit(np.arange(0, 36, 2), np.arange(1, 36, 4), np.arange(3, 36, 4))
    train = torch.as_tensor(split.train)
    cfg = GraphTrainConfig(rule="bp", pseudo_errors=False, node_filter=False, hidden=5)
    model = GCN(t.s, t.features, 3, hidden=5, generator=torch.Generator().manual_seed(0))
    angles = update_angles(model, DFA(mode=Mode.BP), t, train, cfg)
    assert len(angles) == 3 and max(angles) < 1e-2
    dfa = DFA(GraphProjector(t.s.T, seed=1))
    dfa_angles = update_angles(model, dfa, t, train, GraphTrainConfig(
        pseudo_errors=False, node_filter=False, hidden=5))
    assert dfa_angles[2] < 1e-2 and dfa_angles[0] > 1  # output layer exact, hidden not
    # Weights set to the feedback products: zero angle.
    b = dfa.projector.matrices
    with torch.no_grad():
        model.weights[1].copy_(2.0 * b[0] @ b[1].T)
        model.weights[2].copy_(0.5 * b[1])
    np.testing.assert_allclose(weight_angles(model, dfa.projector), [0.0, 0.0], atol=1e-3)


@pytest.fixture
def one_thread():
    """Tiny graphs: torch's intra-op threads only add contention (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_learns_on_a_small_homophilic_graph(one_thread):
    t = _tiny_tensors(seed=3, n_per_class=30)
    split = random_split(t.labels.numpy(), seed=0)
    for rule, eg, nf in (("bp", False, False), ("dfa", False, False), ("dfa", True, True)):
        res = train_gcn(t, split, GraphTrainConfig(rule=rule, pseudo_errors=eg, node_filter=nf,
                                                   hidden=16, epochs=150, alpha=0.5,
                                                   n_iterations=10, diagnostics_every=75), seed=0)
        assert res.val_accuracy.shape == (150,) and res.best_epoch == int(np.argmax(res.val_accuracy))
        assert res.test_at_best_val >= 0.8, (rule, eg, nf)   # chance is 1/3
        assert res.train_loss[-1] < res.train_loss[0]
        assert len(res.diagnostics) == 2
        assert 0 < res.kept_fraction.min() <= res.kept_fraction.max() <= 1
        if rule == "dfa":
            # The output weights align with their feedback (the paper's weight alignment).
            assert res.diagnostics[-1]["weight_angle_deg"][-1] < 80


def test_train_gcn_rejects_bad_settings():
    t = _tiny_tensors()
    split = NodeSplit(np.arange(10), np.arange(10, 20), np.arange(20, 36))
    with pytest.raises(ValidationError, match="n_layers=1"):
        train_gcn(t, split, GraphTrainConfig(n_layers=1))
    with pytest.raises(ValidationError, match="rule='sgd'"):
        train_gcn(t, split, GraphTrainConfig(rule="sgd"))
    with pytest.raises(ValidationError, match="split.test"):
        train_gcn(t, NodeSplit(split.train, split.val, np.array([99])), GraphTrainConfig())
    assert math.isfinite(train_gcn(t, split, GraphTrainConfig(
        rule="bp", n_layers=1, epochs=2, diagnostics_every=1)).train_loss[-1])
