"""Layers: shapes, adjoints (finite differences), batch norm against torch, BN folding."""

import numpy as np
import pytest

from snn_dfa.engine.layers import AvgPool, Conv1d, Flatten, Linear, SumPool
from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.engine.models import sfcn
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.neurons import LIFParams
from snn_dfa.errors import ValidationError

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("padding, expected", [("causal", 50), ("valid", 45), (4, 53),
                                               ((2, 1), 48)])
def test_conv_output_steps(padding, expected):
    conv = Conv1d(3, 4, 6, padding=padding)
    assert conv.output_steps(50) == expected
    net = SpikingNetwork([conv, Linear(4, 2)], seed=0)
    z, trace = net.forward(np.zeros((50, 2, 3)), record=True)
    assert trace.spikes(0).shape == (expected, 2, 4)


def test_causal_conv_does_not_see_the_future():
    net = SpikingNetwork([Conv1d(2, 5, 4, padding="causal", neuron=LIFParams(threshold=0.05)),
                          Linear(5, 2)], seed=1)
    x = np.random.default_rng(0).normal(size=(30, 1, 2)).astype(np.float32)
    _, a = net.forward(x, record=True)
    x2 = x.copy()
    x2[20:] += 5.0
    _, b = net.forward(x2, record=True)
    np.testing.assert_array_equal(a.membranes(0)[:20], b.membranes(0)[:20])
    assert not np.array_equal(a.membranes(0)[20:], b.membranes(0)[20:])


@pytest.mark.parametrize("pool, tpool", [(AvgPool, F.avg_pool1d), (SumPool, None)])
@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 1), (3, 1, 0), (4, 3, 2)])
def test_pooling_matches_torch(pool, tpool, kernel, stride, padding):
    x = np.random.default_rng(0).normal(size=(21, 2, 3))
    layer = pool(3, kernel, stride, padding)
    y, _ = layer.forward(x)
    xt = torch.tensor(x).permute(1, 2, 0)
    ref = F.avg_pool1d(xt, kernel, stride, padding) * (1 if tpool else kernel)
    np.testing.assert_allclose(y, ref.permute(2, 0, 1).numpy(), rtol=1e-12, atol=1e-12)
    assert y.shape[0] == layer.output_steps(21)


def test_flatten_matches_torch_order():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(4, 2, 3)  # [T, B, C]
    y, _ = Flatten(3, 4).forward(x)
    ref = torch.tensor(x).permute(1, 2, 0).flatten(1).numpy()  # [B, C * T]
    np.testing.assert_array_equal(y[0], ref)


def _integrator_network(bn: bool) -> SpikingNetwork:
    """Every stage but the spike nonlinearity: the loss is smooth, so finite differences apply."""
    integ = LIFParams.integrator(0.7)
    layers = [Conv1d(3, 4, 3, padding=(2, 1), neuron=integ, batch_norm=bn, bias=True),
              AvgPool(4, 2, 2, 1), Conv1d(4, 5, 2, padding="causal", neuron=integ),
              SumPool(5, 2, 1), Flatten(5, 10), Linear(50, 3, neuron=integ, bias=True)]
    return SpikingNetwork(layers, readout="mean_membrane", seed=3, dtype=np.float64)


@pytest.mark.parametrize("bn", [False, True])
def test_bptt_equals_finite_differences_on_smooth_network(bn):
    net = _integrator_network(bn)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 4, 3))
    y = np.array([0, 1, 2, 0])

    def loss() -> float:
        z, _ = net.forward(x)
        return loss_and_grad(z, y)[0]

    z, trace = net.forward(x, record=True)
    grads = net.backward(trace, loss_and_grad(z, y)[1])
    eps = 1e-6
    for li in range(len(net.layers)):
        for name, g in grads[li].items():
            flat = g.ravel()
            for k in rng.choice(flat.size, size=min(6, flat.size), replace=False):
                delta = np.zeros(flat.size)
                delta[k] = eps
                upd = [{} for _ in net.layers]
                upd[li] = {name: delta.reshape(g.shape)}
                net.apply_updates(upd)
                up = loss()
                upd[li] = {name: -2 * delta.reshape(g.shape)}
                net.apply_updates(upd)
                down = loss()
                upd[li] = {name: delta.reshape(g.shape)}
                net.apply_updates(upd)
                fd = (up - down) / (2 * eps)
                assert flat[k] == pytest.approx(fd, rel=1e-6, abs=1e-9), (li, name, k)


def test_batch_norm_matches_torch_training_mode():
    net = SpikingNetwork([Linear(6, 5, neuron=LIFParams.integrator(0.0), batch_norm=True)],
                         readout="mean_membrane", seed=0, dtype=np.float64)
    layer = net.layers[0]
    layer.bn.gamma[:] = np.linspace(0.5, 2, 5)
    layer.bn.beta[:] = np.linspace(-1, 1, 5)
    x = np.random.default_rng(0).normal(size=(7, 3, 6))
    z, trace = net.forward(x, record=True)
    bn = torch.nn.BatchNorm1d(5, dtype=torch.float64)
    with torch.no_grad():
        bn.weight[:] = torch.tensor(layer.bn.gamma)
        bn.bias[:] = torch.tensor(layer.bn.beta)
    cur = torch.tensor(x.reshape(-1, 6) @ layer.parameters["weight"].T)
    ref = bn(cur).reshape(7, 3, 5)
    np.testing.assert_allclose(trace.membranes(0), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.bn.running_mean, bn.running_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.bn.running_var, bn.running_var.numpy(), rtol=1e-10)


def test_fold_batch_norm_preserves_spikes_and_weights():
    net = sfcn(n_channels=6, steps=64, channels=(8, 16), seed=0)
    rng = np.random.default_rng(1)
    for _ in range(3):  # populate running statistics
        net.forward(rng.normal(size=(64, 16, 6)).astype(np.float32))
    convs = [net.layers[0], net.layers[2]]
    convs[1].bn.gamma[::3] *= -1.0  # negative scales must fold into the weights
    net.train(False)
    x = rng.normal(size=(64, 5, 6)).astype(np.float32)
    z_before, tr_before = net.forward(x, record=True)
    w_before = [c.parameters["weight"] for c in convs]
    net.fold_batch_norm()
    z_after, tr_after = net.forward(x, record=True)
    for li in (0, 2):
        s_b, s_a = tr_before.spikes(li), tr_after.spikes(li)
        assert np.mean(s_b != s_a) < 1e-3  # identical up to float32 rounding at threshold
        assert s_b.sum() > 50
    np.testing.assert_allclose(z_after, z_before, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(convs[0].parameters["weight"], w_before[0])  # all a > 0
    flipped = convs[1].parameters["weight"][::3]
    assert not np.allclose(flipped, w_before[1][::3])
    assert all(c.bn is None for c in convs)


def test_layer_validation():
    with pytest.raises(ValidationError, match="padding='same'"):
        Conv1d(2, 3, 4, padding="same")
    with pytest.raises(ValidationError, match="kernel_size=0"):
        Conv1d(2, 3, 0)
    with pytest.raises(ValidationError, match="n_out=0"):
        Linear(3, 0)
    with pytest.raises(ValidationError, match="layers\\[0\\] has 4 outputs"):
        SpikingNetwork([Linear(2, 4), Linear(5, 2)])
    with pytest.raises(ValidationError, match="last layer must be Linear or Conv1d"):
        SpikingNetwork([Linear(2, 4), AvgPool(4, 2)])
    with pytest.raises(ValidationError, match="leaves no time steps"):
        SpikingNetwork([Conv1d(2, 3, 5, padding="valid")], seed=0).forward(np.zeros((3, 1, 2)))


@pytest.mark.parametrize("kernel, stride, left, right", [(8, 1, 4, 4), (3, 2, 0, 0), (4, 3, 3, 0),
                                                         (2, 2, 1, 1), (5, 1, 0, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_patch_kernels_equal_numpy_reference_bitwise(kernel, stride, left, right, dtype):
    """im2col / col2im and the pooling kernels against the sliding-window NumPy reference."""
    from snn_dfa.engine import _kernels
    from snn_dfa.engine.reference import patches_reference, unpatch_reference

    rng = np.random.default_rng(3)
    T, B, C = 23, 3, 5
    x = rng.normal(size=(T, B, C)).astype(dtype)
    p = patches_reference(x, kernel, left, right, stride)  # [T_out, B, C, k]
    t_out = p.shape[0]
    rows = np.empty((t_out * B, C * kernel), dtype)
    _kernels.im2col(x, kernel, left, stride, rows)
    np.testing.assert_array_equal(rows, p.reshape(t_out * B, -1))
    g = rng.normal(size=rows.shape).astype(dtype)
    back = np.empty_like(x)
    _kernels.col2im(g, kernel, left, stride, back)
    np.testing.assert_array_equal(
        back, unpatch_reference(g.reshape(p.shape), T, kernel, left, right, stride))
    if left == right:  # pooling pads symmetrically
        for divisor in (dtype(kernel), dtype(1)):
            y = np.empty((t_out, B, C), dtype)
            _kernels.pool_forward(x, kernel, stride, left, divisor, y)
            np.testing.assert_array_equal(y, p.sum(axis=-1) / divisor)
            gy = rng.normal(size=y.shape).astype(dtype)
            gx = np.empty_like(x)
            _kernels.pool_backward(gy, kernel, stride, left, divisor, gx)
            g4 = np.broadcast_to((gy / divisor)[..., None], gy.shape + (kernel,))
            np.testing.assert_array_equal(gx, unpatch_reference(g4, T, kernel, left, right,
                                                                stride))
