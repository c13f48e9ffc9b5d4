"""The count path and the shape path give the same workload, phase by phase.

The count path is what a run records: the crossbar counters of the deployed arrays plus the
application's event meter (:class:`snn_dfa.hardware.PhaseMeter`).  The shape path is
:func:`hwsim.shape_workload` on the same architecture.  Fed the activity the run measured
(spike rates per layer, non-zero fractions of tangents and errors), the two must agree on
every count of every layer and phase within ``REL_TOL``: the shape path assumes uniform
activity across time steps, so im2col edges (zero padding at the ends of a window) and a
window's input length (``T_in`` stored against ``T_out`` positions) differ by a few percent.

Programming pulses, verify reads and pulse-coincidence cycles are left out: they depend on
the device response to the updates and on the updates' rank and size, not on the workload's
shape (their costing is tested in test_cost_audit.py and test_hwsim_update_modes.py); the
costs are compared with the run's values of these three put into the shape path.  Every
crossbar update mode is checked (DFA), with its hwsim update model
(``snn_dfa.app.hardware.UPDATE_MODELS``): the accumulator's traffic is exact in both paths.
"""

import dataclasses

import numpy as np
import pytest

import hwsim
from snn_dfa.app.config import CrossbarSection, HwsimSection
from snn_dfa.app.hardware import PhaseMeter, architecture, deploy
from snn_dfa.engine.models import sfcn
from snn_dfa.engine.optim import SGD
from snn_dfa.rules import registry
from snn_dfa.rules.online import OnlineAdapter

REL_TOL = 0.06
"""Relative tolerance per count: the im2col edge effects of an 8-tap kernel over 64 steps
and the stored input length (T_in against T_in + 1 output positions, 33 against 34 in the
second layer) stay below 6 %."""

NOT_SHAPE = ("write_pulses", "verify_reads", "pulse_cycles")
STEPS = 64
WINDOWS = 5


def _run(rule_name, y, mode="accumulate"):
    x = np.random.default_rng(0).normal(size=(WINDOWS, STEPS, 3)).astype(np.float32)
    net = sfcn(n_channels=3, n_classes=4, steps=STEPS, channels=(8, 16), seed=0)
    section = CrossbarSection(prog_sigma_rel=0.0, read_sigma_rel=0.0, c2c_sigma_rel=0.0,
                              ir_drop="none", array_size=64, update_mode=mode,
                              noise_model="relative", adc_range="max")
    arrays = deploy(net, section, seed=0)
    arch = architecture(net, section, HwsimSection(), rule_name)
    rule = registry.get_rule(rule_name).build(net, seed=1)
    meter = PhaseMeter(net, arrays, rule_name, projector=getattr(rule, "projector", None),
                       arch=arch)
    OnlineAdapter(net, rule, SGD(lr=1e-3), on_phase=meter.phase,
                  on_window=meter.add_digital).run(x, y)
    return meter.workload(), arch


@pytest.fixture(scope="module")
def runs():
    # every window learned, so inference and learning see the same activity
    y = np.array([0, 1, 3, 2, 1])
    out = {rule: _run(rule, y) for rule in ("bp", "dfa", "sfdfa")}
    out.update({f"dfa-{mode}": _run("dfa", y, mode) for mode in OTHER_MODES})
    return out


OTHER_MODES = ("stochastic", "coincidence", "nearest", "reprogram")


def test_unlabelled_windows_count_inference_only():
    work, arch = _run("dfa", np.array([0, 1, -1, 2, 1]))
    assert work.samples == 4 and work.windows("inference") == 5
    first = work.layers[0]
    assert first.counts("inference").neuron_updates == 5 * first.time_steps * first.n_out
    per_window = hwsim.workload.store_bits_per_window(arch, arch.layers[0],
                                                      first.time_steps, True, True)
    assert first.counts("error_delivery").store_write_bits == pytest.approx(
        4 * per_window, rel=0.02)


def _measured_activity(work: hwsim.Workload, arch: hwsim.Architecture) -> hwsim.Activity:
    """The activity the run had, from its own counts (non-zero fractions of every layer's
    inputs, tangents and errors, spike rates)."""
    spike, tangent, delta = [], [], []
    for lw, shape in zip(work.layers, arch.layers):
        inf = lw.counts("inference")
        spike.append(inf.spikes / inf.neuron_updates)
        m = arch.mapping(shape)
        d = lw.counts("error_delivery")
        positions = shape.out_positions * lw.time_steps * work.samples
        tangent.append(min(1.0, d.active_rows / (shape.rows * m.col_blocks * positions)))
        cols = shape.n_out * arch.columns_per_weight * m.row_blocks * positions
        delta.append(min(1.0, d.active_cols / cols))
    inputs = []
    for lw, shape in zip(work.layers, arch.layers):
        inf = lw.counts("inference")
        positions = shape.out_positions * lw.time_steps * work.windows("inference")
        inputs.append(min(1.0, inf.active_rows / (shape.rows * arch.mapping(shape).col_blocks
                                                   * positions)))
    return hwsim.Activity(input_rate=tuple(inputs), spike_rate=tuple(spike),
                          tangent_rate=tuple(tangent), delta_rate=tuple(delta))


@pytest.mark.parametrize("run", ["bp", "dfa", "sfdfa", *(f"dfa-{m}" for m in OTHER_MODES)])
def test_count_path_equals_shape_path_phase_by_phase(runs, run):
    counted, arch = runs[run]
    rule = run.split("-")[0]
    assert counted.samples == counted.windows("inference") == WINDOWS
    shaped = hwsim.shape_workload(arch, [lw.time_steps for lw in counted.layers],
                                  _measured_activity(counted, arch), samples=counted.samples,
                                  inference_windows=counted.windows("inference"))
    for lc, ls in zip(counted.layers, shaped.layers):
        for phase in hwsim.PHASES:
            c, s = lc.counts(phase).to_dict(), ls.counts(phase).to_dict()
            for name in c:
                if name in NOT_SHAPE:
                    continue
                assert c[name] == pytest.approx(s[name], rel=REL_TOL, abs=1e-9), (
                    f"{rule} {lc.name} {phase} {name}: counted {c[name]}, shaped {s[name]}")
    # the same costs, then, within the same tolerance (pulses taken from the run)
    costs = [hwsim.estimate(w, arch) for w in (counted, _with_pulses(shaped, counted))]
    for key in ("energy_pJ_per_learned_window", "latency_ns_per_learned_window"):
        assert costs[0].summary()[key] == pytest.approx(costs[1].summary()[key], rel=REL_TOL)
    assert registry.get_rule(rule).hw_name == arch.learning.rule


def _with_pulses(shaped: hwsim.Workload, counted: hwsim.Workload) -> hwsim.Workload:
    """``shaped`` with the run's programming pulses and verify reads."""
    layers = []
    for ls, lc in zip(shaped.layers, counted.layers):
        run = lc.counts("weight_update")
        upd = dataclasses.replace(ls.counts("weight_update"), write_pulses=run.write_pulses,
                                  verify_reads=run.verify_reads, pulse_cycles=run.pulse_cycles)
        layers.append(dataclasses.replace(ls, phases={**ls.phases, "weight_update": upd}))
    return dataclasses.replace(shaped, layers=tuple(layers))


def test_phase_meter_books_every_crossbar_event_to_a_phase():
    """The meter's event vector of an array is its counter totals (``EVENT_FIELDS``, then
    updates), and the crossbar events it booked over the phases of a stream add up to what
    the arrays counted since the meter started."""
    from crossbar.counters import EVENT_FIELDS

    x = np.random.default_rng(1).normal(size=(3, STEPS, 3)).astype(np.float32)
    net = sfcn(n_channels=3, n_classes=4, steps=STEPS, channels=(8, 16), seed=0)
    arrays = deploy(net, CrossbarSection(ir_drop="none", adc_range="max", array_size=16),
                    seed=0)
    rule = registry.get_rule("bp").build(net, seed=1)
    meter = PhaseMeter(net, arrays, "bp")
    start = {i: a.counters.totals() for i, a in arrays.items()}
    OnlineAdapter(net, rule, SGD(lr=1e-3), on_phase=meter.phase,
                  on_window=meter.add_digital).run(x, np.array([0, 3, 1]))
    for i, arr in arrays.items():
        totals = arr.counters.totals()
        assert meter._events(arr).tolist() == [totals[n] for n in (*EVENT_FIELDS, "updates")]
        booked = sum(v for (layer, _), v in meter._crossbar.items() if layer == i)
        assert booked.tolist() == [totals[n] - start[i][n]
                                   for n in (*EVENT_FIELDS, "updates")]
        assert totals["updates"] - start[i]["updates"] == 3 and totals["mvms"] > 0
