"""The simulated OPU as a feedback projector for torch models (:class:`snn_dfa.deep.DFA`).

:class:`OpticalProjector` wraps the numpy :class:`snn_dfa.rules.optical.OpticalFeedback`
(the same simulator and frame counter the spiking engine uses): at ``build`` it creates an OPU
with ``c`` data mirrors and ``sum n_l`` camera pixels, and every ``project(e)`` ternarises the
error, takes four frames per row (two binary inputs, two holographic frames each) and slices
the projection per feedback point.  Do not also set ``DFA(ternarise=...)``: the projector
ternarises itself, as the binary micro-mirror array requires.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from snn_dfa._validation import SeedLike
from snn_dfa.deep.projectors import Shape
from snn_dfa.errors import NotFittedError
from snn_dfa.rules.optical import Camera, OpticalFeedback


class OpticalProjector:
    """Feedback through a simulated OPU (see the module docstring).

    Parameters
    ----------
    threshold : float
        Ternarisation threshold on the per-example error (0.1, the TinyDFA fork's default).
    camera : Camera, optional
        Shot noise and bit depth (default 8-bit, noiseless).
    seed : int or Generator
    **opu_kwargs
        Passed to :class:`snn_dfa.rules.optical.OPU`.
    """

    def __init__(self, threshold: float = 0.1, camera: Camera | None = None,
                 seed: SeedLike = None, **opu_kwargs: object) -> None:
        self.threshold, self.camera, self.seed = threshold, camera, seed
        self.opu_kwargs = opu_kwargs
        self.feedback: OpticalFeedback | None = None

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        self._shapes = [tuple(s) for s in shapes]
        sizes = [math.prod(s) for s in self._shapes]
        self.feedback = OpticalFeedback(sizes, n_out, self.threshold, self.camera, self.seed,
                                        dtype=np.float64, **self.opu_kwargs)

    def _built(self) -> OpticalFeedback:
        if self.feedback is None:
            raise NotFittedError("OpticalProjector: build(shapes, n_out) has not been called")
        return self.feedback

    def project(self, e: torch.Tensor) -> list[torch.Tensor]:
        parts = self._built().project_all(e.detach().cpu().double().numpy())
        return [torch.as_tensor(p, dtype=e.dtype, device=e.device).reshape(e.shape[0], *s)
                for p, s in zip(parts, self._shapes)]

    @property
    def matrices(self) -> list[torch.Tensor]:
        """Effective ``B_l [n_l, c]`` per point (the noiseless linear projection)."""
        return [torch.as_tensor(m, dtype=torch.float32) for m in self._built().matrices]
