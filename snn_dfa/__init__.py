"""snn-dfa: online learning (DFA, spiking forward DFA, BP) for spiking networks on simulated
RRAM crossbars, with energy / area / latency estimates."""

from snn_dfa.errors import ConfigError, DataError, NotFittedError, SnnDfaError, ValidationError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "NotFittedError",
    "SnnDfaError",
    "ValidationError",
    "__version__",
]
