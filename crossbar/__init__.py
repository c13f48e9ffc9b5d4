"""RRAM crossbar model: weights <-> conductances, non-idealities, periphery, in-situ updates.

A library of its own: it knows matrices, conductances and circuits, never spiking networks.
See docs/crossbar.md for what is modelled, the equations and the presets' sources.
"""

from crossbar.array import CrossbarArray, CrossbarConfig
from crossbar.counters import CrossbarCounters, TileCounters
from crossbar.devices import GENERIC_RRAM, NEURRAM_HFO2, PRESETS, DeviceParams, get_preset
from crossbar.errors import CrossbarError, CrossbarWarning
from crossbar.gpr import GPRNoiseModel
from crossbar.irdrop import ExactIRDropSolver, exact_currents, fast_effective_conductance
from crossbar.mapping import MappingConfig, conductances_to_weights, weights_to_conductances
from crossbar.noise import NoiseConfig
from crossbar.periphery import PeripheryConfig
from crossbar.update import UpdateConfig

__all__ = [
    "GENERIC_RRAM",
    "NEURRAM_HFO2",
    "PRESETS",
    "CrossbarArray",
    "CrossbarConfig",
    "CrossbarCounters",
    "CrossbarError",
    "CrossbarWarning",
    "DeviceParams",
    "ExactIRDropSolver",
    "GPRNoiseModel",
    "MappingConfig",
    "NoiseConfig",
    "PeripheryConfig",
    "TileCounters",
    "UpdateConfig",
    "conductances_to_weights",
    "exact_currents",
    "fast_effective_conductance",
    "get_preset",
    "weights_to_conductances",
]
