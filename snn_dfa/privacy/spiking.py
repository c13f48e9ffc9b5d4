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
with it (DFA, BPTT: the latter is DP-SGD at batch 1).  SFDFA does not: its feedback matrices
learn from every window without noise, so they would leak; :func:`check_rule` refuses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_dfa._validation import SeedLike, check_array, check_random_state, check_scalar
from snn_dfa.engine.backends import FeedbackProjector
from snn_dfa.engine.losses import Loss, loss_and_grad
from snn_dfa.engine.network import SpikingNetwork, Trace
from snn_dfa.engine.optim import Optimizer
from snn_dfa.errors import ValidationError
from snn_dfa.privacy.accounting import PrivacyAccountant

Grads = list[dict[str, np.ndarray]]

__all__ = ["ClippedProjector", "PrivateAdapter", "check_rule", "clip_update"]


class ClippedProjector:
    """A feedback projector whose every projected row ``(B_l e)_i`` is clipped to L2 norm
    ``clip`` (one bound, or one per layer); otherwise the wrapped projector."""

    def __init__(self, base: FeedbackProjector, clip: float | Sequence[float]) -> None:
        self.base = base
        n = len(base.project_all(np.zeros((1, _n_classes(base)), np.float32)))
        clips = [clip] * n if isinstance(clip, (int, float)) else list(clip)
        if len(clips) != n:
            raise ValidationError(f"clip={clip!r}: expected one bound or {n}")
        for c in clips:
            check_scalar("clip_backward", c, low=0.0, low_inclusive=False)
        self.clips = [float(c) for c in clips]

    @staticmethod
    def _clip(p: np.ndarray, bound: float) -> np.ndarray:
        norms = np.sqrt(np.einsum("ij,ij->i", p.astype(np.float64), p.astype(np.float64)))
        scale = np.minimum(1.0, bound / np.maximum(norms, np.finfo(np.float64).tiny))
        return (p * scale[:, None]).astype(p.dtype)

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        return self._clip(self.base.project(layer, e), self.clips[layer])

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        return [self._clip(p, c) for p, c in zip(self.base.project_all(e), self.clips)]


def _n_classes(projector: Any) -> int:
    n = getattr(projector, "n_classes", None)
    if n is None:
        raise ValidationError(f"{projector!r}: expected a projector with n_classes")
    return int(n)


def check_rule(rule: Any) -> None:
    """Refuse rules whose state learns from the data outside the clipped, noised update."""
    if getattr(rule, "name", None) == "sfdfa":
        raise ValidationError("privacy: rule 'sfdfa' learns its feedback from every window "
                              "without noise, which would leak; use 'dfa' or 'bptt'")


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


class PrivateAdapter:
    """DP-DFA (or DP-SGD with ``BPTT``) adaptation of ``network`` over a wearer's windows.

    Parameters
    ----------
    network : SpikingNetwork
    rule : Rule
        Its projector (DFA) should be a :class:`ClippedProjector`; any rule but SFDFA.
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
        check_rule(rule)
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

    def clipped_sum(self, X: np.ndarray, y: np.ndarray) -> tuple[Grads, int]:
        """Sum over windows ``X [B, T, C]`` of the clipped per-window updates; also the number
        of (layer, window) updates that were clipped."""
        net = self.network
        total = [{k: v.copy() for k, v in layer.items()} for layer in self._template]
        n_clipped = 0
        net.train(False)
        for x, label in zip(X, y):
            self._on_phase("inference")
            z, trace = net.forward(np.ascontiguousarray(x[:, None, :]), record=True)
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
        return total, n_clipped

    def step(self, X: np.ndarray, y: np.ndarray) -> StepLog:
        """One private step over the wearer's windows ``X [N, T, C]``, ``y [N]``."""
        X = check_array("X", X, ndim=3, dtype=self.network.dtype)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValidationError(f"y: expected shape ({X.shape[0]},), got {y.shape}")
        idx = np.flatnonzero(self.rng.random(len(y)) < self.sampling_rate)
        total, n_clipped = self.clipped_sum(X[idx], y[idx])
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
        return StepLog(len(idx), n_clipped / denom)

    def epsilon(self, delta: float) -> float:
        """ε spent so far at ``delta`` (infinite once a step ran without noise)."""
        if self.noise_multiplier == 0 and self.steps_taken:
            return math.inf
        return self.accountant.epsilon(delta)

    def fit(self, X: np.ndarray, y: np.ndarray, steps: int) -> list[StepLog]:
        """``steps`` private steps; returns their logs."""
        check_scalar("steps", steps, int, low=0)
        return [self.step(X, y) for _ in range(steps)]
