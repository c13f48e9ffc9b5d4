"""Energy / area / latency estimator for inference and on-device adaptation on RRAM crossbars.

Consumes plain workload records (counts per layer and phase); imports neither snn_dfa nor crossbar.
"""

from hwsim.errors import HwsimError

__all__ = ["HwsimError"]
