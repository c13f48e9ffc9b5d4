"""Spike-count loss, output error and hidden error with the firing-rate regulariser.

Loss (the public code of Bacho & Chu 2024, arXiv 2403.08804, Florian-BACHO/SFDFA):
``L = 1/2 sum_k (target_k - n_k)^2`` with ``target = 15`` spikes for the true class and ``3``
for the others; the prediction is the output neuron with most spikes.  The output error
``e_k = target_k - n_k`` is the error assigned to output neuron ``k``'s spike times (positive:
spike earlier, i.e. more).

Hidden error: ``delta_i = (e @ B_l.T)_i + lam (r* - mean_batch n_i)``.  The regulariser is
**added** to the feedback error; the authors' public snapshot overwrites the feedback error
with the regulariser alone for hidden layers, which discards the feedback signal; that
behaviour is available as ``mode="replace"`` so that its effect can be measured alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn_dfa._validation import check_array, check_choice, check_scalar
from snn_dfa.errors import ValidationError


@dataclass(frozen=True)
class CountTargets:
    """Target spike counts (the authors' code: 15 true / 3 other)."""

    true_count: float = 15.0
    false_count: float = 3.0

    def __post_init__(self) -> None:
        check_scalar("true_count", self.true_count, (int, float), low=0.0)
        check_scalar("false_count", self.false_count, (int, float), low=0.0)


def count_targets(labels: np.ndarray, n_classes: int,
                  targets: CountTargets = CountTargets()) -> np.ndarray:
    """Target counts ``[B, n_classes]`` for integer ``labels [B]``."""
    check_scalar("n_classes", n_classes, int, low=1)
    y = check_array("labels", labels, ndim=1, dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValidationError(
            f"labels: expected integers in [0, {n_classes - 1}], got range "
            f"[{y.min()}, {y.max()}]")
    out = np.full((y.size, n_classes), float(targets.false_count))
    out[np.arange(y.size), y] = float(targets.true_count)
    return out


def spike_count_loss(counts: np.ndarray, labels: np.ndarray,
                     targets: CountTargets = CountTargets()) -> tuple[float, np.ndarray]:
    """Batch-mean spike-count loss and the output error.

    Parameters
    ----------
    counts : array [B, C]
        Output spike counts.
    labels : int array [B]
    targets : CountTargets

    Returns
    -------
    loss : float
        ``mean_b 1/2 sum_k (target_bk - n_bk)^2``.
    error : float64 [B, C]
        ``target - counts``.
    """
    n = check_array("counts", counts, ndim=2, dtype=np.float64)
    tgt = count_targets(labels, n.shape[1], targets)
    if tgt.shape[0] != n.shape[0]:
        raise ValidationError(
            f"labels: expected {n.shape[0]} labels to match counts {n.shape}, "
            f"got {tgt.shape[0]}")
    err = tgt - n
    return float(0.5 * (err ** 2).sum(axis=1).mean()), err


#: how the firing-rate regulariser enters the hidden error: ``"add"`` (to the feedback
#: error) or ``"replace"`` (the feedback error is discarded, as in the authors' public
#: ``compute_avg_gradient``, Florian-BACHO/SFDFA)
ERROR_MODES = ("add", "replace")


def hidden_error(projected: np.ndarray, counts: np.ndarray, reg_strength: float,
                 reg_target: float, mode: str = "add") -> np.ndarray:
    """Feedback error plus (or replaced by) the firing-rate regulariser.

    Parameters
    ----------
    projected : array [B, n]
        ``e @ B_l.T`` from the feedback projector.
    counts : array [B, n]
        The layer's spike counts.
    reg_strength, reg_target : float
        ``lam`` and ``r*`` (spikes per neuron and sample).
    mode : {"add", "replace"}
        ``"replace"`` returns the regulariser alone (the authors' published code), so the
        result does not depend on ``projected`` (nor on the feedback matrix).

    Returns
    -------
    float64 [B, n]
        ``projected + lam (r* - mean_batch counts)``, or without ``projected``.
    """
    p = check_array("projected", projected, ndim=2, dtype=np.float64)
    n = check_array("counts", counts, shape=p.shape, dtype=np.float64)
    check_scalar("reg_strength", reg_strength, (int, float), low=0.0)
    check_scalar("reg_target", reg_target, (int, float), low=0.0)
    check_choice("mode", mode, ERROR_MODES)
    reg = reg_strength * (reg_target - n.mean(axis=0, keepdims=True))
    return (p if mode == "add" else np.zeros_like(p)) + reg
