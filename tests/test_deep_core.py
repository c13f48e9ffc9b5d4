"""snn_dfa.deep's mechanism against hand computation (Nøkland's update, DFA = BP with B = W^T on
one hidden layer, ternarisation, sparse and periodic feedback, alignment, per-example factors)."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import itertools

from snn_dfa.deep import (
    DFA,
    FixedProjector,
    PeriodicConvProjector,
    RandomProjector,
    alignment,
    record_factors,
    ternarise,
)
from snn_dfa.errors import ValidationError
from snn_dfa.rules.feedback import RandomFeedback

ATOL = 1e-5  # float32 sums of a few dozen terms of order 1



@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread avoids oversubscribing the shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def _mlp(sizes, seed=0):
    torch.manual_seed(seed)
    return [torch.nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]


def _forward(dfa, layers, x, act=torch.tanh):
    h = x
    for lin in layers[:-1]:
        h = dfa.point(act(lin(h)))
    return dfa.output(layers[-1](h))


def test_update_formula_per_point_two_hidden_layers_shared_matrix():
    layers = _mlp([6, 9, 5, 4])
    dfa = DFA(RandomProjector(distribution="gaussian", shared=True, seed=3))
    x, y = torch.randn(8, 6), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    F.cross_entropy(_forward(dfa, layers, x), y).backward()
    # by hand: e = (softmax - onehot)/M; delta_l = (e B_l^T) * f'(a_l); dW_l = delta_l^T h_{l-1}
    with torch.no_grad():
        a1 = layers[0](x)
        h1 = torch.tanh(a1)
        a2 = layers[1](h1)
        h2 = torch.tanh(a2)
        e = (torch.softmax(layers[2](h2), 1) - F.one_hot(y, 4)) / 8
        b1, b2 = dfa.projector.matrices
        assert torch.equal(b2, b1[:5])  # shared: the first n_l rows of one matrix
        d1 = (e @ b1.T) * (1 - h1 ** 2)
        d2 = (e @ b2.T) * (1 - h2 ** 2)
    torch.testing.assert_close(layers[0].weight.grad, d1.T @ x, atol=ATOL, rtol=0)
    torch.testing.assert_close(layers[0].bias.grad, d1.sum(0), atol=ATOL, rtol=0)
    torch.testing.assert_close(layers[1].weight.grad, d2.T @ h1, atol=ATOL, rtol=0)
    torch.testing.assert_close(layers[2].weight.grad, e.T @ h2, atol=ATOL, rtol=0)


def test_one_hidden_layer_with_transposed_output_weights_equals_bp():
    layers = _mlp([5, 7, 3], seed=1)
    x, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 2, 1, 0])
    bp = DFA(mode="bp")
    F.cross_entropy(_forward(bp, layers, x, torch.relu), y).backward()
    want = [p.grad.clone() for lin in layers for p in lin.parameters()]
    for lin in layers:
        lin.zero_grad()
    dfa = DFA(FixedProjector([layers[1].weight.detach().T]))
    F.cross_entropy(_forward(dfa, layers, x, torch.relu), y).backward()
    got = [p.grad for lin in layers for p in lin.parameters()]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=ATOL, rtol=0)
    res = alignment(dfa, [p for lin in layers for p in lin.parameters()],
                    lambda: F.cross_entropy(_forward(dfa, layers, x, torch.relu), y))
    assert [r.key for r in res] == ["#0", "output"]
    assert res[0].update_cosine == pytest.approx(1.0, abs=1e-6)
    assert res[0].signal_cosine == pytest.approx(1.0, abs=1e-6)
    assert res[1].update_cosine == pytest.approx(1.0, abs=1e-6)


def test_alignment_equals_hand_computation_and_turns_positive_with_training():
    # Nøkland: the forward weights come to align with B; the cosines rise above 0 (seeded run)
    layers = _mlp([20, 32, 32, 5], seed=2)
    dfa = DFA(RandomProjector(seed=0))
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 20, generator=gen) * 2
    y = torch.arange(200) % 5
    x = centres[y] + torch.randn(200, 20, generator=gen)
    params = [p for lin in layers for p in lin.parameters()]
    opt = torch.optim.SGD(params, lr=0.5)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(_forward(dfa, layers, x), y).backward()
        opt.step()
    res = alignment(dfa, params, lambda: F.cross_entropy(_forward(dfa, layers, x), y))
    with torch.no_grad():
        h1 = torch.tanh(layers[0](x))
        h2 = torch.tanh(layers[1](h1))
        e = (torch.softmax(layers[2](h2), 1) - F.one_hot(y, 5)) / 200
        b1, b2 = dfa.projector.matrices
        bp2 = (e @ layers[2].weight) * (1 - h2 ** 2)
        bp1 = (bp2 @ layers[1].weight) * (1 - h1 ** 2)
        d1 = (e @ b1.T) * (1 - h1 ** 2)
        d2 = (e @ b2.T) * (1 - h2 ** 2)

    def cos(a, b):
        a, b = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
        return float(a @ b / a.norm() / b.norm())

    want = [(cos([d1.T @ x, d1.sum(0)], [bp1.T @ x, bp1.sum(0)]), cos([e @ b1.T], [bp1 / (1 - h1 ** 2)])),
            (cos([d2.T @ h1, d2.sum(0)], [bp2.T @ h1, bp2.sum(0)]), cos([e @ b2.T], [bp2 / (1 - h2 ** 2)]))]
    for r, (upd, sig) in zip(res, want):
        assert r.update_cosine == pytest.approx(upd, abs=1e-4)
        assert r.signal_cosine == pytest.approx(sig, abs=1e-4)
    assert res[1].update_cosine > 0.2 and min(r.signal_cosine for r in res[:2]) > 0.2
    assert res[2].key == "output" and res[2].update_cosine == pytest.approx(1.0, abs=1e-9)
    assert F.cross_entropy(_forward(dfa, layers, x), y).item() < 0.1


def test_bp_mode_is_plain_autograd_and_readout_trains_only_the_output():
    layers = _mlp([4, 6, 6, 3])
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    F.cross_entropy(_forward(DFA(mode="bp"), layers, x), y).backward()
    got = [p.grad.clone() for lin in layers for p in lin.parameters()]
    for lin in layers:
        lin.zero_grad(set_to_none=True)
    h = x
    for lin in layers[:-1]:
        h = torch.tanh(lin(h))
    F.cross_entropy(layers[-1](h), y).backward()
    for g, lin_p in zip(got, [p for lin in layers for p in lin.parameters()]):
        torch.testing.assert_close(g, lin_p.grad, atol=0, rtol=0)
        lin_p.grad = None
    F.cross_entropy(_forward(DFA(mode="readout"), layers, x), y).backward()
    assert all(p.grad is None for lin in layers[:-1] for p in lin.parameters())
    assert layers[-1].weight.grad is not None


def test_ternarise_by_hand_and_in_the_mechanism():
    e = torch.tensor([[0.05, -0.2, 0.01], [-0.01, 0.3, -0.049]])  # M = 2, t = 0.1 -> |e| > 0.05
    want = torch.tensor([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]) / 2
    assert torch.equal(ternarise(e, 0.1), want)
    layers = _mlp([3, 4, 3])
    dfa = DFA(FixedProjector([torch.eye(4, 3)]), ternarise=0.1)
    x, y = torch.randn(2, 3), torch.tensor([0, 2])
    F.cross_entropy(_forward(dfa, layers, x), y).backward()
    with torch.no_grad():
        a = layers[0](x)
        e = (torch.softmax(layers[1](torch.tanh(a)), 1) - F.one_hot(y, 3)) / 2
        d = (ternarise(e, 0.1) @ torch.eye(4, 3).T) * (1 - torch.tanh(a) ** 2)
    torch.testing.assert_close(layers[0].weight.grad, d.T @ x, atol=ATOL, rtol=0)


@pytest.mark.parametrize("shared", [False, True])
def test_sparse_feedback_has_exactly_k_nonzeros_per_row(shared):
    proj = RandomProjector(nonzeros_per_row=2, shared=shared, seed=0)
    proj.build([(30,), (12,)], 10)
    for b in proj.matrices:
        assert ((b != 0).sum(1) == 2).all()
    if shared:
        assert torch.equal(proj.matrices[1], proj.matrices[0][:12])


def test_random_projector_draws_the_engine_matrices():
    """The same numpy code and seed as the spiking engines' RandomFeedback."""
    proj = RandomProjector(distribution="gaussian", scaling="fan", seed=7)
    proj.build([(8,), (2, 3)], 4)
    ref = RandomFeedback([8, 6], 4, distribution="gaussian", scaling="fan", seed=7)
    for got, want in zip(proj.matrices, ref.matrices):
        np.testing.assert_array_equal(got.numpy(), want)


def test_periodic_conv_feedback_is_periodic_and_matches_its_dense_matrix():
    proj = PeriodicConvProjector(period=2, seed=0)
    proj.build([(3, 5, 4), (6,), (2, 7)], 4)
    e = torch.randn(5, 4)
    outs = proj.project(e)
    assert [tuple(o.shape) for o in outs] == [(5, 3, 5, 4), (5, 6), (5, 2, 7)]
    for i, o in enumerate(outs):
        torch.testing.assert_close(o.reshape(5, -1), e @ proj.dense_matrix(i).T, atol=ATOL, rtol=0)
    m = outs[0]
    torch.testing.assert_close(m[:, :, :3, :2], m[:, :, 2:5, 2:4], atol=0, rtol=0)
    torch.testing.assert_close(outs[2][:, :, 0:6:2], outs[2][:, :, 2:7:2], atol=0, rtol=0)
    sparse = PeriodicConvProjector(period=2, nonzeros_per_row=1, seed=0)
    sparse.build([(3, 4, 4)], 4)
    assert ((sparse.dense_matrix(0) != 0).sum(1) == 1).all()


def test_sequence_points_and_repeated_keys():
    # Transformer-like lead dims [B, T] and an RNN-like point reused over time steps
    lin_in, lin_out = torch.nn.Linear(3, 5), torch.nn.Linear(5, 4)
    dfa = DFA(RandomProjector(seed=1))
    x = torch.randn(2, 6, 3)
    out = dfa.output(lin_out(dfa.point(torch.tanh(lin_in(x)))))
    out.sum().backward()
    with torch.no_grad():
        a = lin_in(x)
        d = (torch.ones(2, 6, 4) @ dfa.projector.matrices[0].T) * (1 - torch.tanh(a) ** 2)
    torch.testing.assert_close(lin_in.weight.grad, torch.einsum("bto,bti->oi", d, x),
                               atol=ATOL, rtol=0)
    cell = torch.nn.Linear(4, 4)
    dfa2 = DFA(RandomProjector(seed=2))
    h = torch.zeros(3, 4)
    for _ in range(3):
        h = dfa2.point(torch.tanh(cell(h) + 1.0), key="h")
    dfa2.output(torch.nn.Linear(4, 2)(h)).sum().backward()
    assert list(dfa2.shapes) == ["h"] and cell.weight.grad is not None


def test_custom_projector_plugs_in_and_is_called_once_per_step():
    class Counting:
        def __init__(self):
            self.calls, self.inner = 0, RandomProjector(seed=0)

        def build(self, shapes, n_out):
            self.shapes = shapes
            self.inner.build(shapes, n_out)

        def project(self, e):
            self.calls += 1
            return self.inner.project(e)

    proj = Counting()
    layers = _mlp([4, 5, 6, 7, 3])
    dfa = DFA(proj)
    for _ in range(2):
        F.cross_entropy(_forward(dfa, layers, torch.randn(2, 4)), torch.tensor([0, 1])).backward()
    assert proj.calls == 2 and proj.shapes == [(5,), (6,), (7,)]


def test_per_example_factors_rebuild_the_gradient():
    layers = _mlp([4, 6, 3])
    dfa = DFA(RandomProjector(seed=0))
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    with record_factors(layers) as log:
        F.cross_entropy(_forward(dfa, layers, x), y).backward()
    for lin in layers:
        (f,) = log[lin]
        torch.testing.assert_close(f.weight_grad(), lin.weight.grad, atol=ATOL, rtol=0)
        torch.testing.assert_close(f.bias_grad(), lin.bias.grad, atol=ATOL, rtol=0)
        per = f.weight_grad(per_example=True)
        torch.testing.assert_close(per.flatten(1).norm(dim=1),
                                   f.delta.norm(dim=1) * f.input.norm(dim=1), atol=ATOL, rtol=0)
    with pytest.raises(ValidationError, match="nn.Linear"), \
            record_factors([torch.nn.Conv1d(1, 1, 1)]):
        pass


def test_bad_input_raises_project_errors():
    with pytest.raises(ValidationError, match="mode='sideways'"):
        DFA(mode="sideways")
    with pytest.raises(ValidationError, match="projector"):
        DFA(projector=object())
    with pytest.raises(ValidationError, match="nonzeros_per_row=5"):
        RandomProjector(nonzeros_per_row=5).build([(3,)], 4)
    layers = _mlp([4, 6, 3])
    dfa = DFA()
    F.cross_entropy(_forward(dfa, layers, torch.randn(2, 4)), torch.tensor([0, 1])).backward()
    with pytest.raises(ValidationError, match="feature shape"):
        dfa.output(torch.randn(2, 3) + dfa.point(torch.randn(2, 5, requires_grad=True)).sum())
    with pytest.raises(ValidationError, match="leading dimensions"):
        dfa.output(torch.randn(2, 3) + dfa.point(torch.randn(3, 6, requires_grad=True)).sum())
    with pytest.raises(ValidationError, match="FixedProjector"):
        FixedProjector([torch.zeros(3, 2)]).build([(4,)], 2)


def test_import_snn_dfa_and_the_engine_without_torch():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import snn_dfa, snn_dfa.feedback, snn_dfa.learning, snn_dfa.models, snn_dfa.cli\n"
        "try:\n"
        "    import snn_dfa.deep\n"
        "except ImportError as exc:\n"
        "    print('deep needs torch:', exc)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")
    assert "deep needs torch" in out.stdout


def test_torch_is_imported_only_inside_snn_dfa_deep():
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    offenders = []
    for package in ("snn_dfa", "crossbar", "hwsim"):
        for path in (root / package).rglob("*.py"):
            if (root / "snn_dfa" / "deep") in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                if any(n.split(".")[0] in ("torch", "snntorch") for n in names):
                    offenders.append(str(path.relative_to(root)))
    assert offenders == []
