"""The cost audit of issue 14: one test per accounting defect found in the DFA-vs-BP figures.

Each test failed on the code before the fix it names; together they pin down how the count
path (crossbar counters) and the shape path (hwsim's mapping) account for the same work.
"""

import numpy as np
import pytest

from crossbar import CrossbarArray, CrossbarConfig
from hwsim import (
    Activity,
    Architecture,
    Assumptions,
    Counts,
    LayerShape,
    LayerWorkload,
    LearningUnits,
    Workload,
    counts_from_crossbar,
    estimate,
    shape_workload,
    with_device_writes,
)
from hwsim.tech import SPIKESIM_65NM as S

RNG = np.random.default_rng(14)


@pytest.mark.parametrize(("n_out", "n_in"), [(32, 72), (6, 2304), (64, 256), (128, 512), (40, 100)])
def test_crossbar_array_activations_match_the_hwsim_mapping(n_out, n_in):
    """Defect 'double counts': layers with <= 32 outputs recorded two activations per array."""
    arr = CrossbarArray(RNG.standard_normal((n_out, n_in)), seed=0,
                        config=CrossbarConfig(tile_rows=64, tile_cols=64))
    arr.forward((RNG.random((1, n_in)) < 0.5).astype(np.float64))
    arch = Architecture(layers=(LayerShape("l", "linear", n_in, n_out),))
    assert arr.counters.totals()["mvms"] == arch.mapping(arch.layers[0]).arrays


SFCN = (
    LayerShape("c1", "conv", 9, 32, kernel_elems=8),
    LayerShape("c2", "conv", 32, 64, kernel_elems=8),
    LayerShape("c3", "conv", 64, 128, kernel_elems=8),
    LayerShape("fc", "linear", 2304, 6),
)
STEPS = (129, 66, 35, 1)


def sfcn(rule, **kw):
    return Architecture(layers=SFCN, learning=LearningUnits(rule, n_classes=6, **kw))


def test_idle_periphery_does_not_leak_in_the_update_phase():
    """Defect 'leakage': BP's row-side ADCs leaked through a weight update they take no part in."""
    update = Counts(update_adds=5000, write_pulses=300, verify_reads=300)
    static = {}
    for rule in ("dfa", "bp"):
        a = Architecture(layers=(LayerShape("l", "linear", 64, 32),),
                         learning=LearningUnits(rule, n_classes=32))
        w = Workload((LayerWorkload("l", "linear", 64, 32, 4, {"weight_update": update}),))
        static[rule] = estimate(w, a).total_energy_pJ("weight_update", "leakage")
        on = estimate(w, a, assumptions=Assumptions(leakage="always_on"))
        assert on.total_energy_pJ("weight_update", "leakage") > static[rule] > 0
    assert static["dfa"] == pytest.approx(static["bp"])


def test_update_of_spike_inputs_is_spike_gated_additions():
    """Defect 'dense 8-bit multiplies': the outer product with binary inputs cost a multiply
    per weight and step."""
    a = sfcn("dfa")
    w = shape_workload(a, STEPS, Activity(input_rate=1.0, spike_rate=0.1))
    r = estimate(w, a)
    layer = w.layers[2].counts("weight_update")  # c3: spike inputs at rate 0.1
    assert layer.update_adds == pytest.approx(0.1 * 512 * 128 * 35)
    assert r.total_energy_pJ("weight_update", "update", "c3") == pytest.approx(
        layer.update_adds * S.add_energy_pJ + layer.update_mults * S.mult_energy_pJ
    )
    dense = estimate(w, a, assumptions=Assumptions(update_arithmetic="dense_mac"))
    assert dense.total_energy_pJ("weight_update", "update", "c3") == pytest.approx(
        512 * 128 * 35 * (S.add_energy_pJ + S.mult_energy_pJ)
    )


def test_transposed_reads_cost_like_bit_serial_forward_reads_in_both_paths():
    """Defect 'transposed reads charged as one pass': the counters' multi-bit transposed read
    was one activation with a zero-energy DAC while the shape path charged delta_bits passes."""
    arr = CrossbarArray(RNG.standard_normal((64, 128)), seed=0,
                        config=CrossbarConfig(tile_rows=64, tile_cols=64))
    arr.reset_counters()
    arr.backward(RNG.standard_normal((10, 64)))  # 10 steps of a dense error
    a = Architecture(layers=(LayerShape("l", "linear", 128, 64),),
                     learning=LearningUnits("bp", n_classes=6))
    counted = counts_from_crossbar(arr.counters.totals())
    from hwsim.workload import transposed_reads

    shaped = transposed_reads(a, a.layers[0], 10, 1.0)
    for name in ("transposed_reads", "active_cols", "transposed_adc_conversions"):
        assert getattr(counted, name) == pytest.approx(getattr(shaped, name)), name
    reports = [estimate(Workload((LayerWorkload("l", "linear", 128, 64, 10,
                                                {"error_delivery": c}),)), a)
               for c in (counted, shaped)]
    single = estimate(Workload((LayerWorkload("l", "linear", 128, 64, 10,
                                              {"error_delivery": counted}),)), a,
                      assumptions=Assumptions(multibit_reads="single_pass"))
    e = [r.total_energy_pJ("error_delivery", "adc") for r in reports]
    assert e[0] == pytest.approx(e[1]) and e[0] == pytest.approx(
        8 * single.total_energy_pJ("error_delivery", "adc"))
    # the same 8 passes as a forward read of an 8-bit input
    forward = Counts(mvm=1, multilevel_mvm=1, adc_conversions=64, multilevel_adc_conversions=64)
    fw = estimate(Workload((LayerWorkload("l", "linear", 128, 64, 1,
                                          {"inference": forward}),)), a)
    assert fw.total_energy_pJ("inference", "adc") == pytest.approx(8 * 64 * S.adc_energy_pJ_ref)


def test_dfa_per_step_storage_is_charged():
    """Defect 'DFA's storage is free': DFA keeps every step's inputs and slopes."""
    for rule in ("dfa", "sfdfa", "bp"):
        a = sfcn(rule)
        w = shape_workload(a, STEPS)
        r = estimate(w, a)
        assert r.store_bits > 0
        assert r.area_by_component("learning")["learning_store"] == pytest.approx(
            r.store_bits * S.sram_area_um2_per_bit)
        assert r.total_energy_pJ(component="learning_store") > 0
    free = estimate(w, a, assumptions=Assumptions(charge_storage="none"))
    assert free.total_energy_pJ(component="learning_store") == 0


def test_per_window_costs_divide_by_their_own_windows():
    """Defect 'per window mixes windows': inference on unlabelled windows was divided by the
    learned windows."""
    a = sfcn("dfa")
    one = estimate(shape_workload(a, STEPS), a)
    mixed = estimate(shape_workload(a, STEPS, samples=10, inference_windows=18), a)
    for key in ("inference_energy_pJ_per_inference_window",
                "adaptation_energy_pJ_per_learned_window", "energy_pJ_per_learned_window",
                "latency_ns_per_learned_window"):
        assert mixed.summary()[key] == pytest.approx(one.summary()[key]), key
    assert mixed.summary()["run_energy_pJ"] == pytest.approx(
        18 * one.summary()["inference_energy_pJ_per_inference_window"]
        + 10 * one.summary()["adaptation_energy_pJ_per_learned_window"])


def test_shared_transposable_periphery_is_the_default():
    """Defect 'area': BP's area overhead was entirely duplicated row-side ADCs."""
    area = {rule: estimate(shape_workload(sfcn(rule), STEPS), sfcn(rule)).total_area_um2
            for rule in ("dfa", "bp")}
    assert 0.98 < area["dfa"] / area["bp"] <= 1.0
    dup = estimate(shape_workload(sfcn("bp"), STEPS), sfcn("bp"),
                   assumptions=Assumptions(periphery="duplicated"))
    assert area["dfa"] / dup.total_area_um2 < 0.95


def test_write_pulses_come_from_the_device_preset():
    """Defect 'write pulses': the device's voltage and pulse width were never read."""
    from crossbar import NEURRAM_HFO2 as d

    tech = with_device_writes(S, device="neurram_hfo2", v_write_V=d.v_write_V,
                              g_min_uS=d.g_min_uS, g_max_uS=d.g_max_uS, t_pulse_ns=d.t_pulse_ns)
    g_mid_S = (d.g_min_uS + d.g_max_uS) / 2 * 1e-6
    assert tech.write_pulse_energy_pJ == pytest.approx(d.v_write_V**2 * g_mid_S
                                                       * d.t_pulse_ns * 1e-9 * 1e12)
    assert tech.write_pulse_ns == d.t_pulse_ns
    assert "neurram_hfo2" in tech.sources["write_pulse_energy_pJ"]
    a = Architecture(layers=(LayerShape("l", "linear", 64, 32),), learning=LearningUnits("dfa"))
    w = Workload((LayerWorkload("l", "linear", 64, 32, 1,
                                {"weight_update": Counts(write_pulses=64)}),))
    r = estimate(w, a, tech)
    assert r.total_energy_pJ("weight_update", "write") == pytest.approx(
        64 * (tech.write_pulse_energy_pJ + tech.write_driver_energy_pJ))
    assert r.latency_ns["weight_update"] == pytest.approx(d.t_pulse_ns)  # one round of 64 cells


def test_hwsim_section_sets_the_assumptions_and_precisions():
    from snn_dfa.app.config import CrossbarSection, HwsimSection
    from snn_dfa.app.hardware import architecture, assumptions, cost_tech
    from snn_dfa.engine.models import sfcn

    hw = HwsimSection(leakage="always_on", periphery="duplicated", input_bits=4, delta_bits=6)
    asm = assumptions(hw)
    assert (asm.leakage, asm.periphery, asm.multibit_reads) == ("always_on", "duplicated",
                                                                "bit_serial")
    net = sfcn(n_channels=3, n_classes=4, steps=16, channels=(8, 16), seed=0)
    arch = architecture(net, CrossbarSection(), hw, "bptt")
    assert arch.input_bits == 4 and arch.learning.delta_bits == 6
    # layers fed by pooled spikes (2-step windows: 0, 1 or 2 spikes) take 2-bit inputs
    assert [x.input_bits for x in arch.layers] == [None, 2, 2]
    tech = cost_tech(CrossbarSection(device="neurram_hfo2"), hw)
    assert tech.write_pulse_energy_pJ == pytest.approx(2.0**2 * 20.5e-6 * 100e-9 * 1e12)
