"""Putting a network on the crossbar chip and accounting for what it does there.

* :func:`deploy` swaps every synaptic layer's ideal weights for a ``crossbar.CrossbarArray``
  (after batch norm has been folded), so forward reads, BP's transposed reads and updates
  all go through the non-ideal arrays.
* :class:`PhaseMeter` attributes the event counters of the crossbar arrays and of the rule's
  feedback projector to the phases of on-device learning, and adds the digital events of the
  window (spikes, neuron updates, buffer traffic, partial sums, the gradient's gated
  additions) and the rule's own, from its descriptor
  (:attr:`snn_dfa.rules.registry.RuleSpec.events`: what it stores, its deltas, tangents).
  These are the equations of hwsim's shape path (docs/hwsim.md, section 1), which
  tests/test_hwsim_count_vs_shape.py checks phase by phase.
* :func:`architecture` and :meth:`PhaseMeter.workload` turn both into ``hwsim`` records.

With the rest of :mod:`snn_dfa.app`, this is where ``snn_dfa`` meets ``crossbar`` and
``hwsim``; the engine and the rules never see them (tests/test_layering.py).
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np

import crossbar
import hwsim
from snn_dfa.app.config import CrossbarSection, HwsimSection
from snn_dfa.engine.layers import AvgPool, Conv1d, SumPool, SynapticLayer
from snn_dfa.engine.network import SpikingNetwork, Trace
from snn_dfa.errors import ValidationError
from snn_dfa.rules import registry
from snn_dfa.rules.feedback import FeedbackProjector

#: Names of the entries of PhaseMeter's crossbar event vectors.
_EVENT_NAMES = (*crossbar.counters.EVENT_FIELDS, "updates")

#: how projector counters map to hwsim's ``Counts`` fields
_PROJECTOR_FIELDS = {"feedback_macs": "feedback_macs", "update_mults": "digital_mults",
                     "update_adds": "digital_adds"}

#: ``crossbar.UpdateConfig.mode`` -> ``hwsim.LearningUnits.update_mode``: the accumulator is
#: the persistent mixed-precision accumulator (one word per weight, read and written per
#: update, ``accumulator_bits`` wide); coincidence forms the outer product in the array
#: (pulse cycles per array, no digital gradient); stochastic and nearest rounding and
#: re-programming turn a digital gradient into pulses (row buffers only).
UPDATE_MODELS = {"accumulate": "mixed_precision", "coincidence": "stochastic_pulse",
                 "stochastic": "digital", "nearest": "digital", "reprogram": "digital"}


def crossbar_config(section: CrossbarSection) -> crossbar.CrossbarConfig:
    """The ``crossbar`` configuration a ``[crossbar]`` section describes."""
    relative = section.noise_model == "relative"
    noise = crossbar.NoiseConfig(
        noise_model=section.noise_model,
        prog_noise_scale=section.prog_noise_scale,
        prog_sigma_rel=section.prog_sigma_rel if relative else 0.0,
        read_sigma_rel=section.read_sigma_rel,
        sa0_fraction=section.sa0_fraction, sa1_fraction=section.sa1_fraction,
        drift_nu=section.drift_nu if relative else 0.0)
    return crossbar.CrossbarConfig(
        noise=noise,
        periphery=crossbar.PeripheryConfig(
            adc_bits=section.adc_bits, columns_per_adc=section.columns_per_adc,
            adc_range=section.adc_range,
            adc_full_scale_fraction=section.adc_full_scale_fraction,
            dac_range=section.dac_range, calibration_percentile=section.calibration_percentile,
            calibration_scope=section.calibration_scope),
        update=crossbar.UpdateConfig(mode=section.update_mode, bit_length=section.bit_length,
                                     c2c_sigma_rel=section.c2c_sigma_rel),
        ir_drop=section.ir_drop, ir_fast_update=section.ir_fast_update,
        tile_rows=section.array_size, tile_cols=section.array_size,
    )


def deploy(network: SpikingNetwork, section: CrossbarSection, seed: int,
           device: crossbar.DeviceParams | None = None,
           calibration: np.ndarray | None = None) -> dict[int, crossbar.CrossbarArray]:
    """Fold batch norm, program every synaptic layer into crossbar arrays (in place), let
    ``section.time_at_deployment_s`` pass and calibrate the converters.

    The arrays are programmed at time 0 and their clocks moved to the deployment time; if
    the periphery needs calibration, ``calibration [N, T, C]`` (training windows) is read once
    through the whole network with every array collecting its column currents (ADC bypassed),
    and each array sets its ranges from them (``crossbar.CrossbarArray.calibration``).  The
    same ``seed`` gives the same devices (programming errors, faults), so copies of one network
    deployed with one seed sit on identical chips.  ``device`` overrides the preset named in
    ``section`` (e.g. a preset with other wire resistances).
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
        arrays[i].set_time(section.time_at_deployment_s)
        layer.synapses = arrays[i]
    if config.periphery.needs_calibration:
        if calibration is None:
            raise ValidationError(
                f"crossbar.adc_range={section.adc_range!r}, dac_range={section.dac_range!r}: "
                "expected calibration windows to deploy with calibrated converters")
        with contextlib.ExitStack() as stack:
            for a in arrays.values():
                stack.enter_context(a.calibration())
            for s in range(0, len(calibration), 32):
                network.forward(np.ascontiguousarray(
                    calibration[s:s + 32].transpose(1, 0, 2), dtype=network.dtype))
    return arrays


def advance_clock(arrays: dict[int, crossbar.CrossbarArray], seconds: float) -> None:
    """Let ``seconds`` pass on every array of the chip (cells relax)."""
    for a in arrays.values():
        a.set_time(a.time_s + seconds)


def chip_weight_noise(section: CrossbarSection, device: crossbar.DeviceParams | None = None
                      ) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """The chip's weight error as a training-time perturbation (hardware-aware pre-training).

    Returns ``perturb(W [n_out, n_in], rng) -> W~``: the weights an array of the
    ``[crossbar]`` chip represents ``time_at_deployment_s`` after programming ``W``
    (quantisation to the device levels, the noise model's programming error and relaxation,
    stuck cells), freshly drawn at every call.  The read path (read noise, IR drop, ADC) is
    not included.  Weights are taken as they are during training, before batch norm is
    folded, so the relative error per output differs from the deployed one by the fold's
    per-output scale [assumption: close enough for the network to learn robustness].
    """
    base = crossbar_config(section)
    config = crossbar.CrossbarConfig(noise=base.noise, mapping=base.mapping,
                                     tile_rows=section.array_size, tile_cols=section.array_size)
    dev = crossbar.get_preset(section.device) if device is None else device
    t = section.time_at_deployment_s

    def perturb(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        arr = crossbar.CrossbarArray(w, dev, config, seed=rng, dtype=w.dtype)
        arr.set_time(t)
        return arr.get_weights()

    return perturb


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
                 rule: str | None) -> hwsim.Architecture:
    """The chip ``hwsim`` costs: one layer shape per synaptic layer, the crossbar geometry
    and periphery of ``section``, and the learning units of ``rule`` (None: inference only)
    with the update model of ``section.update_mode`` (:data:`UPDATE_MODELS`)."""
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
        learning=hwsim.LearningUnits("none" if rule is None else registry.get_rule(rule).hw_name,
                                     n_classes=network.n_classes,
                                     feedback_storage=hw.feedback_storage,
                                     delta_bits=hw.delta_bits,
                                     update_mode=UPDATE_MODELS[section.update_mode]))


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
    ``on_phase`` hook): crossbar and projector events since the previous boundary go to the
    phase that just ended (with the partial-sum additions their reads imply; a forward-mode
    rule's tangent pass, run for learned windows only, is ``error_delivery`` work, as in
    hwsim's shape path).  :meth:`add_digital` adds the events the simulation computes itself.
    Inference counts cover every window, learning counts the learned windows; :meth:`workload`
    records both numbers.

    Parameters
    ----------
    network, arrays, rule
    membrane_bits : int
        Bits of a stored membrane potential (BPTT's store).
    projector : FeedbackProjector, optional
        The rule's feedback projector (None for a rule without one); its layer ``k`` is the
        ``k``-th hidden synaptic layer.
    arch : hwsim.Architecture, optional
        Mapping and precisions (``input_bits``, ``trace_bits``, ``delta_bits``,
        ``feedback_bits``); defaults to :func:`architecture` with default sections.
    """

    def __init__(self, network: SpikingNetwork, arrays: dict[int, crossbar.CrossbarArray],
                 rule: str, membrane_bits: int = 8,
                 projector: FeedbackProjector | None = None,
                 arch: hwsim.Architecture | None = None) -> None:
        self.network, self.arrays = network, arrays
        self.rule = registry.get_rule(rule)
        self.projector = projector
        self.membrane_bits = membrane_bits
        self.arch = arch if arch is not None else architecture(
            network, CrossbarSection(), HwsimSection(), rule)
        self.counts: dict[tuple[int, str], dict[str, float]] = defaultdict(
            lambda: defaultdict(float))
        self.samples = 0
        self.windows = 0
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
        out = np.empty(len(_EVENT_NAMES), dtype=np.int64)
        arr.counters.counts.sum(axis=0, out=out[:-1])
        out[-1] = arr.counters.updates
        return out

    def phase(self, name: str | None) -> None:
        """Close the running phase (attribute crossbar and projector events to it) and open
        ``name``."""
        self._book_projector(self._current)
        target = self._current
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
        """Digital events and storage of one window (batch 1) from its trace.

        Every window: spikes, neuron updates and tile-buffer traffic.  A learned window adds
        the gradient, one addition per non-zero input and output per step (``b`` shifted
        additions for a ``b``-bit input), the error, and the rule's own events
        (:attr:`~snn_dfa.rules.registry.RuleSpec.events`: what it stores, its deltas and
        tangents).  The same equations as hwsim's shape path (docs/hwsim.md).
        """
        net = self.network
        syn = net.synaptic_layers
        n_cls = net.n_classes
        lu = self.arch.learning
        self.windows += 1
        for k, i in enumerate(syn):
            layer = net.layers[i]
            assert isinstance(layer, SynapticLayer)
            cache = trace.caches[i]
            x = cache["x"]
            steps = layer.output_steps(x.shape[0])
            self.steps[i] = steps
            shape = self.arch.layers[k]
            n = layer.n_out
            nt = steps * n
            inf = self.counts[(i, "inference")]
            if "s" in cache:
                inf["spikes"] += float(cache["s"].sum())
            inf["neuron_updates"] += nt
            inf["sram_read_bits"] += shape.rows * steps + nt * self.membrane_bits
            inf["sram_write_bits"] += nt * (self.membrane_bits + 1)
            if not learned or self.rule.hw_name == "none":
                continue
            multilevel = not crossbar.periphery.is_binary(x)
            in_bits = self.arch.inference_input_bits(shape) if multilevel else 1
            if lu.digital_gradient:
                rows = cache["rows"] if "rows" in cache else layer._inputs_2d(x)[0]
                # one add per non-zero input and output and step; b shifted adds for b-bit
                # inputs
                self.counts[(i, "weight_update")]["update_adds"] += (
                    float(np.count_nonzero(rows)) * n * in_bits)
            context = registry.LayerEvents(
                steps=steps, n=n, n_classes=n_cls, membrane_bits=self.membrane_bits,
                hidden=k < len(syn) - 1, first=k == 0, input_bits=float(x.size) * in_bits,
                slope_bits=lu.trace_bits, delta_bits=lu.delta_bits,
                tangent_bits=self.arch.input_bits, feedback_bits=lu.feedback_bits)
            for phase, events in self.rule.events(context).items():
                for field, value in events.items():
                    self.counts[(i, phase)][field] += value
        if learned and self.rule.hw_name != "none":
            out = self.counts[(syn[-1], "error_compute")]
            out["digital_adds"] += 3 * n_cls  # softmax normalisation and e = p - onehot
            out["digital_mults"] += 2 * n_cls
        if learned:
            self.samples += 1

    def workload(self) -> hwsim.Workload:
        """Everything counted so far as an ``hwsim.Workload``: inference over every window,
        the learning phases over the learned windows."""
        layers = []
        for k, i in enumerate(self.network.synaptic_layers):
            layer = self.network.layers[i]
            assert isinstance(layer, SynapticLayer)
            kind = "conv" if isinstance(layer, Conv1d) else "linear"
            m = self.arch.mapping(self.arch.layers[k])
            phases = {}
            for p in hwsim.PHASES:
                if (i, p) not in self.counts and (i, p) not in self._crossbar:
                    continue
                merged = defaultdict(float, self.counts.get((i, p), {}))
                vector = self._crossbar.get((i, p), np.zeros(len(_EVENT_NAMES), np.int64))
                events = dict(zip(_EVENT_NAMES, vector.tolist()))
                reads = hwsim.counts_from_crossbar(
                    events, accumulator_bits=self.arch.learning.accumulator_bits)
                for name, value in reads.to_dict().items():
                    if value:
                        merged[name] += value
                # partial sums of the row blocks (forward) and column blocks (transposed)
                merged["digital_adds"] += (
                    reads.adc_conversions * (m.row_blocks - 1) / m.row_blocks
                    + reads.transposed_adc_conversions * (m.col_blocks - 1) / m.col_blocks)
                phases[p] = hwsim.Counts(**merged)
            layers.append(hwsim.LayerWorkload(f"layer{i}", kind, layer.n_in, layer.n_out,
                                              time_steps=self.steps.get(i, 1), phases=phases))
        return hwsim.Workload(tuple(layers), samples=max(self.samples, 1),
                              inference_windows=max(self.windows, 1))
