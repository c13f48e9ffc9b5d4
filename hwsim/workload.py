"""Workload records: event counts per layer and phase, from a simulation or from shapes alone.

A simulation fills :class:`Counts` from its counters (crossbar "MVMs" -> ``mvm``,
"active rows" -> ``active_rows``, "ADC conversions" -> ``adc_conversions``,
"DAC conversions" -> ``dac_conversions``, "transposed reads" -> ``transposed_reads``,
"programming pulses" -> ``write_pulses``, "verify reads" -> ``verify_reads``; the full table
is in docs/hwsim.md). :func:`shape_workload` derives the same counts from layer shapes,
time steps and assumed activity when no run exists.

Counts are totals over ``Workload.samples`` samples; every field is a non-negative number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hwsim._validate import check_choice, check_int, check_keys, check_mapping, check_real
from hwsim.arch import LAYER_KINDS, Architecture, LayerShape
from hwsim.errors import HwsimError

PHASES = ("inference", "error_compute", "error_delivery", "weight_update")


@dataclass(frozen=True)
class Counts:
    """Event counts of one layer in one phase (all >= 0; totals over the workload's samples).

    Attributes
    ----------
    mvm : array activations in the forward direction (rows driven, columns sensed); a
        bit-serial multi-bit input counts one activation per bit.
    transposed_reads : array activations in the transposed direction (columns driven, rows sensed).
    active_rows : sum over forward activations of the rows driven.
    active_cols : sum over transposed reads of the columns driven.
    adc_conversions : ADC conversions (forward and transposed).
    dac_conversions : line drives by DACs / drivers (one per driven line per 1-bit pass).
    spikes : output spikes, each sent over the H-tree as one address event.
    neuron_updates : LIF membrane updates.
    feedback_macs : multiply-adds of DFA/SFDFA projections ``B_l e`` with B in SRAM (each
        also reads one B entry).
    digital_adds, digital_mults : other digital arithmetic (errors, deltas, gradients, traces,
        partial sums).
    sram_read_bits, sram_write_bits : traffic of the tiles' local SRAM buffers (inputs,
        membranes, traces, deltas).
    stored_activation_bits : bits written to the BPTT store (activations, membranes).
    restored_activation_bits : bits read back from the BPTT store.
    write_pulses : RRAM programming pulses.
    verify_reads : write-verify reads (one cell each).
    """

    mvm: float = 0.0
    transposed_reads: float = 0.0
    active_rows: float = 0.0
    active_cols: float = 0.0
    adc_conversions: float = 0.0
    dac_conversions: float = 0.0
    spikes: float = 0.0
    neuron_updates: float = 0.0
    feedback_macs: float = 0.0
    digital_adds: float = 0.0
    digital_mults: float = 0.0
    sram_read_bits: float = 0.0
    sram_write_bits: float = 0.0
    stored_activation_bits: float = 0.0
    restored_activation_bits: float = 0.0
    write_pulses: float = 0.0
    verify_reads: float = 0.0

    def __post_init__(self) -> None:
        for name in count_fields():
            object.__setattr__(self, name, check_real(f"Counts.{name}", getattr(self, name)))

    def __add__(self, other: Counts) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(**{n: getattr(self, n) + getattr(other, n) for n in count_fields()})

    def scaled(self, factor: float) -> Counts:
        """Every count multiplied by ``factor`` (>= 0)."""
        factor = check_real("factor", factor)
        return Counts(**{n: getattr(self, n) * factor for n in count_fields()})

    def to_dict(self) -> dict[str, float]:
        """Plain ``{field: float}``."""
        return {n: float(getattr(self, n)) for n in count_fields()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counts:
        """Build from a mapping; unknown names are rejected with a did-you-mean hint."""
        data = check_mapping("counts", data)
        check_keys(data, count_fields(), "counts")
        return cls(**data)


CROSSBAR_NAMES: dict[str, str | None] = {
    "mvms": "mvm",
    "active_rows": "active_rows",
    "transposed_reads": "transposed_reads",
    "active_columns": "active_cols",
    "adc_conversions": "adc_conversions",
    "dac_conversions": "dac_conversions",
    "programming_pulses": "write_pulses",
    "verify_reads": "verify_reads",
    "cells_programmed": None,
    "updates": None,
    # Update-mode counts of crossbar (issue 13); not yet priced here (issue 14 costs them).
    "accumulator_reads": None,
    "accumulator_writes": None,
    "transfers": None,
    "rounding_draws": None,
    "pulse_cycles": None,
    "stochastic_bits": None,
}
"""``crossbar`` counter name -> :class:`Counts` field (None: informational, not a cost event;
re-programming is already in ``programming_pulses``)."""


def counts_from_crossbar(totals: Mapping[str, Any]) -> Counts:
    """:class:`Counts` from the totals of ``crossbar``'s counters (``CrossbarCounters.totals()``).

    Names are mapped with :data:`CROSSBAR_NAMES`; unknown names raise with a did-you-mean hint.
    The other fields (spikes, neuron updates, digital work, buffers) come from the simulator.
    """
    totals = check_mapping("crossbar totals", totals)
    check_keys(totals, CROSSBAR_NAMES, "crossbar totals")
    return Counts(**{f: v for k, v in totals.items() if (f := CROSSBAR_NAMES[k]) is not None})


def count_fields() -> tuple[str, ...]:
    """Names of the fields of :class:`Counts`."""
    return tuple(f.name for f in dataclasses.fields(Counts))


@dataclass(frozen=True)
class LayerWorkload:
    """Counts of one layer: its identity and one :class:`Counts` per phase.

    Parameters
    ----------
    name, kind, n_in, n_out : as in :class:`hwsim.arch.LayerShape`
    time_steps : int
        Time steps per sample of this layer.
    phases : mapping phase -> Counts
        Phases from :data:`PHASES`; a missing phase counts nothing.
    """

    name: str
    kind: str
    n_in: int
    n_out: int
    time_steps: int
    phases: Mapping[str, Counts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwsimError(f"LayerWorkload.name={self.name!r}: expected a non-empty string")
        check_choice(f"LayerWorkload({self.name}).kind", self.kind, LAYER_KINDS)
        for attr in ("n_in", "n_out", "time_steps"):
            check_int(f"LayerWorkload({self.name}).{attr}", getattr(self, attr))
        phases = dict(check_mapping(f"LayerWorkload({self.name}).phases", self.phases))
        check_keys(phases, PHASES, f"LayerWorkload({self.name}).phases")
        for phase, counts in phases.items():
            if not isinstance(counts, Counts):
                raise HwsimError(
                    f"LayerWorkload({self.name}).phases[{phase!r}]={counts!r}: expected Counts"
                )
        object.__setattr__(self, "phases", phases)

    def counts(self, phase: str) -> Counts:
        """Counts of ``phase`` (zeros if the phase is absent)."""
        check_choice("phase", phase, PHASES)
        return self.phases.get(phase, Counts())


@dataclass(frozen=True)
class Workload:
    """All layers' counts over ``samples`` samples, in network order."""

    layers: tuple[LayerWorkload, ...]
    samples: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.layers, LayerWorkload) or not isinstance(self.layers, Sequence):
            raise HwsimError(
                f"Workload.layers={self.layers!r}: expected a sequence of LayerWorkload"
            )
        layers = tuple(self.layers)
        if not layers or not all(isinstance(x, LayerWorkload) for x in layers):
            raise HwsimError(
                f"Workload.layers={self.layers!r}: expected a non-empty sequence of LayerWorkload"
            )
        object.__setattr__(self, "layers", layers)
        check_int("Workload.samples", self.samples)

    def total(self, phase: str | None = None) -> Counts:
        """Counts summed over layers (and over phases if ``phase`` is None)."""
        phases = PHASES if phase is None else (check_choice("phase", phase, PHASES),)
        out = Counts()
        for layer in self.layers:
            for p in phases:
                out = out + layer.counts(p)
        return out

    def scaled(self, factor: float) -> Workload:
        """Every count multiplied by ``factor`` (same samples)."""
        return Workload(
            layers=tuple(
                dataclasses.replace(
                    layer, phases={p: c.scaled(factor) for p, c in layer.phases.items()}
                )
                for layer in self.layers
            ),
            samples=self.samples,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (ints, strings and floats) for JSON / HDF5 attributes."""
        return {
            "samples": self.samples,
            "layers": [
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "n_in": layer.n_in,
                    "n_out": layer.n_out,
                    "time_steps": layer.time_steps,
                    "phases": {p: c.to_dict() for p, c in layer.phases.items()},
                }
                for layer in self.layers
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workload:
        """Inverse of :meth:`to_dict`; unknown keys are rejected with a did-you-mean hint."""
        data = check_mapping("workload", data)
        check_keys(data, ("samples", "layers"), "workload")
        layers = []
        for i, item in enumerate(data.get("layers", ())):
            item = check_mapping(f"workload.layers[{i}]", item)
            check_keys(
                item,
                ("name", "kind", "n_in", "n_out", "time_steps", "phases"),
                f"workload.layers[{i}]",
            )
            phases = check_mapping(f"workload.layers[{i}].phases", item.get("phases", {}))
            layers.append(
                LayerWorkload(
                    **{k: v for k, v in item.items() if k != "phases"},
                    phases={p: Counts.from_dict(c) for p, c in phases.items()},
                )
            )
        return cls(layers=tuple(layers), samples=data.get("samples", 1))


@dataclass(frozen=True)
class Activity:
    """Assumed activity for :func:`shape_workload`.

    Parameters
    ----------
    input_rate : float in [0, 1]
        Fraction of the first layer's input rows active per step.
    binary_input : bool
        True if the first layer receives spikes (no DAC); False (default) if it is driven with
        multi-level values (direct encoding, as SNN_HAR's SFCN), one DAC conversion per row.
    spike_rate : float or tuple of float in [0, 1]
        Output spike rate per neuron and step, one value for all layers or one per layer.
    update_fraction : float in [0, 1]
        Fraction of weights that receive programming pulses per sample.
    pulses_per_update : float
        Pulses per updated weight column (per cell).
    verifies_per_pulse : float
        Verify reads per pulse.
    """

    input_rate: float = 0.1
    binary_input: bool = False
    spike_rate: float | tuple[float, ...] = 0.1
    update_fraction: float = 0.1
    pulses_per_update: float = 1.0
    verifies_per_pulse: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.binary_input, bool):
            raise HwsimError(f"Activity.binary_input={self.binary_input!r}: expected True or False")
        for attr in ("input_rate", "update_fraction"):
            if check_real(f"Activity.{attr}", getattr(self, attr)) > 1.0:
                raise HwsimError(
                    f"Activity.{attr}={getattr(self, attr)!r}: expected a value in [0, 1]"
                )
        rates = self.spike_rate if isinstance(self.spike_rate, tuple) else (self.spike_rate,)
        for r in rates:
            if check_real("Activity.spike_rate", r) > 1.0:
                raise HwsimError(f"Activity.spike_rate={r!r}: expected values in [0, 1]")
        check_real("Activity.pulses_per_update", self.pulses_per_update)
        check_real("Activity.verifies_per_pulse", self.verifies_per_pulse)

    def rates(self, n_layers: int) -> tuple[float, ...]:
        """Output spike rate of each of ``n_layers`` layers."""
        if not isinstance(self.spike_rate, tuple):
            return (float(self.spike_rate),) * n_layers
        if len(self.spike_rate) != n_layers:
            raise HwsimError(
                f"Activity.spike_rate has {len(self.spike_rate)} values: expected 1 or {n_layers} "
                "(one per layer)"
            )
        return tuple(float(r) for r in self.spike_rate)


def _inference(
    arch: Architecture, layer: LayerShape, t: int, a_in: float, a_out: float, multilevel: bool
) -> Counts:
    """Forward pass of one layer over ``t`` steps (SFDFA tangents are added separately).

    Binary spike inputs need no DAC; ``multilevel`` inputs use one conversion per driven row.
    """
    m = arch.mapping(layer)
    steps = layer.out_positions * t
    neurons = layer.neurons * t
    rows_driven = a_in * layer.rows * m.col_blocks * steps
    return Counts(
        mvm=m.arrays * steps,
        active_rows=rows_driven,
        dac_conversions=rows_driven if multilevel else 0.0,
        adc_conversions=m.row_blocks * layer.n_out * steps,
        digital_adds=(m.row_blocks - 1) * layer.n_out * steps,
        neuron_updates=neurons,
        spikes=a_out * neurons,
        sram_read_bits=layer.rows * steps + neurons * arch.membrane_bits,
        sram_write_bits=neurons * (arch.membrane_bits + 1),
    )


def _tangent(arch: Architecture, layer: LayerShape, t: int, a_in: float) -> Counts:
    """SFDFA forward-mode tangents: a bit-serial pass of the input spikes' tangents through W."""
    m = arch.mapping(layer)
    bits = arch.learning.trace_bits
    steps = layer.out_positions * t
    rows_driven = a_in * layer.rows * m.col_blocks * steps * bits
    state_bits = layer.neurons * t * bits
    return Counts(
        mvm=m.arrays * steps * bits,
        active_rows=rows_driven,
        dac_conversions=rows_driven,
        adc_conversions=m.row_blocks * layer.n_out * steps * bits,
        digital_adds=layer.neurons * t,
        sram_read_bits=state_bits,
        sram_write_bits=state_bits,
    )


def _traces(arch: Architecture, layer: LayerShape, t: int) -> Counts:
    """DFA/SFDFA eligibility traces: presynaptic and surrogate traces updated every step."""
    n = (layer.rows + layer.n_out) * layer.out_positions
    bits = n * t * arch.learning.trace_bits
    return Counts(digital_adds=n * t, sram_read_bits=bits, sram_write_bits=bits)


def _bp_delivery(arch: Architecture, layer: LayerShape, t: int, transposed: bool) -> Counts:
    """BPTT error delivery at ``layer``.

    Elementwise work on the layer's own error (surrogate derivative, membrane recurrence,
    restoring its stored membranes and spikes) and, if ``transposed``, the bit-serial
    transposed reads of the layer's arrays that deliver the error to the layer below.
    """
    lu = arch.learning
    out = Counts(
        digital_mults=2 * layer.neurons * t,
        digital_adds=layer.neurons * t,
        restored_activation_bits=layer.neurons * t * (arch.membrane_bits + 1),
        sram_write_bits=layer.neurons * t * lu.delta_bits,
    )
    if not transposed:
        return out
    m = arch.mapping(layer)
    steps = layer.out_positions * t * lu.delta_bits
    cols_driven = layer.n_out * arch.columns_per_weight * m.row_blocks * steps
    return out + Counts(
        transposed_reads=m.arrays * steps,
        active_cols=cols_driven,
        dac_conversions=cols_driven,
        adc_conversions=layer.rows * m.col_blocks * steps,
        digital_adds=(m.col_blocks - 1) * layer.rows * layer.out_positions * t,
        sram_read_bits=layer.neurons * t * lu.delta_bits,
    )


def shape_workload(
    arch: Architecture,
    time_steps: int | Sequence[int],
    activity: Activity | None = None,
    samples: int = 1,
) -> Workload:
    """Counts derived from layer shapes, time steps and assumed activity (no simulation).

    The rule is ``arch.learning.rule``; the equations per phase and rule are listed in
    docs/hwsim.md ("Shape-only workload"). Counts are for ``samples`` identical samples.

    Parameters
    ----------
    arch : Architecture
    time_steps : int or sequence of int
        Time steps per sample, for all layers or one value per layer (e.g. a Conv1d network
        whose time axis shrinks from layer to layer).
    activity : Activity, optional
        Defaults to ``Activity()``.
    samples : int
    """
    n_layers = len(arch.layers)
    steps = (time_steps,) * n_layers if isinstance(time_steps, int) else tuple(time_steps)
    if len(steps) != n_layers:
        raise HwsimError(
            f"time_steps has {len(steps)} values: expected an int or {n_layers} (one per layer)"
        )
    for i, value in enumerate(steps):
        check_int(f"time_steps[{i}]", value)
    check_int("samples", samples)
    activity = Activity() if activity is None else activity
    if not isinstance(activity, Activity):
        raise HwsimError(f"activity={activity!r}: expected hwsim.workload.Activity")
    lu = arch.learning
    rates = activity.rates(n_layers)
    inputs = (activity.input_rate,) + rates[:-1]
    last = n_layers - 1
    c = lu.n_classes
    out = []
    for i, layer in enumerate(arch.layers):
        t = steps[i]
        m = arch.mapping(layer)
        multilevel = i == 0 and not activity.binary_input
        phases: dict[str, Counts] = {
            "inference": _inference(arch, layer, t, inputs[i], rates[i], multilevel)
        }
        if lu.rule != "none":
            weight_cells = layer.rows * layer.n_out * arch.columns_per_weight
            pulses = activity.update_fraction * weight_cells * activity.pulses_per_update
            phases["weight_update"] = Counts(
                write_pulses=pulses, verify_reads=pulses * activity.verifies_per_pulse
            )
            if i == last:
                phases["error_compute"] = Counts(
                    digital_adds=layer.neurons * t + 2 * c, digital_mults=2 * c
                )
        if lu.feedback_alignment:
            phases["inference"] = phases["inference"] + _traces(arch, layer, t)
            if lu.rule == "sfdfa" and i > 0:
                phases["inference"] = phases["inference"] + _tangent(arch, layer, t, inputs[i])
            delivery = Counts(digital_mults=layer.neurons)
            if i != last and lu.feedback_storage == "sram":
                delivery = delivery + Counts(feedback_macs=layer.n_out * c)
            elif i != last:
                bits = lu.delta_bits
                rows_driven = c * m.feedback_col_blocks * bits
                delivery = delivery + Counts(
                    mvm=m.feedback_arrays * bits,
                    active_rows=rows_driven,
                    dac_conversions=rows_driven,
                    adc_conversions=m.feedback_row_blocks * layer.n_out * bits,
                )
            phases["error_delivery"] = delivery
            pairs = layer.rows * layer.n_out * layer.out_positions
            update = Counts(
                digital_mults=pairs,
                digital_adds=pairs,
                sram_read_bits=(layer.rows + layer.n_out) * layer.out_positions * lu.trace_bits,
            )
            if lu.rule == "sfdfa" and i != last:
                update = update + Counts(
                    feedback_macs=2 * layer.n_out * c,
                    sram_write_bits=layer.n_out * c * lu.feedback_bits,
                )
            phases["weight_update"] = phases["weight_update"] + update
        elif lu.rule == "bp":
            first_inputs = layer.rows * layer.out_positions * t if i == 0 else 0.0
            phases["inference"] = phases["inference"] + Counts(
                stored_activation_bits=layer.neurons * t * (arch.membrane_bits + 1) + first_inputs
            )
            phases["error_delivery"] = _bp_delivery(arch, layer, t, transposed=i > 0)
            phases["weight_update"] = phases["weight_update"] + Counts(
                digital_adds=inputs[i] * layer.rows * layer.n_out * layer.out_positions * t,
                digital_mults=layer.rows * layer.n_out,
                sram_read_bits=layer.neurons * t * lu.delta_bits,
                restored_activation_bits=first_inputs,
            )
        out.append(
            LayerWorkload(
                name=layer.name,
                kind=layer.kind,
                n_in=layer.n_in,
                n_out=layer.n_out,
                time_steps=t,
                phases=phases,
            )
        )
    return dataclasses.replace(Workload(tuple(out)).scaled(samples), samples=samples)
