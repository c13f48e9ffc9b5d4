"""Errors of the crossbar package (which never imports snn_dfa)."""

from __future__ import annotations


class CrossbarError(ValueError):
    """Bad parameter, array or file given to the crossbar model.

    Messages name the parameter, the value received and what was expected.
    """
