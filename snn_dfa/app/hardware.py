"""Putting a network on the crossbar chip and accounting for what it does there.

* :func:`deploy` swaps every synaptic layer's ideal weights for a ``crossbar.CrossbarArray``
  (after batch norm has been folded), so forward reads, BP's transposed reads and updates
  all go through the non-ideal arrays.
* :class:`PhaseMeter` attributes the crossbar's event counters to the phases of on-device
  learning, and adds the digital events the simulation knows (spikes, neuron updates,
  feedback projections, BPTT storage, outer products).
* :func:`architecture` and :meth:`PhaseMeter.workload` turn both into ``hwsim`` records.

This module is the only place (with :mod:`snn_dfa.app.experiment`) where ``snn_dfa`` meets
``crossbar`` and ``hwsim``; neurons, layers and rules never see them.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

import crossbar
import hwsim
from snn_dfa.app.config import CrossbarSection, HwsimSection
from snn_dfa.engine.layers import Conv1d, SynapticLayer
from snn_dfa.engine.network import SpikingNetwork, Trace

#: hwsim's name of each learning rule.
HW_RULE = {"bptt": "bp", "dfa": "dfa", "sfdfa": "sfdfa", "none": "none"}


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
                 rule: str) -> hwsim.Architecture:
    """The chip ``hwsim`` costs: one layer shape per synaptic layer, the crossbar geometry
    and periphery of ``section``, and the learning units of ``rule``."""
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
        learning=hwsim.LearningUnits(HW_RULE[rule], n_classes=network.n_classes,
                                     feedback_storage=hw.feedback_storage))


class PhaseMeter:
    """Counts of one network's on-chip work, per synaptic layer and phase.

    Call :meth:`phase` at every phase boundary (``OnlineAdapter`` does, through its
    ``on_phase`` hook): crossbar events since the previous boundary go to the phase that
    just ended.  :meth:`add_digital` adds the events the simulation computes itself.
    """

    def __init__(self, network: SpikingNetwork, arrays: dict[int, crossbar.CrossbarArray],
                 rule: str, membrane_bits: int = 8) -> None:
        self.network, self.arrays, self.rule = network, arrays, rule
        self.membrane_bits = membrane_bits
        self.counts: dict[tuple[int, str], dict[str, float]] = defaultdict(
            lambda: defaultdict(float))
        self.samples = 0
        self.steps: dict[int, int] = {}
        self._current: str | None = None
        self._last = {i: a.counters.totals() for i, a in arrays.items()}

    def phase(self, name: str | None) -> None:
        """Close the running phase (attribute crossbar events to it) and open ``name``.

        SFDFA's tangent pass (forward reads of the weight arrays with the perturbation
        tangents, during ``error_delivery``) is booked as ``inference`` work: in SFDFA the
        tangents travel with the forward pass, as dual numbers.
        """
        target = self._current
        if self.rule == "sfdfa" and target == "error_delivery":
            target = "inference"
        for i, arr in self.arrays.items():
            now = arr.counters.totals()
            if target is not None:
                delta = {k: now[k] - self._last[i][k] for k in now}
                for field, value in hwsim.counts_from_crossbar(delta).to_dict().items():
                    if value:
                        self.counts[(i, target)][field] += value
            self._last[i] = now
        self._current = name

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
            deliver = self.counts[(i, "error_delivery")]
            hidden = k < len(syn) - 1
            if self.rule in ("dfa", "sfdfa") and hidden:
                deliver["feedback_macs"] += n * n_cls
                deliver["digital_mults"] += steps * n  # (B e) * sigma'(u)
                if self.rule == "sfdfa":
                    deliver["digital_mults"] += 2 * n * n_cls + 3 * steps * n  # B update, tangents
                    deliver["digital_adds"] += n * n_cls + 2 * steps * n
            elif self.rule == "bptt":
                bits = steps * n * (self.membrane_bits + 1)  # membrane and spike per step
                deliver["stored_activation_bits"] += bits
                deliver["restored_activation_bits"] += bits
                deliver["digital_mults"] += 3 * steps * n
                deliver["digital_adds"] += 2 * steps * n
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
            phases = {p: hwsim.Counts(**dict(self.counts[(i, p)])) for p in hwsim.PHASES
                      if (i, p) in self.counts}
            layers.append(hwsim.LayerWorkload(f"layer{i}", kind, layer.n_in, layer.n_out,
                                              time_steps=self.steps.get(i, 1), phases=phases))
        return hwsim.Workload(tuple(layers), samples=max(self.samples, 1))
