"""The measured chip in the application: deployment calibrates and lets time pass, the
stream advances the clock, noise-aware pre-training perturbs the forward pass only."""

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from snn_dfa.app.config import CrossbarSection, RunConfig
from snn_dfa.app.hardware import advance_clock, chip_weight_noise, crossbar_config, deploy
from snn_dfa.engine.backends import DenseSynapses, PerturbedSynapses
from snn_dfa.engine.models import build_model
from snn_dfa.errors import ValidationError
from snn_dfa.rules.estimator import SpikingClassifier, perturbed_weights

RNG = np.random.default_rng(0)


def _tiny_net(seed=0):
    return build_model("sfcn", 3, 4, 16, {"channels": (4, 6), "kernel_size": 3}, seed=seed)


def test_default_section_is_the_measured_chip():
    cfg = crossbar_config(CrossbarSection())
    assert cfg.noise.noise_model == "wan2022" and cfg.noise.prog_noise_scale == 1.0
    assert cfg.periphery.adc_range == "calibrated" and cfg.update.mode == "accumulate"
    assert cfg.ir_drop == "fast" and cfg.ir_fast_update == "incremental"
    full = dataclasses.replace(CrossbarSection(), ir_fast_update="full")
    assert crossbar_config(full).ir_fast_update == "full"


def test_ir_fast_update_keeps_old_cache_keys_only_for_the_full_solve():
    """Run keys (sweep points, noise-aware pre-training) made before the key existed were
    computed with the full solve: they stay valid for ``"full"``, which reproduces them bit
    for bit, and not for the incremental default, whose runs differ."""
    default = RunConfig()
    full = dataclasses.replace(default, crossbar=dataclasses.replace(
        default.crossbar, ir_fast_update="full"))
    d = full.to_dict()
    del d["crossbar"]["ir_fast_update"]
    del d["optical"]  # left out unless an optical rule runs
    old_key = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
    assert full.digest() == old_key
    assert default.digest() != full.digest()
    assert default.digest("crossbar") != full.digest("crossbar")


def test_deploy_calibrates_every_tile_and_sets_the_clock():
    net = _tiny_net()
    x = RNG.standard_normal((12, 16, 3)).astype(np.float32)
    section = dataclasses.replace(CrossbarSection(), array_size=8, time_at_deployment_s=30.0)
    arrays = deploy(net, section, seed=0, calibration=x)
    for a in arrays.values():
        assert a.time_s == 30.0
        n_tiles = len(a.counters.tiles)
        assert {key[1] for key in a._adc_fs} == set(range(n_tiles))
        assert all(v > 0 for v in a._adc_fs.values())
    z, _ = net.forward(np.ascontiguousarray(x.transpose(1, 0, 2)))
    assert np.isfinite(z).all()
    advance_clock(arrays, 2.5)
    assert all(a.time_s == 32.5 for a in arrays.values())
    with pytest.raises(ValidationError, match="expected calibration windows"):
        deploy(_tiny_net(), section, seed=0)


def test_perturbed_synapses_read_one_draw_and_update_the_clean_weights():
    w = RNG.standard_normal((3, 5)).astype(np.float32)
    calls = []

    def shift(weights, rng):
        calls.append(1)
        return weights + 1.0

    syn = PerturbedSynapses(DenseSynapses(w), shift, np.random.default_rng(0))
    x, d = RNG.standard_normal((2, 5)), RNG.standard_normal((2, 3))
    np.testing.assert_allclose(syn.forward(x), x @ (w + 1).T, rtol=1e-6)
    np.testing.assert_allclose(syn.backward(d), d @ (w + 1), rtol=1e-6)
    assert len(calls) == 1  # one draw per wrapper (per training pass)
    syn.apply_update(np.ones_like(w))
    np.testing.assert_array_equal(syn.get_weights(), w + 1)  # the clean weights moved


def test_identity_perturbation_trains_exactly_like_plain_training():
    x = RNG.standard_normal((40, 16, 3)).astype(np.float32)
    y = np.arange(40) % 4
    params = {"channels": (4, 6), "kernel_size": 3}
    plain = SpikingClassifier(model_params=params, epochs=1, batch_size=20, seed=1).fit(x, y)
    same = SpikingClassifier(model_params=params, epochs=1, batch_size=20, seed=1,
                             weight_noise=lambda w, rng: w).fit(x, y)
    for a, b in zip(plain.network_.state_dict().values(), same.network_.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    # and the network is left with its clean synapses
    net = same.network_
    assert all(isinstance(net.layers[i].synapses, DenseSynapses) for i in net.synaptic_layers)


def test_perturbed_weights_context_restores_the_synapses():
    net = _tiny_net()
    before = [net.layers[i].synapses for i in net.synaptic_layers]
    with perturbed_weights(net, lambda w, rng: 2 * w, np.random.default_rng(0)):
        assert all(isinstance(net.layers[i].synapses, PerturbedSynapses)
                   for i in net.synaptic_layers)
    assert [net.layers[i].synapses for i in net.synaptic_layers] == before


def test_chip_weight_noise_is_the_deployed_weight_error():
    """Mean over draws is the quantised weight (unbiased programming error); the spread per
    weight is the Wan 2022 spread of its two cells in weight units (within 25 %: the pair's
    cells sit at different conductances and the fit's spread varies with them)."""
    from crossbar.noise import wan2022_sigma_uS

    section = CrossbarSection()
    perturb = chip_weight_noise(section)
    w = np.tile(np.linspace(-1, 1, 16), (4, 1))  # [4, 16], 16 levels per sign at w_max = 1
    rng = np.random.default_rng(3)
    draws = np.stack([perturb(w, rng) for _ in range(400)])
    assert draws.shape == (400, 4, 16)
    scale = 1.0 / 15  # weight per level
    step_uS = 39.0 / 15
    g_pos = 1.0 + np.clip(np.rint(w / scale), 0, None) * step_uS
    g_neg = 1.0 + np.clip(-np.rint(w / scale), 0, None) * step_uS
    sigma_w = np.hypot(wan2022_sigma_uS(g_pos), wan2022_sigma_uS(g_neg)) / step_uS * scale
    np.testing.assert_allclose(draws.mean(axis=0), np.rint(w / scale) * scale,
                               atol=float(5 * sigma_w.max() / np.sqrt(400)))
    np.testing.assert_allclose(draws.std(axis=0), sigma_w, rtol=0.25)
