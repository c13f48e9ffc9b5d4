"""Photonic differential privacy for DFA (Ohana et al. 2021, "Photonic Differential Privacy with
Direct Feedback Alignment", NeurIPS 2021): bounded activations, the optically projected error
clipped per example, and the optical processing unit's (OPU) shot noise as the noise of a
Gaussian mechanism, accounted by :mod:`snn_dfa.privacy`.

One private step on a Poisson-sampled batch (rate ``q``; docs/privacy.md, "Photonic DP-DFA",
derives every bound):

1. **Inputs** are bounded, ``|x_i| <= tau_x``; every **hidden activation** is bounded entrywise
   from below and above, ``tau_h_min/sqrt(n) <= |h_j| <= tau_h_max/sqrt(n)`` for a layer of
   ``n`` units (:func:`bounded_activation`, a saturating tanh; the paper's ``τ_h^min``,
   ``τ_h^max``), so ``|h| <= tau_h_max``.
2. The output error ``e_i = softmax(y_i) - onehot`` (``|e_i| <= sqrt(2)``) is projected for
   every hidden layer at once (the OPU, :class:`snn_dfa.deep.optical.OpticalProjector`, or any
   projector); :class:`ProjectionClip` clips (or normalises) each example's whole projection
   to ``|p_i| <= tau_f`` (the paper's ``τ_f``) **after** the projector, where a real OPU's
   readout is, so its shot noise is inside the bound.
3. DFA forms, per layer ``l`` and example ``i``, the rank-one update ``d_{l,i} (h_{l-1,i}, 1)^T``
   with ``d_{l,i} = p_{l,i} * f'(a_{l,i})`` (``|f'| <= 1``: tanh and the clamp) for a hidden
   layer and ``d_{L,i} = e_i`` for the output layer.  The example's whole update over all
   layers has norm at most ``Δ = sqrt(tau_f² max_l C_l² + tau_e² C_L²)`` with
   ``C_l = |(h_{l-1}, 1)|`` bounded as in 1 (:attr:`PhotonicDPDFA.sensitivity`).
4. **Noise**: ``N(0, σ² I)`` with ``σ = z Δ`` on every entry of every layer's summed update;
   with ``noise_source="opu"`` it is the shot noise of **dark holographic frames** of a
   simulated OPU (:class:`snn_dfa.rules.optical.OPU`: data mirrors off, reference on; the
   reconstructed output of such a frame is pure shot noise of variance ``1/(4 λ)`` per pixel
   at ``λ`` photons per unit intensity, whatever the pixel's brightness), two frames
   subtracted per noise vector so the calibration offset cancels, one noise vector per column
   of the widest layer, every layer's rows on separate camera pixels; ``"gaussian"`` draws the
   same law digitally (the model the guarantee is proved for).
5. ``.grad = (sum + noise) / (q N)``; the step is one Poisson-subsampled Gaussian mechanism of
   multiplier ``z`` (add/remove adjacency), recorded in :attr:`PhotonicDPDFA.accountant`.

Every assumption is **checked** on the step's actual factors and a violation raises
:class:`snn_dfa.errors.ValidationError`: input norms, both activation bounds, the projection
bound, ``|f'| <= 1`` (through the hidden factors' joint norm), the output error bound, the
per-example sensitivity, that every trained parameter belongs to the mechanism, that the
projector clips to ``tau_f``, and (OPU source) that every noise pixel receives enough photons
for the Gaussian model of shot noise.

Where this differs from the paper: Ohana et al. count the noise the OPU adds to each example's
own projection, multiplied by the data-dependent ``f'`` and ``h`` (their "adaptive"
mechanism).  That noise lies in the span of the batch's activations ``{h_i}``, so a record
whose activations leave that span is exposed (test_data_path_noise_lies_in_the_span_of_the_
batch_activations); we count only data-independent noise from dark frames, and the data-path
shot noise is inside the clip.  Their theorem's constants are not reproduced here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from snn_dfa._validation import check_choice, check_scalar
from snn_dfa.deep.diagnostics import Factors, record_factors
from snn_dfa.deep.mechanism import DFA
from snn_dfa.deep.privacy import _factors_2d, _with_bias, clip_rows
from snn_dfa.deep.projectors import Projector, Shape
from snn_dfa.errors import ValidationError
from snn_dfa.privacy import PrivacyAccountant
from snn_dfa.rules.optical import OPU, Camera

__all__ = ["MIN_NOISE_PHOTONS", "BOUND_RTOL", "PhotonicDPDFA", "PhotonicStepStats",
           "ProjectionClip", "bounded_activation", "dark_frame_noise"]

#: Relative slack of the bound checks: float32 rounding of norms of a few thousand terms.
BOUND_RTOL = 1e-4
#: Fewest mean detected photons per pixel in a dark frame for the Gaussian model of its shot
#: noise [assumption: a Poisson count of mean 100 has skewness 0.1 and excess kurtosis 0.01].
MIN_NOISE_PHOTONS = 100.0
#: The noise OPU has this many times more camera pixels than noise rows and keeps the
#: brightest (its reference speckle is exponential: dark pixels would receive too few
#: photons) [assumption].
NOISE_PIXEL_OVERSAMPLING = 2


def bounded_activation(a: torch.Tensor, tau_min: float, tau_max: float) -> torch.Tensor:
    """A tanh of the pre-activation ``a [..., n]`` bounded entrywise from both sides:
    ``h = sign(a) max(c |tanh(a/c)|, tau_min/sqrt(n))`` with ``c = tau_max/sqrt(n)``, so
    ``tau_min/sqrt(n) <= |h_j| <= tau_max/sqrt(n)`` and ``|h| <= tau_max`` (Ohana et al. 2021:
    lower and upper bounds on the activations).  ``0 <= dh/da <= 1``: unit slope at 0, soft
    saturation at the upper bound [assumption: the paper's public code clamps ``tanh(a)``
    instead, whose derivative vanishes wherever the bound is reached], 0 below the lower
    bound."""
    check_scalar("tau_min", tau_min, low=0.0)
    check_scalar("tau_max", tau_max, low=0.0, low_inclusive=False)
    if tau_min > tau_max:
        raise ValidationError(f"tau_min={tau_min!r}: expected at most tau_max={tau_max!r}")
    root = math.sqrt(a.shape[-1])
    c = tau_max / root
    sign = torch.where(a >= 0, 1.0, -1.0).to(a.dtype)
    return sign * (c * torch.tanh(a / c)).abs().clamp_min(tau_min / root)


class ProjectionClip:
    """A projector wrapper: each example's projection over **all** points together scaled to
    norm at most ``tau_f`` (``mode="clip"``) or exactly ``tau_f`` (``"normalise"``, what the
    paper's public code does; a zero projection stays zero).

    The wrapped projector gets the mean-reduced gradient ``e [M, c]`` (``1/M`` times the
    per-example error) and returns the same scale; the bound applies to the per-example
    projection ``M p_i``.  ``clipped_fraction``: examples scaled down at the last call.
    """

    def __init__(self, inner: Projector, tau_f: float, mode: str = "clip") -> None:
        if not isinstance(inner, Projector):
            raise ValidationError(f"inner={inner!r}: expected a projector")
        self.inner = inner
        self.tau_f = float(check_scalar("tau_f", tau_f, low=0.0, low_inclusive=False))
        self.mode = check_choice("mode", mode, ["clip", "normalise"])
        self.clipped_fraction = 0.0

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        self.inner.build(shapes, n_out)

    def project(self, e: torch.Tensor) -> list[torch.Tensor]:
        m = e.shape[0]
        parts = self.inner.project(e)
        sizes = [math.prod(p.shape[1:]) for p in parts]
        full = torch.cat([p.reshape(m, -1) for p in parts], 1) * m
        norms = full.norm(dim=1, keepdim=True)
        self.clipped_fraction = float((norms > self.tau_f).double().mean()) if m else 0.0
        if self.mode == "clip":
            full = clip_rows(full, self.tau_f)
        else:
            full = full * (self.tau_f / norms.clamp_min(torch.finfo(full.dtype).tiny))
        return [q.reshape(p.shape) / m for q, p in zip(torch.split(full, sizes, 1), parts)]


def dark_frame_noise(opu: OPU, pixels: np.ndarray, n_vectors: int, gain: float) -> np.ndarray:
    """``[n_vectors, len(pixels)]`` shot noise from dark holographic frames of ``opu``.

    Each noise vector is ``gain (o_1 - o_2)/sqrt(2)`` where ``o_k`` is the linear-mode output
    of an all-off data input (only the reference lit): ``(F1 - F3)/(2 sqrt(F3))`` with ``F1`` a
    Poisson intensity of mean ``|a|²`` at ``λ`` photons per unit, so each ``o_k`` has variance
    ``|a|²/(4 λ F3) ≈ 1/(4 λ)`` and mean ``(|a|² - F3)/(2 sqrt(F3))`` (the calibration error,
    equal in ``o_1`` and ``o_2``: the difference removes it).  Four camera frames per vector.
    """
    dark = np.zeros((2 * n_vectors, opu.n_in))
    out = opu.linear(dark)[:, pixels]
    return gain * (out[:n_vectors] - out[n_vectors:]) / math.sqrt(2.0)


@dataclass(frozen=True)
class PhotonicStepStats:
    """One private step: the batch size, the fraction of examples whose projection was scaled
    down by the clip, and the largest per-example update norm relative to ``Δ``."""

    batch_size: int
    clipped_fraction: float
    max_norm_over_sensitivity: float


class PhotonicDPDFA:
    """The photonic DP-DFA mechanism for the ``nn.Linear`` layers of a DFA-trained MLP
    (see the module docstring).

    Parameters
    ----------
    layers : sequence of nn.Linear
        In network order: the hidden layers (each followed by a bounded activation and a DFA
        feedback point) and the output layer last.
    tau_x : float
        Bound on the norm of an input example.
    tau_h_min, tau_h_max : float
        Bounds of :func:`bounded_activation` on the hidden activations.
    tau_f : float
        Bound on the norm of an example's projected error (all hidden layers together); the
        DFA's projector must be a :class:`ProjectionClip` with this bound.
    noise_multiplier : float
        ``z``: noise standard deviation ``z Δ`` (from
        :func:`snn_dfa.privacy.noise_multiplier_for`; 0 only for tests: no privacy).
    sampling_rate : float
        ``q`` of the Poisson sampling of the batches (for the accountant).
    dataset_size : int
        ``N``; the gradient is the noisy sum divided by ``q N``.
    tau_e : float
        Bound on the output error ``|softmax - onehot|``; ``sqrt(2)`` always holds.
    noise_source : {"gaussian", "opu"}
        Digital Gaussian draws, or dark frames of a simulated OPU (see the module docstring).
    photons_per_unit : float or None
        OPU source only: the photon budget ``λ`` of the noise frames; None chooses
        ``λ = 1/(4 σ²)`` so the frames' shot noise is the mechanism's noise at unit gain,
        otherwise a public digital gain ``2 σ sqrt(λ)`` scales it.
    seed : int
        Seeds the noise (torch generator, or the noise OPU's matrix and shot noise).
    """

    def __init__(self, layers: Sequence[torch.nn.Linear], *, tau_x: float, tau_h_min: float,
                 tau_h_max: float, tau_f: float, noise_multiplier: float, sampling_rate: float,
                 dataset_size: int, tau_e: float = math.sqrt(2.0),
                 noise_source: str = "gaussian", photons_per_unit: float | None = None,
                 seed: int = 0) -> None:
        self.layers = list(layers)
        if len(self.layers) < 2 or not all(isinstance(m, torch.nn.Linear) for m in self.layers):
            raise ValidationError(f"layers={layers!r}: expected at least two nn.Linear (hidden "
                                  "layers, then the output layer)")
        for name, v in (("tau_x", tau_x), ("tau_h_max", tau_h_max), ("tau_f", tau_f),
                        ("tau_e", tau_e)):
            check_scalar(name, v, low=0.0, low_inclusive=False)
        check_scalar("tau_h_min", tau_h_min, low=0.0, high=tau_h_max)
        self.tau_x, self.tau_h_min, self.tau_h_max = float(tau_x), float(tau_h_min), \
            float(tau_h_max)
        self.tau_f, self.tau_e = float(tau_f), float(tau_e)
        self.noise_multiplier = float(check_scalar("noise_multiplier", noise_multiplier,
                                                   low=0.0))
        self.sampling_rate = float(check_scalar("sampling_rate", sampling_rate, low=0.0,
                                                high=1.0, low_inclusive=False))
        self.dataset_size = int(check_scalar("dataset_size", dataset_size, int, low=1))
        self.noise_source = check_choice("noise_source", noise_source, ["gaussian", "opu"])
        self.accountant = PrivacyAccountant()
        self.generator = torch.Generator().manual_seed(int(seed))
        self._opu: OPU | None = None
        if noise_source == "opu" and self.noise_std > 0:
            self._build_noise_opu(photons_per_unit, seed)
        elif photons_per_unit is not None:
            raise ValidationError("photons_per_unit: only for noise_source='opu' with "
                                  "noise_multiplier > 0")

    # -- the bounds ---------------------------------------------------------------------------
    def _input_bound(self, index: int) -> float:
        """Bound on the norm of layer ``index``'s forward factor (its input, with the bias' 1)."""
        bound = self.tau_x if index == 0 else self.tau_h_max
        return math.sqrt(bound ** 2 + (1.0 if self.layers[index].bias is not None else 0.0))

    @property
    def sensitivity(self) -> float:
        """``Δ``: L2 sensitivity of all layers' summed updates together (add/remove one
        example): ``sqrt(tau_f² max_{l<L} C_l² + tau_e² C_L²)``."""
        hidden = max(self._input_bound(i) for i in range(len(self.layers) - 1))
        return math.sqrt((self.tau_f * hidden) ** 2
                         + (self.tau_e * self._input_bound(len(self.layers) - 1)) ** 2)

    @property
    def noise_std(self) -> float:
        """``σ = z Δ`` on every entry of every layer's summed update."""
        return self.noise_multiplier * self.sensitivity

    # -- the noise ----------------------------------------------------------------------------
    def _build_noise_opu(self, photons_per_unit: float | None, seed: int) -> None:
        sigma = self.noise_std
        lam = 1.0 / (4.0 * sigma ** 2) if photons_per_unit is None else float(
            check_scalar("photons_per_unit", photons_per_unit, low=0.0, low_inclusive=False))
        rows = sum(m.out_features for m in self.layers)
        opu = OPU(1, NOISE_PIXEL_OVERSAMPLING * rows,
                  camera=Camera(photons_per_unit=lam, bit_depth=None), seed=seed)
        reference = opu.reference_intensity
        pixels = np.sort(np.argsort(reference)[::-1][:rows])
        dimmest = float(lam * reference[pixels].min())
        if dimmest < MIN_NOISE_PHOTONS:
            raise ValidationError(
                f"photons_per_unit={lam:.4g}: the dimmest noise pixel receives {dimmest:.3g} "
                f"photons per dark frame, expected at least {MIN_NOISE_PHOTONS:g} for the "
                "Gaussian model of shot noise; give a larger photons_per_unit (a digital gain "
                "then restores the noise level)")
        self._opu, self._pixels = opu, pixels
        self.photons_per_unit = lam
        self.gain = 2.0 * sigma * math.sqrt(lam)

    @property
    def noise_opu(self) -> OPU | None:
        """The simulated OPU whose dark frames give the noise (OPU source), else None."""
        return self._opu

    def _noise(self, shapes: list[tuple[int, int]]) -> list[torch.Tensor]:
        if self.noise_std == 0:
            return [torch.zeros(s) for s in shapes]
        if self._opu is None:
            return [self.noise_std * torch.randn(s, generator=self.generator) for s in shapes]
        width = max(cols for _, cols in shapes)
        vectors = dark_frame_noise(self._opu, self._pixels, width, self.gain)
        out, start = [], 0
        for rows, cols in shapes:
            out.append(torch.as_tensor(vectors[:cols, start:start + rows].T.copy(),
                                       dtype=torch.float32))
            start += rows
        return out

    # -- the checks ---------------------------------------------------------------------------
    def check_model(self, model: torch.nn.Module, dfa: DFA) -> None:
        """Raise if ``model`` trains a parameter outside ``layers`` or if ``dfa`` does not clip
        its projection to ``tau_f`` (either would escape the accounted mechanism)."""
        covered = {id(p) for m in self.layers for p in m.parameters()}
        for name, p in model.named_parameters():
            if p.requires_grad and id(p) not in covered:
                raise ValidationError(f"parameter {name!r} trains but belongs to no layer of the "
                                      "photonic DP-DFA mechanism; freeze it or add its layer")
        self._check_dfa(dfa)

    def _check_dfa(self, dfa: DFA) -> None:
        if dfa.mode.value != "dfa":
            raise ValidationError(f"the DFA must be in mode 'dfa', got {dfa.mode.value!r}")
        clip = dfa.projector
        if not isinstance(clip, ProjectionClip) or clip.tau_f > self.tau_f:
            raise ValidationError(f"projector={clip!r}: expected a ProjectionClip with tau_f <= "
                                  f"{self.tau_f:g} (the projected error must be bounded)")
        if dfa.ternarise is not None:
            raise ValidationError("DFA(ternarise=...) acts before the projection clip: let the "
                                  "projector ternarise (OpticalProjector does)")

    def _check_factors(self, log: dict[torch.nn.Linear, list[Factors]], m: int
                       ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The per-example factors ``(x_i with 1, d_i)`` of every layer, rescaled from the
        mean-reduced loss, after checking every bound on them."""
        slack = 1.0 + BOUND_RTOL
        out = []
        for i, layer in enumerate(self.layers):
            calls = log.get(layer, [])
            if len(calls) != 1:
                raise ValidationError(f"{layer}: called {len(calls)} times in the step; photonic "
                                      "DP-DFA needs exactly one call per layer")
            x, d = _factors_2d(calls[0], layer)
            if i == 0:
                worst = float(x.norm(dim=1).max())
                if worst > self.tau_x * slack:
                    raise ValidationError(f"input norm {worst:.6g} exceeds tau_x={self.tau_x:g}: "
                                          "clip or scale the inputs")
            else:
                scale = math.sqrt(x.shape[1])
                mag = x.abs() * scale
                lo, hi = float(mag.min()), float(mag.max())
                if hi > self.tau_h_max * slack or lo < self.tau_h_min / slack:
                    raise ValidationError(
                        f"activations entering {layer}: sqrt(n)|h| spans [{lo:.6g}, {hi:.6g}], "
                        f"expected within [tau_h_min, tau_h_max] = [{self.tau_h_min:g}, "
                        f"{self.tau_h_max:g}]; use bounded_activation")
            out.append((_with_bias(x, layer), d * m))
        hidden = torch.stack([d.norm(dim=1) ** 2 for _, d in out[:-1]]).sum(0).sqrt()
        if float(hidden.max()) > self.tau_f * slack:
            raise ValidationError(f"hidden backward factors of norm {float(hidden.max()):.6g} "
                                  f"exceed tau_f={self.tau_f:g}: |f'| > 1 or an unclipped "
                                  "projection")
        err = float(out[-1][1].norm(dim=1).max())
        if err > self.tau_e * slack:
            raise ValidationError(f"output error norm {err:.6g} exceeds tau_e={self.tau_e:g}")
        return out

    # -- the step -----------------------------------------------------------------------------
    def per_example_norms(self, factors: list[tuple[torch.Tensor, torch.Tensor]]
                          ) -> torch.Tensor:
        """``[M]``: norm of each example's update over all layers, ``sqrt(sum_l |d|²|x|²)``."""
        return torch.stack([(d.norm(dim=1) * x.norm(dim=1)) ** 2
                            for x, d in factors]).sum(0).sqrt()

    def step(self, forward: Callable[[torch.Tensor], torch.Tensor], dfa: DFA, x: torch.Tensor,
             y: torch.Tensor) -> PhotonicStepStats:
        """One private step on the (already Poisson-sampled) batch ``x [M, n_in]``, ``y [M]``:
        forward (``forward(x)`` returns logits through ``dfa``), mean-reduced cross-entropy,
        backward, checks, noise, ``.grad = (sum + noise)/(q N)``; records the step in
        :attr:`accountant`.  The optimiser's ``step()`` is the caller's.  An empty batch
        releases noise only."""
        self._check_dfa(dfa)
        for layer in self.layers:
            for p in layer.parameters():
                p.grad = None
        m = int(x.shape[0])
        shapes = [(lin.out_features, lin.in_features + (lin.bias is not None))
                  for lin in self.layers]
        if m:
            with record_factors(self.layers) as log:
                torch.nn.functional.cross_entropy(forward(x), y).backward()
            factors = self._check_factors(log, m)
            norms = self.per_example_norms(factors)
            worst = float(norms.max()) / self.sensitivity
            if worst > 1.0 + BOUND_RTOL:
                raise ValidationError(f"an example's update has norm {worst:.6g} x the "
                                      f"sensitivity {self.sensitivity:g}")
            sums = [d.T @ xb for xb, d in factors]
        else:
            sums, worst = [torch.zeros(s) for s in shapes], 0.0
        scale = self.sampling_rate * self.dataset_size
        for layer, total, noise in zip(self.layers, sums, self._noise(shapes)):
            g = (total + noise.to(total.dtype)) / scale
            layer.weight.grad = g[:, :layer.in_features].contiguous()
            if layer.bias is not None:
                layer.bias.grad = g[:, layer.in_features].contiguous()
        if self.noise_multiplier > 0:
            self.accountant.step(self.sampling_rate, self.noise_multiplier)
        clip = dfa.projector
        return PhotonicStepStats(m, clip.clipped_fraction if m else 0.0,  # type: ignore[attr-defined]  # checked by _check_dfa
                                 worst)

    def epsilon(self, delta: float) -> float:
        """ε spent so far at ``delta`` (RDP accountant of :mod:`snn_dfa.privacy`)."""
        return self.accountant.epsilon(delta)
