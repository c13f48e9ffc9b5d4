"""Learning rules: from a recorded forward pass and the readout gradient to parameter gradients.

A rule sees the network only through its layers' recorded caches and synapse backends, so
the same rule runs on ideal weights or on a crossbar.

* :class:`BPTT`: exact backpropagation through time with the surrogate derivative (the
  baseline).  Error travels back layer by layer through transposed reads of the synapses.
* :class:`DFA`: Direct Feedback Alignment for spiking networks (Nøkland 2016, arXiv
  1609.01596, in its spiking form as in PipeSDFA, HershelYen/Spiking-Direct-Feedback-Alignment).
  With ``e = dL/dz`` (``softmax(z) - onehot(y)`` over the batch for cross-entropy), hidden
  synaptic layer ``l`` gets ``delta_l[t] = (B_l e) * sigma'(u_l[t] - theta)`` and
  ``dW_l = sum_t delta_l[t]^T x_l[t]`` (on the unrolled patches for Conv1d); the projections
  of all layers are one product (layer-parallel) and no error crosses a layer.  The output
  layer uses its true local gradient (BPTT inside that layer only).
* :class:`SFDFA`: DFA whose feedback is learned online by forward perturbation (spiking
  forward DFA, Bacho & Chu 2024, in its clock-driven form): every hidden neuron draws
  ``xi ~ N(0, 1)`` per sample, each of its spikes carries ``xi`` as a tangent, one
  forward-mode pass gives the readout's directional derivative ``dz``, and ``B_l`` moves
  towards ``E[xi dz^T]`` (the output-to-hidden sensitivity) before the DFA update.
* :class:`Shallow`: only the output layer learns (its true local gradient); the control
  that shows what DFA's hidden-layer updates add (TinyDFA's ``SHALLOW`` mode).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from snn_dfa._validation import SeedLike, check_random_state
from snn_dfa.engine.layers import SynapticLayer
from snn_dfa.engine.network import SpikingNetwork, Trace
from snn_dfa.errors import ValidationError
from snn_dfa.rules.feedback import FeedbackProjector, LearnedFeedback, RandomFeedback

Grads = list[dict[str, np.ndarray]]


class Rule(Protocol):
    """Turns a recorded trace and ``dL/dz [B, n_classes]`` into per-layer gradients (its name,
    label and options live in its descriptor, :mod:`snn_dfa.rules.registry`)."""

    def gradients(self, network: SpikingNetwork, trace: Trace, grad_z: np.ndarray) -> Grads:
        ...


class BPTT:
    """Exact backpropagation through time (surrogate spike derivative)."""

    def gradients(self, network: SpikingNetwork, trace: Trace, grad_z: np.ndarray) -> Grads:
        return network.backward(trace, grad_z)


class DFA:
    """Direct Feedback Alignment with a fixed feedback projector.

    Parameters
    ----------
    projector : FeedbackProjector
        ``B_l`` for every hidden synaptic layer, in network order (see
        :func:`random_feedback_for`).
    """

    def __init__(self, projector: FeedbackProjector) -> None:
        self.projector = projector

    def gradients(self, network: SpikingNetwork, trace: Trace, grad_z: np.ndarray) -> Grads:
        if not trace.recorded:
            raise ValidationError("DFA needs a trace from forward(x, record=True)")
        syn = network.synaptic_layers
        e = np.ascontiguousarray(grad_z, dtype=network.dtype)
        projections = self.projector.project_all(e)
        if len(projections) != len(syn) - 1:
            raise ValidationError(
                f"projector: gives {len(projections)} projections, the network has "
                f"{len(syn) - 1} hidden synaptic layers"
            )
        grads: Grads = [{} for _ in network.layers]
        for li, proj in zip(syn[:-1], projections):
            layer = network.layers[li]
            assert isinstance(layer, SynapticLayer)
            cache = trace.caches[li]
            if proj.shape != (e.shape[0], layer.n_out):
                raise ValidationError(
                    f"projection for layer {li}: expected shape {(e.shape[0], layer.n_out)}, "
                    f"got {proj.shape}"
                )
            delta = layer.surrogate_slopes(cache) * proj.astype(network.dtype)[None]
            _, grads[li] = layer.backward_currents(cache, delta, input_grad=False)
        grads[-1] = Shallow().gradients(network, trace, e)[-1]
        return grads


class SFDFA:
    """Spiking forward DFA in clock-driven form (feedback learned from forward tangents).

    Parameters
    ----------
    network : SpikingNetwork
        Used for the layer sizes.
    feedback_lr : float
        Step of the feedback moving average (the authors use 1e-4 over long training).
    seed : int, Generator or None
        Drives the perturbations.
    """

    def __init__(self, network: SpikingNetwork, feedback_lr: float = 1e-3,
                 seed: SeedLike = None) -> None:
        sizes = [network.layers[i].n_out for i in network.synaptic_layers[:-1]]
        self.projector: FeedbackProjector = LearnedFeedback(sizes, network.n_classes,
                                                            feedback_lr, network.dtype)
        self._rng = check_random_state(seed)

    def gradients(self, network: SpikingNetwork, trace: Trace, grad_z: np.ndarray) -> Grads:
        hidden = network.synaptic_layers[:-1]
        batch = trace.output.shape[0]
        xis = {i: self._rng.standard_normal((batch, network.layers[i].n_out)).astype(
            network.dtype) for i in hidden}
        if xis:
            dz = network.jvp(trace, xis)  # order: forward (+tangents), feedback, weights
            for k, i in enumerate(hidden):
                active = trace.caches[i]["s"].any(axis=0)
                self.projector.update(k, xis[i], dz, active)  # type: ignore[attr-defined]  # SFDFA's projector learns (LearnedFeedback or a wrapper of it)
        return DFA(self.projector).gradients(network, trace, grad_z)


class Shallow:
    """Only the output layer learns, with its true local gradient; hidden layers are fixed."""

    def gradients(self, network: SpikingNetwork, trace: Trace, grad_z: np.ndarray) -> Grads:
        grads: Grads = [{} for _ in network.layers]
        grad_s, grad_u = network.readout_gradient(trace, grad_z)
        last = network.layers[-1]
        assert isinstance(last, SynapticLayer)
        _, grads[-1] = last.backward(trace.caches[-1], grad_s, grad_u, input_grad=False)
        return grads


class NoUpdate:
    """No adaptation: the chip predicts and never learns (the control that adaptation must beat;
    on a relaxing chip it shows what relaxation alone does to accuracy)."""

    def gradients(self, network: SpikingNetwork, trace: Trace, grad_z: np.ndarray) -> Grads:
        return [{} for _ in network.layers]


def random_feedback_for(network: SpikingNetwork, distribution: str = "uniform",
                        scaling: str = "fan", shared: bool = False,
                        seed: SeedLike = None) -> RandomFeedback:
    """A :class:`~snn_dfa.rules.feedback.RandomFeedback` sized for ``network``'s hidden layers."""
    sizes = [network.layers[i].n_out for i in network.synaptic_layers[:-1]]
    return RandomFeedback(sizes, network.n_classes, distribution=distribution, scaling=scaling,
                          shared=shared, seed=seed, dtype=network.dtype)


def make_rule(name: str, network: SpikingNetwork, seed: SeedLike = None,
              **options: Any) -> Rule:
    """Build a registered rule by name or alias (:mod:`snn_dfa.rules.registry`): ``"bp"``,
    ``"shallow"``, ``"dfa"`` (options of :func:`random_feedback_for`) or ``"sfdfa"`` (option
    ``feedback_lr``)."""
    from snn_dfa.rules.registry import get_rule

    return get_rule(name).build(network, seed, **options)


def alignment(a: Grads, b: Grads) -> list[float | None]:
    """Cosine between two rules' weight gradients per layer (None where a layer has none).

    The angle in degrees is ``degrees(arccos(cosine))``; DFA learns when it stays below 90.
    """
    out: list[float | None] = []
    for ga, gb in zip(a, b):
        if "weight" not in ga or "weight" not in gb:
            out.append(None)
            continue
        x = ga["weight"].astype(np.float64).ravel()
        y = gb["weight"].astype(np.float64).ravel()
        denom = math.sqrt(float(x @ x) * float(y @ y))
        out.append(float(x @ y) / denom if denom > 0 else 0.0)
    return out
