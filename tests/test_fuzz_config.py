"""Property-based fuzzing of the configuration: every key of every section gets wrong types,
NaN and infinities, huge and out-of-range values, deeply nested arrays; configuration files get
arbitrary bytes (non-UTF-8, binary).  The property: the configuration is valid, or reading it
raises the project's ConfigError/DataError in one line naming the full key path (and the
command line exits 2 with that line).  The counts of cases tried and held per category are
printed at the end of the module (``pytest -s``)."""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snn_dfa.app.cli import main
from snn_dfa.app.config import RunConfig, config_from_dict, load_config
from snn_dfa.errors import ConfigError, DataError

TRIED: Counter[str] = Counter()
HELD: Counter[str] = Counter()
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _keys() -> list[tuple[str, ...]]:
    """Every key of a configuration: ``("seed",)``, ``("adapt", "lr")``, ..."""
    out: list[tuple[str, ...]] = []
    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        if dataclasses.is_dataclass(hints[f.name]):
            out += [(f.name, g.name) for g in dataclasses.fields(hints[f.name])]
        else:
            out.append((f.name,))
    return out


KEYS = _keys()

HUGE = st.one_of(st.integers(min_value=2**63, max_value=10**5000),
                 st.integers(max_value=-(2**63), min_value=-(10**5000)),
                 st.sampled_from([1e308, -1e308, 2**64, 10**40]))
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, -math.nan])
OUT_OF_RANGE = st.one_of(st.integers(min_value=-10**6, max_value=0),
                         st.floats(min_value=-1e6, max_value=0.0),
                         st.integers(min_value=10**7, max_value=10**12),
                         st.floats(min_value=1e6, max_value=1e300))
WRONG_TYPE = st.one_of(st.text(max_size=20), st.booleans(), st.lists(st.integers(), max_size=3),
                       st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                       st.integers(), st.floats(allow_nan=False), st.none().map(lambda _: []))
NESTED = st.integers(min_value=50, max_value=5000).map(
    lambda depth: _nest(depth))


def _nest(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


def _mapping(key: tuple[str, ...], value: object) -> dict:
    return {key[0]: value} if len(key) == 1 else {key[0]: {key[1]: value}}


def _check(category: str, key: tuple[str, ...], value: object) -> None:
    TRIED[category] += 1
    try:
        config = config_from_dict(_mapping(key, value))
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 400, message
        path = ".".join(key)
        assert path in message or f"[{key[0]}]" in message, (path, message)
    else:
        assert isinstance(config, RunConfig)
        config.check()
    HELD[category] += 1


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    for category in sorted(TRIED):
        print(f"fuzz {category}: {TRIED[category]} tried, {HELD[category]} held",
              file=sys.stderr)


@FUZZ
@given(key=st.sampled_from(KEYS), value=WRONG_TYPE)
def test_wrong_types(key, value):
    _check("wrong type", key, value)


@FUZZ
@given(key=st.sampled_from(KEYS), value=NON_FINITE)
def test_nan_and_infinities(key, value):
    _check("NaN/inf", key, value)


@FUZZ
@given(key=st.sampled_from(KEYS), value=HUGE)
def test_huge_values(key, value):
    _check("huge", key, value)


@FUZZ
@given(key=st.sampled_from(KEYS), value=OUT_OF_RANGE)
def test_out_of_range_values(key, value):
    _check("out of range", key, value)


@settings(max_examples=30, deadline=None, database=None)
@given(key=st.sampled_from(KEYS), value=NESTED)
def test_deeply_nested_arrays(key, value):
    _check("nested arrays", key, value)


@FUZZ
@given(lr=NON_FINITE, rule=st.sampled_from(["bp", "bptt", "dfa", "sfdfa"]))
def test_messages_name_the_full_key(lr, rule):
    """``adapt.lr_by_rule.dfa``, not ``lr``."""
    TRIED["full key path"] += 1
    with pytest.raises(ConfigError, match=r"adapt\.lr_by_rule\.(bp|dfa|sfdfa)="):
        config_from_dict({"adapt": {"lr_by_rule": {rule: lr}}})
    HELD["full key path"] += 1


@FUZZ
@given(data=st.one_of(st.binary(max_size=300),
                      st.text(max_size=200).map(lambda s: s.encode("utf-16")),
                      st.binary(max_size=40).map(lambda b: b"seed = 1\n" + b"\xff" + b)))
def test_non_utf8_and_binary_files(tmp_path, capsys, data):
    TRIED["file bytes"] += 1
    path = tmp_path / "c.toml"
    path.write_bytes(data)
    try:
        load_config(path)
    except (ConfigError, DataError) as exc:
        assert "\n" not in str(exc)
        assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("snn-dfa: error:") and err.count("\n") == 1, err
        assert not (tmp_path / "out").exists()
    HELD["file bytes"] += 1


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null", "/"])
def test_device_and_folder_as_config(path, capsys):
    TRIED["device or folder as file"] += 1
    assert main(["run", path, "--out", "/nonexistent-snn-dfa-out"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    HELD["device or folder as file"] += 1
