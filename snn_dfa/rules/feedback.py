"""Feedback projectors, shared by every engine: ``e [M, n_classes] -> [M, n_l]``.

DFA delivers the output error to every hidden layer ``l`` through a fixed matrix
``B_l [n_l, n_classes]``: ``delta_l = (e @ B_l.T) * sigma'(u_l)``.  The projections of all
layers are one matrix product with the stacked matrices (layer-parallel).

Conventions (TinyDFA, lightonai/dfa-scales-to-modern-deep-learning; PipeSDFA,
HershelYen/Spiking-Direct-Feedback-Alignment):

* ``distribution="uniform"``: entries ``U(-1, 1)`` (Nøkland; TinyDFA; SFDFA's DFA baseline),
* ``distribution="gaussian"``: entries ``N(0, 1)``,
* ``scaling="none"`` keeps them; ``scaling="fan"`` divides ``B_l`` by ``sqrt(n_l)`` (or by
  ``sqrt(max n_l)`` for a shared matrix, TinyDFA's normalisation and PipeSDFA's scale);
  ``scaling="classes"`` divides by ``sqrt(n_classes)``,
* ``shared=True``: one matrix ``[max n_l, n_classes]`` whose first ``n_l`` rows serve layer
  ``l`` (TinyDFA, PipeSDFA: one projection per step, sliced).

The family: :class:`FeedbackProjector` (the protocol rules program against),
:class:`RandomFeedback` (fixed), :class:`LearnedFeedback` (learned online by forward
perturbation, SFDFA), :class:`ProjectorWrapper` (the seam for wrappers that change how a
projection is computed or delivered: privacy noise, an optical projector; they compose with
any rule that keeps a projector).  The clock-driven rules (:mod:`snn_dfa.rules.learning`) and
the event-driven trainer (:mod:`snn_dfa.eventdriven.trainer`) use the same classes.

Every projector counts its own events in :class:`ProjectorCounters`, as
``crossbar.CrossbarArray`` counts reads and pulses: the multiply-accumulates of its
projections and the products and sums of its updates, per layer.  The hardware meter
(``snn_dfa.app.hardware``) reads these counters; nothing else re-derives them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from snn_dfa._validation import (
    SeedLike,
    check_array,
    check_choice,
    check_random_state,
    check_scalar,
)
from snn_dfa.errors import ValidationError


@dataclass
class ProjectorCounters:
    """Events of a projector, one entry per layer (float64 ``[n_layers]`` each).

    Attributes
    ----------
    feedback_macs : multiply-accumulates of projections (``M * n_l * n_classes`` per call)
    update_mults, update_adds : products and sums of feedback updates (learned feedback)
    """

    n_layers: int
    feedback_macs: np.ndarray = field(init=False)
    update_mults: np.ndarray = field(init=False)
    update_adds: np.ndarray = field(init=False)

    FIELDS = ("feedback_macs", "update_mults", "update_adds")

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        for name in self.FIELDS:
            setattr(self, name, np.zeros(self.n_layers))

    def snapshot(self) -> dict[str, np.ndarray]:
        """A copy of every counter (``{field: [n_layers]}``), for differences over a phase."""
        return {name: getattr(self, name).copy() for name in self.FIELDS}


@runtime_checkable
class FeedbackProjector(Protocol):
    """What a rule needs from its feedback: ``B_l e`` per layer, and the events it caused.

    ``sizes`` are the ``n_l`` of the layers that receive feedback (network order),
    ``n_classes`` the width of the output error.  ``project_all`` is one layer-parallel
    product.  Learned projectors also have ``update(layer, xi, dz, active)``.
    """

    sizes: list[int]
    n_classes: int

    @property
    def counters(self) -> ProjectorCounters:
        ...

    @property
    def matrices(self) -> list[np.ndarray]:
        """``B_l [n_l, n_classes]`` (read-only views)."""
        ...

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        """One layer's projection ``e @ B_layer.T``: ``[M, n_classes] -> [M, n_layer]``."""
        ...

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        """Every layer's projection at once, in network order: list of ``[M, n_l]``."""
        ...


class RandomFeedback:
    """Fixed random feedback matrices, one per hidden layer (seeded, never updated).

    Parameters
    ----------
    sizes : sequence of int
        ``n_l`` for each hidden layer that receives feedback, in network order (may be empty:
        a network without hidden layers).
    n_classes : int
        Width of the output error.
    distribution : {"uniform", "gaussian"}
    scaling : {"none", "fan", "classes"} or float
        A float multiplies the entries (``1.0`` with "uniform": SFDFA's DFA baseline
        ``U(-1, 1)``).
    shared : bool
        One matrix sliced per layer instead of independent matrices.
    seed : int, Generator or None
    dtype : numpy dtype
    """

    def __init__(self, sizes: Sequence[int], n_classes: int, distribution: str = "uniform",
                 scaling: str | float = "fan", shared: bool = False, seed: SeedLike = None,
                 dtype: np.dtype | type = np.float32) -> None:
        sizes = [int(check_scalar(f"sizes[{k}]", n, int, low=1)) for k, n in enumerate(sizes)]
        check_scalar("n_classes", n_classes, int, low=1)
        check_choice("distribution", distribution, ["uniform", "gaussian"])
        if isinstance(scaling, str):
            check_choice("scaling", scaling, ["none", "fan", "classes"])
        else:
            check_scalar("scaling", scaling, (int, float), low=0.0, low_inclusive=False)
        rng = check_random_state(seed)
        self.sizes, self.n_classes = sizes, n_classes
        self.distribution, self.scaling, self.shared = distribution, scaling, bool(shared)

        def draw(rows: int) -> np.ndarray:
            shape = (rows, n_classes)
            if distribution == "uniform":
                return rng.uniform(-1.0, 1.0, shape)
            return rng.standard_normal(shape)

        def scale(rows: int) -> float:
            if not isinstance(scaling, str):
                return float(scaling)
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
        self._counters = ProjectorCounters(len(sizes))

    @classmethod
    def from_matrices(cls, matrices: Sequence[np.ndarray], **kwargs: object) -> RandomFeedback:
        """Rebuild a projector holding the given ``B_l [n_l, n_classes]`` (e.g. from a cache)."""
        if not matrices:
            raise ValidationError("matrices: expected at least one feedback matrix")
        n_classes = int(np.shape(matrices[0])[1])
        obj = cls([int(np.shape(m)[0]) for m in matrices], n_classes,
                  **kwargs)  # type: ignore[arg-type]  # the subclass's own keyword options
        for mine, given in zip(obj.matrices, matrices):
            if np.shape(given) != mine.shape:
                raise ValidationError(f"matrices: expected shape {mine.shape}, got {np.shape(given)}")
        stacked = np.concatenate([np.asarray(m, obj._stacked.dtype) for m in matrices])
        writable = obj._stacked.flags.writeable
        obj._stacked = np.ascontiguousarray(stacked)
        obj._stacked.setflags(write=writable)
        return obj

    @property
    def counters(self) -> ProjectorCounters:
        """Events so far (projections' MACs, updates' products and sums), per layer."""
        return self._counters

    @property
    def matrices(self) -> list[np.ndarray]:
        """Read-only views ``B_l [n_l, n_classes]``."""
        return [self._view(k) for k in range(len(self.sizes))]

    def _view(self, layer: int) -> np.ndarray:
        view = self._stacked[self._offsets[layer]:self._offsets[layer + 1]]
        view.flags.writeable = False
        return view

    def _check_layer(self, layer: int) -> int:
        if not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(self.sizes):
            raise ValidationError(f"layer={layer!r}: expected 0 <= layer < {len(self.sizes)}")
        return int(layer)

    def _check_e(self, e: np.ndarray) -> np.ndarray:
        e = check_array("e", e, ndim=2, dtype=self._stacked.dtype)
        if e.shape[1] != self.n_classes:
            raise ValidationError(f"e: expected {self.n_classes} columns, got shape {e.shape}")
        return e

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        """``e @ B_layer.T``: ``[M, n_classes] -> [M, n_layer]``."""
        layer = self._check_layer(layer)
        e = self._check_e(e)
        self._counters.feedback_macs[layer] += e.shape[0] * self.sizes[layer] * self.n_classes
        return e @ self._view(layer).T

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        """All layers at once (one matrix product): list of ``[M, n_l]``."""
        e = self._check_e(e)
        self._counters.feedback_macs += e.shape[0] * np.asarray(self.sizes) * self.n_classes
        full = e @ self._stacked.T
        return [full[:, a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]


class LearnedFeedback(RandomFeedback):
    """Feedback matrices learned online by forward perturbation (SFDFA/FDFA), from zero.

    ``update(layer, xi, dz, active)`` moves ``B_l`` towards the output-to-hidden
    sensitivity: for every neuron active in the batch,
    ``B_l[i] <- (1 - lr) B_l[i] + lr * mean_{samples where i was active}(xi_i dz)``
    (the authors' moving average: gradient descent on ``|B - xi dz^T|^2 / 2``; Bacho & Chu
    2024, arXiv 2403.08804, who use ``lr = 1e-4``); ``xi [M, n_l]`` are the perturbations and
    ``dz [M, n_classes]`` the readout's (clock-driven) or the output spike times' (event-driven)
    directional derivative.  Counted: ``2 M n_l n_classes`` products and ``M n_l n_classes``
    sums per update (the outer products, the step).
    """

    def __init__(self, sizes: Sequence[int], n_classes: int, lr: float = 1e-3,
                 dtype: np.dtype | type = np.float32) -> None:
        super().__init__(sizes, n_classes, scaling="none", dtype=dtype)
        check_scalar("lr", lr, (int, float), low=0.0, high=1.0, low_inclusive=False)
        self.lr = float(lr)
        self._stacked = np.zeros_like(self._stacked)  # B_0 = 0, writable

    def update(self, layer: int, xi: np.ndarray, dz: np.ndarray, active: np.ndarray) -> None:
        """One moving-average step for ``layer``: ``xi [M, n_l]``, ``dz [M, n_classes]``,
        ``active [M, n_l]`` (bool: the neuron spiked in that sample)."""
        layer = self._check_layer(layer)
        n = self.sizes[layer]
        dtype = self._stacked.dtype
        xi = check_array("xi", xi, shape=(None, n), dtype=dtype)
        batch = xi.shape[0]
        dz = check_array("dz", dz, shape=(batch, self.n_classes), dtype=dtype)
        active = check_array("active", active, shape=(batch, n), dtype=np.bool_)
        b = self._stacked[self._offsets[layer]:self._offsets[layer + 1]]
        count = active.sum(axis=0)
        seen = count > 0
        target = ((xi * active).T @ dz) / np.maximum(count, 1)[:, None]
        b[seen] += (self.lr * (target[seen] - b[seen])).astype(b.dtype)
        self._counters.update_mults[layer] += 2 * batch * n * self.n_classes
        self._counters.update_adds[layer] += batch * n * self.n_classes


class ProjectorWrapper:
    """Base of projectors that wrap another one (privacy noise, optical delivery, ...).

    Delegates everything to ``inner``; a subclass overrides :meth:`project_all` (and
    :meth:`project`) to change what is delivered, and may add its own events to
    :attr:`counters` (shared with ``inner``).  A learned inner projector keeps learning
    through :meth:`update`.  Any rule's projector can be wrapped (``RuleSpec.build(...,
    wrap=...)``).
    """

    def __init__(self, inner: FeedbackProjector) -> None:
        if not isinstance(inner, FeedbackProjector):
            raise ValidationError(f"inner: expected a FeedbackProjector, got {type(inner).__name__}")
        self.inner = inner
        self.sizes, self.n_classes = inner.sizes, inner.n_classes

    @property
    def counters(self) -> ProjectorCounters:
        return self.inner.counters

    @property
    def matrices(self) -> list[np.ndarray]:
        return self.inner.matrices

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        return self.inner.project(layer, e)

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        return self.inner.project_all(e)

    def update(self, layer: int, xi: np.ndarray, dz: np.ndarray, active: np.ndarray) -> None:
        """Forwarded to a learned inner projector."""
        update = getattr(self.inner, "update", None)
        if update is None:
            raise ValidationError(f"{type(self.inner).__name__} is fixed: it has no update")
        update(layer, xi, dz, active)
