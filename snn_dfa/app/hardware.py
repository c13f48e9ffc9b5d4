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

import math
from collections import defaultdict

import numpy as np

import crossbar
import hwsim
from snn_dfa.app.config import CrossbarSection, HwsimSection
from snn_dfa.engine.layers import AvgPool, Conv1d, SumPool, SynapticLayer
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


def _pooled_input_bits(network: SpikingNetwork, index: int) -> int | None:
    """Bits of the inputs of synaptic layer ``index`` when they are pooled spikes.

    Spikes summed or averaged over a pooling window of ``k`` steps take ``k + 1`` values, so
    ``ceil(log2(k + 1))`` bit-serial passes; None for spikes and for the network input.
    """
    for layer in reversed(network.layers[:index]):
        if isinstance(layer, (AvgPool, SumPool)):
            return max(1, math.ceil(math.log2(layer.kernel_size + 1)))
        if isinstance(layer, SynapticLayer):
            return None
    return None


def architecture(network: SpikingNetwork, section: CrossbarSection, hw: HwsimSection,
                 rule: str) -> hwsim.Architecture:
    """The chip ``hwsim`` costs: one layer shape per synaptic layer, the crossbar geometry
    and periphery of ``section``, and the learning units of ``rule``."""
    shapes = []
    for i in network.synaptic_layers:
        layer = network.layers[i]
        assert isinstance(layer, SynapticLayer)
        bits = _pooled_input_bits(network, i)
        if isinstance(layer, Conv1d):
            shapes.append(hwsim.LayerShape(f"layer{i}", "conv", layer.n_in, layer.n_out,
                                           kernel_elems=layer.kernel_size, input_bits=bits))
        else:
            shapes.append(hwsim.LayerShape(f"layer{i}", "linear", layer.n_in, layer.n_out,
                                           input_bits=bits))
    return hwsim.Architecture(
        layers=tuple(shapes), array_rows=section.array_size, array_cols=section.array_size,
        adc_bits=section.adc_bits, cols_per_adc=section.columns_per_adc,
        input_bits=hw.input_bits,
        learning=hwsim.LearningUnits(HW_RULE[rule], n_classes=network.n_classes,
                                     feedback_storage=hw.feedback_storage,
                                     delta_bits=hw.delta_bits))


def assumptions(hw: HwsimSection) -> hwsim.Assumptions:
    """The costing assumptions of a ``[hwsim]`` section."""
    return hwsim.Assumptions(leakage=hw.leakage, multibit_reads=hw.multibit_reads,
                             update_arithmetic=hw.update_arithmetic, periphery=hw.periphery,
                             charge_storage=hw.charge_storage)


def cost_tech(section: CrossbarSection, hw: HwsimSection) -> hwsim.Tech:
    """hwsim's technology preset with the write pulse of the deployed device preset."""
    tech = hwsim.get_preset(hw.tech)
    dev = crossbar.get_preset(section.device)
    return hwsim.with_device_writes(tech, device=section.device, v_write_V=dev.v_write_V,
                                    g_min_uS=dev.g_min_uS, g_max_uS=dev.g_max_uS,
                                    t_pulse_ns=dev.t_pulse_ns)


class PhaseMeter:
    """Counts of one network's on-chip work, per synaptic layer and phase.

    Call :meth:`phase` at every phase boundary (``OnlineAdapter`` does, through its
    ``on_phase`` hook): crossbar events since the previous boundary go to the phase that
    just ended (SFDFA's tangent pass, run after the forward pass of a learned window, is
    ``error_delivery`` work, as in hwsim's shape path).  :meth:`add_digital` adds the events
    the simulation computes itself.  Inference counts cover every window, learning counts
    the learned windows; :meth:`workload` records both numbers.

    Parameters
    ----------
    network, arrays, rule
    membrane_bits : int
        Bits of a stored membrane potential (BPTT's store).
    arch : hwsim.Architecture, optional
        Precisions of stored inputs, slopes, errors and B entries (``input_bits``,
        ``trace_bits``, ``delta_bits``, ``feedback_bits``); defaults to hwsim's.
    """

    def __init__(self, network: SpikingNetwork, arrays: dict[int, crossbar.CrossbarArray],
                 rule: str, membrane_bits: int = 8,
                 arch: hwsim.Architecture | None = None) -> None:
        self.network, self.arrays, self.rule = network, arrays, rule
        self.membrane_bits = membrane_bits
        self.arch = arch if arch is not None else architecture(
            network, CrossbarSection(), HwsimSection(), rule)
        self.input_bits, lu = self.arch.input_bits, self.arch.learning
        self.trace_bits, self.delta_bits, self.feedback_bits = (
            lu.trace_bits, lu.delta_bits, lu.feedback_bits)
        self.counts: dict[tuple[int, str], dict[str, float]] = defaultdict(
            lambda: defaultdict(float))
        self.samples = 0
        self.windows = 0
        self.steps: dict[int, int] = {}
        self._current: str | None = None
        self._last = {i: a.counters.totals() for i, a in arrays.items()}

    def phase(self, name: str | None) -> None:
        """Close the running phase (attribute crossbar events to it) and open ``name``."""
        target = self._current
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
        """Digital events and storage of one window (batch 1) from its trace.

        Every window: spikes and neuron updates.  A learned window adds what its rule keeps
        (every step's inputs; BP its membranes, DFA/SFDFA their surrogate slopes, SFDFA its
        perturbations), the error, the projections or the elementwise backward work, and the
        gradient: one addition per input spike and output per step (``b`` shifted additions
        for a ``b``-bit input), error times slope per output and step for DFA/SFDFA.  The same equations as hwsim's shape path (docs/hwsim.md).
        """
        net = self.network
        syn = net.synaptic_layers
        n_cls = net.n_classes
        self.windows += 1
        for k, i in enumerate(syn):
            layer = net.layers[i]
            assert isinstance(layer, SynapticLayer)
            cache = trace.caches[i]
            x = cache["x"]
            steps = layer.output_steps(x.shape[0])
            self.steps[i] = steps
            n = layer.n_out
            nt = steps * n
            shape = self.arch.layers[k]
            m = self.arch.mapping(shape)
            inf = self.counts[(i, "inference")]
            if "s" in cache:
                inf["spikes"] += float(cache["s"].sum())
            inf["neuron_updates"] += nt
            inf["digital_adds"] += (m.row_blocks - 1) * nt  # partial sums of row blocks
            inf["sram_read_bits"] += shape.rows * steps + nt * self.membrane_bits
            inf["sram_write_bits"] += nt * (self.membrane_bits + 1)
            if not learned:
                continue
            multilevel = not bool(np.all((x == 0) | (x == 1)))
            in_bits = self.arch.inference_input_bits(shape) if multilevel else 1
            inputs_bits = float(x.size) * in_bits
            rows = cache["rows"] if "rows" in cache else layer._inputs_2d(x)[0]
            deliver = self.counts[(i, "error_delivery")]
            upd = self.counts[(i, "weight_update")]
            hidden = k < len(syn) - 1
            # one add per non-zero input and output and step; b shifted adds for b-bit inputs
            upd["update_adds"] += float(np.count_nonzero(rows)) * n * in_bits
            if self.rule in ("dfa", "sfdfa"):
                store = inputs_bits + nt * self.trace_bits
                if self.rule == "sfdfa" and hidden:
                    store += n * self.input_bits  # the window's perturbations xi
                if hidden:
                    deliver["feedback_macs"] += n * n_cls
                if self.rule == "sfdfa" and k > 0:  # tangents through this layer's arrays
                    deliver["digital_adds"] += nt + (m.row_blocks - 1) * nt
                    deliver["digital_mults"] += 2 * nt
                    deliver["sram_read_bits"] += nt * self.input_bits
                    deliver["sram_write_bits"] += nt * self.input_bits
                deliver["store_write_bits"] += store
                upd["update_mults"] += nt  # (B e) * sigma'(u_t)
                upd["store_read_bits"] += store
                if self.rule == "sfdfa" and hidden:
                    upd["feedback_macs"] += 2 * n * n_cls  # B moving average
                    upd["sram_write_bits"] += n * n_cls * self.feedback_bits
            elif self.rule == "bptt":
                membranes = nt * self.membrane_bits
                deliver["store_write_bits"] += inputs_bits + membranes
                deliver["store_read_bits"] += membranes
                deliver["digital_mults"] += 2 * nt  # surrogate slope, reset path
                deliver["digital_adds"] += nt  # membrane recurrence
                deliver["sram_write_bits"] += nt * self.delta_bits
                if k > 0:  # transposed reads, partial sums of column blocks
                    deliver["sram_read_bits"] += nt * self.delta_bits
                    deliver["digital_adds"] += (m.col_blocks - 1) * shape.rows * steps
                upd["store_read_bits"] += inputs_bits
                upd["sram_read_bits"] += nt * self.delta_bits
        if learned:
            out = self.counts[(syn[-1], "error_compute")]
            out["digital_adds"] += 3 * n_cls  # softmax normalisation and e = p - onehot
            out["digital_mults"] += 2 * n_cls
            self.samples += 1

    def workload(self) -> hwsim.Workload:
        """Everything counted so far as an ``hwsim.Workload``: inference over every window,
        the learning phases over the learned windows."""
        layers = []
        for i in self.network.synaptic_layers:
            layer = self.network.layers[i]
            assert isinstance(layer, SynapticLayer)
            kind = "conv" if isinstance(layer, Conv1d) else "linear"
            phases = {p: hwsim.Counts(**dict(self.counts[(i, p)])) for p in hwsim.PHASES
                      if (i, p) in self.counts}
            layers.append(hwsim.LayerWorkload(f"layer{i}", kind, layer.n_in, layer.n_out,
                                              time_steps=self.steps.get(i, 1), phases=phases))
        return hwsim.Workload(tuple(layers), samples=max(self.samples, 1),
                              inference_windows=max(self.windows, 1))
