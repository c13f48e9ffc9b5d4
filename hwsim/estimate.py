"""``estimate(workload, arch, tech) -> CostReport``: energy, area and latency from counts.

Energy is counts times per-event costs (:mod:`hwsim.components`), per phase, component and
layer, plus static energy (leakage density x leaking chip area x phase latency). Area follows the
architecture (and, for BPTT storage, the workload's stored bits per sample). Latency follows
:mod:`hwsim.schedule`. Equations: docs/hwsim.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwsim import components as comp
from hwsim._validate import check_choice
from hwsim.arch import Architecture
from hwsim.errors import HwsimError
from hwsim.schedule import Schedule, phase_latency_ns
from hwsim.tech import SPIKESIM_65NM, Tech
from hwsim.workload import PHASES, Counts, Workload

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
    "bptt_store",
    "write",
    "leakage",
)
"""Components energy is reported for; ``leakage`` is static and booked on layer ``"chip"``."""

AREA_PARTS = ("inference", "learning")
NON_LEAKING = ("array", "interconnect")
"""Area components without static power: RRAM cells are non-volatile and draw no current when
unbiased; the H-tree area is wiring (the leakage of its repeaters is neglected) [assumption]."""
CHIP = "chip"


@dataclass(frozen=True)
class CostReport:
    """Energy, area and latency of one workload on one chip.

    Attributes
    ----------
    label : str
    rule : str
        The learning rule of the architecture ("none", "dfa", "sfdfa", "bp").
    samples : int
    energy_pJ : mapping (phase, component, layer) -> pJ, totals over all samples
    area_um2 : mapping (part, component) -> um^2; part "inference" is the inference chip,
        part "learning" what the rule's learning units add
    latency_ns : mapping phase -> ns per sample
    """

    label: str
    rule: str
    samples: int
    energy_pJ: Mapping[tuple[str, str, str], float] = field(default_factory=dict)
    area_um2: Mapping[tuple[str, str], float] = field(default_factory=dict)
    latency_ns: Mapping[str, float] = field(default_factory=dict)

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
        """Area that draws static power: all but :data:`NON_LEAKING` components (um^2)."""
        return float(sum(v for (_, c), v in self.area_um2.items() if c not in NON_LEAKING))

    @property
    def total_latency_ns(self) -> float:
        """Latency of one sample over all phases (ns)."""
        return float(sum(self.latency_ns.values()))

    def summary(self) -> dict[str, float]:
        """The headline numbers: energies, areas and latencies (totals and adaptation only)."""
        adaptation = [p for p in PHASES if p != "inference"]
        out = {
            "energy_pJ": self.total_energy_pJ(),
            "adaptation_energy_pJ": sum(self.total_energy_pJ(phase=p) for p in adaptation),
            "area_um2": self.total_area_um2,
            "learning_area_um2": self.learning_area_um2,
            "latency_ns": self.total_latency_ns,
            "adaptation_latency_ns": float(sum(self.latency_ns.get(p, 0.0) for p in adaptation)),
        }
        for p in PHASES:
            out[f"{p}_energy_pJ"] = self.total_energy_pJ(phase=p)
            out[f"{p}_latency_ns"] = float(self.latency_ns.get(p, 0.0))
        return out

    def ratio(self, other: CostReport) -> dict[str, float]:
        """Ratios ``self / other`` of every :meth:`summary` entry (e.g. DFA / BP).

        ``0 / 0`` gives nan and ``x / 0`` gives inf. A DFA/BP energy ratio of 0.359 means
        64.1 % less energy; a latency ratio of 0.476 means 2.1x lower latency.
        """
        if not isinstance(other, CostReport):
            raise HwsimError(f"other={other!r}: expected a CostReport")
        mine, theirs = self.summary(), other.summary()
        out = {}
        for key, a in mine.items():
            b = theirs[key]
            name = key.rsplit("_", 1)[0]
            out[name] = math.nan if a == b == 0 else (math.inf if b == 0 else a / b)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict of floats (and the label/rule strings) for HDF5 or JSON.

        Layout: ``energy_pJ[phase][component][layer]``, ``area_um2[part][component]``,
        ``latency_ns[phase]``, ``totals`` (:meth:`summary`), ``label``, ``rule``, ``samples``.
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
                       latency_ns={p: float(v) for p, v in data["latency_ns"].items()})
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


def _energy(
    counts: Counts, arch: Architecture, tech: Tech, e_b_bit: float, e_bptt_bit: float
) -> dict[str, float]:
    per_conv = comp.per_conversion_energy_pJ(arch.adc_bits, tech)
    e_sram = comp.sram_energy_pJ_per_bit(arch.tile_buffer_bits, tech)
    lu = arch.learning
    b_read = lu.feedback_bits * e_b_bit if lu.feedback_storage == "sram" else 0.0
    out = {
        "array": comp.array_read_energy_pJ(counts.active_rows, arch.array_cols, tech)
        + comp.array_read_energy_pJ(counts.active_cols, arch.array_rows, tech),
        "dac": counts.dac_conversions * tech.dac_energy_pJ,
        "neuron": counts.neuron_updates * tech.neuron_update_energy_pJ,
        "sram": (counts.sram_read_bits + counts.sram_write_bits) * e_sram,
        "interconnect": comp.interconnect_energy_pJ(counts.spikes * arch.spike_packet_bits, tech),
        "digital": comp.digital_energy_pJ(counts.digital_adds, counts.digital_mults, tech),
        "feedback": counts.feedback_macs * (tech.add_energy_pJ + tech.mult_energy_pJ + b_read),
        "bptt_store": (counts.stored_activation_bits + counts.restored_activation_bits)
        * e_bptt_bit,
        "write": counts.write_pulses * tech.write_pulse_energy_pJ
        + counts.verify_reads * comp.verify_read_energy_pJ(arch.adc_bits, tech),
    }
    for name, e in per_conv.items():
        out[name] = counts.adc_conversions * e
    return out


def chip_area_um2(
    arch: Architecture, tech: Tech, bptt_bits: float = 0.0
) -> dict[tuple[str, str], float]:
    """Area per (part, component) in um^2.

    Parameters
    ----------
    arch, tech
    bptt_bits : float
        Capacity of the BPTT store (bits per sample); used when ``arch.learning.rule == "bp"``.
    """
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
    if lu.feedback_alignment:
        fb_arrays = arch.feedback_arrays
        area[("learning", "feedback_store")] = comp.sram_area_um2(
            _feedback_sram_bits(arch), tech
        ) + fb_arrays * (
            comp.array_area_um2(arch.array_rows, arch.array_cols, tech)
            + arch.adcs_per_array * (a_adc + tech.mux_area_um2)
            + arch.array_rows * tech.dac_area_um2
        )
        trace_bits = sum((x.rows + x.n_out) * x.out_positions for x in arch.layers) * lu.trace_bits
        if lu.rule == "sfdfa":
            trace_bits += sum(x.neurons for x in arch.layers[1:]) * lu.trace_bits
        area[("learning", "trace_store")] = comp.sram_area_um2(trace_bits, tech)
    else:
        row_adcs = n_arr * math.ceil(arch.array_rows / arch.cols_per_adc)
        area[("learning", "transpose_periphery")] = (
            row_adcs * (a_adc + tech.mux_area_um2) + n_arr * arch.array_cols * tech.dac_area_um2
        )
        area[("learning", "bptt_store")] = comp.sram_area_um2(bptt_bits, tech)
    return area


def estimate(
    workload: Workload,
    arch: Architecture,
    tech: Tech = SPIKESIM_65NM,
    schedule: Schedule | None = None,
    label: str | None = None,
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
    _check_layers(workload, arch)
    bptt_bits = workload.total().stored_activation_bits / workload.samples
    e_b_bit = comp.sram_energy_pJ_per_bit(_feedback_sram_bits(arch), tech)
    e_bptt_bit = comp.sram_energy_pJ_per_bit(bptt_bits, tech)
    energy: dict[tuple[str, str, str], float] = {}
    for lw in workload.layers:
        for phase in PHASES:
            for name, e in _energy(lw.counts(phase), arch, tech, e_b_bit, e_bptt_bit).items():
                energy[(phase, name, lw.name)] = e
    area = chip_area_um2(arch, tech, bptt_bits)
    latency = phase_latency_ns(workload, arch, tech, schedule)
    report = CostReport(
        label=arch.learning.rule if label is None else label,
        rule=arch.learning.rule,
        samples=workload.samples,
        energy_pJ=energy,
        area_um2=area,
        latency_ns=latency,
    )
    for phase in PHASES:
        energy[(phase, "leakage", CHIP)] = comp.static_energy_pJ(
            report.leaking_area_um2, latency[phase] * workload.samples, tech
        )
    return report
