"""Private validation helpers of hwsim.

Every message names the parameter, the value received and what was expected.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from hwsim.errors import HwsimError


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or an empty string."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(given: Iterable[str], valid: Iterable[str], what: str) -> None:
    """Raise HwsimError for the first key of ``given`` that is not in ``valid``."""
    valid = list(valid)
    for key in given:
        if key not in valid:
            raise HwsimError(
                f"{what}: unknown key {key!r}{did_you_mean(key, valid)}; "
                f"expected one of {sorted(valid)}"
            )


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise HwsimError listing them."""
    choices = tuple(choices)
    if value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise HwsimError(f"{name}={value!r}{hint}: expected one of {list(choices)}")
    return value


def check_real(name: str, value: Any, *, minimum: float = 0.0, strict: bool = False) -> float:
    """Return ``value`` as float if finite and >= ``minimum`` (> if ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HwsimError(f"{name}={value!r}: expected a real number")
    value = float(value)
    bad = value <= minimum if strict else value < minimum
    if not math.isfinite(value) or bad:
        op = ">" if strict else ">="
        raise HwsimError(f"{name}={value!r}: expected a finite number {op} {minimum}")
    return value


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise HwsimError(f"{name}={value!r}: expected an integer >= {minimum}")
    if value < minimum:
        raise HwsimError(f"{name}={value!r}: expected an integer >= {minimum}")
    return value


def check_mapping(name: str, value: Any) -> Mapping[str, Any]:
    """Return ``value`` if it is a mapping."""
    if not isinstance(value, Mapping):
        raise HwsimError(f"{name}={value!r}: expected a mapping (dict or TOML table)")
    return value
