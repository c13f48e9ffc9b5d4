"""Feedback projectors for Direct Feedback Alignment: ``e [M, n_classes] -> [M, n_l]``.

DFA delivers the output error to every hidden layer ``l`` through a fixed matrix
``B_l [n_l, n_classes]``: ``delta_l = (e @ B_l.T) * sigma'(u_l)``.  The projections of all
layers are one matrix product with the stacked matrices (layer-parallel).

Conventions (reference/seed-papers.md §1.3, core-papers.md §2.5.3):

* ``distribution="uniform"``: entries ``U(-1, 1)`` (Nøkland; TinyDFA; SFDFA's DFA baseline),
* ``distribution="gaussian"``: entries ``N(0, 1)``,
* ``scaling="none"`` keeps them; ``scaling="fan"`` divides ``B_l`` by ``sqrt(n_l)`` (or by
  ``sqrt(max n_l)`` for a shared matrix, TinyDFA's normalisation and PipeSDFA's scale);
  ``scaling="classes"`` divides by ``sqrt(n_classes)``,
* ``shared=True``: one matrix ``[max n_l, n_classes]`` whose first ``n_l`` rows serve layer
  ``l`` (TinyDFA, PipeSDFA: one projection per step, sliced).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from snn_dfa._validation import SeedLike, check_array, check_choice, check_random_state, check_scalar
from snn_dfa.errors import ValidationError


class RandomFeedback:
    """Fixed random feedback matrices, one per hidden layer (seeded, never updated).

    Parameters
    ----------
    sizes : sequence of int
        ``n_l`` for each hidden layer that receives feedback, in network order.
    n_classes : int
        Width of the output error.
    distribution : {"uniform", "gaussian"}
    scaling : {"none", "fan", "classes"}
    shared : bool
        One matrix sliced per layer instead of independent matrices.
    seed : int, Generator or None
    dtype : numpy dtype
    """

    def __init__(self, sizes: Sequence[int], n_classes: int, distribution: str = "uniform",
                 scaling: str = "fan", shared: bool = False, seed: SeedLike = None,
                 dtype: np.dtype | type = np.float32) -> None:
        sizes = [int(check_scalar("sizes", n, int, low=1)) for n in sizes]
        check_scalar("n_classes", n_classes, int, low=1)
        check_choice("distribution", distribution, ["uniform", "gaussian"])
        check_choice("scaling", scaling, ["none", "fan", "classes"])
        rng = check_random_state(seed)
        self.sizes, self.n_classes = sizes, n_classes
        self.distribution, self.scaling, self.shared = distribution, scaling, bool(shared)

        def draw(rows: int) -> np.ndarray:
            shape = (rows, n_classes)
            if distribution == "uniform":
                return rng.uniform(-1.0, 1.0, shape)
            return rng.standard_normal(shape)

        def scale(rows: int) -> float:
            return {"none": 1.0, "fan": 1.0 / math.sqrt(rows),
                    "classes": 1.0 / math.sqrt(n_classes)}[scaling]

        if self.shared and sizes:
            big = max(sizes)
            full = draw(big) * scale(big)
            mats = [full[:n] for n in sizes]
        else:
            mats = [draw(n) * scale(n) for n in sizes]
        self._stacked = np.ascontiguousarray(np.concatenate(mats) if mats else
                                             np.zeros((0, n_classes)), dtype=dtype)
        self._offsets = np.cumsum([0, *sizes])
        self._stacked.setflags(write=False)

    @classmethod
    def from_matrices(cls, matrices: Sequence[np.ndarray], **kwargs: object) -> "RandomFeedback":
        """Rebuild a projector holding the given ``B_l [n_l, n_classes]`` (e.g. from a cache)."""
        if not matrices:
            raise ValidationError("matrices: expected at least one feedback matrix")
        n_classes = int(np.shape(matrices[0])[1])
        obj = cls([int(np.shape(m)[0]) for m in matrices], n_classes, **kwargs)  # type: ignore
        for mine, given in zip(obj.matrices, matrices):
            if np.shape(given) != mine.shape:
                raise ValidationError(f"matrices: expected shape {mine.shape}, got {np.shape(given)}")
        stacked = np.concatenate([np.asarray(m, obj._stacked.dtype) for m in matrices])
        writable = obj._stacked.flags.writeable
        obj._stacked = np.ascontiguousarray(stacked)
        obj._stacked.setflags(write=writable)
        return obj

    @property
    def matrices(self) -> list[np.ndarray]:
        """Read-only views ``B_l [n_l, n_classes]``."""
        return [self._stacked[a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]

    def _check_e(self, e: np.ndarray) -> np.ndarray:
        e = check_array("e", e, ndim=2, dtype=self._stacked.dtype)
        if e.shape[1] != self.n_classes:
            raise ValidationError(f"e: expected {self.n_classes} columns, got shape {e.shape}")
        return e

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        """``e @ B_layer.T``: ``[M, n_classes] -> [M, n_layer]``."""
        if not 0 <= layer < len(self.sizes):
            raise ValidationError(f"layer={layer}: expected 0 <= layer < {len(self.sizes)}")
        return self._check_e(e) @ self.matrices[layer].T

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        """All layers at once (one matrix product): list of ``[M, n_l]``."""
        full = self._check_e(e) @ self._stacked.T
        return [full[:, a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]


class LearnedFeedback(RandomFeedback):
    """Feedback matrices learned online by forward perturbation (SFDFA/FDFA), from zero.

    ``update(layer, xi, dz, active)`` moves ``B_l`` towards the output-to-hidden
    sensitivity: for every neuron active in the batch,
    ``B_l[i] <- (1 - lr) B_l[i] + lr * mean_{samples where i was active}(xi_i dz)``
    (the authors' moving average, core-papers.md §3.3.4); ``xi [M, n_l]`` are the
    perturbations and ``dz [M, n_classes]`` the readout's directional derivative.
    """

    def __init__(self, sizes: Sequence[int], n_classes: int, lr: float = 1e-3,
                 dtype: np.dtype | type = np.float32) -> None:
        super().__init__(sizes, n_classes, scaling="none", dtype=dtype)
        check_scalar("feedback lr", lr, (int, float), low=0.0, high=1.0, low_inclusive=False)
        self.lr = float(lr)
        self._stacked = np.zeros_like(self._stacked)  # B_0 = 0, writable

    def update(self, layer: int, xi: np.ndarray, dz: np.ndarray, active: np.ndarray) -> None:
        """One moving-average step for ``layer`` (``active [M, n_l]`` bool)."""
        b = self.matrices[layer]
        count = active.sum(axis=0)
        seen = count > 0
        target = ((xi * active).T @ dz) / np.maximum(count, 1)[:, None]
        b[seen] += (self.lr * (target[seen] - b[seen])).astype(b.dtype)
