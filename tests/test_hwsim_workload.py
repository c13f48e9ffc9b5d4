"""Workload records, the shape-only estimator, and counts extracted from a short simulated run."""

import numpy as np
import pytest

from hwsim import (
    Activity,
    Architecture,
    Counts,
    HwsimError,
    LayerShape,
    LayerWorkload,
    LearningUnits,
    Workload,
    counts_from_crossbar,
    estimate,
    shape_workload,
)
from hwsim.workload import count_fields


def test_counts_add_scale_and_dict():
    a = Counts(mvm=2, spikes=3)
    b = Counts(mvm=1, active_rows=4)
    assert (a + b).to_dict() == {
        **Counts().to_dict(),
        "mvm": 3.0,
        "spikes": 3.0,
        "active_rows": 4.0,
    }
    assert a.scaled(2.5).spikes == 7.5
    assert Counts.from_dict(a.to_dict()) == a


def test_counts_reject_bad_values():
    with pytest.raises(HwsimError, match="did you mean 'adc_conversions'"):
        Counts.from_dict({"adc_conversion": 1})
    with pytest.raises(HwsimError, match="Counts.spikes=-1"):
        Counts(spikes=-1)


def test_layer_workload_rejects_unknown_phase():
    with pytest.raises(HwsimError, match="did you mean 'inference'"):
        LayerWorkload("l", "linear", 2, 2, 1, phases={"inferance": Counts()})


def test_workload_round_trip():
    arch = Architecture(
        layers=(LayerShape("c", "conv", 3, 16, 8, 10), LayerShape("f", "linear", 160, 6)),
        learning=LearningUnits("bp", n_classes=6),
    )
    w = shape_workload(arch, time_steps=4, samples=3)
    assert w.samples == 3
    assert Workload.from_dict(w.to_dict()) == w


def test_shape_workload_hand_counts_linear():
    # 100 inputs -> 30 outputs on 64x64 arrays with differential pairs:
    # rows 100 -> 2 row blocks; columns 60 -> 1 column block; 2 arrays
    arch = Architecture(
        layers=(LayerShape("fc", "linear", 100, 30),), learning=LearningUnits("dfa", n_classes=30)
    )
    w = shape_workload(
        arch, time_steps=4, activity=Activity(input_rate=0.25, spike_rate=0.5, update_fraction=0.1)
    )
    inf = w.layers[0].counts("inference")
    assert inf.mvm == inf.multilevel_mvm == 2 * 4  # multi-level first-layer input
    assert inf.active_rows == inf.multilevel_rows == pytest.approx(0.25 * 100 * 1 * 4)
    assert inf.adc_conversions == 2 * 30 * 4  # differential pairs subtracted before the ADC
    assert inf.digital_adds == (2 - 1) * 30 * 4  # partial sums of the two row blocks
    assert inf.neuron_updates == 30 * 4
    assert inf.spikes == pytest.approx(0.5 * 120)
    assert inf.store_write_bits == 0  # inference stores nothing: storage is learning's cost
    dl = w.layers[0].counts("error_delivery")
    # per step: 100 inputs of 8 bits (multi-level) and 30 slopes of 8 bits
    assert dl.store_write_bits == (100 * 8 + 30 * 8) * 4
    upd = w.layers[0].counts("weight_update")
    assert upd.write_pulses == pytest.approx(0.1 * 100 * 60)
    assert upd.verify_reads == upd.write_pulses
    # 8-bit inputs: 8 shifted adds per non-zero input and output; error x slope per step
    assert upd.update_adds == pytest.approx(8 * 0.25 * 100 * 30 * 4)
    assert upd.update_mults == 30 * 4
    assert upd.store_read_bits == dl.store_write_bits
    assert w.layers[0].counts("error_compute").digital_mults == 2 * 30


def test_shape_workload_rules_differ_where_expected():
    layers = (
        LayerShape("a", "linear", 64, 64),
        LayerShape("b", "linear", 64, 64),
        LayerShape("c", "linear", 64, 10),
    )
    dfa = Architecture(layers=layers, learning=LearningUnits("dfa", n_classes=10))
    bp = dfa.with_learning(LearningUnits("bp", n_classes=10))
    act = Activity(input_rate=0.2, binary_input=True)
    wd, wb = shape_workload(dfa, 10, act), shape_workload(bp, 10, act)
    # DFA: one projection B_l e per hidden layer, no transposed reads
    assert [x.counts("error_delivery").feedback_macs for x in wd.layers] == [64 * 10, 64 * 10, 0]
    assert wd.total().transposed_reads == 0
    # BP: one transposed read per step on the arrays of every layer but the first
    assert [x.counts("error_delivery").transposed_reads for x in wb.layers] == [0, 2 * 10, 1 * 10]
    assert wb.total().feedback_macs == 0
    # spike-gated gradients: one add per input spike and output, the same for both rules
    assert wd.layers[1].counts("weight_update").update_adds == pytest.approx(0.1 * 64 * 64 * 10)
    assert wb.layers[1].counts("weight_update").update_adds == pytest.approx(0.1 * 64 * 64 * 10)
    # both keep every step's inputs; BP its membranes, DFA its slopes
    assert wd.total().store_write_bits == wb.total().store_write_bits > 0
    # identical forward pass
    assert wd.layers[1].counts("inference") == wb.layers[1].counts("inference")


def test_sfdfa_tangent_pass_is_a_learning_phase_forward_read():
    layers = (LayerShape("a", "linear", 64, 64), LayerShape("c", "linear", 64, 10))
    sf = Architecture(layers=layers, learning=LearningUnits("sfdfa", n_classes=10))
    w = shape_workload(sf, 5, Activity(tangent_rate=0.5), inference_windows=3)
    tangent = w.layers[1].counts("error_delivery")
    assert tangent.mvm == tangent.multilevel_mvm == 1 * 5
    assert tangent.active_rows == pytest.approx(0.5 * 64 * 5)
    assert w.layers[0].counts("error_delivery").mvm == 0  # the first layer's input is data
    assert w.windows("inference") == 3 and w.windows("weight_update") == 1
    assert w.layers[0].counts("inference").neuron_updates == 3 * 64 * 5


def test_time_steps_per_layer():
    arch = Architecture(
        layers=(LayerShape("c", "conv", 9, 32, kernel_elems=8), LayerShape("f", "linear", 32, 6)),
        learning=LearningUnits("bp", n_classes=6),
    )
    w = shape_workload(arch, (129, 1))
    assert [x.time_steps for x in w.layers] == [129, 1]
    assert w.layers[0].counts("inference").neuron_updates == 32 * 129
    assert w.layers[1].counts("inference").neuron_updates == 6
    with pytest.raises(HwsimError, match="expected an int or 2"):
        shape_workload(arch, (5, 5, 5))
    with pytest.raises(HwsimError, match="time_steps\\[1\\]=0"):
        shape_workload(arch, (5, 0))


def test_activity_validation():
    with pytest.raises(HwsimError, match="spike_rate"):
        Activity(spike_rate=1.5)
    arch = Architecture(layers=(LayerShape("a", "linear", 4, 4), LayerShape("b", "linear", 4, 2)))
    with pytest.raises(HwsimError, match="expected 1 or 2"):
        shape_workload(arch, 3, Activity(spike_rate=(0.1, 0.2, 0.3)))


def _lif_run(weights, x, beta=0.9, theta=1.0):
    """A tiny LIF network (soft reset) that counts what a simulator would count."""
    t_steps = x.shape[0]
    inputs = x
    per_layer = []
    for w in weights:
        u = np.zeros(w.shape[0])
        out = np.zeros((t_steps, w.shape[0]), dtype=bool)
        for t in range(t_steps):
            u = beta * u + w @ inputs[t]
            out[t] = u > theta
            u = u - theta * out[t]
        per_layer.append({"input_spikes": int(inputs.sum()), "spikes": int(out.sum())})
        inputs = out.astype(float)
    return per_layer


def test_workload_from_a_short_simulated_run():
    rng = np.random.default_rng(7)
    t_steps, sizes = 12, (20, 30, 4)
    weights = [rng.normal(0, 0.6, (sizes[i + 1], sizes[i])) for i in range(2)]
    x = (rng.random((t_steps, sizes[0])) < 0.3).astype(float)
    run = _lif_run(weights, x)
    assert run[0]["input_spikes"] > 0 and run[1]["spikes"] > 0
    arch = Architecture(
        layers=(LayerShape("h", "linear", 20, 30), LayerShape("o", "linear", 30, 4)),
        learning=LearningUnits("none"),
    )
    # counters as the simulation would fill them: crossbar totals of one 64 x 64 array per
    # layer (binary spikes need no DAC), plus the simulator's own neuron and spike counts
    layers = []
    for shape, r in zip(arch.layers, run):
        crossbar_totals = {
            "mvms": t_steps,
            "active_rows": r["input_spikes"],
            "adc_conversions": shape.n_out * t_steps,
            "multilevel_mvms": 0,
            "multilevel_active_rows": 0,
            "multilevel_adc_conversions": 0,
            "transposed_reads": 0,
            "active_columns": 0,
            "transposed_adc_conversions": 0,
            "dac_conversions": 0,
            "programming_pulses": 0,
            "verify_reads": 0,
            "cells_programmed": 0,
            "updates": 0,
        }
        counts = counts_from_crossbar(crossbar_totals) + Counts(
            neuron_updates=shape.n_out * t_steps, spikes=r["spikes"]
        )
        layers.append(
            LayerWorkload(
                shape.name, shape.kind, shape.n_in, shape.n_out, t_steps, {"inference": counts}
            )
        )
    measured = Workload(tuple(layers))
    # the shape-only estimate at the measured activity gives the same activity counts
    rates = tuple(r["spikes"] / (n * t_steps) for r, n in zip(run, sizes[1:]))
    shaped = shape_workload(
        arch,
        t_steps,
        Activity(
            input_rate=run[0]["input_spikes"] / (20 * t_steps), binary_input=True, spike_rate=rates
        ),
    )
    for lm, ls in zip(measured.layers, shaped.layers):
        cm, cs = lm.counts("inference"), ls.counts("inference")
        for name in (
            "mvm",
            "active_rows",
            "multilevel_rows",
            "adc_conversions",
            "neuron_updates",
            "spikes",
        ):
            assert getattr(cm, name) == pytest.approx(getattr(cs, name)), name
    report = estimate(measured, arch)
    e_cell = 1.76423 / 4096
    for shape, r in zip(arch.layers, run):
        assert report.total_energy_pJ("inference", "array", shape.name) == pytest.approx(
            r["input_spikes"] * 64 * e_cell
        )
        assert report.total_energy_pJ("inference", "interconnect", shape.name) == pytest.approx(
            r["spikes"] * 16 * 19.64 * 8 / 512
        )


def test_counts_from_crossbar_names():
    c = counts_from_crossbar(
        {"mvms": 3, "active_columns": 5, "programming_pulses": 7, "updates": 1}
    )
    assert (c.mvm, c.active_cols, c.write_pulses) == (3, 5, 7)
    with pytest.raises(HwsimError, match="did you mean 'active_columns'"):
        counts_from_crossbar({"active_column": 1})


def test_count_fields_documented():
    doc = Counts.__doc__
    assert all(name in doc for name in count_fields())
