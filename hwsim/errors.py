"""Errors of the hwsim package (which imports neither snn_dfa nor crossbar)."""

from __future__ import annotations


class HwsimError(ValueError):
    """Bad workload, architecture or technology description given to hwsim.

    Messages name the parameter, the value received and what was expected.
    """
