"""``estimate(workload, arch, tech, assumptions) -> CostReport``: energy, area and latency.

Energy is counts times per-event costs (:mod:`hwsim.components`), per phase, component and
layer, with the counted work carried out as :class:`hwsim.assumptions.Assumptions` says
(bit-serial or single-pass multi-level reads, spike-gated or dense update arithmetic, B in
SRAM or in crossbars, a shared or duplicated transposed periphery, a charged or free learning
store), plus static energy: the leakage density times the area that leaks in each phase
(only the units working in it when idle periphery is power-gated) times the phase's latency.
Area follows the architecture and the learning store's footprint per learned window;
latency follows :mod:`hwsim.schedule`.  Equations: docs/hwsim.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwsim import components as comp
from hwsim._validate import check_choice
from hwsim.arch import Architecture, dense_update_macs
from hwsim.assumptions import Assumptions
from hwsim.errors import HwsimError
from hwsim.schedule import Schedule, phase_latency_ns
from hwsim.tech import SPIKESIM_65NM, Tech
from hwsim.workload import LEARNING_PHASES, PHASES, Counts, Workload

ENERGY_COMPONENTS = (
    "array",
    "dac",
    "adc",
    "mux",
    "shift_add",
    "temporal_buffer",
    "neuron",
    "sram",
    "interconnect",
    "digital",
    "feedback",
    "update",
    "learning_store",
    "write",
    "leakage",
)
"""Components energy is reported for; ``leakage`` is the static energy, booked on layer
``"chip"``; every other component is dynamic."""
STATIC = "leakage"

AREA_PARTS = ("inference", "learning")
NON_LEAKING = ("array", "interconnect")
"""Area components without static power: RRAM cells are non-volatile and draw no current when
unbiased; the H-tree area is wiring (the leakage of its repeaters is neglected) [assumption]."""
CHIP = "chip"

USES = {
    "dac": ("array", "dac", "feedback"),
    "adc": ("adc",),
    "mux": ("mux",),
    "shift_add": ("shift_add",),
    "temporal_buffer": ("temporal_buffer",),
    "neuron": ("neuron",),
    "sram": ("sram",),
    "digital": ("digital", "update", "feedback"),
    "write": ("write",),
    "feedback_store": ("feedback",),
    "learning_store": ("learning_store",),
    "accumulator": ("update",),
}
"""Area component -> energy components whose work keeps it powered: with power gating an area
component leaks in a phase only if one of these has dynamic energy in it (the transposed
periphery leaks in phases with transposed reads)."""


@dataclass(frozen=True)
class CostReport:
    """Energy, area and latency of one workload on one chip.

    Attributes
    ----------
    label : str
    rule : str
        The learning rule of the architecture ("none", "dfa", "sfdfa", "bp").
    samples : int
        Learned windows.
    inference_windows : int
        Windows run through inference (labelled or not).
    energy_pJ : mapping (phase, component, layer) -> pJ, run totals (inference over the
        inference windows, learning phases over the learned windows)
    area_um2 : mapping (part, component) -> um^2; part "inference" is the inference chip,
        part "learning" what the rule's learning units add
    latency_ns : mapping phase -> ns per window (inference: per inference window; learning
        phases: per learned window)
    store_bits : float
        Footprint of the learning store per learned window (bits).
    assumptions : mapping
        The :class:`Assumptions` the report was priced with (plain dict).
    """

    label: str
    rule: str
    samples: int
    energy_pJ: Mapping[tuple[str, str, str], float] = field(default_factory=dict)
    area_um2: Mapping[tuple[str, str], float] = field(default_factory=dict)
    latency_ns: Mapping[str, float] = field(default_factory=dict)
    inference_windows: int = 0
    store_bits: float = 0.0
    assumptions: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.inference_windows:
            object.__setattr__(self, "inference_windows", self.samples)

    def total_energy_pJ(
        self, phase: str | None = None, component: str | None = None, layer: str | None = None
    ) -> float:
        """Energy summed over every key matching the given phase / component / layer (pJ)."""
        return float(
            sum(
                v
                for (p, c, name), v in self.energy_pJ.items()
                if (phase is None or p == phase)
                and (component is None or c == component)
                and (layer is None or name == layer)
            )
        )

    def energy_by(self, axis: str, phase: str | None = None) -> dict[str, float]:
        """Energy grouped by ``axis`` ("phase", "component" or "layer"), optionally in one phase."""
        index = {"phase": 0, "component": 1, "layer": 2}[
            check_choice("axis", axis, ("phase", "component", "layer"))
        ]
        out: dict[str, float] = {}
        for key, v in self.energy_pJ.items():
            if phase is None or key[0] == phase:
                out[key[index]] = out.get(key[index], 0.0) + v
        return out

    def area_by_component(self, part: str | None = None) -> dict[str, float]:
        """Area per component (um^2), of one part or of both."""
        out: dict[str, float] = {}
        for (p, c), v in self.area_um2.items():
            if part is None or p == check_choice("part", part, AREA_PARTS):
                out[c] = out.get(c, 0.0) + v
        return out

    @property
    def total_area_um2(self) -> float:
        """Chip area including learning units (um^2)."""
        return float(sum(self.area_um2.values()))

    @property
    def learning_area_um2(self) -> float:
        """Area the learning rule adds (um^2)."""
        return float(sum(v for (p, _), v in self.area_um2.items() if p == "learning"))

    @property
    def leaking_area_um2(self) -> float:
        """Area that can draw static power: all but :data:`NON_LEAKING` components (um^2)."""
        return float(sum(v for (_, c), v in self.area_um2.items() if c not in NON_LEAKING))

    @property
    def total_latency_ns(self) -> float:
        """Latency of one learned window: inference of the window plus every learning phase."""
        return float(sum(self.latency_ns.values()))

    def windows(self, phase: str) -> int:
        """The windows ``phase``'s energy is a total over."""
        check_choice("phase", phase, PHASES)
        return self.inference_windows if phase == "inference" else self.samples

    def per_window_energy_pJ(self, phase: str, component: str | None = None) -> float:
        """Energy of ``phase`` per window of that phase (inference: per inference window)."""
        return self.total_energy_pJ(phase=phase, component=component) / self.windows(phase)

    def summary(self) -> dict[str, float]:
        """The headline numbers; every name carries its unit and normalisation.

        ``*_per_inference_window`` divides by every window run through inference,
        ``*_per_learned_window`` by the learned windows; ``energy_pJ_per_learned_window`` is
        what one learned window costs: its inference plus its learning phases.  ``run_*``
        are totals of the whole run.
        """
        inf_static = self.per_window_energy_pJ("inference", STATIC)
        inf_total = self.per_window_energy_pJ("inference")
        learn_static = sum(self.per_window_energy_pJ(p, STATIC) for p in LEARNING_PHASES)
        learn_total = sum(self.per_window_energy_pJ(p) for p in LEARNING_PHASES)
        run_static = self.total_energy_pJ(component=STATIC)
        out = {
            "energy_pJ_per_learned_window": inf_total + learn_total,
            "static_energy_pJ_per_learned_window": inf_static + learn_static,
            "dynamic_energy_pJ_per_learned_window": inf_total - inf_static + learn_total
            - learn_static,
            "inference_energy_pJ_per_inference_window": inf_total,
            "adaptation_energy_pJ_per_learned_window": learn_total,
            "run_energy_pJ": self.total_energy_pJ(),
            "run_static_energy_pJ": run_static,
            "run_dynamic_energy_pJ": self.total_energy_pJ() - run_static,
            "area_um2": self.total_area_um2,
            "learning_area_um2": self.learning_area_um2,
            "latency_ns_per_learned_window": self.total_latency_ns,
            "inference_latency_ns_per_inference_window": float(
                self.latency_ns.get("inference", 0.0)
            ),
            "adaptation_latency_ns_per_learned_window": float(
                sum(self.latency_ns.get(p, 0.0) for p in LEARNING_PHASES)
            ),
            "learning_store_bits_per_learned_window": float(self.store_bits),
        }
        for p in LEARNING_PHASES:
            out[f"{p}_energy_pJ_per_learned_window"] = self.per_window_energy_pJ(p)
            out[f"{p}_latency_ns_per_learned_window"] = float(self.latency_ns.get(p, 0.0))
        return out

    def ratio(self, other: CostReport) -> dict[str, float]:
        """Ratios ``self / other`` of every :meth:`summary` entry, under the same names.

        ``0 / 0`` gives nan and ``x / 0`` gives inf.  A DFA/BP energy ratio of 0.359 means
        64.1 % less energy; a latency ratio of 0.476 means 2.1x lower latency.
        """
        if not isinstance(other, CostReport):
            raise HwsimError(f"other={other!r}: expected a CostReport")
        mine, theirs = self.summary(), other.summary()
        out = {}
        for key, a in mine.items():
            b = theirs[key]
            out[key] = math.nan if a == b == 0 else (math.inf if b == 0 else a / b)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict of floats (and strings) for HDF5 or JSON.

        Layout: ``energy_pJ[phase][component][layer]`` (run totals), ``area_um2[part][component]``,
        ``latency_ns[phase]`` (per window of the phase), ``totals`` (:meth:`summary`),
        ``label``, ``rule``, ``samples``, ``inference_windows``, ``store_bits``,
        ``assumptions``.
        """
        energy: dict[str, dict[str, dict[str, float]]] = {}
        for (p, c, name), v in self.energy_pJ.items():
            energy.setdefault(p, {}).setdefault(c, {})[name] = float(v)
        area: dict[str, dict[str, float]] = {}
        for (p, c), v in self.area_um2.items():
            area.setdefault(p, {})[c] = float(v)
        return {
            "label": self.label,
            "rule": self.rule,
            "samples": int(self.samples),
            "inference_windows": int(self.inference_windows),
            "store_bits": float(self.store_bits),
            "assumptions": {k: str(v) for k, v in self.assumptions.items()},
            "energy_pJ": energy,
            "area_um2": area,
            "latency_ns": {p: float(v) for p, v in self.latency_ns.items()},
            "totals": {k: float(v) for k, v in self.summary().items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostReport:
        """Rebuild a report from :meth:`to_dict` output (also as read back from HDF5, where
        strings may come as bytes and numbers as 0-d arrays)."""

        def text(v: Any) -> str:
            v = v.item() if hasattr(v, "item") else v
            return v.decode() if isinstance(v, bytes) else str(v)

        try:
            energy = {(p, c, name): float(v) for p, comps in data["energy_pJ"].items()
                      for c, layers in comps.items() for name, v in layers.items()}
            area = {(p, c): float(v) for p, comps in data["area_um2"].items()
                    for c, v in comps.items()}
            return cls(label=text(data["label"]), rule=text(data["rule"]),
                       samples=int(data["samples"]), energy_pJ=energy, area_um2=area,
                       latency_ns={p: float(v) for p, v in data["latency_ns"].items()},
                       inference_windows=int(data.get("inference_windows", data["samples"])),
                       store_bits=float(data.get("store_bits", 0.0)),
                       assumptions={k: text(v) for k, v in data.get("assumptions", {}).items()})
        except (KeyError, AttributeError, TypeError, ValueError) as exc:
            raise HwsimError(f"cost report: not in CostReport.to_dict() form ({exc!r})") from exc


def _check_layers(workload: Workload, arch: Architecture) -> None:
    got = [(x.name, x.kind, x.n_in, x.n_out) for x in workload.layers]
    want = [(x.name, x.kind, x.n_in, x.n_out) for x in arch.layers]
    if got != want:
        raise HwsimError(
            f"workload layers {got}: expected the architecture's layers {want} "
            "(name, kind, n_in, n_out, in the same order)"
        )


def _feedback_sram_bits(arch: Architecture) -> float:
    lu = arch.learning
    if not lu.feedback_alignment or lu.feedback_storage != "sram":
        return 0.0
    return float(sum(x.n_out for x in arch.hidden_layers) * lu.n_classes * lu.feedback_bits)


def accumulator_bits(arch: Architecture) -> float:
    """Capacity of the update accumulators (bits).

    Digital updates compute the gradient one input row at a time into a row buffer of
    ``n_out * accumulator_bits`` per layer [assumption]; mixed-precision updates keep a
    persistent accumulator of ``rows * n_out * accumulator_bits`` per layer; stochastic
    pulse updates need none.
    """
    lu = arch.learning
    if lu.rule == "none" or not lu.digital_gradient:
        return 0.0
    if lu.update_mode == "mixed_precision":
        return float(sum(x.rows * x.n_out for x in arch.layers) * lu.accumulator_bits)
    return float(sum(x.n_out for x in arch.layers) * lu.accumulator_bits)


def feedback_reads(counts: Counts, arch: Architecture, layer_index: int) -> Counts:
    """Reads of the feedback crossbars that carry out ``counts.feedback_macs`` projections.

    With B in crossbars, one projection of the ``C``-long error onto ``n_l`` outputs is a read
    of the layer's feedback arrays (``B_l^T``, ``C`` rows): ``mvm = A_B``, rows driven
    ``C cb_B``, conversions ``rb_B n_l`` per pass (the error is multi-level).
    """
    layer = arch.layers[layer_index]
    m = arch.mapping(layer)
    c = arch.learning.n_classes
    projections = counts.feedback_macs / (layer.n_out * c)
    return Counts(
        multilevel_mvm=projections * m.feedback_arrays,
        multilevel_rows=projections * c * m.feedback_col_blocks,
        multilevel_adc_conversions=projections * m.feedback_row_blocks * layer.n_out,
    )


def _energy(
    counts: Counts,
    phase: str,
    index: int,
    time_steps: int,
    windows: int,
    arch: Architecture,
    tech: Tech,
    asm: Assumptions,
    e_bit: Mapping[str, float],
) -> dict[str, float]:
    lu = arch.learning
    serial = asm.multibit_reads == "bit_serial"
    bits_f = (arch.inference_input_bits(arch.layers[index]) if phase == "inference"
              else arch.input_bits)
    extra_f = bits_f - 1 if serial else 0
    passes_t = lu.delta_bits if serial else 1
    rows = counts.active_rows + extra_f * counts.multilevel_rows
    conversions = (
        counts.adc_conversions
        + extra_f * counts.multilevel_adc_conversions
        + passes_t * counts.transposed_adc_conversions
    )
    drives = 0.0 if serial else counts.multilevel_rows + counts.active_cols
    crossbar_b = lu.feedback_storage == "crossbar" and phase == "error_delivery"
    per_conv = comp.per_conversion_energy_pJ(arch.adc_bits, tech)
    e_conv = sum(per_conv.values())
    if crossbar_b and counts.feedback_macs:
        fb = feedback_reads(counts, arch, index)
        passes_b = lu.delta_bits if serial else 1
        feedback = (
            comp.array_read_energy_pJ(fb.multilevel_rows * passes_b, arch.array_cols, tech)
            + fb.multilevel_adc_conversions * passes_b * e_conv
            + (0.0 if serial else fb.multilevel_rows * tech.dac_energy_pJ)
        )
    else:
        b_read = lu.feedback_bits * e_bit["feedback"] if lu.feedback_storage == "sram" else 0.0
        feedback = counts.feedback_macs * (tech.add_energy_pJ + tech.mult_energy_pJ + b_read)
    if asm.update_arithmetic == "dense_mac" and phase == "weight_update" and lu.rule != "none":
        macs = dense_update_macs(arch, index, time_steps) * windows
        arithmetic = macs * (tech.add_energy_pJ + tech.mult_energy_pJ)
    else:
        arithmetic = comp.digital_energy_pJ(counts.update_adds, counts.update_mults, tech)
    charged = asm.charges_store(lu.rule)
    store = counts.store_write_bits + counts.store_read_bits if charged else 0.0
    out = {
        "array": comp.array_read_energy_pJ(rows, arch.array_cols, tech)
        + comp.array_read_energy_pJ(counts.active_cols * passes_t, arch.array_rows, tech),
        "dac": drives * tech.dac_energy_pJ,
        "neuron": counts.neuron_updates * tech.neuron_update_energy_pJ,
        "sram": (counts.sram_read_bits + counts.sram_write_bits) * e_bit["sram"],
        "interconnect": comp.interconnect_energy_pJ(counts.spikes * arch.spike_packet_bits, tech),
        "digital": comp.digital_energy_pJ(counts.digital_adds, counts.digital_mults, tech),
        "feedback": feedback,
        "update": arithmetic
        + (counts.accumulator_read_bits + counts.accumulator_write_bits) * e_bit["accumulator"],
        "learning_store": store * e_bit["store"],
        "write": counts.write_pulses * (tech.write_pulse_energy_pJ + tech.write_driver_energy_pJ)
        + counts.verify_reads * comp.verify_read_energy_pJ(arch.adc_bits, tech),
    }
    for name, e in per_conv.items():
        out[name] = conversions * e
    return out


def chip_area_um2(
    arch: Architecture,
    tech: Tech,
    store_bits: float = 0.0,
    assumptions: Assumptions | None = None,
) -> dict[tuple[str, str], float]:
    """Area per (part, component) in um^2.

    Parameters
    ----------
    arch, tech
    store_bits : float
        Footprint of the learning store per learned window (bits).
    assumptions : Assumptions, optional
        ``periphery`` and ``charge_storage`` matter here.
    """
    asm = Assumptions() if assumptions is None else assumptions
    n_arr, tiles, lu = arch.weight_arrays, arch.tiles, arch.learning
    a_adc = comp.adc_area_um2(arch.adc_bits, tech)
    adcs = n_arr * arch.adcs_per_array
    membranes = sum(x.neurons for x in arch.layers) * arch.membrane_bits
    area = {
        ("inference", "array"): n_arr * comp.array_area_um2(arch.array_rows, arch.array_cols, tech),
        ("inference", "dac"): n_arr * arch.array_rows * tech.dac_area_um2,
        ("inference", "adc"): adcs * a_adc,
        ("inference", "mux"): adcs * tech.mux_area_um2,
        ("inference", "shift_add"): tiles * arch.adcs_per_array * tech.shift_add_area_um2,
        ("inference", "temporal_buffer"): tiles * tech.temporal_buffer_area_um2,
        ("inference", "neuron"): tiles * arch.neurons_per_tile * tech.neuron_unit_area_um2,
        ("inference", "sram"): comp.sram_area_um2(tiles * arch.tile_buffer_bits + membranes, tech),
        ("inference", "interconnect"): tiles * tech.htree_area_um2_per_tile,
    }
    if lu.rule == "none":
        return area
    area[("learning", "digital")] = comp.mac_lane_area_um2(
        len(arch.layers) * lu.lanes_per_layer + lu.n_classes, tech
    )
    area[("learning", "write")] = n_arr * arch.array_cols * tech.write_driver_area_um2
    area[("learning", "accumulator")] = comp.sram_area_um2(accumulator_bits(arch), tech)
    area[("learning", "learning_store")] = (
        comp.sram_area_um2(store_bits, tech) if asm.charges_store(lu.rule) else 0.0
    )
    if lu.feedback_alignment:
        area[("learning", "feedback_store")] = comp.sram_area_um2(
            _feedback_sram_bits(arch), tech
        ) + arch.feedback_arrays * (
            comp.array_area_um2(arch.array_rows, arch.array_cols, tech)
            + arch.adcs_per_array * (a_adc + tech.mux_area_um2)
            + arch.array_rows * tech.dac_area_um2
        )
    elif lu.rule == "bp":
        groups = n_arr * math.ceil(arch.array_rows / arch.cols_per_adc)
        per_group = tech.mux_area_um2 + (a_adc if asm.periphery == "duplicated" else 0.0)
        area[("learning", "transpose_periphery")] = (
            groups * per_group + n_arr * arch.array_cols * tech.dac_area_um2
        )
    return area


def _leaking_area(
    area: Mapping[tuple[str, str], float],
    dynamic: Mapping[str, float],
    transposed: bool,
    asm: Assumptions,
) -> float:
    """Area leaking during a phase with per-component dynamic energy ``dynamic``."""
    total = 0.0
    for (_, c), a in area.items():
        if c in NON_LEAKING:
            continue
        if asm.leakage == "always_on":
            total += a
        elif c == "transpose_periphery":
            total += a if transposed else 0.0
        elif any(dynamic.get(e, 0.0) > 0 for e in USES[c]):
            total += a
    return total


def estimate(
    workload: Workload,
    arch: Architecture,
    tech: Tech = SPIKESIM_65NM,
    schedule: Schedule | None = None,
    label: str | None = None,
    assumptions: Assumptions | None = None,
) -> CostReport:
    """Energy, area and latency of ``workload`` on ``arch`` built in ``tech``.

    Parameters
    ----------
    workload : Workload
        Counts per layer and phase (from a simulation or :func:`hwsim.workload.shape_workload`).
    arch : Architecture
        Same layers as the workload, in order; ``arch.learning.rule`` selects the schedule.
    tech : Tech
        Defaults to :data:`hwsim.tech.SPIKESIM_65NM`.
    schedule : Schedule, optional
    label : str, optional
        Defaults to the rule name.
    assumptions : Assumptions, optional
        Defaults to ``Assumptions()`` (docs/hwsim.md argues each default).

    Returns
    -------
    CostReport
    """
    if not isinstance(workload, Workload):
        raise HwsimError(f"workload={workload!r}: expected hwsim.Workload")
    if not isinstance(arch, Architecture):
        raise HwsimError(f"arch={arch!r}: expected hwsim.Architecture")
    if not isinstance(tech, Tech):
        raise HwsimError(f"tech={tech!r}: expected hwsim.Tech")
    asm = Assumptions() if assumptions is None else assumptions
    if not isinstance(asm, Assumptions):
        raise HwsimError(f"assumptions={assumptions!r}: expected hwsim.Assumptions")
    _check_layers(workload, arch)
    store_bits = workload.total().store_write_bits / workload.samples
    e_bit = {
        "sram": comp.sram_energy_pJ_per_bit(arch.tile_buffer_bits, tech),
        "feedback": comp.sram_energy_pJ_per_bit(_feedback_sram_bits(arch), tech),
        "store": comp.sram_energy_pJ_per_bit(store_bits, tech),
        "accumulator": comp.sram_energy_pJ_per_bit(accumulator_bits(arch), tech),
    }
    energy: dict[tuple[str, str, str], float] = {}
    for i, lw in enumerate(workload.layers):
        for phase in PHASES:
            parts = _energy(lw.counts(phase), phase, i, lw.time_steps, workload.windows(phase),
                            arch, tech, asm, e_bit)
            for name, e in parts.items():
                energy[(phase, name, lw.name)] = e
    area = chip_area_um2(arch, tech, store_bits, asm)
    latency = phase_latency_ns(workload, arch, tech, schedule, asm)
    for phase in PHASES:
        dynamic: dict[str, float] = {}
        for (p, c, _), e in energy.items():
            if p == phase:
                dynamic[c] = dynamic.get(c, 0.0) + e
        leaking = _leaking_area(area, dynamic, workload.total(phase).transposed_reads > 0, asm)
        energy[(phase, STATIC, CHIP)] = comp.static_energy_pJ(
            leaking, latency[phase] * workload.windows(phase), tech
        )
    return CostReport(
        label=arch.learning.rule if label is None else label,
        rule=arch.learning.rule,
        samples=workload.samples,
        energy_pJ=energy,
        area_um2=area,
        latency_ns=latency,
        inference_windows=workload.windows("inference"),
        store_bits=store_bits,
        assumptions=asm.to_dict(),
    )
