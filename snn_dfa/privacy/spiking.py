"""Private on-device adaptation of a spiking network: DP-DFA on the engine's seams.

The wearer's adaptation windows are the dataset; adjacency is add/remove one window
(docs/privacy.md).  One private step:

1. **Poisson sampling** of the windows (rate ``q``), each then processed at batch 1, as on the
   chip.
2. The rule computes the window's update; for DFA the **projector seam** clips the projected
   error ``B_l e`` of every example to ``clip_backward`` (:class:`ClippedProjector`).
3. The **update seam** clips each synaptic layer's per-window update (weights and bias
   together) to ``Δ = clip_backward * clip_forward``.  For a layer with one input position
   per window this equals clipping the forward factor to ``clip_forward`` (the rank-one
   bound of DP-DFA); for the convolutional and time-unrolled layers of a spiking network a
   window's update is a sum of rank-one terms over positions and time, so the bound is
   enforced on the update itself.
4. **Gaussian noise** ``N(0, σ²)``, ``σ = z sqrt(L) Δ``, on each of the ``L`` synaptic layers'
   summed updates (one Gaussian mechanism of multiplier ``z`` per step), division by the
   expected batch ``q N``, the optimiser's step and the programming of the chip.

Any rule whose update depends on the data only through the window's own gradient composes
with it (DFA, BP: the latter is DP-SGD at batch 1).  SFDFA does not: its feedback matrices
learn from every window without noise, so they would leak; :func:`check_rule` (by registry
descriptor) and :class:`PrivateAdapter` (by projector) refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_dfa._validation import SeedLike, check_array, check_random_state, check_scalar
from snn_dfa.engine.losses import Loss, loss_and_grad
from snn_dfa.engine.network import SpikingNetwork, Trace
from snn_dfa.engine.optim import Optimizer
from snn_dfa.errors import ValidationError
from snn_dfa.privacy.accounting import PrivacyAccountant
from snn_dfa.rules import registry
from snn_dfa.rules.feedback import FeedbackProjector, LearnedFeedback, ProjectorWrapper

Grads = list[dict[str, np.ndarray]]

__all__ = ["ClippedProjector", "PrivateAdapter", "check_rule", "clip_update"]


class ClippedProjector(ProjectorWrapper):
    """A feedback-projector wrapper that clips every example's projected error
    ``(B_l e)_i`` to L2 norm ``clip`` (one bound, or one per layer).

    Its events (a norm and a scaling per projected value: two products and one sum) are added
    to the wrapped projector's counters, so they reach the cost estimate.
    """

    def __init__(self, inner: FeedbackProjector, clip: float | Sequence[float]) -> None:
        super().__init__(inner)
        n = len(self.sizes)
        clips = [clip] * n if isinstance(clip, (int, float)) else list(clip)
        if len(clips) != n:
            raise ValidationError(f"clip={clip!r}: expected one bound or {n} (one per layer)")
        for c in clips:
            check_scalar("clip_backward", c, low=0.0, low_inclusive=False)
        self.clips = [float(c) for c in clips]

    def _clip(self, layer: int, p: np.ndarray) -> np.ndarray:
        self.counters.update_mults[layer] += 2 * p.size
        self.counters.update_adds[layer] += p.size
        p64 = p.astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", p64, p64))
        scale = np.minimum(1.0, self.clips[layer] / np.maximum(norms, np.finfo(np.float64).tiny))
        return (p * scale[:, None]).astype(p.dtype)

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        return self._clip(layer, self.inner.project(layer, e))

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        return [self._clip(k, p) for k, p in enumerate(self.inner.project_all(e))]


def check_rule(name: str) -> None:
    """Refuse a rule (looked up in the registry) whose feedback learns from the data outside
    the clipped, noised update (SFDFA's learned feedback would leak)."""
    spec = registry.get_rule(name)
    if spec.feedback == "learned":
        raise ValidationError(f"privacy: rule {spec.name!r} learns its feedback from every "
                              "window without noise, which would leak; use a rule with fixed "
                              "or no feedback (e.g. 'dfa' or 'bp')")


def _learns_feedback(rule: Any) -> bool:
    projector = getattr(rule, "projector", None)
    while isinstance(projector, ProjectorWrapper):
        projector = projector.inner
    return isinstance(projector, LearnedFeedback)


def clip_update(grads: dict[str, np.ndarray], bound: float) -> tuple[dict[str, np.ndarray], bool]:
    """Scale one layer's update (all its arrays together) to L2 norm at most ``bound``;
    returns the clipped update and whether it was clipped."""
    norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
    if norm <= bound:
        return grads, False
    return {k: (g * (bound / norm)).astype(g.dtype) for k, g in grads.items()}, True


@dataclass
class StepLog:
    """What one private step did."""

    batch_size: int
    clipped_fraction: float
    n_correct: int


class PrivateAdapter:
    """DP-DFA (or DP-SGD with backprop) adaptation of ``network`` over a wearer's windows.

    Parameters
    ----------
    network : SpikingNetwork
    rule : Rule
        Its projector (DFA) should be a :class:`ClippedProjector`; any rule whose feedback
        does not learn.
    optimizer : Optimizer
    clip_update : float
        ``Δ``: bound on every synaptic layer's per-window update.
    noise_multiplier : float
        ``z`` (from :func:`snn_dfa.privacy.noise_multiplier_for`).
    sampling_rate : float
        ``q``: Poisson rate of a window joining a step.
    loss : Loss or str
    seed : int or Generator
        Draws the batches and the noise.
    on_phase, on_window : callables, optional
        The hardware meter's hooks, as for :class:`snn_dfa.rules.online.OnlineAdapter`.

    Attributes
    ----------
    accountant : PrivacyAccountant
        Every noised step taken (see :meth:`epsilon`).
    """

    def __init__(self, network: SpikingNetwork, rule: Any, optimizer: Optimizer,
                 clip_update: float, noise_multiplier: float, sampling_rate: float,
                 loss: Loss | str = Loss.CROSS_ENTROPY, seed: SeedLike = None,
                 on_phase: Callable[[str | None], None] | None = None,
                 on_window: Callable[[Trace, bool], None] | None = None) -> None:
        if _learns_feedback(rule):
            raise ValidationError("privacy: the rule's feedback learns from every window "
                                  "without noise, which would leak; use fixed feedback")
        check_scalar("clip_update", clip_update, low=0.0, low_inclusive=False)
        check_scalar("noise_multiplier", noise_multiplier, low=0.0)
        check_scalar("sampling_rate", sampling_rate, low=0.0, high=1.0, low_inclusive=False)
        self.network, self.rule, self.optimizer = network, rule, optimizer
        self.clip = float(clip_update)
        self.noise_multiplier = float(noise_multiplier)
        self.sampling_rate = float(sampling_rate)
        self.loss = Loss.coerce(loss)
        self.rng = check_random_state(seed)
        self.accountant = PrivacyAccountant()
        self.steps_taken = 0
        self._on_phase = on_phase or (lambda name: None)
        self._on_window = on_window
        self._template = [{k: np.zeros_like(v) for k, v in layer.items()}
                          for layer in network.get_params()]
        self.n_private_layers = sum(1 for layer in self._template if layer)

    @property
    def noise_std(self) -> float:
        """``σ = z sqrt(L) Δ`` added to every entry of every synaptic layer's summed update."""
        return self.noise_multiplier * math.sqrt(self.n_private_layers) * self.clip

    def clipped_sum(self, X: np.ndarray, y: np.ndarray) -> tuple[Grads, int, int]:
        """Sum over windows ``X [B, T, C]`` of the clipped per-window updates; also the number
        of (layer, window) updates that were clipped and of windows predicted correctly (before
        the step's update)."""
        net = self.network
        total = [{k: v.copy() for k, v in layer.items()} for layer in self._template]
        n_clipped = n_correct = 0
        net.train(False)
        for x, label in zip(X, y):
            self._on_phase("inference")
            z, trace = net.forward(np.ascontiguousarray(x[:, None, :]), record=True)
            n_correct += int(np.argmax(z[0]) == label)
            _, grad_z = loss_and_grad(z, np.array([int(label)]), self.loss)
            self._on_phase("error_delivery")
            grads = self.rule.gradients(net, trace, grad_z)
            for acc, layer in zip(total, grads):
                if not layer:
                    continue
                clipped, was = clip_update(layer, self.clip)
                n_clipped += was
                for k, g in clipped.items():
                    acc[k] += g
            self._on_phase(None)
            if self._on_window is not None:
                self._on_window(trace, True)
        return total, n_clipped, n_correct

    def step(self, X: np.ndarray, y: np.ndarray) -> StepLog:
        """One private step over the wearer's windows ``X [N, T, C]``, ``y [N]``."""
        X = check_array("X", X, ndim=3, dtype=self.network.dtype)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValidationError(f"y: expected shape ({X.shape[0]},), got {y.shape}")
        idx = np.flatnonzero(self.rng.random(len(y)) < self.sampling_rate)
        total, n_clipped, n_correct = self.clipped_sum(X[idx], y[idx])
        std = self.noise_std
        expected = self.sampling_rate * len(y)
        noisy = [{k: ((g + std * self.rng.standard_normal(g.shape)) / expected).astype(g.dtype)
                  for k, g in layer.items()} for layer in total]
        self._on_phase("weight_update")
        self.network.apply_updates(self.optimizer.step(noisy))
        self._on_phase(None)
        self.steps_taken += 1
        if self.noise_multiplier > 0:
            self.accountant.step(self.sampling_rate, self.noise_multiplier)
        denom = max(1, len(idx) * self.n_private_layers)
        return StepLog(len(idx), n_clipped / denom, n_correct)

    def epsilon(self, delta: float) -> float:
        """ε spent so far at ``delta`` (infinite once a step ran without noise)."""
        if self.noise_multiplier == 0 and self.steps_taken:
            return math.inf
        return self.accountant.epsilon(delta)

    def fit(self, X: np.ndarray, y: np.ndarray, steps: int) -> list[StepLog]:
        """``steps`` private steps; returns their logs."""
        check_scalar("steps", steps, int, low=0)
        return [self.step(X, y) for _ in range(steps)]
