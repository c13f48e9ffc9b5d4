"""Latency per phase from the counts, the schedule and the costing assumptions.

Assumptions (docs/hwsim.md, "Schedule"):

- weight-stationary: every layer owns its arrays and all arrays of a layer work in parallel;
  a forward activation takes :func:`hwsim.components.mvm_latency_ns`, a multi-level read
  ``input_bits`` (forward: the layer's own in inference, the architecture's for tangents) or
  ``delta_bits`` (transposed) of them when read bit-serially;
  a transposed activation converts the array's rows on the ADCs of its periphery (shared:
  the column-side ADCs, each converting ``array_rows / adcs_per_array`` rows; duplicated:
  row-side ADCs, ``cols_per_adc`` rows each);
- forward passes (inference, and SFDFA's tangent pass in ``error_delivery``) are pipelined
  over time steps across layers: layer ``l`` processes step ``t`` while layer ``l+1``
  processes step ``t-1``: ``latency = sum_l s_l + (T - 1) max_l s_l`` with ``s_l`` a layer's
  time per step (for layers with different step counts ``T_l``: ``T_k s_k + sum_{l != k}
  s_l``, ``k`` the layer with the largest ``T_l s_l``); digital partial sums, neuron updates
  and buffer traffic overlap with the array activations;
- error computation runs on an error unit with ``n_classes`` lanes, one operation per clock;
- error delivery: DFA/SFDFA project the error to all layers at once (``max`` over layers,
  after SFDFA's tangent pass); BP is sequential over layers and time (``sum`` over layers),
  or, with ``Schedule.bp_wavefront``, pipelined as a wavefront like the forward pass;
  each layer's digital unit has ``lanes_per_layer`` lanes; store reads take
  ``bits / word_bits`` SRAM accesses;
- weight update: the layer's gradient arithmetic on its lanes (spike-gated additions, or a
  dense multiply-add per weight and step), store and accumulator reads, then programming:
  every array programs one row per round (all its columns at once), all arrays concurrently;
  stochastic pulse updates take one pulse width per counted cycle of an array;
  ``max`` over layers, for every rule;
- latencies are per window of the phase (inference: per inference window; learning phases:
  per learned window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwsim.arch import Architecture, dense_update_macs
from hwsim.assumptions import Assumptions
from hwsim.components import (
    adc_conversion_ns,
    digital_latency_ns,
    mvm_latency_ns,
    sram_access_ns,
)
from hwsim.errors import HwsimError
from hwsim.tech import Tech
from hwsim.workload import PHASES, Counts, Workload


@dataclass(frozen=True)
class Schedule:
    """Pipelining choices.

    Parameters
    ----------
    bp_wavefront : bool
        If True, BP's backward pass is pipelined over layers and time steps like the forward
        pass (``sum_l d_l / T + (T - 1) max_l d_l / T`` for a layer's delivery time ``d_l``);
        if False (default) it is sequential.
    """

    bp_wavefront: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.bp_wavefront, bool):
            raise HwsimError(f"Schedule.bp_wavefront={self.bp_wavefront!r}: expected True or False")


def _pipelined(per_step_ns: list[float], steps: list[int]) -> float:
    """A pipeline over layers whose layer ``l`` runs ``steps[l]`` steps of ``per_step_ns[l]``.

    The busiest layer ``k`` (largest ``steps * per_step``) sets the pace; every other layer
    adds one step to fill or drain the pipeline: ``steps_k s_k + sum_l s_l - s_k``. With equal
    step counts ``T`` this is ``sum_l s_l + (T - 1) max_l s_l``.
    """
    busy = [t * s for t, s in zip(steps, per_step_ns)]
    k = max(range(len(busy)), key=busy.__getitem__)
    return busy[k] + sum(per_step_ns) - per_step_ns[k]


def transposed_latency_ns(arch: Architecture, tech: Tech, periphery: str) -> float:
    """Time of one transposed activation (ns): the array's rows converted by its periphery."""
    if periphery == "shared":
        per_adc = math.ceil(arch.array_rows / arch.adcs_per_array)
    else:
        per_adc = arch.cols_per_adc
    return tech.array_read_ns + per_adc * adc_conversion_ns(arch.adc_bits, tech) + (
        tech.accumulate_ns
    )


def _forward_activations(c: Counts, extra_passes: int) -> float:
    return c.mvm + extra_passes * c.multilevel_mvm


def phase_latency_ns(
    workload: Workload,
    arch: Architecture,
    tech: Tech,
    schedule: Schedule | None = None,
    assumptions: Assumptions | None = None,
) -> dict[str, float]:
    """Latency of each phase for one (average) window of that phase, in ns.

    Parameters
    ----------
    workload : Workload
        Counts; divided by the windows of each phase (:meth:`Workload.windows`).
    arch : Architecture
        Must list the workload's layers in the same order.
    tech : Tech
    schedule : Schedule, optional
    assumptions : Assumptions, optional

    Returns
    -------
    dict
        ``{phase: ns}`` for every phase in :data:`hwsim.workload.PHASES`.
    """
    schedule = Schedule() if schedule is None else schedule
    asm = Assumptions() if assumptions is None else assumptions
    lu = arch.learning
    serial = asm.multibit_reads == "bit_serial"
    passes_t = lu.delta_bits if serial else 1
    t_mvm = mvm_latency_ns(arch.cols_per_adc, arch.adc_bits, tech)
    t_tr = transposed_latency_ns(arch, tech, asm.periphery)
    steps = [layer.time_steps for layer in workload.layers]
    out = dict.fromkeys(PHASES, 0.0)

    def per(lw_counts: Counts, phase: str) -> Counts:
        return lw_counts.scaled(1.0 / workload.windows(phase))

    per_step, tangent_step, delivery, update = [], [], [], []
    compute_ops = 0.0
    for i, (lw, shape) in enumerate(zip(workload.layers, arch.layers)):
        m = arch.mapping(shape)
        inf = per(lw.counts("inference"), "inference")
        extra_i = arch.inference_input_bits(shape) - 1 if serial else 0
        extra_f = arch.input_bits - 1 if serial else 0
        per_step.append(_forward_activations(inf, extra_i) / m.arrays / lw.time_steps * t_mvm)

        ec = per(lw.counts("error_compute"), "error_compute")
        compute_ops += ec.digital_adds + ec.digital_mults + ec.feedback_macs

        d = per(lw.counts("error_delivery"), "error_delivery")
        tangent_step.append(_forward_activations(d, extra_f) / m.arrays / lw.time_steps * t_mvm)
        if lu.feedback_storage == "crossbar" and lu.feedback_alignment and d.feedback_macs:
            if not m.feedback_arrays:
                raise HwsimError(
                    f"layer {shape.name!r}: {d.feedback_macs} feedback MACs with B in crossbars "
                    "but the layer holds no feedback arrays; expected feedback MACs on hidden "
                    "layers only"
                )
            projections = d.feedback_macs / (shape.n_out * lu.n_classes)
            t_d = projections * passes_t * t_mvm
        else:
            t_d = digital_latency_ns(d.feedback_macs, lu.lanes_per_layer, tech)
        t_d += d.transposed_reads * passes_t / m.arrays * t_tr
        t_d += digital_latency_ns(d.digital_adds + d.digital_mults, lu.lanes_per_layer, tech)
        t_d += sram_access_ns(d.store_read_bits, tech)
        delivery.append(t_d)

        u = per(lw.counts("weight_update"), "weight_update")
        if asm.update_arithmetic == "dense_mac" and lu.rule != "none":
            gradient_ops = 2.0 * dense_update_macs(arch, i, lw.time_steps)
        else:
            gradient_ops = u.update_adds + u.update_mults
        cells_per_round = m.arrays * arch.array_cols
        t_u = digital_latency_ns(
            gradient_ops + u.feedback_macs + u.digital_adds + u.digital_mults,
            lu.lanes_per_layer,
            tech,
        )
        t_u += sram_access_ns(
            u.store_read_bits + u.accumulator_read_bits + u.accumulator_write_bits, tech
        )
        if u.pulse_cycles:
            t_u += u.pulse_cycles / m.arrays * tech.write_pulse_ns
        else:
            t_u += u.write_pulses / cells_per_round * tech.write_pulse_ns
        t_u += u.verify_reads / cells_per_round * t_mvm
        update.append(t_u)

    out["inference"] = _pipelined(per_step, steps)
    out["error_compute"] = digital_latency_ns(compute_ops, lu.n_classes, tech)
    tangent = _pipelined(tangent_step, steps) if any(tangent_step) else 0.0
    if lu.rule == "bp" and schedule.bp_wavefront:
        out["error_delivery"] = _pipelined([d / t for d, t in zip(delivery, steps)], steps)
    elif lu.rule == "bp":
        out["error_delivery"] = sum(delivery)
    else:
        out["error_delivery"] = tangent + max(delivery)
    out["weight_update"] = max(update)
    return out
