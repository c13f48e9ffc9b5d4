"""estimate(): hand-computed energies and areas, linearity, static energy, scaling, DFA vs BP."""

import math
import subprocess
import sys

import pytest

from hwsim import (
    Activity,
    Architecture,
    Assumptions,
    CostReport,
    Counts,
    HwsimError,
    LayerShape,
    LayerWorkload,
    LearningUnits,
    Schedule,
    Workload,
    estimate,
    shape_workload,
)
from hwsim.components import mvm_latency_ns
from hwsim.estimate import CHIP, ENERGY_COMPONENTS
from hwsim.tech import SPIKESIM_65NM as S

LAYERS = (
    LayerShape("conv1", "conv", 3, 32, kernel_elems=8, out_positions=60),
    LayerShape("conv2", "conv", 32, 64, kernel_elems=8, out_positions=26),
    LayerShape("fc", "linear", 64 * 26, 6),
)


def arch(rule="dfa", **kw):
    return Architecture(layers=LAYERS, learning=LearningUnits(rule, n_classes=6), **kw)


def dynamic(report):
    return {k: v for k, v in report.energy_pJ.items() if k[1] != "leakage"}


def one_layer(counts, phase="inference", rule="none", samples=1, t=1):
    a = Architecture(
        layers=(LayerShape("l", "linear", 64, 32),), learning=LearningUnits(rule, n_classes=32)
    )
    w = Workload((LayerWorkload("l", "linear", 64, 32, t, {phase: counts}),), samples=samples)
    return a, w


def test_hand_computed_inference_energy():
    counts = Counts(
        mvm=2,
        active_rows=10,
        adc_conversions=64,
        neuron_updates=32,
        spikes=5,
        digital_adds=3,
        digital_mults=1,
        sram_read_bits=100,
        sram_write_bits=28,
    )
    a, w = one_layer(counts)
    r = estimate(w, a)

    def e(comp):
        return r.total_energy_pJ("inference", comp, "l")

    assert e("array") == pytest.approx(10 * 64 * 1.76423 / 4096)
    assert e("dac") == 0.0  # binary spikes: no DAC
    assert e("adc") == pytest.approx(64 * 2.03084 / 8)
    assert e("mux") == pytest.approx(64 * 0.094245 / 8)
    assert e("shift_add") == pytest.approx(64 * 16 * 1.15e-6 / 8)
    assert e("temporal_buffer") == pytest.approx(64 * 0.2 / 8)
    assert e("neuron") == pytest.approx(32 * 1.274)
    # tile buffer 64 x 128 bits = 1/8 of Horowitz's 8 kB -> sqrt(1/8) of 10/64 pJ per bit
    assert e("sram") == pytest.approx(128 * 10 / 64 * math.sqrt(1 / 8))
    assert e("interconnect") == pytest.approx(5 * 16 * 19.64 * 8 / 512)
    assert e("digital") == pytest.approx(3 * 0.03 + 1 * 0.2)
    # latency: 2 activations on 1 array in 1 step = 2 x 104 ns
    assert r.latency_ns["inference"] == pytest.approx(2 * 104.0)
    leaking = r.total_area_um2 - r.area_um2[("inference", "array")]
    leaking -= r.area_um2[("inference", "interconnect")]
    assert r.leaking_area_um2 == pytest.approx(leaking)
    assert r.total_energy_pJ("inference", "leakage", CHIP) == pytest.approx(
        0.1 * leaking * 208.0 * 1e-6
    )


def test_hand_computed_learning_energy():
    a, w = one_layer(
        Counts(write_pulses=100, verify_reads=50, feedback_macs=7),
        phase="weight_update",
        rule="dfa",
    )
    r = estimate(w, a)
    verify = 1.76423 / 4096 + 2.03084 / 8 + 0.094245 / 8
    # the preset's pulse: 1 pJ in the cell + 0.05 pJ of driver
    assert r.total_energy_pJ("weight_update", "write") == pytest.approx(100 * 1.05 + 50 * verify)
    # single layer: no hidden layer, so no B in SRAM: a feedback MAC is a multiply and an add
    assert r.total_energy_pJ("weight_update", "feedback") == pytest.approx(7 * (0.03 + 0.2))
    # programming: 100 pulses over 1 array x 64 columns per round; 50 verify reads of rows
    assert r.latency_ns["weight_update"] == pytest.approx(100 / 64 * 10 + 50 / 64 * 104 + 7 / 8 * 4)


def test_hand_computed_area_inference_chip():
    a = Architecture(layers=(LayerShape("l", "linear", 100, 40),))  # 2 x 2 arrays of 64 x 64
    r = estimate(Workload((LayerWorkload("l", "linear", 100, 40, 1),)), a)
    area = r.area_by_component("inference")
    assert area["array"] == pytest.approx(4 * 26.2144)
    # 32 differential pairs per array, 8 sense lines per ADC: 4 ADCs per array
    assert area["adc"] == pytest.approx(4 * 4 * 693.633)
    assert area["mux"] == pytest.approx(4 * 4 * 45.9)
    assert area["shift_add"] == pytest.approx(1 * 4 * 13411.41498)
    assert area["temporal_buffer"] == pytest.approx(484.643999)
    assert area["neuron"] == pytest.approx(8 * (282 + 72))
    assert area["sram"] == pytest.approx((64 * 128 + 40 * 8) * 0.7391)
    assert area["interconnect"] == pytest.approx(216830 * 2)
    assert r.learning_area_um2 == 0.0


def test_learning_area_by_rule():
    dfa, bp = arch("dfa"), arch("bp")
    rd = estimate(shape_workload(dfa, 10), dfa)
    rb = estimate(shape_workload(bp, 10), bp)
    ld, lb = rd.area_by_component("learning"), rb.area_by_component("learning")
    common = {"digital", "write", "accumulator", "learning_store"}
    assert set(ld) == common | {"feedback_store"}
    assert set(lb) == common | {"transpose_periphery"}
    b_bits = (32 + 64) * 6 * 8
    assert ld["feedback_store"] == pytest.approx(b_bits * 0.7391)
    n_arrays = dfa.weight_arrays
    # shared (transposable) periphery: a multiplexer per 8 rows routes them to the column ADCs
    assert lb["transpose_periphery"] == pytest.approx(n_arrays * 8 * 45.9)
    dup = estimate(shape_workload(bp, 10), bp, assumptions=Assumptions(periphery="duplicated"))
    assert dup.area_by_component("learning")["transpose_periphery"] == pytest.approx(
        n_arrays * 8 * (693.633 + 45.9)
    )
    for r, w in ((rb, shape_workload(bp, 10)), (rd, shape_workload(dfa, 10))):
        stored = w.total().store_write_bits
        assert r.area_by_component("learning")["learning_store"] == pytest.approx(stored * 0.7391)
        assert r.store_bits == stored
    # both rules keep every step's inputs; BP its membranes, DFA its slopes (8 bits each):
    # the same footprint, growing with the window length
    assert rd.store_bits == pytest.approx(rb.store_bits)
    rb20 = estimate(shape_workload(bp, 20), bp)
    assert rb20.store_bits == pytest.approx(2 * rb.store_bits)
    assert rd.area_by_component("inference") == rb.area_by_component("inference")
    # digital row buffers: one accumulator per output of every layer
    assert ld["accumulator"] == pytest.approx((32 + 64 + 6) * 16 * 0.7391)


@pytest.mark.parametrize("rule", ["dfa", "sfdfa", "bp"])
def test_costs_linear_in_counts(rule):
    a = arch(rule)
    w = shape_workload(a, 8, Activity(input_rate=0.3, spike_rate=0.2))
    w2 = shape_workload(a, 8, Activity(input_rate=0.6, spike_rate=0.05, update_fraction=0.4))
    r1, r2 = estimate(w, a), estimate(w2, a)
    # homogeneous: scaling every count scales every energy and latency
    r3 = estimate(w.scaled(3.0), a)
    # except where the counts also set a capacity: the learning store grows with the stored
    # bits, so its per-bit energy grows as sqrt(3) and its area feeds the leakage
    capacity_bound = ("learning_store", "leakage")
    for k, v in r1.energy_pJ.items():
        if k[1] not in capacity_bound:
            assert r3.energy_pJ[k] == pytest.approx(3.0 * v, rel=1e-12, abs=1e-12)
    assert r3.total_energy_pJ(component="learning_store") == pytest.approx(
        3.0 * math.sqrt(3.0) * r1.total_energy_pJ(component="learning_store")
    )
    assert {p: 3 * v for p, v in r1.latency_ns.items()} == pytest.approx(r3.latency_ns)
    # additive: the dynamic energy of the sum of two workloads is the sum of their energies
    summed = Workload(
        tuple(
            LayerWorkload(
                x.name,
                x.kind,
                x.n_in,
                x.n_out,
                x.time_steps,
                {p: x.counts(p) + y.counts(p) for p in x.phases},
            )
            for x, y in zip(w.layers, w2.layers)
        )
    )
    rs = estimate(summed, a)
    d1, d2, ds = dynamic(r1), dynamic(r2), dynamic(rs)
    for k in ds:
        if k[1] != "learning_store":
            assert ds[k] == pytest.approx(d1[k] + d2[k], rel=1e-12, abs=1e-12)


def test_samples_average_latency_and_total_energy():
    a = arch("dfa")
    one = estimate(shape_workload(a, 5), a)
    four = estimate(shape_workload(a, 5, samples=4), a)
    assert four.latency_ns == pytest.approx(one.latency_ns)
    assert four.total_energy_pJ() == pytest.approx(4 * one.total_energy_pJ())
    assert four.total_area_um2 == pytest.approx(one.total_area_um2)


def test_zero_activity_costs_only_static_energy():
    # arrays are clocked (4 activations) but nothing is driven, converted, updated or stored
    a, w = one_layer(Counts(mvm=4), t=2)
    on = estimate(w, a, assumptions=Assumptions(leakage="always_on"))
    assert on.latency_ns["inference"] == pytest.approx(2 * 104 + (2 - 1) * 2 * 104)
    for (_, comp, _), v in on.energy_pJ.items():
        if comp != "leakage":
            assert v == 0.0
    static = S.leakage_nW_per_um2 * on.leaking_area_um2 * on.latency_ns["inference"] * 1e-6
    assert on.total_energy_pJ() == pytest.approx(static) and static > 0
    # power-gated (the default): no unit works, so none leaks
    assert estimate(w, a).total_energy_pJ() == 0.0
    # nothing at all: no time passes, nothing is spent
    a, w = one_layer(Counts())
    assert estimate(w, a, assumptions=Assumptions(leakage="always_on")).total_energy_pJ() == 0.0


def test_energy_grows_with_adc_bits_and_array_size():
    w = shape_workload(arch("bp"), 6)
    r4 = estimate(w, arch("bp", adc_bits=4))
    r6 = estimate(w, arch("bp", adc_bits=6))
    assert r6.total_energy_pJ(component="adc") == pytest.approx(
        4 * r4.total_energy_pJ(component="adc")
    )
    assert r6.area_by_component()["adc"] == pytest.approx(4 * r4.area_by_component()["adc"])
    assert r6.latency_ns["inference"] / r4.latency_ns["inference"] == pytest.approx(
        mvm_latency_ns(8, 6, S) / mvm_latency_ns(8, 4, S)
    )
    # same counts on wider arrays: every driven row sees twice the columns
    small = Architecture(layers=(LayerShape("l", "linear", 128, 64),), array_cols=64)
    wide = Architecture(layers=(LayerShape("l", "linear", 128, 64),), array_cols=128)
    wl = Workload(
        (LayerWorkload("l", "linear", 128, 64, 1, {"inference": Counts(mvm=1, active_rows=50)}),)
    )
    assert estimate(wl, wide).total_energy_pJ(component="array") == pytest.approx(
        2 * estimate(wl, small).total_energy_pJ(component="array")
    )
    # a larger tile buffer costs more per accessed bit (square-root scaling)
    wb = Workload(
        (LayerWorkload("l", "linear", 128, 64, 1, {"inference": Counts(sram_read_bits=1000)}),)
    )
    big = Architecture(layers=small.layers, tile_buffer_bits=4 * 64 * 128)
    assert estimate(wb, big).total_energy_pJ(component="sram") == pytest.approx(
        2 * estimate(wb, small).total_energy_pJ(component="sram")
    )


def test_dfa_parallel_bp_sequential_error_delivery():
    dfa, bp = arch("dfa"), arch("bp")
    wd, wb = shape_workload(dfa, 10), shape_workload(bp, 10)
    rd, rb = estimate(wd, dfa), estimate(wb, bp)
    # a transposed activation: one read, 64 rows on the 4 shared ADCs (16 x 3 clocks), one add
    t_tr, clk, lanes = 4.0 + 16 * 12.0 + 4.0, 4.0, 8

    def per_layer(w, a):
        out = []
        for lw, shape in zip(w.layers, a.layers):
            d = lw.counts("error_delivery")
            out.append(
                d.transposed_reads * 8 / a.mapping(shape).arrays * t_tr  # 8 bit-serial passes
                + d.feedback_macs / lanes * clk
                + (d.digital_adds + d.digital_mults) / lanes * clk
                + d.store_read_bits / 64 * clk
            )
        return out

    dfa_layers, bp_layers = per_layer(wd, dfa), per_layer(wb, bp)
    assert rd.latency_ns["error_delivery"] == pytest.approx(max(dfa_layers))
    assert rb.latency_ns["error_delivery"] == pytest.approx(sum(bp_layers))
    # BP pipelined as a wavefront over layers and time steps is faster, still slower than DFA
    rbw = estimate(wb, bp, schedule=Schedule(bp_wavefront=True))
    assert rbw.latency_ns["error_delivery"] == pytest.approx(
        sum(bp_layers) / 10 + 9 * max(bp_layers) / 10
    )
    assert (
        rd.latency_ns["error_delivery"]
        < rbw.latency_ns["error_delivery"]
        < rb.latency_ns["error_delivery"]
    )
    ratio = rd.ratio(rb)
    assert ratio["error_delivery_latency_ns_per_learned_window"] == pytest.approx(
        max(dfa_layers) / sum(bp_layers)
    )
    assert ratio["error_delivery_energy_pJ_per_learned_window"] < 0.2
    assert ratio["energy_pJ_per_learned_window"] < 1 and ratio["latency_ns_per_learned_window"] < 1
    assert ratio["area_um2"] < 1
    assert ratio["inference_latency_ns_per_inference_window"] == pytest.approx(1.0)


def test_ratio_and_to_dict_are_plain():
    a = arch("sfdfa")
    r = estimate(shape_workload(a, 4), a)
    assert all(v == pytest.approx(1.0) for k, v in r.ratio(r).items() if not math.isnan(v))
    d = r.to_dict()
    assert set(d["energy_pJ"]) == {"inference", "error_compute", "error_delivery", "weight_update"}
    assert set(d["energy_pJ"]["inference"]) == set(ENERGY_COMPONENTS)

    def leaves(x):
        if isinstance(x, dict):
            for v in x.values():
                yield from leaves(v)
        else:
            yield x

    numbers = [x for x in leaves({k: v for k, v in d.items()
                                  if k not in ("label", "rule", "assumptions")})]
    assert all(type(x) in (float, int) for x in numbers)
    assert d["totals"]["run_energy_pJ"] == pytest.approx(r.total_energy_pJ())
    assert CostReport.from_dict(d) == r
    for axis in ("phase", "component", "layer"):
        assert sum(r.energy_by(axis).values()) == pytest.approx(r.total_energy_pJ())
    by_layer = r.energy_by("layer", phase="inference")
    assert set(by_layer) == {"conv1", "conv2", "fc", CHIP}
    assert by_layer["conv2"] == pytest.approx(r.total_energy_pJ(phase="inference", layer="conv2"))


def test_ratio_zero_division():
    a, w = one_layer(Counts())
    zero = estimate(w, a)
    a, w = one_layer(Counts(neuron_updates=1))
    some = estimate(w, a)
    assert math.isnan(zero.ratio(zero)["run_energy_pJ"])
    assert math.isinf(some.ratio(zero)["run_energy_pJ"])


def test_layer_mismatch_and_bad_inputs():
    a = arch("dfa")
    w = shape_workload(Architecture(layers=LAYERS[:2]), 3)
    with pytest.raises(HwsimError, match="expected the architecture's layers"):
        estimate(w, a)
    with pytest.raises(HwsimError, match="expected hwsim.Tech"):
        estimate(shape_workload(a, 3), a, tech="spikesim65")
    bad = Workload(
        (LayerWorkload("l", "linear", 64, 32, 1, {"error_delivery": Counts(feedback_macs=32)}),)
    )
    with pytest.raises(HwsimError, match="holds no feedback arrays"):
        estimate(
            bad,
            Architecture(
                layers=(LayerShape("l", "linear", 64, 32),),
                learning=LearningUnits("dfa", feedback_storage="crossbar"),
            ),
        )
    with pytest.raises(HwsimError, match="did you mean 'gated'"):
        Assumptions(leakage="gate")
    with pytest.raises(HwsimError, match="expected hwsim.Assumptions"):
        estimate(shape_workload(a, 3), a, assumptions={"leakage": "gated"})


def test_hwsim_imports_neither_snn_dfa_nor_crossbar():
    code = (
        "import sys, hwsim, hwsim.report; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('snn_dfa', 'crossbar')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_inference_pipeline_with_per_layer_steps():
    layers = (LayerShape("a", "linear", 64, 32), LayerShape("b", "linear", 32, 4))
    a = Architecture(layers=layers, columns_per_weight=1)
    w = Workload(
        (
            LayerWorkload("a", "linear", 64, 32, 10, {"inference": Counts(mvm=10)}),
            LayerWorkload("b", "linear", 32, 4, 2, {"inference": Counts(mvm=6)}),
        )
    )
    # a: 1 activation per step for 10 steps; b: 3 per step for 2 steps; a is the busiest
    assert estimate(w, a).latency_ns["inference"] == pytest.approx((10 * 1 + 3) * 104.0)


def test_docs_hand_examples():
    """The per-phase example of docs/hwsim.md, section 10: counts x unit costs."""
    from hwsim import with_device_writes

    tech = with_device_writes(S, device="neurram_hfo2", v_write_V=2.0, g_min_uS=1.0,
                              g_max_uS=40.0, t_pulse_ns=100.0)
    layers = (LayerShape("h", "linear", 128, 32), LayerShape("o", "linear", 32, 6))
    act = Activity(input_rate=0.2, binary_input=True, spike_rate=0.1, update_fraction=0.05)
    r = {}
    for rule in ("bp", "dfa"):
        a = Architecture(layers=layers, learning=LearningUnits(rule, n_classes=6))
        r[rule] = estimate(shape_workload(a, 10, act), a, tech)
    bp, dfa = r["bp"], r["dfa"]
    e_cell, e_adc = 1.76423 / 4096, 2.03084 / 8
    e_tile, e_store = 0.15625 * math.sqrt(1 / 8), 0.15625 * math.sqrt(4640 / 65536)
    # inference, layer h
    assert bp.total_energy_pJ("inference", "array", "h") == pytest.approx(256 * 64 * e_cell)
    assert bp.total_energy_pJ("inference", "adc", "h") == pytest.approx(640 * e_adc)
    assert bp.total_energy_pJ("inference", "sram", "h") == pytest.approx(6720 * e_tile)
    assert bp.latency_ns["inference"] == pytest.approx(1144.0)
    # error computation
    assert bp.total_energy_pJ("error_compute", "digital") == pytest.approx(2.94)
    assert bp.latency_ns["error_compute"] == pytest.approx(20.0)
    # BP delivery: 8 bit-serial passes of the transposed reads of layer o
    assert bp.total_energy_pJ("error_delivery", "array", "o") == pytest.approx(
        120 * 8 * 64 * e_cell)
    assert bp.total_energy_pJ("error_delivery", "adc", "o") == pytest.approx(320 * 8 * e_adc)
    assert bp.latency_ns["error_delivery"] == pytest.approx(16000 + 90 + 30 + 640)
    assert bp.total_energy_pJ("error_delivery", "learning_store", "h") == pytest.approx(
        6400 * e_store)
    # DFA delivery: projections from B in SRAM
    e_b = 0.15625 * math.sqrt(1536 / 65536)
    assert dfa.total_energy_pJ("error_delivery", "feedback", "h") == pytest.approx(
        192 * (0.03 + 0.2 + 8 * e_b))
    assert dfa.latency_ns["error_delivery"] == pytest.approx(96.0)
    # weight update of layer h
    assert bp.total_energy_pJ("weight_update", "update", "h") == pytest.approx(245.76)
    assert dfa.total_energy_pJ("weight_update", "update", "h") == pytest.approx(309.76)
    verify = e_cell + e_adc + 0.094245 / 8
    assert bp.total_energy_pJ("weight_update", "write", "h") == pytest.approx(
        409.6 * 8.25 + 409.6 * verify)
    assert bp.latency_ns["weight_update"] == pytest.approx(4096 + 80 + 320 + 332.8)
    assert dfa.latency_ns["weight_update"] == pytest.approx(4256 + 240 + 320 + 332.8)
    # static energy of BP's delivery: the working units leak for the phase's latency
    working = ("adc", "mux", "shift_add", "temporal_buffer", "sram", "digital",
               "learning_store", "transpose_periphery")
    area = sum(v for (_, c), v in bp.area_um2.items() if c in working)
    assert area == pytest.approx(80811.1, abs=0.1)
    assert bp.total_energy_pJ("error_delivery", "leakage") == pytest.approx(
        0.1 * area * 16760 * 1e-6)
    assert bp.summary()["energy_pJ_per_learned_window"] == pytest.approx(7078.0, abs=0.1)
    assert dfa.summary()["energy_pJ_per_learned_window"] == pytest.approx(5800.6, abs=0.1)
    # weight update with the mixed-precision accumulator (the crossbar's accumulate mode)
    a = Architecture(layers=layers, learning=LearningUnits("dfa", n_classes=6,
                                                           update_mode="mixed_precision"))
    acc = estimate(shape_workload(a, 10, act), a, tech)
    e_acc = 0.15625 * math.sqrt(68608 / 65536)
    assert e_acc == pytest.approx(0.159870, abs=1e-6)
    assert acc.total_energy_pJ("weight_update", "update", "h") == pytest.approx(
        309.76 + 131072 * e_acc)
    assert acc.total_energy_pJ("weight_update", "update", "h") == pytest.approx(21264.26,
                                                                                abs=0.01)
    assert acc.latency_ns["weight_update"] == pytest.approx(5148.8 + 131072 / 64 * 4)
    acc_area = [sum(v for (_, c), v in r.area_um2.items() if c == "accumulator")
                for r in (acc, dfa)]
    assert acc_area == [pytest.approx(50708.2, abs=0.1), pytest.approx(449.4, abs=0.1)]


def test_update_models_are_priced_from_their_own_counts():
    """Digital row buffers, a mixed-precision accumulator, stochastic pulse cycles."""
    layers = (LayerShape("h", "linear", 128, 32), LayerShape("o", "linear", 32, 6))
    act = Activity(input_rate=0.2, binary_input=True, pulse_cycles_per_update=0.0)
    reps = {}
    for mode in ("digital", "mixed_precision", "stochastic_pulse"):
        a = Architecture(layers=layers,
                         learning=LearningUnits("dfa", n_classes=6, update_mode=mode))
        stochastic = Activity(input_rate=0.2, binary_input=True, pulse_cycles_per_update=10.0,
                              verifies_per_pulse=0.0)
        reps[mode] = (estimate(shape_workload(a, 10, stochastic if mode == "stochastic_pulse"
                                              else act), a), a)
    digital, mixed, stoch = (reps[m][0] for m in ("digital", "mixed_precision",
                                                  "stochastic_pulse"))
    bit = S.sram_area_um2_per_bit
    assert digital.area_by_component("learning")["accumulator"] == pytest.approx(
        (32 + 6) * 16 * bit)
    acc_bits = (128 * 32 + 32 * 6) * 16
    assert mixed.area_by_component("learning")["accumulator"] == pytest.approx(acc_bits * bit)
    e_acc = 0.15625 * math.sqrt(acc_bits / 65536)
    extra = mixed.total_energy_pJ("weight_update", "update", "h") - digital.total_energy_pJ(
        "weight_update", "update", "h")
    assert extra == pytest.approx(2 * 128 * 32 * 16 * e_acc)
    assert stoch.area_by_component("learning")["accumulator"] == 0.0
    # 10 pulse cycles per array, arrays in parallel: 10 pulse widths after the arithmetic
    a = reps["stochastic_pulse"][1]
    w = shape_workload(a, 10, Activity(input_rate=0.2, binary_input=True,
                                       pulse_cycles_per_update=10.0, verifies_per_pulse=0.0))
    u = w.layers[0].counts("weight_update")
    assert u.pulse_cycles == 10 * a.mapping(layers[0]).arrays
    assert u.update_adds == 0  # pulse coincidence in the array: no digital outer product
    assert stoch.latency_ns["weight_update"] == pytest.approx(
        (u.update_adds + u.update_mults) / 8 * 4 + u.store_read_bits / 64 * 4 + 10 * 10.0)
