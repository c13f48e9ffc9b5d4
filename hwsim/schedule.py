"""Latency per phase from the counts and the schedule.

Assumptions (docs/hwsim.md, "Schedule"):

- weight-stationary: every layer owns its arrays and all arrays of a layer work in parallel;
  an array activation (forward or transposed) takes :func:`hwsim.components.mvm_latency_ns`;
- inference is pipelined over time steps across layers: layer ``l`` processes step ``t``
  while layer ``l+1`` processes step ``t-1``, so
  ``latency = sum_l s_l + (T - 1) max_l s_l`` with ``s_l`` a layer's time per step (for
  layers with different step counts ``T_l``: ``T_k s_k + sum_{l != k} s_l``, ``k`` the layer
  with the largest ``T_l s_l``);
  digital partial sums, neuron updates and buffer traffic overlap with the array activations;
- error computation runs on an error unit with ``n_classes`` lanes, one operation per clock;
- error delivery: DFA/SFDFA handle all layers at once (``max`` over layers); BP is sequential
  over layers and time (``sum`` over layers of all their steps), or, with
  ``Schedule.bp_wavefront``, pipelined as a wavefront like the forward pass;
  each layer's digital unit has ``lanes_per_layer`` lanes; BPTT store reads take
  ``bits / word_bits`` SRAM accesses;
- weight update: every array programs one row per round (all its columns at once), all arrays
  concurrently, after the layer's digital outer products (``max`` over layers, for every rule);
- phases run one after the other for each sample; latencies are per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.arch import Architecture
from hwsim.components import digital_latency_ns, mvm_latency_ns, sram_access_ns
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


def _per_sample(c: Counts, samples: int) -> Counts:
    return c.scaled(1.0 / samples)


def phase_latency_ns(
    workload: Workload, arch: Architecture, tech: Tech, schedule: Schedule | None = None
) -> dict[str, float]:
    """Latency of each phase for one (average) sample, in ns.

    Parameters
    ----------
    workload : Workload
        Counts; divided by ``workload.samples`` to get one sample.
    arch : Architecture
        Must list the workload's layers in the same order.
    tech : Tech
    schedule : Schedule, optional

    Returns
    -------
    dict
        ``{phase: ns}`` for every phase in :data:`hwsim.workload.PHASES`.
    """
    schedule = Schedule() if schedule is None else schedule
    lu = arch.learning
    t_mvm = mvm_latency_ns(arch.cols_per_adc, arch.adc_bits, tech)
    steps = [layer.time_steps for layer in workload.layers]
    out = dict.fromkeys(PHASES, 0.0)

    per_step = []
    delivery = []
    update = []
    compute_ops = 0.0
    for lw, shape in zip(workload.layers, arch.layers):
        m = arch.mapping(shape)
        inf = _per_sample(lw.counts("inference"), workload.samples)
        per_step.append(inf.mvm / m.arrays / lw.time_steps * t_mvm)

        ec = _per_sample(lw.counts("error_compute"), workload.samples)
        compute_ops += ec.digital_adds + ec.digital_mults + ec.feedback_macs

        d = _per_sample(lw.counts("error_delivery"), workload.samples)
        if d.mvm and not m.feedback_arrays:
            raise HwsimError(
                f"layer {shape.name!r}: {d.mvm} forward MVMs in error_delivery but the "
                "architecture holds no feedback crossbars for it; expected feedback_storage="
                "'crossbar' with rule 'dfa' or 'sfdfa', or no MVMs in that phase"
            )
        t_d = (d.mvm / m.feedback_arrays if d.mvm else 0.0) * t_mvm
        t_d += d.transposed_reads / m.arrays * t_mvm
        t_d += digital_latency_ns(
            d.feedback_macs + d.digital_adds + d.digital_mults, lu.lanes_per_layer, tech
        )
        t_d += sram_access_ns(d.restored_activation_bits, tech)
        delivery.append(t_d)

        u = _per_sample(lw.counts("weight_update"), workload.samples)
        cells_per_round = m.arrays * arch.array_cols
        t_u = digital_latency_ns(
            u.feedback_macs + u.digital_adds + u.digital_mults, lu.lanes_per_layer, tech
        )
        t_u += sram_access_ns(u.restored_activation_bits, tech)
        t_u += u.write_pulses / cells_per_round * tech.write_pulse_ns
        t_u += u.verify_reads / cells_per_round * t_mvm
        update.append(t_u)

    out["inference"] = _pipelined(per_step, steps)
    out["error_compute"] = digital_latency_ns(compute_ops, lu.n_classes, tech)
    if lu.rule == "bp" and schedule.bp_wavefront:
        out["error_delivery"] = _pipelined([d / t for d, t in zip(delivery, steps)], steps)
    elif lu.rule == "bp":
        out["error_delivery"] = sum(delivery)
    else:
        out["error_delivery"] = max(delivery)
    out["weight_update"] = max(update)
    return out
