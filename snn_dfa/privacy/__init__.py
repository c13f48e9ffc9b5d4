"""Differential privacy for DFA learning: accounting (through ``dp-accounting``) and the
clip-and-noise mechanism shared by the spiking engine and the torch models.

See docs/privacy.md for the adjacency, the sensitivity derivation and the API.
"""

from snn_dfa.privacy.accounting import (
    DEFAULT_RDP_ORDERS,
    METHODS,
    BudgetError,
    PrivacyAccountant,
    SubsampledGaussian,
    epsilon,
    noise_multiplier_for,
)

__all__ = [
    "DEFAULT_RDP_ORDERS",
    "METHODS",
    "BudgetError",
    "PrivacyAccountant",
    "SubsampledGaussian",
    "epsilon",
    "noise_multiplier_for",
]
