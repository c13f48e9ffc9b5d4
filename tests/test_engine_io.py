"""Network files (snn_dfa.engine.io) and their use by the pipeline ([model] file)."""

import dataclasses

import numpy as np
import pytest

from snn_dfa.app.config import ModelSection, RunConfig
from snn_dfa.app.experiment import imported, pretrained
from snn_dfa.engine.io import load_network, save_network
from snn_dfa.engine.layers import AvgPool, Conv1d, Flatten, Linear
from snn_dfa.engine.models import sfcn
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Surrogate
from snn_dfa.errors import ConfigError, DataError, ValidationError


def _net():
    p = LIFParams(beta=0.8, threshold=0.6, reset="zero", surrogate=Surrogate("arctan", 3.0))
    layers = [Conv1d(9, 8, 4, padding=(3, 0), neuron=p, bias=True), AvgPool(8, 2),
              Conv1d(8, 6, 3, padding=1, stride=2, neuron=p, batch_norm=True), Flatten(6, 16),
              Linear(96, 6, neuron=LIFParams.integrator(0.5), bias=True)]
    return SpikingNetwork(layers, readout="last_membrane", seed=4)


def test_round_trip_gives_the_same_network_and_outputs(tmp_path):
    net = _net()
    x = np.random.default_rng(0).normal(0.5, 1, (64, 3, 9)).astype(np.float32)
    save_network(net, tmp_path / "net.npz")
    back = load_network(tmp_path / "net.npz")
    assert repr(back) == repr(net)
    assert [getattr(a, "neuron", None) for a in back.layers] == \
        [getattr(a, "neuron", None) for a in net.layers]
    for (k, a), (k2, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a, b)
    za, ta = net.train(False).forward(x, record=True)
    zb, tb = back.train(False).forward(x, record=True)
    np.testing.assert_array_equal(za, zb)
    for i in net.synaptic_layers:
        np.testing.assert_array_equal(ta.spikes(i), tb.spikes(i))


def test_bad_files_raise_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_network(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a network"):
        load_network(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="not a network"):
        load_network(tmp_path / "other.npz")


def test_pipeline_uses_the_imported_network(tmp_path):
    net = sfcn(n_channels=9, n_classes=6, steps=128, seed=1)
    save_network(net, tmp_path / "net.npz")
    config = dataclasses.replace(RunConfig(), model=ModelSection(file=str(tmp_path / "net.npz")))
    config.check()
    x = np.zeros((12, 128, 9), np.float32)
    y = np.arange(12) % 6
    got, feedback, cached = pretrained(config, "dfa", x, y, tmp_path / "cache", False)
    assert feedback is None and cached and not (tmp_path / "cache").exists()
    for a, b in zip(got.state_dict().values(), net.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValidationError, match="8 channels"):
        imported(str(tmp_path / "net.npz"), np.zeros((2, 128, 8), np.float32), y)
    with pytest.raises(ConfigError, match="model.file"):
        ModelSection(file=str(tmp_path / "none.npz")).check()
