"""snn-dfa: online learning (DFA, spiking forward DFA, BP) for spiking networks on simulated
RRAM crossbars, with energy / area / latency estimates.

Subpackages (docs/architecture.md): ``engine`` (clock-driven spiking engine), ``rules`` (learning
rules and feedback projectors), ``eventdriven`` (exact spike-time engine), ``data`` (datasets),
``app`` (the main job: config, experiment, hardware meter, results, report, sweep, cli).
Modules that moved keep their old import paths (``snn_dfa._moved``).
"""

import importlib
from types import ModuleType

from snn_dfa import _moved
from snn_dfa.errors import ConfigError, DataError, NotFittedError, SnnDfaError, ValidationError

_moved.install()

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "NotFittedError",
    "SnnDfaError",
    "ValidationError",
    "__version__",
]


def __getattr__(name: str) -> ModuleType:
    """``snn_dfa.models`` and the other old module names as attributes (see ``_moved``)."""
    if _moved.new_name(f"{__name__}.{name}") is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")
