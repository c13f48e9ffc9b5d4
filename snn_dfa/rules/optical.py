"""A simulated optical processing unit (OPU) and the optical DFA feedback projector.

The OPU (LightOn's photonic co-processor: Launay et al. 2020, arXiv 2012.06373; Ohana et al.
2021, arXiv 2106.03645; Wang et al. 2024, arXiv 2409.12965) multiplies a **binary**
input, shown on a digital micro-mirror device (DMD), by a fixed complex Gaussian transmission
matrix ``R`` (a multiply-scattering medium) and records the **intensity** ``|x R|²`` on a
camera.  What :class:`OPU` simulates:

* ``R [n_mirrors, n_out]``: real and imaginary parts i.i.d. ``N(0, 1/n_mirrors)`` (lightonml's
  simulated device draws its matrix with standard deviation ``1/sqrt(n_features)``), so
  ``|x R|²`` for a binary ``x`` with ``k`` ones is exponential with mean ``2k/n_mirrors``;
* the camera (:class:`Camera`): Poisson shot noise at ``photons_per_unit`` detected photons per
  unit of intensity (None: noiseless), then a ``bit_depth``-bit quantiser whose top level is
  ``full_scale`` (saturating above; None: no quantisation);
* the **linear projection** DFA needs, by holography [assumption: Launay et al. 2020 obtain it
  holographically from intensity frames; the hardware's method is proprietary]: the last
  ``n_reference`` mirrors always show a fixed all-ones reference ``r``.  Per binary input two
  frames are taken, ``F1 = |x R_x + r R_r|²`` and ``F2 = |x R_x|²`` (reference mirrors off);
  ``F3 = |r R_r|²`` is calibrated once (averaged over ``calibration_frames`` frames).  Then
  ``F1 - F2 - F3 = 2 Re(conj(a) ⊙ x R_x)`` with ``a = r R_r``, and dividing by ``2|a|`` gives
  ``Re(x R̃)`` where ``R̃`` is ``R_x`` with column ``j`` rotated by the phase of ``a_j``: a real
  Gaussian projection
  ``x @ linear_matrix`` with ``linear_matrix = Re(R̃)``, entries ``N(0, 1/n_mirrors)``.
  Two frames per binary input (+ the amortised calibration); LightOn's documentation quotes a
  linear mode about 5x slower than the intensity mode;
* a **ternary** input ``t ∈ {-1, 0, 1}`` as two binary inputs ``t > 0`` and ``t < 0`` whose
  projections are subtracted (Launay et al. 2020; LightOn's TinyDFA code): four frames per
  ternary vector;
* a frame counter: the OPU counts every camera frame it takes (``frames``);
  ``seconds = frames / frame_rate_hz``.  :class:`OpticalFeedback` also counts the electronic
  reconstruction (``counters``: five sums and three products per example and pixel, no
  feedback MACs), as every projector of ``snn_dfa.rules.feedback`` does.

:class:`OpticalFeedback` is a DFA feedback projector (the spiking engine's
``FeedbackProjector``: ``project(layer, e)``, ``project_all(e)``; :mod:`snn_dfa.deep.optical`
wraps it for torch models): it ternarises the output error ``e [M, c]`` (threshold ``t`` on
the per-example error ``M e``, the TinyDFA fork's convention), projects every row optically in
one pass for all layers (TinyDFA's single sliced projection) and returns ``(P+ - P-) / M``, so
the signal keeps the ``1/M`` scale of a mean-reduced loss's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from snn_dfa._validation import SeedLike, check_array, check_random_state, check_scalar
from snn_dfa.errors import ValidationError
from snn_dfa.rules.feedback import FeedbackProjector, ProjectorCounters, ProjectorWrapper

#: Frame rate of the simulated OPU [assumption, derived]: the 1500 TeraOPS quoted for a
#: 10^6 x 10^6 projection (Launay et al. 2020; Wang et al. 2024) is 2e12 operations per frame at
#: 750 frames per second.
FRAME_RATE_HZ = 750.0
#: Camera bit depth: LightOn's lightonml returns uint8 intensities [code].
BIT_DEPTH = 8
#: Frames per binary input in the linear (holographic) mode: F1 and F2 (ours, see above).
FRAMES_PER_BINARY_LINEAR = 2
#: Defaults of the ``optical_dfa`` rule and the configuration's ``[optical]`` section.
#: Ternarisation threshold [assumption]: the TinyDFA fork's 0.1 sent a digits MLP to chance
#: (every wrong class of a near-uniform output flips to +1 together; reports/optical_dfa.md).
THRESHOLD = 0.25
#: Detected photons per unit intensity [assumption: LightOn publishes no photon budget; at
#: 1000 a pixel of mean intensity 1 has 1000 photons, 3 % shot noise, and the digits MLP of
#: reports/optical_dfa.md lost nothing measurable against a noiseless camera].
PHOTONS_PER_UNIT = 1000.0
#: Camera full scale in units of intensity (see :class:`Camera`) [assumption].
FULL_SCALE = 16.0


@dataclass(frozen=True)
class Camera:
    """The OPU's camera.

    Attributes
    ----------
    photons_per_unit : float or None
        Mean detected photons per unit of intensity (the photon budget); ``None``: no shot
        noise.  Intensities are in the units of ``|x R|²`` (mean ``2k/n_mirrors``).
    bit_depth : int or None
        Quantiser bits (8: lightonml's uint8 [code]); ``None``: no quantisation.
    full_scale : float
        Intensity of the top level; brighter pixels saturate.  The default, 16, is eight
        times the mean intensity when every mirror is on (saturation probability e^-8 per
        pixel for the exponential intensity) [assumption].
    """

    photons_per_unit: float | None = None
    bit_depth: int | None = BIT_DEPTH
    full_scale: float = FULL_SCALE

    def __post_init__(self) -> None:
        if self.photons_per_unit is not None:
            check_scalar("photons_per_unit", self.photons_per_unit, (int, float), low=0.0,
                         low_inclusive=False)
        if self.bit_depth is not None:
            check_scalar("bit_depth", self.bit_depth, int, low=1, high=32)
        check_scalar("full_scale", self.full_scale, (int, float), low=0.0, low_inclusive=False)

    def record(self, intensity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The measured intensity of a frame (float64, same shape as ``intensity``)."""
        out = intensity
        if self.photons_per_unit is not None:
            out = rng.poisson(intensity * self.photons_per_unit) / self.photons_per_unit
        if self.bit_depth is not None:
            levels = 2 ** self.bit_depth - 1
            step = self.full_scale / levels
            out = np.clip(np.rint(out / step), 0, levels) * step
        return np.asarray(out, dtype=np.float64)

    @property
    def ideal(self) -> bool:
        return self.photons_per_unit is None and self.bit_depth is None


class OPU:
    """A simulated optical processing unit (see the module docstring).

    Parameters
    ----------
    n_in : int
        Input mirrors for the data (the DMD's data region).
    n_out : int
        Camera pixels (output features).
    camera : Camera, optional
        Default: 8-bit, no shot noise.
    n_reference : int
        Mirrors of the holographic reference region (all on) [assumption: a strong reference,
        as in off-axis holography; default ``max(n_in, 16)``].
    calibration_frames : int
        Frames averaged to calibrate the reference intensity ``F3`` (once, at construction).
    frame_rate_hz : float
        Camera / DMD frame rate (:data:`FRAME_RATE_HZ`).
    seed : int or Generator
        Draws ``R`` (the medium) and then, without ``noise_seed``, the shot noise.
    noise_seed : int or Generator, optional
        Draws the shot noise instead (the same device, ``seed``, with another noise stream).

    Attributes
    ----------
    frames : int
        Camera frames taken so far (calibration included).
    """

    def __init__(self, n_in: int, n_out: int, camera: Camera | None = None,
                 n_reference: int | None = None, calibration_frames: int = 64,
                 frame_rate_hz: float = FRAME_RATE_HZ, seed: SeedLike = None,
                 noise_seed: SeedLike = None) -> None:
        check_scalar("n_in", n_in, int, low=1)
        check_scalar("n_out", n_out, int, low=1)
        n_ref = max(n_in, 16) if n_reference is None else n_reference
        check_scalar("n_reference", n_ref, int, low=1)
        check_scalar("calibration_frames", calibration_frames, int, low=1)
        check_scalar("frame_rate_hz", frame_rate_hz, (int, float), low=0.0, low_inclusive=False)
        self.n_in, self.n_out, self.n_reference = n_in, n_out, n_ref
        self.calibration_frames = calibration_frames
        self.camera = camera if camera is not None else Camera()
        self.frame_rate_hz = float(frame_rate_hz)
        self._rng = check_random_state(seed)
        n_mirrors = n_in + n_ref
        std = 1.0 / math.sqrt(n_mirrors)
        self.transmission = (self._rng.normal(0.0, std, (n_mirrors, n_out))
                             + 1j * self._rng.normal(0.0, std, (n_mirrors, n_out)))
        if noise_seed is not None:
            self._rng = check_random_state(noise_seed)
        self.frames = 0
        ref_field = self.transmission[n_in:].sum(axis=0)  # r R_r with r all ones
        self._ref_phase = np.exp(-1j * np.angle(ref_field))
        f3 = np.mean([self._frame(ref_field[None])[0] for _ in range(calibration_frames)], axis=0)
        self._ref_amplitude = np.sqrt(np.maximum(f3, 0.0))

    @property
    def n_mirrors(self) -> int:
        return self.n_in + self.n_reference

    @property
    def seconds(self) -> float:
        """Time the frames taken so far occupy the OPU, ``frames / frame_rate_hz``."""
        return self.frames / self.frame_rate_hz

    @property
    def reference_intensity(self) -> np.ndarray:
        """``F3 [n_out]``: the calibrated intensity of the reference alone, per pixel."""
        return self._ref_amplitude ** 2

    @property
    def linear_matrix(self) -> np.ndarray:
        """``Re(R̃) [n_in, n_out]``: what the holographic linear mode multiplies by."""
        return np.real(self.transmission[:self.n_in] * self._ref_phase)

    def _frame(self, field: np.ndarray) -> np.ndarray:
        """Camera frames of complex fields ``[M, n_out]``: ``M`` frames."""
        self.frames += field.shape[0]
        return self.camera.record(np.abs(field) ** 2, self._rng)

    def _binary(self, x: np.ndarray, name: str) -> np.ndarray:
        x = check_array(name, x, ndim=2, dtype=None)
        if x.shape[1] != self.n_in:
            raise ValidationError(f"{name}: expected {self.n_in} columns, got shape {x.shape}")
        if not np.isin(x, (0, 1)).all():
            raise ValidationError(f"{name}: the DMD shows binary inputs; expected 0/1 entries")
        return x.astype(np.float64)

    def intensity(self, x: np.ndarray) -> np.ndarray:
        """The native mode: one frame per row, ``|x R_x|²`` as the camera records it.

        ``x [M, n_in]`` binary (the reference mirrors off); returns ``[M, n_out]``.
        """
        return self._frame(self._binary(x, "x") @ self.transmission[:self.n_in])

    def linear(self, x: np.ndarray) -> np.ndarray:
        """The holographic linear mode: ``≈ x @ linear_matrix`` from two frames per row.

        ``x [M, n_in]`` binary; returns ``[M, n_out]`` float64.  Exact with an ideal camera.
        """
        xb = self._binary(x, "x")
        signal = xb @ self.transmission[:self.n_in]
        ref = self.transmission[self.n_in:].sum(axis=0)
        f1 = self._frame(signal + ref)
        f2 = self._frame(signal)
        amp = self._ref_amplitude
        f3 = amp ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(amp > 0, (f1 - f2 - f3) / (2.0 * amp), 0.0)
        return out

    def ternary(self, t: np.ndarray) -> np.ndarray:
        """``t @ linear_matrix`` for ``t [M, n_in]`` in {-1, 0, 1}: the projection of ``t > 0``
        minus that of ``t < 0`` (two binary inputs, four frames per row)."""
        t = check_array("t", t, ndim=2, dtype=None)
        if not np.isin(t, (-1, 0, 1)).all():
            raise ValidationError("t: expected ternary entries in {-1, 0, 1}")
        return self.linear(t > 0) - self.linear(t < 0)


def ternarise(e: np.ndarray, threshold: float) -> np.ndarray:
    """Signs ``1[M e > t] - 1[M e < -t]`` (int8) of a batch-averaged error ``e [M, c]``
    (LightOn's TinyDFA fork, ``ternarized.py``: the threshold applies to the per-example error)."""
    check_scalar("threshold", threshold, (int, float), low=0.0)
    m = e.shape[0]
    return ((m * e > threshold).astype(np.int8) - (m * e < -threshold).astype(np.int8))


class OpticalFeedback:
    """DFA feedback through a simulated OPU: ``project_all(e)`` ternarises ``e [M, c]``,
    projects it optically once for every layer and slices ``[M, n_l]`` per layer.

    The effective feedback matrix of layer ``l`` is ``matrices[l] = B_l [n_l, c]``, the
    transpose of the rows of ``opu.linear_matrix`` for its slice; with an ideal camera
    ``project_all(e)`` equals ``ternarise(e, t) @ B_l.T / M`` exactly.

    Parameters
    ----------
    sizes : sequence of int
        ``n_l`` of every hidden layer receiving feedback, in network order.
    n_classes : int
    threshold : float
        Ternarisation threshold ``t`` (0.1: the TinyDFA fork's default [code]).
    camera : Camera, optional
    seed : int or Generator
    dtype : numpy dtype of the returned projections
    **opu_kwargs
        Passed to :class:`OPU` (``n_reference``, ``calibration_frames``, ``frame_rate_hz``).
    """

    def __init__(self, sizes: Sequence[int], n_classes: int, threshold: float = 0.1,
                 camera: Camera | None = None, seed: SeedLike = None,
                 dtype: np.dtype | type = np.float32, **opu_kwargs: object) -> None:
        self.sizes = [int(check_scalar("sizes", n, int, low=1)) for n in sizes]
        if not self.sizes:
            raise ValidationError("sizes: expected at least one hidden layer")
        check_scalar("n_classes", n_classes, int, low=1)
        check_scalar("threshold", threshold, (int, float), low=0.0)
        self.n_classes, self.threshold, self.dtype = n_classes, float(threshold), dtype
        self.opu = OPU(n_classes, sum(self.sizes), camera=camera, seed=seed,
                       **opu_kwargs)  # type: ignore[arg-type]  # OPU checks its keyword options at run time
        self._offsets = np.cumsum([0, *self.sizes])
        self.counters = ProjectorCounters(len(self.sizes))

    @property
    def frames(self) -> int:
        """Camera frames the OPU has taken (its calibration included)."""
        return self.opu.frames

    @property
    def matrices(self) -> list[np.ndarray]:
        """Effective ``B_l [n_l, c]`` per layer (the noiseless linear projection)."""
        full = self.opu.linear_matrix.T
        return [full[a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        """``[M, n_l]`` per layer from one optical pass (four frames per example)."""
        e = check_array("e", e, ndim=2, dtype=np.float64)
        if e.shape[1] != self.n_classes:
            raise ValidationError(f"e: expected {self.n_classes} columns, got shape {e.shape}")
        full = (self.opu.ternary(ternarise(e, self.threshold)) / e.shape[0]).astype(self.dtype)
        # The projection itself is optical (no feedback MACs); the electronics reconstruct it:
        # per example and pixel, two holograms of two subtractions and one division each, the
        # difference of the two, and the 1/M scale.
        n = np.asarray(self.sizes, dtype=np.float64) * e.shape[0]
        self.counters.update_adds += 5 * n
        self.counters.update_mults += 3 * n
        return [full[:, a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        """One layer's slice (the OPU still projects every layer: that is its cost)."""
        if not 0 <= layer < len(self.sizes):
            raise ValidationError(f"layer={layer}: expected 0 <= layer < {len(self.sizes)}")
        return self.project_all(e)[layer]


class TernarisedFeedback(ProjectorWrapper):
    """Digital DFA with a ternarised error: ``inner`` projects ``ternarise(e, t) / M``.

    The electronic counterpart of :class:`OpticalFeedback`: with ``inner`` holding the OPU's
    effective matrices (``RandomFeedback.from_matrices(optical.matrices)``) and an ideal
    camera, both deliver the same projection to float rounding.  ``e [M, c]``.
    """

    def __init__(self, inner: FeedbackProjector, threshold: float) -> None:
        super().__init__(inner)
        check_scalar("threshold", threshold, (int, float), low=0.0)
        self.threshold = float(threshold)

    def _ternary(self, e: np.ndarray) -> np.ndarray:
        e = check_array("e", e, ndim=2, dtype=None)  # compared in float64, as the OPU does
        return (ternarise(e.astype(np.float64), self.threshold) / e.shape[0]).astype(e.dtype)

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        return self.inner.project(layer, self._ternary(e))

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        return self.inner.project_all(self._ternary(e))


def camera_from(photons_per_unit: float, bit_depth: int, full_scale: float) -> Camera:
    """The camera of a configuration, where 0 switches a stage off: ``photons_per_unit = 0``
    is no shot noise (an unlimited photon budget), ``bit_depth = 0`` no quantisation."""
    check_scalar("photons_per_unit", photons_per_unit, (int, float), low=0.0)
    check_scalar("bit_depth", bit_depth, int, low=0, high=32)
    return Camera(photons_per_unit=float(photons_per_unit) if photons_per_unit > 0 else None,
                  bit_depth=int(bit_depth) if bit_depth > 0 else None,
                  full_scale=float(full_scale))


#: stream of ``device_seed`` that draws an OPU's medium (distinct from a run's other streams)
DEVICE_STREAM = 6


def optical_feedback_for(sizes: Sequence[int], n_classes: int, *, threshold: float = THRESHOLD,
                         photons_per_unit: float = PHOTONS_PER_UNIT, bit_depth: int = BIT_DEPTH,
                         full_scale: float = FULL_SCALE, frame_rate_hz: float = FRAME_RATE_HZ,
                         device_seed: int | None = None, seed: SeedLike = None,
                         dtype: np.dtype | type = np.float32) -> OpticalFeedback:
    """An :class:`OpticalFeedback` from plain settings (the rule registry's and the
    configuration's ``[optical]`` keys; 0 switches a camera stage off, :func:`camera_from`).

    ``device_seed`` names the physical device: its medium ``R`` is drawn from
    ``default_rng([device_seed, DEVICE_STREAM])``, so every projector built with the same
    ``device_seed`` (pre-training in the cloud, adaptation on the chip) has the same effective
    matrices, and ``seed`` drives only the shot noise.  Without ``device_seed``, ``seed`` draws
    both (the medium first).
    """
    camera = camera_from(photons_per_unit, bit_depth, full_scale)
    if device_seed is None:
        return OpticalFeedback(sizes, n_classes, threshold, camera, seed=seed, dtype=dtype,
                               frame_rate_hz=frame_rate_hz)
    check_scalar("device_seed", device_seed, int, low=0)
    return OpticalFeedback(sizes, n_classes, threshold, camera,
                           seed=np.random.default_rng([device_seed, DEVICE_STREAM]),
                           dtype=dtype, frame_rate_hz=frame_rate_hz,
                           noise_seed=check_random_state(seed))
