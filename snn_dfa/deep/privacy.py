"""Differentially private DFA (Lee & Kifer 2020) for the Linear layers of a DFA-trained torch
model, and the DP-SGD baseline (opacus) on the same Poisson-sampled batches.

DP-DFA step (docs/privacy.md derives every bound used here):

1. **Poisson sampling**: every training example joins the batch independently with
   probability ``q`` (:func:`poisson_batch`).
2. Forward and backward through :class:`snn_dfa.deep.DFA` with a *sum*-reduced loss, inside
   :func:`snn_dfa.deep.record_factors`: for each ``nn.Linear`` ``l`` and example ``i`` the two
   factors of its weight gradient, the forward factor ``x_i`` (the layer input, extended by a
   constant 1 for the bias) and the backward factor ``d_i`` (``(B_l e_i) * f'(a_{l,i})`` for a
   hidden layer, ``e_i`` for the output layer).
3. **Clipping of both factors**: ``x_i <- x_i min(1, C_x,l/|x_i|)``, ``d_i <- d_i min(1,
   C_d,l/|d_i|)``.  The example's update to layer ``l`` (weights and bias) is the rank-one
   ``d_i x_i^T`` with Frobenius norm ``|d_i| |x_i| <= C_d,l C_x,l = Δ_l``.
4. **Gaussian noise on the summed update**: ``G_l = sum_i d_i x_i^T + N(0, σ_l² I)`` with
   ``σ_l = z sqrt(L) Δ_l``; all ``L`` layers together are one Gaussian mechanism of noise
   multiplier ``z`` (whitening layer ``l`` by ``1/σ_l`` leaves sensitivity
   ``sqrt(sum_l Δ_l²/σ_l²) = 1/z``), accounted by :mod:`snn_dfa.privacy` as one
   Poisson-subsampled Gaussian per step.
5. The gradient written to ``.grad`` is ``G_l / (q N)`` (the expected batch size, a public
   constant, as opacus does), so any torch optimiser steps on it (post-processing).

Adjacency: add/remove one training example.  Only Linear layers called once per step on
``[N, n_in]`` inputs are supported (one position per example: the two-factor norm is exact);
every trainable parameter of the model must belong to one of them, otherwise a parameter would
be updated outside the accounted mechanism.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from snn_dfa._validation import check_scalar
from snn_dfa.deep.diagnostics import Factors, record_factors
from snn_dfa.deep.mechanism import DFA
from snn_dfa.errors import ValidationError

__all__ = ["DPDFA", "StepStats", "clip_rows", "dp_sgd", "poisson_batch", "two_factor_norms"]


def poisson_batch(n: int, sampling_rate: float, generator: torch.Generator) -> torch.Tensor:
    """Indices of a Poisson-sampled batch: each of ``n`` examples independently with
    probability ``sampling_rate`` (the batch may be empty).  Returns int64 ``[B]``."""
    check_scalar("n", n, int, low=1)
    check_scalar("sampling_rate", sampling_rate, low=0.0, high=1.0, low_inclusive=False)
    return torch.nonzero(torch.rand(n, generator=generator) < sampling_rate).reshape(-1)


def clip_rows(t: torch.Tensor, bound: float) -> torch.Tensor:
    """Scale each row of ``t [N, k]`` by ``min(1, bound/|row|)`` (rows of norm 0 stay 0)."""
    norms = t.norm(dim=1, keepdim=True)
    return t * torch.clamp(bound / norms.clamp_min(torch.finfo(t.dtype).tiny), max=1.0)


def _with_bias(x: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
    if layer.bias is None:
        return x
    return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], 1)


def two_factor_norms(factors: Factors, layer: torch.nn.Linear) -> torch.Tensor:
    """Per-example Frobenius norm ``[N]`` of the update to ``layer`` (weights and bias
    together) from the two factors alone: ``|d_i| |(x_i, 1)|``."""
    x, d = _factors_2d(factors, layer)
    return d.norm(dim=1) * _with_bias(x, layer).norm(dim=1)


def _factors_2d(factors: Factors, layer: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    if factors.delta is None:
        raise ValidationError(f"{layer}: no gradient reached the layer (is it behind a "
                              "feedback point in readout mode, or unused by the loss?)")
    if factors.input.ndim != 2 or factors.delta.ndim != 2:
        raise ValidationError(f"{layer}: input {tuple(factors.input.shape)} and delta "
                              f"{tuple(factors.delta.shape)}; DP-DFA needs one position per "
                              "example, [N, n_in] and [N, n_out]")
    return factors.input, factors.delta


def _per_layer(name: str, value: float | Sequence[float], n: int) -> list[float]:
    values = [value] * n if isinstance(value, (int, float)) else list(value)
    if len(values) != n:
        raise ValidationError(f"{name}={value!r}: expected one bound or {n} (one per layer)")
    for v in values:
        check_scalar(name, v, low=0.0, low_inclusive=False)
    return [float(v) for v in values]


@dataclass(frozen=True)
class StepStats:
    """What one private step did: the batch size and, per layer, the fraction of examples
    whose forward or backward factor was clipped."""

    batch_size: int
    clipped_forward: tuple[float, ...]
    clipped_backward: tuple[float, ...]


class DPDFA:
    """Clip-and-noise mechanism of DP-DFA on the per-example factors of ``layers``.

    Parameters
    ----------
    layers : sequence of nn.Linear
        Every layer the model trains, in any order (hidden layers behind DFA feedback points,
        the output layer with its local gradient).
    clip_forward, clip_backward : float or one per layer
        ``C_x,l`` (bound on the norm of the layer input extended by the bias' 1) and ``C_d,l``
        (bound on the norm of the backward factor).
    noise_multiplier : float
        ``z``: the whole step is a Gaussian mechanism with noise ``z`` times its L2
        sensitivity (get it from :func:`snn_dfa.privacy.noise_multiplier_for`).
    seed : int
        Seed of the noise generator (torch CPU generator).
    """

    def __init__(self, layers: Sequence[torch.nn.Linear], clip_forward: float | Sequence[float],
                 clip_backward: float | Sequence[float], noise_multiplier: float,
                 seed: int = 0) -> None:
        self.layers = list(layers)
        if not self.layers or not all(isinstance(m, torch.nn.Linear) for m in self.layers):
            raise ValidationError(f"layers={layers!r}: expected a non-empty list of nn.Linear")
        self.clip_forward = _per_layer("clip_forward", clip_forward, len(self.layers))
        self.clip_backward = _per_layer("clip_backward", clip_backward, len(self.layers))
        self.noise_multiplier = float(check_scalar("noise_multiplier", noise_multiplier,
                                                   low=0.0))
        self.generator = torch.Generator().manual_seed(int(seed))

    @property
    def sensitivities(self) -> list[float]:
        """``Δ_l = C_d,l C_x,l``: L2 sensitivity of layer ``l``'s summed update."""
        return [cd * cx for cd, cx in zip(self.clip_backward, self.clip_forward)]

    @property
    def sensitivity(self) -> float:
        """``sqrt(sum_l Δ_l²)``: L2 sensitivity of all layers' summed updates together."""
        return math.sqrt(sum(s * s for s in self.sensitivities))

    @property
    def noise_stds(self) -> list[float]:
        """``σ_l = z sqrt(L) Δ_l``, the noise standard deviation added to layer ``l``."""
        root = math.sqrt(len(self.layers))
        return [self.noise_multiplier * root * s for s in self.sensitivities]

    def check_model(self, model: torch.nn.Module) -> None:
        """Raise if ``model`` trains a parameter outside ``layers`` (it would escape the
        accounted mechanism)."""
        covered = {id(p) for m in self.layers for p in m.parameters()}
        for name, p in model.named_parameters():
            if p.requires_grad and id(p) not in covered:
                raise ValidationError(f"parameter {name!r} trains but belongs to no layer of the "
                                      "DP-DFA mechanism; freeze it or add its layer")

    def clipped_sum(self, log: dict[torch.nn.Linear, list[Factors]]
                    ) -> tuple[list[torch.Tensor], StepStats]:
        """Per layer, ``sum_i clip(d_i) clip((x_i, 1))^T`` as ``[n_out, n_in (+1)]``."""
        sums, fwd, bwd, batch = [], [], [], 0
        for layer, cx, cd in zip(self.layers, self.clip_forward, self.clip_backward):
            calls = log.get(layer, [])
            if len(calls) != 1:
                raise ValidationError(f"{layer}: called {len(calls)} times in the step; DP-DFA "
                                      "needs exactly one call per layer")
            x, d = _factors_2d(calls[0], layer)
            xb = _with_bias(x, layer)
            batch = x.shape[0]
            xn, dn = xb.norm(dim=1), d.norm(dim=1)
            fwd.append(float((xn > cx).float().mean()) if batch else 0.0)
            bwd.append(float((dn > cd).float().mean()) if batch else 0.0)
            sums.append(clip_rows(d, cd).T @ clip_rows(xb, cx))
        return sums, StepStats(batch, tuple(fwd), tuple(bwd))

    def privatize(self, log: dict[torch.nn.Linear, list[Factors]],
                  expected_batch_size: float) -> StepStats:
        """Write ``(clipped sum + noise) / expected_batch_size`` into every layer's ``.grad``."""
        check_scalar("expected_batch_size", expected_batch_size, low=0.0, low_inclusive=False)
        sums, stats = self.clipped_sum(log)
        for layer, total, std in zip(self.layers, sums, self.noise_stds):
            noisy = total + std * torch.randn(total.shape, generator=self.generator,
                                               dtype=total.dtype)
            noisy = noisy / expected_batch_size
            n_in = layer.in_features
            layer.weight.grad = noisy[:, :n_in].contiguous()
            if layer.bias is not None:
                layer.bias.grad = noisy[:, n_in].contiguous()
        return stats

    def step(self, forward: Callable[[torch.Tensor], torch.Tensor], dfa: DFA, x: torch.Tensor,
             y: torch.Tensor, expected_batch_size: float) -> StepStats:
        """One private DFA step on the (already Poisson-sampled) batch ``x [B, ...]``,
        ``y [B]``: forward (``forward(x)`` returns logits through ``dfa``), sum-reduced
        cross-entropy, backward, clip, noise; the optimiser's ``step()`` is the caller's.
        An empty batch releases noise only (as the mechanism requires)."""
        if dfa.mode.value != "dfa":
            raise ValidationError(f"DPDFA.step: the DFA must be in mode 'dfa', got "
                                  f"{dfa.mode.value!r}")
        for layer in self.layers:
            for p in layer.parameters():
                p.grad = None
        with record_factors(self.layers) as log:
            loss = torch.nn.functional.cross_entropy(forward(x), y, reduction="sum")
            loss.backward()
        return self.privatize(log, expected_batch_size)


def dp_sgd(model: torch.nn.Module, optimizer: torch.optim.Optimizer, noise_multiplier: float,
           max_grad_norm: float, expected_batch_size: int, seed: int = 0, ghost: bool = False
           ) -> tuple[torch.nn.Module, torch.optim.Optimizer,
                      Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """The DP-SGD baseline (Abadi et al. 2016) through opacus: per-example gradients of all
    parameters clipped to ``max_grad_norm``, Gaussian noise ``noise_multiplier *
    max_grad_norm`` (seeded by ``seed``), divided by ``expected_batch_size``.

    ``ghost=False``: opacus's ``GradSampleModule`` (per-example gradients materialised);
    ``ghost=True``: its ghost clipping (per-example norms without per-example gradients, a
    second backward for the clipped sum), the same mechanism at a lower cost.
    Returns ``(module, optimizer, loss)``: feed ``module`` Poisson-sampled batches
    (:func:`poisson_batch`), call ``loss(logits, y).backward()`` (mean-reduced cross-entropy;
    opacus rescales by the actual batch size) and ``optimizer.step()``.
    """
    try:
        from opacus import GradSampleModule
        from opacus.grad_sample import GradSampleModuleFastGradientClipping
        from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping
        from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise ValidationError("dp_sgd needs opacus: pip install 'snn-dfa[privacy]'") from exc
    check_scalar("max_grad_norm", max_grad_norm, low=0.0, low_inclusive=False)
    kwargs = {"noise_multiplier": float(noise_multiplier), "max_grad_norm": float(max_grad_norm),
              "expected_batch_size": int(expected_batch_size),
              "generator": torch.Generator().manual_seed(int(seed))}
    criterion = torch.nn.CrossEntropyLoss()
    if not ghost:
        return GradSampleModule(model), DPOptimizer(optimizer, **kwargs), criterion
    wrapped = GradSampleModuleFastGradientClipping(model, max_grad_norm=float(max_grad_norm),
                                                   use_ghost_clipping=True)
    dp_opt = DPOptimizerFastGradientClipping(optimizer, **kwargs)
    return wrapped, dp_opt, DPLossFastGradientClipping(wrapped, dp_opt, criterion)
