"""Feedback for the hidden layers: learned by forward perturbation (SFDFA) or fixed random (DFA).

**Learned feedback.**  Every hidden neuron ``i`` of layer ``l`` draws ``u_i ~ N(0, 1)`` per
sample; its first spike is seen downstream delayed by ``u_i`` (a tangent, not an actual
delay), and the exact tangents of all spike times are carried forward to the output
(:func:`snn_dfa.eventdriven.neuron.simulate_layer` with ``perturbation``).  The output directional
derivative ``dv_k`` is the sum of the tangents of output neuron ``k``'s spikes, so
``E[u_i dv_k] = d(sum_z t_kz) / d t_i1 =: J_ki`` (the cross terms vanish in expectation).
Each feedback matrix ``B_l [n_l, C]`` starts at zero and moves towards it as an exponential
moving average over the samples in which the neuron spiked:

    B_l[i] <- B_l[i] - lr_B (B_l[i] - mean_{b: n_bi > 0} u_bi dv_b),

the authors' update (gradient descent on ``|B - u dv^T|^2 / 2``, lr_B = 1e-4; core-papers
§3.3.4).  The hidden error is then ``delta = e @ B_l.T``: ``B_l`` estimates the true
output-to-hidden sensitivity, not a random matrix.

**Random feedback (DFA).**  Fixed ``B_l ~ U(-1, 1)``, the authors' DFA baseline.

Both satisfy :class:`snn_dfa.engine.backends.FeedbackProjector`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from snn_dfa._validation import SeedLike, check_array, check_random_state, check_scalar
from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven.neuron import SpikeBuffer


def _check_sizes(layer_sizes: Sequence[int], n_classes: int) -> tuple[list[int], int]:
    sizes = list(layer_sizes)
    if not sizes:
        raise ValidationError("layer_sizes: expected at least one hidden layer size, got []")
    for k, n in enumerate(sizes):
        check_scalar(f"layer_sizes[{k}]", n, int, low=1)
    check_scalar("n_classes", n_classes, int, low=1)
    return [int(n) for n in sizes], int(n_classes)


class _Feedback:
    """Shared storage and projection of per-layer feedback matrices ``B_l [n_l, C]``."""

    def __init__(self, matrices: list[np.ndarray]) -> None:
        self._b = matrices

    @property
    def matrices(self) -> list[np.ndarray]:
        """Copies of the feedback matrices, ``[n_l, n_classes]`` per hidden layer."""
        return [b.copy() for b in self._b]

    def _layer(self, layer: int) -> np.ndarray:
        if not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(self._b):
            raise ValidationError(
                f"layer={layer!r}: expected a hidden-layer index in [0, {len(self._b) - 1}]")
        return self._b[layer]

    def project(self, layer: int, e: np.ndarray) -> np.ndarray:
        """Project the output error: ``e [M, C]`` -> ``e @ B_l.T`` of shape ``[M, n_l]``."""
        b = self._layer(layer)
        err = check_array("e", e, ndim=2, dtype=np.float64)
        if err.shape[1] != b.shape[1]:
            raise ValidationError(
                f"e: expected {b.shape[1]} columns (one per class), got shape {err.shape}")
        return err @ b.T

    def project_all(self, e: np.ndarray) -> list[np.ndarray]:
        """Every hidden layer's projection, in network order: ``[M, n_l]`` each."""
        return [self.project(layer, e) for layer in range(len(self._b))]


class LearnedFeedback(_Feedback):
    """Feedback matrices learned online from forward-perturbation tangents (SFDFA).

    Parameters
    ----------
    layer_sizes : sequence of int
        Size ``n_l`` of each hidden layer.
    n_classes : int
    lr : float
        Step ``lr_B`` of the moving average (1e-4 in the authors' code, core-papers §3.4).
    """

    def __init__(self, layer_sizes: Sequence[int], n_classes: int, lr: float = 1e-4) -> None:
        sizes, n_classes = _check_sizes(layer_sizes, n_classes)
        self.lr = check_scalar("lr", lr, (int, float), low=0.0, high=1.0,
                               low_inclusive=False)
        super().__init__([np.zeros((n, n_classes)) for n in sizes])

    def update(self, layer: int, perturbation: np.ndarray, dv: np.ndarray,
               spiked: np.ndarray) -> None:
        """Move ``B_l`` towards ``mean_{b: spiked} u_b dv_b^T``, row by row.

        Parameters
        ----------
        layer : int
            Hidden-layer index.
        perturbation : array [B, n_l]
            The ``u`` drawn for this layer.
        dv : array [B, C]
            Output directional derivative (:func:`output_directional_derivative`).
        spiked : bool array [B, n_l]
            Whether neuron ``i`` spiked in sample ``b``; rows with no spiking sample are
            left unchanged.
        """
        b = self._layer(layer)
        n, n_classes = b.shape
        u = check_array("perturbation", perturbation, shape=(None, n), dtype=np.float64)
        batch = u.shape[0]
        d = check_array("dv", dv, shape=(batch, n_classes), dtype=np.float64)
        m = check_array("spiked", spiked, shape=(batch, n), dtype=np.float64)
        n_spiked = m.sum(axis=0)
        rows = n_spiked > 0
        target = ((m * u).T @ d)[rows] / n_spiked[rows, None]
        b[rows] -= self.lr * (b[rows] - target)


class RandomFeedback(_Feedback):
    """Fixed random feedback ``B_l ~ U(low, high)`` (the authors' DFA baseline, U(-1, 1)).

    Parameters
    ----------
    layer_sizes : sequence of int
    n_classes : int
    random_state : int, Generator or None
    low, high : float
    """

    def __init__(self, layer_sizes: Sequence[int], n_classes: int,
                 random_state: SeedLike = None, low: float = -1.0, high: float = 1.0) -> None:
        sizes, n_classes = _check_sizes(layer_sizes, n_classes)
        check_scalar("low", low, (int, float))
        check_scalar("high", high, (int, float), low=low, low_inclusive=False)
        rng = check_random_state(random_state)
        super().__init__([rng.uniform(low, high, (n, n_classes)) for n in sizes])


def draw_perturbation(rng: np.random.Generator, batch: int, n: int) -> np.ndarray:
    """Per-sample, per-neuron perturbations ``u ~ N(0, 1)``: float64 ``[batch, n]``."""
    if not isinstance(rng, np.random.Generator):
        raise ValidationError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    check_scalar("batch", batch, int, low=1)
    check_scalar("n", n, int, low=1)
    return rng.standard_normal((batch, n))


def output_directional_derivative(output: SpikeBuffer) -> np.ndarray:
    """``dv [B, C]``: the sum of the tangents of each output neuron's spikes."""
    if not isinstance(output, SpikeBuffer) or output.tangents is None:
        raise ValidationError(
            "output: expected a SpikeBuffer with tangents (simulate with a perturbation "
            "upstream or track_tangents=True)")
    return output.tangents.sum(axis=2)
