"""Spiking forward DFA (SFDFA): event-driven LIF networks with exact spike-time gradients.

Bacho & Chu, "Forward Direct Feedback Alignment for Online Gradient Estimates of Spiking
Neural Networks" (arXiv 2403.08804).  See docs/sfdfa.md.
"""

from snn_dfa.eventdriven.encoding import delta_encode, ttfs_encode
from snn_dfa.eventdriven.feedback import (
                                    LearnedFeedback,
                                    RandomFeedback,
                                    draw_perturbation,
                                    output_directional_derivative,
)
from snn_dfa.eventdriven.gradients import spike_time_gradient, weight_gradient
from snn_dfa.eventdriven.loss import CountTargets, count_targets, hidden_error, spike_count_loss
from snn_dfa.eventdriven.neuron import (
                                    EligibilityRows,
                                    LayerOutput,
                                    LIFParams,
                                    SpikeBuffer,
                                    simulate_layer,
)
from snn_dfa.eventdriven.trainer import SFDFAConfig, SFDFATrainer, fashion_mnist_config

__all__ = [
    "CountTargets", "EligibilityRows", "LIFParams", "LayerOutput", "LearnedFeedback", "RandomFeedback",
    "SFDFAConfig", "SFDFATrainer", "SpikeBuffer", "count_targets", "delta_encode",
    "draw_perturbation", "fashion_mnist_config", "hidden_error", "output_directional_derivative",
    "simulate_layer", "spike_count_loss", "spike_time_gradient", "ttfs_encode",
    "weight_gradient",
]
