"""The rule registry: one descriptor per learning rule, iterated by every module.

A :class:`RuleSpec` holds everything the rest of the project needs to know about a rule: its
canonical name (the key of results and configs), the label of reports, accepted aliases,
``hwsim``'s name for its learning units, how to build it, which feedback projector it keeps,
and the digital events it causes per phase and per synaptic layer of a learned window.  No
module compares a rule name as a string: they look the rule up here (:func:`get_rule`) and
read the descriptor.  Adding a rule is one :func:`register` call (docs/extending.md).

Events (counted by ``snn_dfa.app.hardware.PhaseMeter``, costed by ``hwsim``) are split in
three sources so each is counted once: the synapse backends (crossbar reads, pulses), the
feedback projector (``B e`` products and ``B`` updates, :mod:`snn_dfa.rules.feedback`), and
the rule's own digital arithmetic and storage, :attr:`RuleSpec.events` below, given a
:class:`LayerEvents` (one synaptic layer of one learned window at batch 1: its steps,
neurons, stored inputs and precisions).  The meter adds what every rule does alike (the
gradient's gated additions, the error, buffer traffic); the equations are hwsim's shape path
(docs/hwsim.md, section 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snn_dfa._validation import SeedLike, check_keys, check_random_state
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.errors import ValidationError
from snn_dfa.rules.feedback import FeedbackProjector
from snn_dfa.rules.learning import (
    BPTT,
    DFA,
    SFDFA,
    NoUpdate,
    Rule,
    Shallow,
    random_feedback_for,
)
from snn_dfa.rules.optical import optical_feedback_for


@dataclass(frozen=True)
class LayerEvents:
    """One synaptic layer of one learned window, as a rule's :attr:`RuleSpec.events` sees it.

    Attributes
    ----------
    steps, n, n_classes : int
        Output time steps, neurons, classes; ``nt = steps * n`` below.
    membrane_bits : int
        Bits of a stored membrane potential.
    hidden, first : bool
        Not the output layer; the first synaptic layer (its input is data).
    input_bits : float
        Bits of the layer's inputs over the window (values x bits per value).
    slope_bits, delta_bits, tangent_bits, feedback_bits : int
        Precisions of a stored surrogate slope, an error, a tangent or perturbation, a
        feedback entry.
    """

    steps: int
    n: int
    n_classes: int
    membrane_bits: int
    hidden: bool
    first: bool
    input_bits: float
    slope_bits: int = 8
    delta_bits: int = 8
    tangent_bits: int = 8
    feedback_bits: int = 8

    @property
    def nt(self) -> int:
        """Neuron updates over the window: ``steps * n``."""
        return self.steps * self.n


#: ``events(layer) -> {phase: {counter: count}}``
EventsFn = Callable[[LayerEvents], dict[str, dict[str, float]]]
#: ``factory(network, rng, options) -> Rule``
FactoryFn = Callable[[SpikingNetwork, np.random.Generator, dict[str, object]], Rule]


def _no_events(layer: LayerEvents) -> dict[str, dict[str, float]]:
    return {}


@dataclass(frozen=True)
class RuleSpec:
    """Descriptor of one learning rule.

    Attributes
    ----------
    name : str
        Canonical name: config value, results key prefix (``<name>_final_accuracy_pct``).
    label : str
        Human-readable label of reports and figures.
    factory : callable
        ``factory(network, rng, options) -> Rule``; ``options`` are checked against
        :attr:`options` first.
    hw_name : str
        The rule's name in ``hwsim.LearningUnits`` ("none", "dfa", "sfdfa", "bp").
    aliases : tuple of str
        Other accepted spellings (configs, ``make_rule``); never written anywhere.
    options : tuple of str
        Keyword options the factory accepts.
    feedback : str or None
        Kind of feedback projector the rule keeps (``"random"``, ``"learned"``, ``"optical"``:
        a simulated OPU), None if none; :meth:`projector_from` rebuilds it from stored
        matrices.
    events : callable
        ``events(LayerEvents) -> {phase: {counter: count}}``: the rule's own digital events
        and storage per phase for one synaptic layer of one learned window (projector and
        crossbar events are counted by those objects).
    baseline : bool
        The rule the others are compared with in the main job's summary (backprop).
    pretrained_as : str or None
        With ``pretrain.rule = "matched"``, the rule whose pre-trained network this rule starts
        from (None: itself). Controls that do not train hidden layers (readout only, no
        adaptation) start from backprop's network, as a deployed product would.
    """

    name: str
    label: str
    factory: FactoryFn
    hw_name: str
    aliases: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    feedback: str | None = None
    events: EventsFn = field(default=_no_events)
    baseline: bool = False
    pretrained_as: str | None = None

    def build(self, network: SpikingNetwork, seed: SeedLike = None, *,
              wrap: Callable[[FeedbackProjector], FeedbackProjector] | None = None,
              **options: Any) -> Rule:
        """The rule for ``network``, seeded by ``seed``, with the factory's ``options``.

        ``wrap`` (e.g. a :class:`~snn_dfa.rules.feedback.ProjectorWrapper` subclass) replaces
        the rule's projector by ``wrap(projector)``; a rule without one raises.
        """
        check_keys(f"options of rule {self.name!r}", options, list(self.options))
        rule = self.factory(network, check_random_state(seed), dict(options))
        if wrap is not None:
            if self.feedback is None:
                raise ValidationError(f"wrap: rule {self.name!r} keeps no feedback projector")
            rule.projector = wrap(rule.projector)  # type: ignore[attr-defined]  # a rule with spec.feedback keeps .projector
        return rule

    def select(self, available: Mapping[str, Any]) -> dict[str, Any]:
        """The entries of ``available`` this rule accepts as options (e.g. from a config)."""
        return {k: v for k, v in available.items() if k in self.options}

    def projector_from(self, matrices: list[np.ndarray], dtype: np.dtype | type,
                       seed: SeedLike = None, **options: object) -> FeedbackProjector:
        """This rule's projector holding the given ``B_l`` (e.g. read back from a cache).

        An optical projector cannot be given matrices (they are its medium's): it is the
        device of ``options["device_seed"]`` again, with its shot noise drawn from ``seed``,
        and ValidationError if its matrices are not the given ones.
        """
        from snn_dfa.rules.feedback import LearnedFeedback, RandomFeedback

        if self.feedback == "random":
            return RandomFeedback.from_matrices(matrices, dtype=dtype)
        if self.feedback == "learned":
            lr = options.get("feedback_lr", 1e-3)
            return LearnedFeedback.from_matrices(matrices, lr=lr, dtype=dtype)
        if self.feedback == "optical":
            sizes = [int(np.shape(m)[0]) for m in matrices]
            n_classes = int(np.shape(matrices[0])[1]) if matrices else 0
            projector = optical_feedback_for(sizes, n_classes, seed=seed, dtype=dtype,
                                             **options)  # type: ignore[arg-type]  # the rule's options, checked by the config
            tol = 10 * np.finfo(np.dtype(dtype)).eps * max(
                (float(np.abs(m).max()) for m in matrices if np.size(m)), default=1.0)
            if any(np.shape(a) != np.shape(b) or np.abs(np.asarray(a, np.float64) - b).max() > tol
                   for a, b in zip(projector.matrices, matrices)):
                raise ValidationError(f"matrices: rule {self.name!r} was given feedback matrices "
                                      "that are not those of the OPU of its device_seed")
            return projector
        raise ValidationError(f"rule {self.name!r}: keeps no feedback matrices")


_RULES: dict[str, RuleSpec] = {}
_NAMES: dict[str, str] = {}


def register(spec: RuleSpec) -> RuleSpec:
    """Add ``spec`` to the registry (its name and aliases must be new)."""
    for key in (spec.name, *spec.aliases):
        if key in _NAMES:
            raise ValidationError(f"rule name {key!r}: already registered for {_NAMES[key]!r}")
    _RULES[spec.name] = spec
    for key in (spec.name, *spec.aliases):
        _NAMES[key] = spec.name
    return spec


def get_rule(name: str | RuleSpec) -> RuleSpec:
    """The descriptor of ``name`` (canonical or alias); ValidationError naming the choices."""
    if isinstance(name, RuleSpec):
        return name
    canonical = _NAMES.get(name) if isinstance(name, str) else None
    if canonical is None:
        raise ValidationError(
            f"rule={name!r}: expected one of {', '.join(map(repr, _RULES))} "
            f"(or an alias: {', '.join(repr(a) for s in _RULES.values() for a in s.aliases)})")
    return _RULES[canonical]


def canonical(name: str) -> str:
    """The canonical name of ``name`` (an alias gives its rule's name)."""
    return get_rule(name).name


def rules() -> Iterator[RuleSpec]:
    """Every registered rule, in registration order."""
    return iter(tuple(_RULES.values()))


def names() -> tuple[str, ...]:
    """Canonical names of every registered rule."""
    return tuple(_RULES)


def label(name: str) -> str:
    """The report label of ``name`` (canonical or alias); an unknown name is its own label
    (results written by another version)."""
    canonical_name = _NAMES.get(name)
    return name if canonical_name is None else _RULES[canonical_name].label


def baseline() -> RuleSpec:
    """The rule the others are compared with (backprop)."""
    return next(s for s in _RULES.values() if s.baseline)


# --- the rules ------------------------------------------------------------------------------

def _bp_events(layer: LayerEvents) -> dict[str, dict[str, float]]:
    # BPTT keeps every step's inputs and membranes; the surrogate chain is two products and a
    # sum per neuron and step; the deltas of every step wait in the tile buffer for the update
    nt = float(layer.nt)
    membranes = nt * layer.membrane_bits
    deltas = nt * layer.delta_bits
    delivery = {"store_write_bits": layer.input_bits + membranes, "store_read_bits": membranes,
                "digital_mults": 2 * nt, "digital_adds": nt, "sram_write_bits": deltas}
    if not layer.first:  # the delta read out of this layer drives its transposed reads
        delivery["sram_read_bits"] = deltas
    return {"error_delivery": delivery,
            "weight_update": {"store_read_bits": layer.input_bits, "sram_read_bits": deltas}}


def _dfa_events(layer: LayerEvents) -> dict[str, dict[str, float]]:
    # every step's inputs and surrogate slopes wait for the error at the end of the window;
    # the update multiplies the projected error by each step's slope
    store = layer.input_bits + float(layer.nt * layer.slope_bits)
    return {"error_delivery": {"store_write_bits": store},
            "weight_update": {"store_read_bits": store, "update_mults": float(layer.nt)}}


def _sfdfa_events(layer: LayerEvents) -> dict[str, dict[str, float]]:
    # DFA's store and update, plus the window's perturbations (hidden layers) and the forward
    # tangents through every layer but the first: a sum and two products per neuron and step
    out = _dfa_events(layer)
    if layer.hidden:
        xi = float(layer.n * layer.tangent_bits)
        out["error_delivery"]["store_write_bits"] += xi
        out["weight_update"]["store_read_bits"] += xi
        out["weight_update"]["sram_write_bits"] = float(
            layer.n * layer.n_classes * layer.feedback_bits)  # B's moving average
    if not layer.first:
        nt = float(layer.nt)
        out["error_delivery"].update(digital_adds=nt, digital_mults=2 * nt,
                                     sram_read_bits=nt * layer.tangent_bits,
                                     sram_write_bits=nt * layer.tangent_bits)
    return out


def _build_dfa(network: SpikingNetwork, rng: np.random.Generator, options: dict[str, object]
               ) -> Rule:
    return DFA(random_feedback_for(network, seed=rng, **options))  # type: ignore[arg-type]  # options were checked against spec.options by build


def _build_sfdfa(network: SpikingNetwork, rng: np.random.Generator, options: dict[str, object]
                 ) -> Rule:
    return SFDFA(network, seed=rng, **options)  # type: ignore[arg-type]  # options were checked against spec.options by build


BP = register(RuleSpec(
    name="bp", label="BP (BPTT)", aliases=("bptt",), hw_name="bp",
    factory=lambda network, rng, options: BPTT(), events=_bp_events, baseline=True))
DFA_RULE = register(RuleSpec(
    name="dfa", label="DFA", hw_name="dfa", factory=_build_dfa,
    options=("distribution", "scaling", "shared"), feedback="random", events=_dfa_events))
SFDFA_RULE = register(RuleSpec(
    name="sfdfa", label="SFDFA", hw_name="sfdfa", factory=_build_sfdfa,
    options=("feedback_lr",), feedback="learned", events=_sfdfa_events))
SHALLOW = register(RuleSpec(
    name="shallow", label="Readout only", hw_name="none",
    factory=lambda network, rng, options: Shallow(), pretrained_as="bp"))
NONE = register(RuleSpec(
    name="none", label="No adaptation", hw_name="none",
    factory=lambda network, rng, options: NoUpdate(), pretrained_as="bp"))


def _build_optical_dfa(network: SpikingNetwork, rng: np.random.Generator,
                       options: dict[str, object]) -> Rule:
    sizes = [network.layers[i].n_out for i in network.synaptic_layers[:-1]]
    return DFA(optical_feedback_for(sizes, network.n_classes, seed=rng, dtype=network.dtype,
                                    **options))  # type: ignore[arg-type]  # options were checked against spec.options by build


#: DFA whose projection runs on a simulated optical co-processor (Launay et al. 2020,
#: arXiv 2012.06373): the error ternarised, four camera frames per example
#: (:mod:`snn_dfa.rules.optical`).  The chip's side is costed as DFA's (hw_name "dfa"); the
#: OPU's frames and time are counted by its projector (``frames``) and priced by
#: ``hwsim.photonic``.
OPTICAL_DFA = register(RuleSpec(
    name="optical_dfa", label="Optical DFA (OPU)", hw_name="dfa", factory=_build_optical_dfa,
    aliases=("opu_dfa",),
    options=("threshold", "photons_per_unit", "bit_depth", "full_scale", "frame_rate_hz",
             "device_seed"),
    feedback="optical", events=_dfa_events))
