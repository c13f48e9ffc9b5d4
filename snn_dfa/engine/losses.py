"""Losses on the network readout ``z [B, n_classes]`` and their gradients ``dL/dz``.

Losses are means over the batch.  For cross-entropy the output error used by DFA is
``e = softmax(z) - onehot(y)`` (the gradient times ``B``).
"""

from __future__ import annotations

import enum

import numpy as np

from snn_dfa._validation import coerce_enum


class Loss(enum.Enum):
    """``CROSS_ENTROPY``: softmax cross-entropy; ``SPIKE_COUNT_MSE``: ``0.5 (z - target)^2``
    summed over classes, with ``target`` = ``on_target`` for the true class and
    ``off_target`` otherwise (SFDFA's spike-count loss)."""

    CROSS_ENTROPY = "cross_entropy"
    SPIKE_COUNT_MSE = "spike_count_mse"

    @classmethod
    def coerce(cls, value: Loss | str) -> Loss:
        return coerce_enum(cls, "loss", value)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Numerically stable ``log softmax`` along the last axis."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def loss_and_grad(
    z: np.ndarray,
    y: np.ndarray,
    loss: Loss | str = Loss.CROSS_ENTROPY,
    on_target: float = 15.0,
    off_target: float = 3.0,
) -> tuple[float, np.ndarray]:
    """Mean loss over the batch and ``dL/dz [B, n_classes]``.

    Parameters
    ----------
    z : array [B, n_classes]
        Readout (spike counts or membranes).
    y : int array [B]
        Class labels in ``[0, n_classes)``.
    """
    loss = Loss.coerce(loss)
    batch, n_classes = z.shape
    onehot = np.zeros_like(z)
    onehot[np.arange(batch), y] = 1.0
    if loss is Loss.CROSS_ENTROPY:
        logp = log_softmax(z.astype(np.float64))
        value = float(-(logp * onehot).sum() / batch)
        grad = (np.exp(logp) - onehot) / batch
    else:
        target = np.where(onehot > 0, on_target, off_target)
        diff = z.astype(np.float64) - target
        value = float(0.5 * (diff**2).sum() / batch)
        grad = diff / batch
    return value, grad.astype(z.dtype)
