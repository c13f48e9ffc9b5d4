"""The sensitivity table: each row prices the same workloads with one assumption switched."""

import math

import pytest

from hwsim import (
    Activity,
    Architecture,
    Assumptions,
    HwsimError,
    LayerShape,
    LearningUnits,
    estimate,
    shape_workload,
)
from hwsim.sensitivity import (
    PAPER_RATIOS,
    default_cases,
    format_sensitivity,
    sensitivity_from_dict,
    sensitivity_table,
    sensitivity_to_dict,
)
from hwsim.tech import SPIKESIM_65NM as S

LAYERS = (
    LayerShape("c1", "conv", 9, 32, kernel_elems=8),
    LayerShape("c2", "conv", 32, 64, kernel_elems=8, input_bits=2),
    LayerShape("fc", "linear", 64 * 8, 6, input_bits=2),
)


@pytest.fixture(scope="module")
def cases():
    out = {}
    for rule in ("dfa", "sfdfa", "bp"):
        a = Architecture(layers=LAYERS, learning=LearningUnits(rule, n_classes=6))
        out[rule] = (shape_workload(a, (40, 21, 1), Activity(input_rate=1.0, tangent_rate=0.5)), a)
    return out


def test_rows_switch_one_assumption_each(cases):
    rows = sensitivity_table(cases, S)
    assert [r.key for r in rows] == [c.key for c in default_cases()]
    default = rows[0]
    reports = {rule: estimate(w, a, S) for rule, (w, a) in cases.items()}
    ratio = reports["dfa"].ratio(reports["bp"])
    assert default.ratios["dfa"]["energy"] == pytest.approx(ratio["energy_pJ_per_learned_window"])
    assert default.ratios["dfa"]["latency"] == pytest.approx(ratio["latency_ns_per_learned_window"])
    assert default.ratios["dfa"]["area"] == pytest.approx(ratio["area_um2"])
    by_key = {r.key: r for r in rows}
    # leakage and the update arithmetic move no area; the periphery moves BP's area only
    for key in ("leakage", "multibit_reads", "update_arithmetic"):
        assert by_key[key].ratios["dfa"]["area"] == pytest.approx(default.ratios["dfa"]["area"])
    assert by_key["periphery"].ratios["dfa"]["area"] < default.ratios["dfa"]["area"]
    # bit-serial transposed reads are what makes BP's delivery slow: one pass narrows the gap
    assert by_key["multibit_reads"].ratios["dfa"]["latency"] > default.ratios["dfa"]["latency"]
    # switching a choice by hand gives the same row
    w, a = cases["dfa"]
    wb, ab = cases["bp"]
    asm = Assumptions(leakage="always_on")
    assert by_key["leakage"].ratios["dfa"]["energy"] == pytest.approx(
        estimate(w, a, S, assumptions=asm).summary()["energy_pJ_per_learned_window"]
        / estimate(wb, ab, S, assumptions=asm).summary()["energy_pJ_per_learned_window"])


def test_round_trip_and_table(cases):
    rows = sensitivity_table(cases, S)
    back = sensitivity_from_dict(sensitivity_to_dict(rows))
    assert [(r.key, r.label) for r in back] == [(r.key, r.label) for r in rows]
    for r, b in zip(rows, back):
        for rule in r.ratios:
            assert b.ratios[rule] == pytest.approx(r.ratios[rule])
    text = format_sensitivity(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| assumption switched | DFA/BP energy | DFA/BP latency |")
    assert len(lines) == 2 + len(rows) + 1
    assert lines[-1].split("|")[2].strip() == f"{PAPER_RATIOS['energy']:.3f}"
    assert PAPER_RATIOS["latency"] == pytest.approx(1 / 2.1)
    assert math.isclose(PAPER_RATIOS["energy"], 0.359)


def test_bad_cases_rejected(cases):
    with pytest.raises(HwsimError, match="expected 'bp'"):
        sensitivity_table({"dfa": cases["dfa"]}, S)
