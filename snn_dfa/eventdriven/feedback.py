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

the authors' update (gradient descent on ``|B - u dv^T|^2 / 2``, lr_B = 1e-4 in the
public code of Bacho & Chu 2024, arXiv 2403.08804, Florian-BACHO/SFDFA).  The hidden error is
then ``delta = e @ B_l.T``: ``B_l`` estimates the true output-to-hidden sensitivity, not a random matrix.

**Random feedback (DFA).**  Fixed ``B_l ~ U(-1, 1)``, the authors' DFA baseline.

Both projectors are the shared family of :mod:`snn_dfa.rules.feedback` (re-exported here);
this module adds what is specific to event-driven networks: the perturbations and the output
directional derivative.
"""

from __future__ import annotations

import numpy as np

from snn_dfa._validation import check_scalar
from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven.neuron import SpikeBuffer
from snn_dfa.rules.feedback import LearnedFeedback, RandomFeedback

__all__ = ["LearnedFeedback", "RandomFeedback", "draw_perturbation",
           "output_directional_derivative"]


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
