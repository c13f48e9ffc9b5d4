"""Workload records: event counts per layer and phase, from a simulation or from shapes alone.

A simulation fills :class:`Counts` from its counters (``crossbar``'s names are mapped by
:data:`CROSSBAR_NAMES`; the full table is in docs/hwsim.md) and adds what the simulator
counts itself (spikes, neuron updates, digital work, storage).  :func:`shape_workload`
derives the same counts from layer shapes, time steps and assumed activity when no run
exists.  Counts record *what happened* (reads, spike-gated accumulations, pulses); *how* it is
carried out and priced (bit-serial or multi-level reads, dense or gated arithmetic, where B
lives, leakage) is chosen in :mod:`hwsim.estimate` (:class:`hwsim.assumptions.Assumptions`),
so the count path and the shape path are costed the same way.

Counts are totals over the workload: the ``inference`` phase over
``Workload.inference_windows`` windows (every window, labelled or not), the learning phases
over ``Workload.samples`` learned windows.  Every field is a non-negative number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hwsim._validate import (
    check_choice,
    check_int,
    check_keys,
    check_mapping,
    check_real,
)
from hwsim.arch import LAYER_KINDS, Architecture, LayerShape
from hwsim.errors import HwsimError

PHASES = ("inference", "error_compute", "error_delivery", "weight_update")
LEARNING_PHASES = PHASES[1:]


@dataclass(frozen=True)
class Counts:
    """Event counts of one layer in one phase (all >= 0; totals over the workload's windows).

    A *read* is one input vector applied to one physical array, whatever its precision.

    Attributes
    ----------
    mvm : forward reads (rows driven, columns sensed).
    active_rows : sum over forward reads of the rows driven with a non-zero input.
    adc_conversions : forward ADC conversions (one per sensed line; a differential pair is one).
    multilevel_mvm, multilevel_rows, multilevel_adc_conversions : the part of the three above
        whose input vector is multi-level (direct-encoded inputs, SFDFA tangents); priced as
        ``Architecture.input_bits`` bit-serial passes or one multi-level DAC pass.
    transposed_reads : transposed reads (columns driven with the multi-level error, rows
        sensed); priced as ``LearningUnits.delta_bits`` passes or one DAC pass.
    active_cols : sum over transposed reads of the columns driven.
    transposed_adc_conversions : ADC conversions of transposed reads (one per sensed row).
    spikes : output spikes, each sent over the H-tree as one address event.
    neuron_updates : LIF membrane updates.
    feedback_macs : multiply-adds of the DFA/SFDFA projections ``B_l e`` (``n_l C`` per
        projection), priced from SRAM or as reads of feedback crossbars.
    digital_adds, digital_mults : other digital arithmetic (errors, surrogate slopes,
        recurrences, partial sums, B updates).
    update_adds : gated accumulations of the weight gradient: one add per input spike and
        output per step (a ``b``-bit input: ``b`` shifted adds per non-zero input and output).
    update_mults : multiplies of the weight gradient (error times slope per output and step).
    sram_read_bits, sram_write_bits : traffic of the tiles' local SRAM buffers (inputs,
        membranes, tangents, deltas).
    store_write_bits, store_read_bits : traffic of the per-window learning store: what a rule
        keeps between the forward pass and its update (BPTT inputs and membranes, DFA/SFDFA
        per-step inputs and surrogate slopes or eligibility traces, SFDFA perturbations).
    accumulator_read_bits, accumulator_write_bits : traffic of a persistent update accumulator
        (mixed-precision updates).
    write_pulses : RRAM programming pulses (for stochastic updates: coincident pulses).
    verify_reads : write-verify reads (one cell each).
    pulse_cycles : stochastic pulse-coincidence update cycles, summed over arrays.
    """

    mvm: float = 0.0
    active_rows: float = 0.0
    adc_conversions: float = 0.0
    multilevel_mvm: float = 0.0
    multilevel_rows: float = 0.0
    multilevel_adc_conversions: float = 0.0
    transposed_reads: float = 0.0
    active_cols: float = 0.0
    transposed_adc_conversions: float = 0.0
    spikes: float = 0.0
    neuron_updates: float = 0.0
    feedback_macs: float = 0.0
    digital_adds: float = 0.0
    digital_mults: float = 0.0
    update_adds: float = 0.0
    update_mults: float = 0.0
    sram_read_bits: float = 0.0
    sram_write_bits: float = 0.0
    store_write_bits: float = 0.0
    store_read_bits: float = 0.0
    accumulator_read_bits: float = 0.0
    accumulator_write_bits: float = 0.0
    write_pulses: float = 0.0
    verify_reads: float = 0.0
    pulse_cycles: float = 0.0

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
    "adc_conversions": "adc_conversions",
    "multilevel_mvms": "multilevel_mvm",
    "multilevel_active_rows": "multilevel_rows",
    "multilevel_adc_conversions": "multilevel_adc_conversions",
    "transposed_reads": "transposed_reads",
    "active_columns": "active_cols",
    "transposed_adc_conversions": "transposed_adc_conversions",
    "dac_conversions": None,
    "programming_pulses": "write_pulses",
    "verify_reads": "verify_reads",
    "cells_programmed": None,
    "updates": None,
    # update modes (crossbar.UpdateConfig.mode -> LearningUnits.update_mode)
    "accumulator_reads": "accumulator_read_bits",
    "accumulator_writes": "accumulator_write_bits",
    "transfers": None,
    "rounding_draws": None,
    "pulse_cycles": "pulse_cycles",
    "stochastic_bits": None,
}
"""``crossbar`` counter name -> :class:`Counts` field.  None: not a separate cost event
(``dac_conversions`` are the multi-level line drives ``multilevel_rows + active_cols``, priced
with the reads; re-programming is already in ``programming_pulses``; a *transfer* of the
accumulator is the pulses it sends, already in ``programming_pulses``, after the accumulator
read and write already counted; random numbers (``rounding_draws``, ``stochastic_bits``) are
not priced [limitation: no random-number generator cost in the technology presets]).
The accumulator counters are words: :data:`WORD_FIELDS` are multiplied by the accumulator's
width."""

WORD_FIELDS = ("accumulator_read_bits", "accumulator_write_bits")
"""Fields whose ``crossbar`` counts are words of ``LearningUnits.accumulator_bits`` bits."""


def counts_from_crossbar(totals: Mapping[str, Any], accumulator_bits: int = 16) -> Counts:
    """:class:`Counts` from the totals of ``crossbar``'s counters (``CrossbarCounters.totals()``).

    Names are mapped with :data:`CROSSBAR_NAMES`; unknown names raise with a did-you-mean hint.
    Accumulator words become bits (``accumulator_bits`` per word, the default of
    ``LearningUnits.accumulator_bits``).  The other fields (spikes, neuron updates, digital
    work, storage) come from the simulator.
    """
    totals = check_mapping("crossbar totals", totals)
    check_keys(totals, CROSSBAR_NAMES, "crossbar totals")
    width = check_int("accumulator_bits", accumulator_bits)
    return Counts(**{f: v * width if f in WORD_FIELDS else v for k, v in totals.items()
                     if (f := CROSSBAR_NAMES[k]) is not None})


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
    """All layers' counts, in network order.

    Parameters
    ----------
    layers : sequence of LayerWorkload
    samples : int
        Learned windows: the learning phases' counts are totals over these.
    inference_windows : int, optional
        Windows run through inference (labelled or not): the ``inference`` phase's counts are
        totals over these.  Defaults to ``samples`` (every window learned).
    """

    layers: tuple[LayerWorkload, ...]
    samples: int = 1
    inference_windows: int | None = None

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
        if self.inference_windows is None:
            object.__setattr__(self, "inference_windows", self.samples)
        check_int("Workload.inference_windows", self.inference_windows)

    def windows(self, phase: str) -> int:
        """The windows ``phase``'s counts are totals over (inference or learned windows)."""
        check_choice("phase", phase, PHASES)
        return int((self.inference_windows or self.samples) if phase == "inference" else self.samples)

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
            inference_windows=self.inference_windows,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (ints, strings and floats) for JSON / HDF5 attributes."""
        return {
            "samples": self.samples,
            "inference_windows": self.inference_windows,
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
        check_keys(data, ("samples", "inference_windows", "layers"), "workload")
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
        return cls(layers=tuple(layers), samples=data.get("samples", 1),
                   inference_windows=data.get("inference_windows"))


@dataclass(frozen=True)
class Activity:
    """Assumed activity for :func:`shape_workload`.

    Parameters
    ----------
    input_rate : float or tuple of float in [0, 1]
        Fraction of the first layer's input rows non-zero per step; or one value per layer
        (the non-zero fraction of every layer's inputs, e.g. after pooling), which replaces
        the previous layer's spike rate as a layer's input rate.
    binary_input : bool
        True if the first layer receives spikes; False (default) if it is driven with
        multi-level values (direct encoding, as SNN_HAR's SFCN).  Other layers are driven
        with multi-level values when their ``LayerShape.input_bits`` is set.
    spike_rate : float or tuple of float in [0, 1]
        Output spike rate per neuron and step, one value for all layers or one per layer.
    tangent_rate : float or tuple of float in [0, 1]
        Fraction of the input tangents that are non-zero in SFDFA's tangent pass (one value,
        or one per layer).
    delta_rate : float or tuple of float in [0, 1]
        Fraction of BP's errors that are non-zero (columns driven in transposed reads; one
        value, or one per layer).
    update_fraction : float in [0, 1]
        Fraction of weights that receive programming pulses per learned window.
    pulses_per_update : float
        Pulses per updated cell.
    verifies_per_pulse : float
        Verify reads per pulse.
    pulse_cycles_per_update : float
        Stochastic pulse-coincidence cycles (BL) per array and update (0: digital updates).
    """

    input_rate: float | tuple[float, ...] = 0.1
    binary_input: bool = False
    spike_rate: float | tuple[float, ...] = 0.1
    tangent_rate: float | tuple[float, ...] = 1.0
    delta_rate: float | tuple[float, ...] = 1.0
    update_fraction: float = 0.1
    pulses_per_update: float = 1.0
    verifies_per_pulse: float = 1.0
    pulse_cycles_per_update: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.binary_input, bool):
            raise HwsimError(f"Activity.binary_input={self.binary_input!r}: expected True or False")
        for attr in ("update_fraction",):
            if check_real(f"Activity.{attr}", getattr(self, attr)) > 1.0:
                raise HwsimError(
                    f"Activity.{attr}={getattr(self, attr)!r}: expected a value in [0, 1]"
                )
        for attr in ("input_rate", "spike_rate", "tangent_rate", "delta_rate"):
            value = getattr(self, attr)
            for r in value if isinstance(value, tuple) else (value,):
                if check_real(f"Activity.{attr}", r) > 1.0:
                    raise HwsimError(f"Activity.{attr}={r!r}: expected values in [0, 1]")
        check_real("Activity.pulses_per_update", self.pulses_per_update)
        check_real("Activity.verifies_per_pulse", self.verifies_per_pulse)
        check_real("Activity.pulse_cycles_per_update", self.pulse_cycles_per_update)

    def rates(self, n_layers: int, which: str = "spike_rate") -> tuple[float, ...]:
        """One value of ``which`` ("spike_rate", "tangent_rate", "delta_rate") per layer;
        ``"input_rate"``: every layer's input rate (the previous layer's spike rate unless
        given per layer)."""
        if which == "input_rate" and not isinstance(self.input_rate, tuple):
            return (float(self.input_rate),) + self.rates(n_layers)[:-1]
        value = getattr(self, check_choice(
            "which", which, ("input_rate", "spike_rate", "tangent_rate", "delta_rate")))
        if not isinstance(value, tuple):
            return (float(value),) * n_layers
        if len(value) != n_layers:
            raise HwsimError(
                f"Activity.{which} has {len(value)} values: expected 1 or {n_layers} "
                "(one per layer)"
            )
        return tuple(float(r) for r in value)


def forward_reads(
    arch: Architecture, layer: LayerShape, steps: float, rate: float, multilevel: bool
) -> Counts:
    """Forward reads of ``layer``'s arrays for ``steps`` input vectors with ``rate`` non-zero.

    ``mvm = A steps``, ``active_rows = rate R cb steps``, ``adc = rb N steps``, partial-sum
    adds ``(rb - 1) N steps``; the multi-level fields repeat the first three if ``multilevel``.
    """
    m = arch.mapping(layer)
    reads = Counts(
        mvm=m.arrays * steps,
        active_rows=rate * layer.rows * m.col_blocks * steps,
        adc_conversions=m.row_blocks * layer.n_out * steps,
        digital_adds=(m.row_blocks - 1) * layer.n_out * steps,
    )
    if not multilevel:
        return reads
    return reads + Counts(
        multilevel_mvm=reads.mvm,
        multilevel_rows=reads.active_rows,
        multilevel_adc_conversions=reads.adc_conversions,
    )


def transposed_reads(arch: Architecture, layer: LayerShape, steps: float, rate: float) -> Counts:
    """Transposed reads of ``layer``'s arrays for ``steps`` error vectors, ``rate`` non-zero.

    ``transposed_reads = A steps``, ``active_cols = rate N c rb steps`` (both columns of a
    pair), ``transposed_adc = R cb steps``, partial-sum adds ``(cb - 1) R steps``.
    """
    m = arch.mapping(layer)
    return Counts(
        transposed_reads=m.arrays * steps,
        active_cols=rate * layer.n_out * arch.columns_per_weight * m.row_blocks * steps,
        transposed_adc_conversions=layer.rows * m.col_blocks * steps,
        digital_adds=(m.col_blocks - 1) * layer.rows * steps,
    )


def store_bits_per_window(
    arch: Architecture, layer: LayerShape, t: int, hidden: bool, multilevel: bool
) -> float:
    """Bits one learned window keeps in the learning store for ``layer`` (its footprint).

    Every rule keeps the layer's inputs of every step (``n_in P T`` values: spikes of 1 bit,
    or ``input_bits`` for a multi-level first layer); BP adds the membranes
    (``N P T membrane_bits``), DFA and SFDFA the surrogate slopes (``N P T trace_bits``; the
    error arrives after the window), SFDFA also its perturbations (``N input_bits``, hidden
    layers).  A layer's output spikes are the next layer's inputs and are not stored twice.
    """
    lu = arch.learning
    if lu.rule == "none":
        return 0.0
    steps = layer.out_positions * t
    in_bits = arch.inference_input_bits(layer) if multilevel else 1
    bits = layer.n_in * steps * in_bits
    if lu.rule == "bp":
        return bits + layer.neurons * t * arch.membrane_bits
    bits += layer.neurons * t * lu.trace_bits
    if lu.rule == "sfdfa" and hidden:
        bits += layer.n_out * arch.input_bits
    return float(bits)


def shape_workload(
    arch: Architecture,
    time_steps: int | Sequence[int],
    activity: Activity | None = None,
    samples: int = 1,
    inference_windows: int | None = None,
) -> Workload:
    """Counts derived from layer shapes, time steps and assumed activity (no simulation).

    The rule is ``arch.learning.rule``; the equations per phase and rule are listed in
    docs/hwsim.md ("Shape-only workload").  Counts are for ``samples`` identical learned
    windows and ``inference_windows`` (default ``samples``) inference windows.

    Parameters
    ----------
    arch : Architecture
    time_steps : int or sequence of int
        Time steps per window, for all layers or one value per layer (e.g. a Conv1d network
        whose time axis shrinks from layer to layer).
    activity : Activity, optional
        Defaults to ``Activity()``.
    samples, inference_windows : int
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
    windows = samples if inference_windows is None else check_int(
        "inference_windows", inference_windows)
    activity = Activity() if activity is None else activity
    if not isinstance(activity, Activity):
        raise HwsimError(f"activity={activity!r}: expected hwsim.workload.Activity")
    lu = arch.learning
    rates = activity.rates(n_layers)
    tangents = activity.rates(n_layers, "tangent_rate")
    deltas = activity.rates(n_layers, "delta_rate")
    inputs = activity.rates(n_layers, "input_rate")
    last = n_layers - 1
    c = lu.n_classes
    out = []
    for i, layer in enumerate(arch.layers):
        t, n, r = steps[i], layer.n_out, layer.rows
        p_t = layer.out_positions * t
        nt = layer.neurons * t
        multilevel = (i == 0 and not activity.binary_input) or layer.input_bits is not None
        phases: dict[str, Counts] = {
            "inference": forward_reads(arch, layer, p_t, inputs[i], multilevel)
            + Counts(
                neuron_updates=nt,
                spikes=rates[i] * nt,
                sram_read_bits=r * p_t + nt * arch.membrane_bits,
                sram_write_bits=nt * (arch.membrane_bits + 1),
            )
        }
        phases["inference"] = phases["inference"].scaled(windows)
        if lu.rule != "none":
            store = store_bits_per_window(arch, layer, t, i != last, multilevel)
            in_store = layer.n_in * p_t * (arch.inference_input_bits(layer) if multilevel else 1)
            bits = arch.inference_input_bits(layer) if multilevel else 1
            gradient = Counts(update_adds=bits * inputs[i] * r * n * p_t)
            if not lu.digital_gradient:  # the outer product happens in the array
                gradient = Counts()
            cells = r * n * arch.columns_per_weight
            pulses = activity.update_fraction * cells * activity.pulses_per_update
            update = gradient + Counts(
                write_pulses=pulses,
                verify_reads=pulses * activity.verifies_per_pulse,
                pulse_cycles=activity.pulse_cycles_per_update * arch.mapping(layer).arrays,
            )
            if lu.update_mode == "mixed_precision":
                acc = r * n * lu.accumulator_bits
                update = update + Counts(accumulator_read_bits=acc, accumulator_write_bits=acc)
            if i == last:
                phases["error_compute"] = Counts(digital_adds=3 * c, digital_mults=2 * c)
            if lu.feedback_alignment:
                delivery = Counts(store_write_bits=store)
                if i != last:
                    delivery = delivery + Counts(feedback_macs=n * c)
                if lu.rule == "sfdfa" and i > 0:
                    delivery = delivery + forward_reads(
                        arch, layer, p_t, tangents[i], True
                    ) + Counts(
                        digital_adds=nt,
                        digital_mults=2 * nt,
                        sram_read_bits=nt * arch.input_bits,
                        sram_write_bits=nt * arch.input_bits,
                    )
                update = update + Counts(update_mults=nt, store_read_bits=store)
                if lu.rule == "sfdfa" and i != last:  # B's moving average
                    delivery = delivery + Counts(digital_mults=2 * n * c, digital_adds=n * c)
                    update = update + Counts(sram_write_bits=n * c * lu.feedback_bits)
            else:  # bp
                membranes = nt * arch.membrane_bits
                delivery = Counts(
                    store_write_bits=store,
                    store_read_bits=membranes,
                    digital_mults=2 * nt,
                    digital_adds=nt,
                    sram_write_bits=nt * lu.delta_bits,
                )
                if i > 0:
                    delivery = delivery + transposed_reads(
                        arch, layer, p_t, deltas[i]
                    ) + Counts(sram_read_bits=nt * lu.delta_bits)
                update = update + Counts(
                    store_read_bits=in_store, sram_read_bits=nt * lu.delta_bits
                )
            phases["error_delivery"] = delivery.scaled(samples)
            phases["weight_update"] = update.scaled(samples)
            if i == last:
                phases["error_compute"] = phases["error_compute"].scaled(samples)
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
    return Workload(tuple(out), samples=samples, inference_windows=windows)
