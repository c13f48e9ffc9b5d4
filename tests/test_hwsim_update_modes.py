"""Every crossbar update mode is priced by hwsim from its own events.

A tiny DFA run per ``crossbar.update_mode`` (the same network, data and seed) is metered and
costed with the update model :data:`snn_dfa.app.hardware.UPDATE_MODELS` gives it.  Directions:

* ``accumulate`` (mixed precision) reads and writes one accumulator word per weight per
  update and keeps the words: more update energy and more area than the digital modes,
  whose row buffers hold one word per output;
* ``coincidence`` forms the outer product in the array: no gated additions, no accumulator,
  one pulse width of latency per bit-length cycle of each array;
* ``nearest`` loses every request below half a pulse, so it programs fewer pulses than
  unbiased ``stochastic`` rounding at a small learning rate (write energy lower).
"""

import numpy as np
import pytest

import crossbar
import hwsim
from hwsim.components import sram_area_um2
from hwsim.tech import SPIKESIM_65NM
from snn_dfa.app.config import CrossbarSection, HwsimSection
from snn_dfa.app.hardware import UPDATE_MODELS, PhaseMeter, architecture, deploy
from snn_dfa.engine.models import sfcn
from snn_dfa.engine.optim import SGD
from snn_dfa.rules import registry
from snn_dfa.rules.online import OnlineAdapter

STEPS, WINDOWS = 32, 3


def _run(mode):
    x = np.random.default_rng(0).normal(size=(WINDOWS, STEPS, 3)).astype(np.float32)
    net = sfcn(n_channels=3, n_classes=4, steps=STEPS, channels=(8, 16), seed=0)
    section = CrossbarSection(array_size=64, update_mode=mode, noise_model="relative",
                              adc_range="max", ir_drop="none", bit_length=10)
    arrays = deploy(net, section, seed=0)
    arch = architecture(net, section, HwsimSection(), "dfa")
    rule = registry.get_rule("dfa").build(net, seed=1)
    meter = PhaseMeter(net, arrays, "dfa", projector=rule.projector, arch=arch)
    OnlineAdapter(net, rule, SGD(lr=1e-2), on_phase=meter.phase,
                  on_window=meter.add_digital).run(x, np.array([0, 1, 3]))
    work = meter.workload()
    return work, arch, hwsim.estimate(work, arch)


@pytest.fixture(scope="module")
def runs():
    return {mode: _run(mode) for mode in crossbar.update.UPDATE_MODES}


def test_every_crossbar_mode_has_one_update_model():
    assert set(UPDATE_MODELS) == set(crossbar.update.UPDATE_MODES)
    assert set(UPDATE_MODELS.values()) <= set(hwsim.arch.UPDATE_MODES)


def test_accumulate_charges_accumulator_traffic_and_memory(runs):
    work, arch, cost = runs["accumulate"]
    assert arch.learning.update_mode == "mixed_precision"
    for lw, shape in zip(work.layers, arch.layers):
        upd = lw.counts("weight_update")
        words = shape.rows * shape.n_out * work.samples  # one word per weight per update
        assert upd.accumulator_read_bits == upd.accumulator_write_bits == (
            words * arch.learning.accumulator_bits)
    stoch = runs["stochastic"][2]
    acc_area = sum(v for (_, c), v in cost.area_um2.items() if c == "accumulator")
    stoch_area = sum(v for (_, c), v in stoch.area_um2.items() if c == "accumulator")
    weights = sum(x.rows * x.n_out for x in arch.layers)
    assert acc_area == pytest.approx(sram_area_um2(weights * 16.0, SPIKESIM_65NM))
    assert acc_area > stoch_area > 0
    assert (cost.total_energy_pJ("weight_update", "update")
            > stoch.total_energy_pJ("weight_update", "update"))
    assert cost.summary()["area_um2"] > stoch.summary()["area_um2"]


def test_coincidence_charges_pulse_cycles_per_array_and_no_gradient(runs):
    work, arch, cost = runs["coincidence"]
    assert arch.learning.update_mode == "stochastic_pulse"
    total = work.total("weight_update")
    assert total.update_adds == 0 and total.accumulator_read_bits == 0
    for lw, shape in zip(work.layers, arch.layers):
        cycles = lw.counts("weight_update").pulse_cycles
        arrays = arch.mapping(shape).arrays
        # whole bit-length rounds on every physical array of the layer
        assert cycles > 0 and cycles % (10 * arrays) == 0
    stoch = runs["stochastic"][2]
    assert runs["stochastic"][0].total("weight_update").pulse_cycles == 0
    assert (cost.total_energy_pJ("weight_update", "update")
            < stoch.total_energy_pJ("weight_update", "update"))
    assert not any(c == "accumulator" and v > 0 for (_, c), v in cost.area_um2.items())


@pytest.mark.parametrize("mode", ["stochastic", "nearest", "reprogram"])
def test_digital_modes_price_row_buffers_and_their_pulses(runs, mode):
    work, arch, cost = runs[mode]
    assert arch.learning.update_mode == "digital"
    total = work.total("weight_update")
    assert total.update_adds > 0
    assert total.accumulator_read_bits == total.pulse_cycles == 0
    assert total.write_pulses > 0 and total.verify_reads == 0
    assert cost.total_energy_pJ("weight_update", "write") == pytest.approx(
        total.write_pulses * (SPIKESIM_65NM.write_pulse_energy_pJ
                              + SPIKESIM_65NM.write_driver_energy_pJ))


def test_nearest_programs_fewer_pulses_than_stochastic_rounding(runs):
    near, stoch = runs["nearest"][0], runs["stochastic"][0]
    assert near.total("weight_update").write_pulses < stoch.total("weight_update").write_pulses
    assert (runs["nearest"][2].total_energy_pJ("weight_update", "write")
            < runs["stochastic"][2].total_energy_pJ("weight_update", "write"))
