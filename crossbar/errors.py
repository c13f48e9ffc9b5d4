"""Errors of the crossbar package (which never imports snn_dfa)."""

from __future__ import annotations


class CrossbarError(ValueError):
    """Bad parameter, array or file given to the crossbar model.

    Messages name the parameter, the value received and what was expected.
    """


class CrossbarWarning(UserWarning):
    """A result is valid but rests on an extrapolation or a fallback the user should know of
    (a time beyond the fitted data, an IR-drop model replaced by the exact solve)."""
