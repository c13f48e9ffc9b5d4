"""The exception hierarchy of snn_dfa.

Every error raised on bad user input derives from :class:`SnnDfaError`, so a caller
(and the CLI, which turns it into one line on stderr and exit code 2) can catch the
project's own failures without catching programming errors.  Messages name the
parameter, the value received and what was expected.
"""

from __future__ import annotations


class SnnDfaError(Exception):
    """Base class of every error snn_dfa raises on purpose."""


class ValidationError(SnnDfaError, ValueError):
    """A parameter or array has the wrong shape, dtype, range or value."""


class ConfigError(ValidationError):
    """A configuration has unknown keys, wrong types or inconsistent values."""


class DataError(SnnDfaError, OSError):
    """A data file is missing, truncated, altered or in an unexpected format."""


class NotFittedError(SnnDfaError, AttributeError):
    """An estimator was used before ``fit`` (or ``partial_fit``) was called."""


def notice(message: str) -> None:
    """One line on standard error saying what snn_dfa did on the user's behalf (a damaged
    cache rebuilt, a folder left by a killed run removed); not an error."""
    import sys

    print(f"snn-dfa: {message}", file=sys.stderr)
