"""Torch feedback projectors: the output error ``e [M, c]`` to every feedback point at once.

A projector is built once, at the first backward pass, when the shapes of the feedback points
are known, and then called once per step (layer-parallel: one call returns every point's
signal).  Any object with the two methods of :class:`Projector` plugs into
:class:`snn_dfa.deep.DFA`, e.g. a simulated optical processing unit or a private projector.

The random matrices are drawn by the numpy :class:`snn_dfa.rules.feedback.RandomFeedback` (the same
code and the same conventions as the spiking engines: uniform ``U(-1, 1)`` or Gaussian
``N(0, 1)``, ``scaling="fan"`` divides by ``sqrt(n_l)``, or by ``sqrt(max n_l)`` for a shared
matrix, TinyDFA's normalisation: lightonai/dfa-scales-to-modern-deep-learning,
``TinyDFA/tinydfa/dfa.py``) and wrapped as torch tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from snn_dfa._validation import SeedLike, check_choice, check_random_state, check_scalar
from snn_dfa.errors import ValidationError
from snn_dfa.rules.feedback import RandomFeedback

Shape = tuple[int, ...]


@runtime_checkable
class Projector(Protocol):
    """What :class:`snn_dfa.deep.DFA` needs from a feedback projector.

    ``build(shapes, n_out)`` is called once with the feature shape of every feedback point
    (without the leading example dimensions, e.g. ``(256,)`` after a hidden Linear layer or
    ``(C, H, W)`` after a convolution) and the width ``n_out`` of the output error.
    ``project(e)`` maps ``e [M, n_out]`` (one row per example, or per example and position)
    to one tensor ``[M, *shape_l]`` per point, in the order of ``shapes``; it is called once
    per backward pass.
    """

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        ...

    def project(self, e: torch.Tensor) -> list[torch.Tensor]:
        ...


def _size(shape: Shape) -> int:
    return int(math.prod(shape))


class _MatrixProjector:
    """Holds one stacked matrix ``[sum n_l, n_out]``; one product per step, then slices."""

    _stacked: torch.Tensor
    _shapes: list[Shape]

    def _set(self, matrices: Sequence[np.ndarray | torch.Tensor], shapes: Sequence[Shape]) -> None:
        mats = [torch.as_tensor(np.asarray(m), dtype=torch.float32) for m in matrices]
        self._stacked = torch.cat(mats) if mats else torch.zeros(0, 0)
        self._shapes = [tuple(s) for s in shapes]
        self._sizes = [_size(s) for s in self._shapes]

    @property
    def matrices(self) -> list[torch.Tensor]:
        """``B_l [n_l, n_out]`` per point (views of the stacked matrix)."""
        return list(torch.split(self._stacked, self._sizes))

    def project(self, e: torch.Tensor) -> list[torch.Tensor]:
        """``e [M, n_out] -> [M, *shape_l]`` per point, from one product ``e @ B.T``."""
        b = self._stacked.to(device=e.device, dtype=e.dtype)
        full = e @ b.T
        return [p.reshape(e.shape[0], *s) for p, s in zip(torch.split(full, self._sizes, 1),
                                                         self._shapes)]


class RandomProjector(_MatrixProjector):
    """Fixed random feedback matrices ``B_l [n_l, n_out]``, dense or with fixed non-zeros per row.

    Parameters
    ----------
    distribution : {"uniform", "gaussian"}
        ``U(-1, 1)`` (Nøkland, TinyDFA) or ``N(0, 1)`` entries.
    scaling : {"none", "fan", "classes"}
        As :class:`snn_dfa.rules.feedback.RandomFeedback` (``"fan"``: ``1/sqrt(n_l)``, or
        ``1/sqrt(max n_l)`` when shared).
    shared : bool
        One matrix ``[max n_l, n_out]`` whose first ``n_l`` rows serve point ``l`` (TinyDFA's
        single sliced projection) instead of one independent matrix per point.
    nonzeros_per_row : int or None
        Sparse feedback (Han et al. 2020, arXiv 2006.12830; repository bcrafton/dfa): each row of
        every ``B_l`` keeps exactly this many entries at random columns, the others are zero; the
        kept entries are multiplied by ``sqrt(n_out / nonzeros_per_row)`` so a row keeps its
        expected squared norm [assumption: the papers give no rescaling].
    seed : int, Generator or None
    """

    def __init__(self, distribution: str = "uniform", scaling: str = "fan", shared: bool = False,
                 nonzeros_per_row: int | None = None, seed: SeedLike = None) -> None:
        check_choice("distribution", distribution, ["uniform", "gaussian"])
        check_choice("scaling", scaling, ["none", "fan", "classes"])
        if nonzeros_per_row is not None:
            check_scalar("nonzeros_per_row", nonzeros_per_row, int, low=1)
        self.distribution, self.scaling, self.shared = distribution, scaling, bool(shared)
        self.nonzeros_per_row = nonzeros_per_row
        self._rng = check_random_state(seed)

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        sizes = [_size(s) for s in shapes]
        k = self.nonzeros_per_row
        if k is not None and k > n_out:
            raise ValidationError(f"nonzeros_per_row={k}: expected at most n_out={n_out}")
        fb = RandomFeedback(sizes, n_out, distribution=self.distribution, scaling=self.scaling,
                            shared=self.shared, seed=self._rng, dtype=np.float32)
        mats = [np.array(m) for m in fb.matrices]
        if k is not None and k < n_out:
            masks = sparse_row_masks(max(sizes) if self.shared else None, sizes, n_out, k,
                                     self._rng)
            mats = [m * mask * np.float32(math.sqrt(n_out / k)) for m, mask in zip(mats, masks)]
        self._set(mats, shapes)


def sparse_row_masks(shared_rows: int | None, sizes: Sequence[int], n_out: int, k: int,
                     rng: np.random.Generator) -> list[np.ndarray]:
    """Boolean masks ``[n_l, n_out]`` with exactly ``k`` True entries per row at random columns.

    With ``shared_rows`` one mask of that many rows is drawn and sliced like the shared matrix.
    """

    def draw(rows: int) -> np.ndarray:
        order = np.argsort(rng.random((rows, n_out)), axis=1)[:, :k]
        mask = np.zeros((rows, n_out), dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
        return mask

    if shared_rows is not None:
        full = draw(shared_rows)
        return [full[:n] for n in sizes]
    return [draw(n) for n in sizes]


class FixedProjector(_MatrixProjector):
    """Given matrices ``B_l [n_l, n_out]`` (e.g. transposed forward weights for tests, or a
    feedback cache); ``build`` checks that they fit the points."""

    def __init__(self, matrices: Sequence[np.ndarray | torch.Tensor]) -> None:
        self._given = [torch.as_tensor(np.asarray(torch.as_tensor(m).detach().cpu()),
                                       dtype=torch.float32) for m in matrices]

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        if len(shapes) != len(self._given):
            raise ValidationError(f"FixedProjector: {len(self._given)} matrices for "
                                  f"{len(shapes)} feedback points")
        for i, (m, s) in enumerate(zip(self._given, shapes)):
            if tuple(m.shape) != (_size(s), n_out):
                raise ValidationError(f"FixedProjector matrix {i}: expected shape "
                                      f"{(_size(s), n_out)}, got {tuple(m.shape)}")
        self._set(self._given, shapes)


class PeriodicConvProjector:
    """Han et al.'s dilated-convolution feedback for feature maps [assumption: our reading].

    A point with a feature map ``(C, H, W)`` (or ``(C, L)``) receives
    ``delta[ch, y, x] = sum_k K[k, ch, y mod d, x mod d] e_k``: the output error, placed on a
    grid of stride ``d`` and convolved (transposed, stride ``d``) with one fixed random kernel
    ``K [n_out, C, d, d]``.  The equivalent dense ``B [C*H*W, n_out]`` repeats its rows with
    period ``d`` in each spatial axis, so it needs ``C d^2 n_out`` numbers instead of
    ``C H W n_out``; with ``nonzeros_per_row`` each row of ``K`` keeps that many error
    components.  Points of rank 1 (vectors) get a dense or sparse matrix as in
    :class:`RandomProjector`.  Kernel entries follow ``distribution``, scaled by
    ``1/sqrt(C d^2)`` (fan of the kernel) [assumption].

    Parameters
    ----------
    period : int
        ``d``; 1 gives the same feedback vector at every location (per channel).
    """

    def __init__(self, period: int = 2, distribution: str = "uniform",
                 nonzeros_per_row: int | None = None, seed: SeedLike = None) -> None:
        check_scalar("period", period, int, low=1)
        check_choice("distribution", distribution, ["uniform", "gaussian"])
        if nonzeros_per_row is not None:
            check_scalar("nonzeros_per_row", nonzeros_per_row, int, low=1)
        self.period, self.distribution = period, distribution
        self.nonzeros_per_row = nonzeros_per_row
        self._rng = check_random_state(seed)

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        self._shapes = [tuple(s) for s in shapes]
        self._n_out = n_out
        self._kernels: list[torch.Tensor] = []
        self._vectors = RandomProjector(self.distribution, "fan", False, self.nonzeros_per_row,
                                        self._rng)
        vec_shapes = [s for s in self._shapes if len(s) == 1]
        self._vectors.build(vec_shapes, n_out)
        k = self.nonzeros_per_row
        for s in self._shapes:
            if len(s) == 1:
                continue
            if len(s) not in (2, 3):
                raise ValidationError(f"PeriodicConvProjector: feature shape {s}: expected "
                                      "(C,), (C, L) or (C, H, W)")
            d = self.period
            spatial = (d,) * (len(s) - 1)
            rows = s[0] * d ** (len(s) - 1)
            fb = RandomFeedback([rows], n_out, distribution=self.distribution, scaling="fan",
                                seed=self._rng, dtype=np.float32).matrices[0]
            mat = np.array(fb)
            if k is not None and k < n_out:
                mat = mat * sparse_row_masks(None, [rows], n_out, k, self._rng)[0]
                mat *= np.float32(math.sqrt(n_out / k))
            # K[n_out, C, *spatial]: row (ch, taps) of the periodic B
            self._kernels.append(torch.as_tensor(mat.T.reshape(n_out, s[0], *spatial).copy()))

    def dense_matrix(self, index: int) -> torch.Tensor:
        """The equivalent ``B [prod(shape), n_out]`` of point ``index`` (for tests, small maps)."""
        eye = torch.eye(self._n_out)
        return self.project(eye)[index].reshape(self._n_out, -1).T

    def project(self, e: torch.Tensor) -> list[torch.Tensor]:
        has_vectors = any(len(s) == 1 for s in self._shapes)
        vec = iter(self._vectors.project(e) if has_vectors else [])
        kern = iter(self._kernels)
        out: list[torch.Tensor] = []
        for s in self._shapes:
            if len(s) == 1:
                out.append(next(vec))
                continue
            k = next(kern).to(device=e.device, dtype=e.dtype)
            d = self.period
            grid = [math.ceil(n / d) for n in s[1:]]
            src = e.reshape(e.shape[0], e.shape[1], *([1] * len(grid))).expand(
                e.shape[0], e.shape[1], *grid)
            conv = torch.nn.functional.conv_transpose2d if len(s) == 3 else \
                torch.nn.functional.conv_transpose1d
            full = conv(src, k, stride=d)
            out.append(full[(slice(None), slice(None), *(slice(0, n) for n in s[1:]))])
        return out
