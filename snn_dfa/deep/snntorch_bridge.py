"""snntorch networks in the chain: train them with DFA, convert to and from the numba engine.

:class:`SnnTorchNet` is a time-major spiking network of ``nn.Linear`` or ``nn.Conv1d`` synapses
(the convolution runs along time, as the engine's ``Conv1d``), each followed by an
``snntorch.Leaky`` population (or, for the readout, a non-spiking :class:`Integrator`).  With a
:class:`~snn_dfa.deep.DFA` it places one feedback point per hidden layer (key ``"layer<i>"``),
called at every time step on that step's spikes: autograd then multiplies ``B e`` by the
surrogate derivative of the spike function, as the engine's DFA does
(``delta_l[t] = (B_l e) * sigma'(u_l[t] - theta)``).  Unlike the engine, autograd also carries
that signal back through the layer's own membrane recursion (the leak ``beta``); no error crosses
a layer in either.

:func:`to_engine` and :func:`from_engine` convert weights, biases, leak, per-neuron thresholds,
reset mode, padding and stride, and readout; the networks then emit identical spikes
(``tests/test_deep_snntorch.py``).  snntorch's ``Leaky`` subtracts the full threshold one step
after a spike and detaches the reset: ``LIFParams(reset_decays=False, detach_reset=True)``; the
strict ``u > theta`` comparison is the same in both.  The surrogate derivative of a ``Leaky``
cannot be read back from the module, so :func:`to_engine` takes it as an argument (default
snntorch's ``atan`` with alpha 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import snntorch as snn
import torch
from torch import nn

from snn_dfa._validation import check_choice
from snn_dfa.deep.mechanism import DFA
from snn_dfa.engine.layers import Conv1d, Linear, SynapticLayer
from snn_dfa.engine.network import Readout, SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Reset, Surrogate, SurrogateKind
from snn_dfa.errors import ValidationError

READOUTS = [r.value for r in Readout]


class Integrator(nn.Module):
    """Non-spiking leaky integrator ``u[t] = beta u[t-1] + I[t]`` (a readout population)."""

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.beta = float(beta)


class _Triangle(torch.autograd.Function):
    """Heaviside forward, ``max(0, g - |x|) / g^2`` backward (SNN_HAR's triangle surrogate)."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, width: float) -> torch.Tensor:
        ctx.save_for_backward(x)  # type: ignore[attr-defined]  # torch's FunctionCtx is untyped
        ctx.width = width  # type: ignore[attr-defined]  # torch's FunctionCtx is untyped
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors  # type: ignore[attr-defined]  # torch's FunctionCtx is untyped
        w = ctx.width  # type: ignore[attr-defined]  # torch's FunctionCtx is untyped
        return grad * torch.clamp(w - x.abs(), min=0) / (w * w), None


def spike_function(surrogate: Surrogate):
    """The snntorch ``spike_grad`` matching an engine :class:`Surrogate`."""
    k = float(surrogate.scale)  # type: ignore[arg-type]  # Surrogate.__post_init__ replaces a None scale
    if surrogate.kind is SurrogateKind.FAST_SIGMOID:
        return snn.surrogate.fast_sigmoid(slope=k)
    if surrogate.kind is SurrogateKind.ARCTAN:
        return snn.surrogate.atan(alpha=k)
    return lambda x: _Triangle.apply(x, k)


class SnnTorchNet(nn.Module):
    """Time-major spiking network: ``x [T, B, n_in] -> z [B, n_classes]``.

    Parameters
    ----------
    synapses : list of nn.Linear or nn.Conv1d (``padding=0``; padding is ``pads``)
    neurons : list of snntorch.Leaky or Integrator, one per synapse
    pads : list of (left, right) or None
        Zero padding along time of each Conv1d (None for Linear).
    readout : {"spike_count", "mean_membrane", "last_membrane"}
    dfa : DFA or None
        When given, a feedback point after every hidden population (``dfa.mode`` decides DFA or
        BP); the readout goes through ``dfa.output``.
    """

    def __init__(self, synapses: Sequence[nn.Module], neurons: Sequence[nn.Module],
                 pads: Sequence[tuple[int, int] | None], readout: str = "spike_count",
                 dfa: DFA | None = None) -> None:
        super().__init__()
        check_choice("readout", readout, READOUTS)
        if not (len(synapses) == len(neurons) == len(pads)) or not synapses:
            raise ValidationError("SnnTorchNet: expected as many synapses, neurons and pads (>= 1)")
        for i, (syn, pad) in enumerate(zip(synapses, pads)):
            if isinstance(syn, nn.Conv1d):
                if syn.padding not in ((0,), 0) or syn.dilation != (1,) or syn.groups != 1 \
                        or pad is None:
                    raise ValidationError(f"synapse {i}: Conv1d needs padding=0 (padding goes in "
                                          "pads), dilation 1 and groups 1")
            elif not isinstance(syn, nn.Linear):
                raise ValidationError(f"synapse {i}: expected nn.Linear or nn.Conv1d, got "
                                      f"{type(syn).__name__}")
        self.synapses, self.neurons = nn.ModuleList(synapses), nn.ModuleList(neurons)
        self.pads = list(pads)
        self.readout, self.dfa = readout, dfa
        self.spikes: list[torch.Tensor] = []
        self.membranes: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.spikes, self.membranes = [], []
        h = x
        last = len(self.synapses) - 1
        for i, (syn, neuron, pad) in enumerate(zip(self.synapses, self.neurons, self.pads)):
            if isinstance(syn, nn.Conv1d):
                assert pad is not None
                seq = torch.nn.functional.pad(h.permute(1, 2, 0), pad)
                current = syn(seq).permute(2, 0, 1)
            else:
                current = syn(h)
            spikes, mems = self._run(neuron, current, None if i == last or self.dfa is None
                                     else f"layer{i}")
            self.spikes.append(spikes)
            self.membranes.append(mems)
            h = spikes
        z = {"spike_count": lambda: self.spikes[-1].sum(0),
             "mean_membrane": lambda: self.membranes[-1].mean(0),
             "last_membrane": lambda: self.membranes[-1][-1]}[self.readout]()
        return z if self.dfa is None else self.dfa.output(z)

    def _run(self, neuron: nn.Module, current: torch.Tensor,
             key: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(neuron, Integrator):
            u, mems = torch.zeros_like(current[0]), []
            for t in range(current.shape[0]):
                u = neuron.beta * u + current[t]
                mems.append(u)
            m = torch.stack(mems)
            return torch.zeros_like(m), m
        mem = cast(snn.Leaky, neuron).init_leaky()
        spikes, mems = [], []
        for t in range(current.shape[0]):
            s, mem = neuron(current[t], mem)
            if key is not None:
                assert self.dfa is not None
                s = self.dfa.point(s, key=key)
            spikes.append(s)
            mems.append(mem)
        return torch.stack(spikes), torch.stack(mems)


def _lif_params(neuron: nn.Module, surrogate: Surrogate) -> tuple[LIFParams, np.ndarray | None]:
    if isinstance(neuron, Integrator):
        return LIFParams.integrator(neuron.beta), None
    if not isinstance(neuron, snn.Leaky):
        raise ValidationError(f"neuron: expected snntorch.Leaky or Integrator, got "
                              f"{type(neuron).__name__}")
    beta = float(torch.as_tensor(neuron.beta).reshape(-1)[0])
    if torch.as_tensor(neuron.beta).numel() != 1:
        raise ValidationError("snntorch.Leaky: a per-neuron beta has no engine counterpart")
    threshold = torch.as_tensor(neuron.threshold).detach().reshape(-1).numpy()
    reset = check_choice("Leaky reset_mechanism", neuron.reset_mechanism,
                         ["subtract", "zero", "none"])
    params = LIFParams(beta=beta, threshold=float(threshold.max()), reset=reset,
                       reset_decays=False, detach_reset=True, surrogate=surrogate)
    return params, threshold


def to_engine(net: SnnTorchNet, surrogate: Surrogate | None = None,
              dtype: np.dtype | type = np.float32) -> SpikingNetwork:
    """The engine network with the same weights, biases, neurons, padding and readout."""
    surrogate = surrogate if surrogate is not None else Surrogate(SurrogateKind.ARCTAN, 2.0)
    layers: list[SynapticLayer] = []
    thresholds = []
    synapses = cast(list[nn.Linear | nn.Conv1d], list(net.synapses))
    for syn, neuron, pad in zip(synapses, net.neurons, net.pads):
        params, threshold = _lif_params(neuron, surrogate)
        bias = syn.bias is not None
        if isinstance(syn, nn.Conv1d):
            layers.append(Conv1d(syn.in_channels, syn.out_channels, syn.kernel_size[0],
                                 padding=tuple(pad), stride=syn.stride[0], neuron=params,  # type: ignore[arg-type]  # a two-element padding tuple
                                 bias=bias))
        else:
            layers.append(Linear(syn.in_features, syn.out_features, neuron=params, bias=bias))
        thresholds.append(threshold)
    engine = SpikingNetwork(list(layers), readout=net.readout, seed=0, dtype=dtype)
    state = {}
    for i, (syn, layer, threshold) in enumerate(zip(synapses, layers, thresholds)):
        state[f"{i}.weight"] = syn.weight.detach().reshape(layer.n_out, -1).numpy()
        if syn.bias is not None:
            state[f"{i}.bias"] = syn.bias.detach().numpy()
        state[f"{i}.threshold"] = (np.full(layer.n_out, layer.threshold[0]) if threshold is None
                                   else np.broadcast_to(threshold, (layer.n_out,)))
    engine.load_state_dict(state)
    return engine


def from_engine(engine: SpikingNetwork, dfa: DFA | None = None) -> SnnTorchNet:
    """The :class:`SnnTorchNet` of an engine network of Linear / Conv1d layers (batch norm
    folded first); neurons must use snntorch's reset (``reset_decays=False``, no refractory)."""
    synapses: list[nn.Module] = []
    neurons: list[nn.Module] = []
    pads: list[tuple[int, int] | None] = []
    for i, layer in enumerate(engine.layers):
        if not isinstance(layer, (Linear, Conv1d)) or layer.bn is not None:
            raise ValidationError(f"layer {i}: {type(layer).__name__} has no snntorch "
                                  "counterpart here (Linear or Conv1d without batch norm; fold "
                                  "batch norm first)")
        p = layer.neuron
        if p.spiking and ((p.reset is Reset.SUBTRACT and p.reset_decays)
                          or p.refractory_steps or not p.detach_reset):
            raise ValidationError(f"layer {i}: neuron {p} differs from snntorch's Leaky (needs "
                                  "reset_decays=False, refractory_steps=0, detach_reset=True)")
        w = torch.as_tensor(np.array(layer.parameters["weight"], dtype=np.float32))
        if isinstance(layer, Conv1d):
            syn: nn.Linear | nn.Conv1d = nn.Conv1d(layer.n_in, layer.n_out, layer.kernel_size,
                                       stride=layer.stride, bias=layer.bias is not None)
            w = w.reshape(layer.n_out, layer.n_in, layer.kernel_size)
            pads.append(tuple(layer.pad))  # type: ignore[arg-type]  # a two-element padding tuple
        else:
            syn = nn.Linear(layer.n_in, layer.n_out, bias=layer.bias is not None)
            pads.append(None)
        with torch.no_grad():
            syn.weight.copy_(w)
            if layer.bias is not None and syn.bias is not None:
                syn.bias.copy_(torch.as_tensor(np.array(layer.bias, dtype=np.float32)))
        synapses.append(syn)
        if not p.spiking:
            neurons.append(Integrator(p.beta))
            continue
        th = np.asarray(layer.threshold, dtype=np.float32)
        threshold = float(th[0]) if np.all(th == th[0]) else torch.as_tensor(th)
        neurons.append(snn.Leaky(beta=p.beta, threshold=threshold,  # type: ignore[arg-type]  # snntorch accepts a tensor threshold
                                 reset_mechanism=p.reset.name.lower(),
                                 spike_grad=spike_function(p.surrogate)))
    return SnnTorchNet(synapses, neurons, pads, readout=engine.readout.value, dfa=dfa)


def engine_spikes(engine: SpikingNetwork, x: np.ndarray) -> list[np.ndarray]:
    """Spikes ``[T, B, n]`` of every synaptic layer of ``engine`` on ``x [T, B, n_in]``."""
    _, trace = engine.forward(x, record=True)
    return [trace.spikes(i) for i in engine.synaptic_layers]


def default_leaky(beta: float = 0.9, threshold: float = 1.0, reset: str = "subtract") -> snn.Leaky:
    """An ``snn.Leaky`` with snntorch's defaults made explicit (atan surrogate, alpha 2)."""
    if not math.isfinite(threshold):
        raise ValidationError(f"threshold={threshold}: use Integrator for a non-spiking readout")
    return snn.Leaky(beta=beta, threshold=threshold, reset_mechanism=reset,
                     spike_grad=snn.surrogate.atan(alpha=2.0))
