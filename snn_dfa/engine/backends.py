"""The seam between the engine and hardware: synapses.

Neurons, layers and learning rules never import ``crossbar`` or ``hwsim``.  They talk to
a :class:`SynapseBackend` (forward ``W x``, transposed ``W^T d``, ``apply_update``); DFA-style
rules talk to a feedback projector (``B e``, :mod:`snn_dfa.rules.feedback`).  The ideal
:class:`DenseSynapses` below and ``crossbar.CrossbarArray`` both satisfy the protocol.

Shapes: weights are ``[n_out, n_in]``; batched operands are 2-D, one row per sample
(time steps and batch flattened together by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from snn_dfa._validation import check_array
from snn_dfa.errors import ValidationError


@runtime_checkable
class SynapseBackend(Protocol):
    """A weight matrix ``W`` of shape ``[n_out, n_in]`` that can be read and updated."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_out, n_in)``."""
        ...

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x @ W.T``: ``x [M, n_in]`` -> ``[M, n_out]``."""
        ...

    def backward(self, d: np.ndarray) -> np.ndarray:
        """``d @ W`` (the transposed read BP needs): ``d [M, n_out]`` -> ``[M, n_in]``."""
        ...

    def apply_update(self, dw: np.ndarray) -> None:
        """``W += dw`` as well as the hardware allows; ``dw [n_out, n_in]``."""
        ...

    def get_weights(self) -> np.ndarray:
        """The effective weights ``[n_out, n_in]`` (a copy)."""
        ...

    def set_weights(self, weights: np.ndarray) -> None:
        """Replace (program) the weights ``[n_out, n_in]``."""
        ...


class DenseSynapses:
    """Ideal synapses: an exact float weight matrix.

    Parameters
    ----------
    weights : array [n_out, n_in]
        Initial weights; copied and stored as float32 (or the dtype given).
    """

    def __init__(self, weights: np.ndarray, dtype: np.dtype | type = np.float32) -> None:
        self._w = check_array("weights", weights, ndim=2, dtype=dtype).copy()

    @property
    def shape(self) -> tuple[int, int]:
        return self._w.shape  # type: ignore[return-value]  # numpy types shapes as tuple[int, ...]; the matrix is 2-D

    @property
    def dtype(self) -> np.dtype:
        return self._w.dtype

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x @ self._w.T

    def backward(self, d: np.ndarray) -> np.ndarray:
        return d @ self._w

    def apply_update(self, dw: np.ndarray) -> None:
        if dw.shape != self._w.shape:
            raise ValidationError(f"dw: expected shape {self._w.shape}, got {dw.shape}")
        self._w += dw.astype(self._w.dtype, copy=False)

    def get_weights(self) -> np.ndarray:
        return self._w.copy()

    def set_weights(self, weights: np.ndarray) -> None:
        """Replace the weights (same shape)."""
        w = check_array("weights", weights, shape=self._w.shape, dtype=self._w.dtype)
        self._w[...] = w


class PerturbedSynapses:
    """Reads through a perturbed copy of another backend's weights (training-time noise).

    The first read draws ``W~ = perturb(W, rng)`` from the wrapped backend's weights ``W``;
    every read of this wrapper (forward ``x @ W~.T``, backward ``d @ W~``) then uses that one
    draw, so a training pass, its backward and tangent reads see the same weights (wrap
    anew for a new draw).  Updates, ``get_weights`` and ``set_weights`` go to the wrapped
    backend (the straight-through estimator of hardware-aware training).

    Parameters
    ----------
    inner : SynapseBackend
    perturb : callable ``(W [n_out, n_in], rng) -> W~ [n_out, n_in]``
    rng : numpy.random.Generator
    """

    def __init__(self, inner: SynapseBackend,
                 perturb: Callable[[np.ndarray, np.random.Generator], np.ndarray],
                 rng: np.random.Generator) -> None:
        self.inner = inner
        self._perturb = perturb
        self._rng = rng
        self._drawn: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.inner.shape

    def drawn(self) -> np.ndarray:
        """The perturbed weights ``W~ [n_out, n_in]`` (drawn on first use)."""
        if self._drawn is None:
            w = self.inner.get_weights()
            self._drawn = check_array("perturbed weights", self._perturb(w, self._rng),
                                      shape=w.shape, dtype=w.dtype)
        return self._drawn

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x @ self.drawn().T

    def backward(self, d: np.ndarray) -> np.ndarray:
        return d @ self.drawn()

    def apply_update(self, dw: np.ndarray) -> None:
        self.inner.apply_update(dw)

    def get_weights(self) -> np.ndarray:
        return self.inner.get_weights()

    def set_weights(self, weights: np.ndarray) -> None:
        self.inner.set_weights(weights)
