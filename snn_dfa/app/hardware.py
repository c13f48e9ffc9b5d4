"""Putting a network on the crossbar chip and accounting for what it does there.

* :func:`deploy` swaps every synaptic layer's ideal weights for a ``crossbar.CrossbarArray``
  (after batch norm has been folded), so forward reads, BP's transposed reads and updates
  all go through the non-ideal arrays.
* :class:`PhaseMeter` attributes the event counters of the crossbar arrays and of the rule's
  feedback projector to the phases of on-device learning, and adds the digital events of the
  window (spikes, neuron updates, outer products) and the rule's own, from its descriptor
  (:attr:`snn_dfa.rules.registry.RuleSpec.events`: BPTT storage, DFA deltas, tangents).
* :func:`architecture` and :meth:`PhaseMeter.workload` turn both into ``hwsim`` records.

With the rest of :mod:`snn_dfa.app`, this is where ``snn_dfa`` meets ``crossbar`` and
``hwsim``; the engine and the rules never see them (tests/test_layering.py).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

import crossbar
import hwsim
from snn_dfa.app.config import CrossbarSection, HwsimSection
from snn_dfa.engine.layers import Conv1d, SynapticLayer
from snn_dfa.engine.network import SpikingNetwork, Trace
from snn_dfa.rules import registry
from snn_dfa.rules.feedback import FeedbackProjector

#: Names of the entries of PhaseMeter's crossbar event vectors.
_EVENT_NAMES = (*crossbar.counters.EVENT_FIELDS, "updates")

#: how projector counters map to hwsim's ``Counts`` fields
_PROJECTOR_FIELDS = {"feedback_macs": "feedback_macs", "update_mults": "digital_mults",
                     "update_adds": "digital_adds"}


def crossbar_config(section: CrossbarSection) -> crossbar.CrossbarConfig:
    """The ``crossbar`` configuration a ``[crossbar]`` section describes."""
    return crossbar.CrossbarConfig(
        noise=crossbar.NoiseConfig(
            prog_sigma_rel=section.prog_sigma_rel, read_sigma_rel=section.read_sigma_rel,
            sa0_fraction=section.sa0_fraction, sa1_fraction=section.sa1_fraction,
            drift_nu=section.drift_nu),
        periphery=crossbar.PeripheryConfig(
            adc_bits=section.adc_bits, columns_per_adc=section.columns_per_adc,
            adc_full_scale_fraction=section.adc_full_scale_fraction),
        update=crossbar.UpdateConfig(c2c_sigma_rel=section.c2c_sigma_rel),
        ir_drop=section.ir_drop, tile_rows=section.array_size, tile_cols=section.array_size,
    )


def deploy(network: SpikingNetwork, section: CrossbarSection, seed: int,
           device: crossbar.DeviceParams | None = None) -> dict[int, crossbar.CrossbarArray]:
    """Fold batch norm and program every synaptic layer into crossbar arrays (in place).

    The same ``seed`` gives the same devices (programming errors, faults), so copies of one
    network deployed with one seed sit on identical chips.  ``device`` overrides the preset
    named in ``section`` (e.g. a preset with other wire resistances).
    """
    network.fold_batch_norm()
    network.train(False)
    config = crossbar_config(section)
    device = crossbar.get_preset(section.device) if device is None else device
    arrays = {}
    for i in network.synaptic_layers:
        layer = network.layers[i]
        assert isinstance(layer, SynapticLayer) and layer.synapses is not None
        arrays[i] = crossbar.CrossbarArray(layer.synapses.get_weights(), device, config,
                                           seed=np.random.default_rng([seed, i]),
                                           dtype=network.dtype)
        layer.synapses = arrays[i]
    return arrays


def architecture(network: SpikingNetwork, section: CrossbarSection, hw: HwsimSection,
                 rule: str | None) -> hwsim.Architecture:
    """The chip ``hwsim`` costs: one layer shape per synaptic layer, the crossbar geometry
    and periphery of ``section``, and the learning units of ``rule`` (None: inference only)."""
    shapes = []
    for i in network.synaptic_layers:
        layer = network.layers[i]
        assert isinstance(layer, SynapticLayer)
        if isinstance(layer, Conv1d):
            shapes.append(hwsim.LayerShape(f"layer{i}", "conv", layer.n_in, layer.n_out,
                                           kernel_elems=layer.kernel_size))
        else:
            shapes.append(hwsim.LayerShape(f"layer{i}", "linear", layer.n_in, layer.n_out))
    return hwsim.Architecture(
        layers=tuple(shapes), array_rows=section.array_size, array_cols=section.array_size,
        adc_bits=section.adc_bits, cols_per_adc=section.columns_per_adc,
        learning=hwsim.LearningUnits("none" if rule is None else registry.get_rule(rule).hw_name,
                                     n_classes=network.n_classes,
                                     feedback_storage=hw.feedback_storage))


class PhaseMeter:
    """Counts of one network's on-chip work, per synaptic layer and phase.

    Call :meth:`phase` at every phase boundary (``OnlineAdapter`` does, through its
    ``on_phase`` hook): crossbar and projector events since the previous boundary go to the
    phase that just ended.  :meth:`add_digital` adds the events the simulation computes
    itself.  ``projector`` is the rule's feedback projector (None for a rule without one);
    its layer ``k`` is the ``k``-th hidden synaptic layer.
    """

    def __init__(self, network: SpikingNetwork, arrays: dict[int, crossbar.CrossbarArray],
                 rule: str, membrane_bits: int = 8,
                 projector: FeedbackProjector | None = None) -> None:
        self.network, self.arrays = network, arrays
        self.rule = registry.get_rule(rule)
        self.projector = projector
        self.membrane_bits = membrane_bits
        self.counts: dict[tuple[int, str], dict[str, float]] = defaultdict(
            lambda: defaultdict(float))
        self.samples = 0
        self.steps: dict[int, int] = {}
        self._current: str | None = None
        self._last = {i: self._events(a) for i, a in arrays.items()}
        self._last_projector = projector.counters.snapshot() if projector is not None else None
        # crossbar events per (layer, phase), a vector over crossbar's names: turned into
        # hwsim counts once, by :meth:`workload` (the mapping of names is linear)
        self._crossbar: dict[tuple[int, str], np.ndarray] = {}

    @staticmethod
    def _events(arr: crossbar.CrossbarArray) -> np.ndarray:
        """The array's event totals as a vector: ``crossbar.EVENT_FIELDS``, then updates."""
        return np.append(arr.counters.counts.sum(axis=0), arr.counters.updates)

    def phase(self, name: str | None) -> None:
        """Close the running phase (attribute crossbar events to it) and open ``name``.

        A forward-mode rule's tangent pass (SFDFA: forward reads of the weight arrays with the
        perturbation tangents, during ``error_delivery``) is booked as ``inference`` work: the
        tangents travel with the forward pass, as dual numbers.  Projector events stay in the
        phase where they happen.
        """
        self._book_projector(self._current)
        target = self._current
        if self.rule.tangents_in_inference and target == "error_delivery":
            target = "inference"
        for i, arr in self.arrays.items():
            now = self._events(arr)
            delta = now - self._last[i]
            if target is not None and delta.any():
                if (i, target) in self._crossbar:
                    self._crossbar[(i, target)] += delta
                else:
                    self._crossbar[(i, target)] = delta
            self._last[i] = now
        self._current = name

    def _book_projector(self, phase: str | None) -> None:
        if self.projector is None or self._last_projector is None:
            return
        now = self.projector.counters.snapshot()
        if phase is not None:
            hidden = self.network.synaptic_layers[:-1]
            for name, field in _PROJECTOR_FIELDS.items():
                for k, value in enumerate(now[name] - self._last_projector[name]):
                    if value:
                        self.counts[(hidden[k], phase)][field] += float(value)
        self._last_projector = now

    def add_digital(self, trace: Trace, learned: bool) -> None:
        """Digital events of one window (batch 1) from its trace."""
        net = self.network
        syn = net.synaptic_layers
        n_cls = net.n_classes
        for k, i in enumerate(syn):
            layer = net.layers[i]
            assert isinstance(layer, SynapticLayer)
            cache = trace.caches[i]
            steps = layer.output_steps(cache["x"].shape[0])
            self.steps[i] = steps
            n = layer.n_out
            inf = self.counts[(i, "inference")]
            if "s" in cache:
                inf["spikes"] += float(cache["s"].sum())
            inf["neuron_updates"] += steps * n
            if not learned:
                continue
            hidden = k < len(syn) - 1
            for phase, events in self.rule.events(steps, n, n_cls, self.membrane_bits,
                                                  hidden).items():
                for field, value in events.items():
                    self.counts[(i, phase)][field] += value
            upd = self.counts[(i, "weight_update")]
            upd["digital_mults"] += steps * n * layer.fan_in  # sum_t delta x^T
            upd["digital_adds"] += steps * n * layer.fan_in
        out = self.counts[(syn[-1], "error_compute")]
        if learned:
            out["digital_adds"] += 3 * n_cls  # softmax normalisation and e = p - onehot
            out["digital_mults"] += 2 * n_cls
            self.samples += 1

    def workload(self) -> hwsim.Workload:
        """Everything counted so far as an ``hwsim.Workload`` over the learned windows."""
        layers = []
        for i in self.network.synaptic_layers:
            layer = self.network.layers[i]
            assert isinstance(layer, SynapticLayer)
            kind = "conv" if isinstance(layer, Conv1d) else "linear"
            phases = {}
            for p in hwsim.PHASES:
                if (i, p) not in self.counts and (i, p) not in self._crossbar:
                    continue
                merged = defaultdict(float, self.counts.get((i, p), {}))
                vector = self._crossbar.get((i, p), np.zeros(len(_EVENT_NAMES), np.int64))
                events = dict(zip(_EVENT_NAMES, vector.tolist()))
                for name, value in hwsim.counts_from_crossbar(events).to_dict().items():
                    if value:
                        merged[name] += value
                phases[p] = hwsim.Counts(**merged)
            layers.append(hwsim.LayerWorkload(f"layer{i}", kind, layer.n_in, layer.n_out,
                                              time_steps=self.steps.get(i, 1), phases=phases))
        return hwsim.Workload(tuple(layers), samples=max(self.samples, 1))
