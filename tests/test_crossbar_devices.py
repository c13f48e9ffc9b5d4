"""Device presets: valid, every number sourced, validation errors name the parameter."""

import dataclasses

import pytest

from crossbar import GENERIC_RRAM, NEURRAM_HFO2, PRESETS, CrossbarError, DeviceParams, get_preset

NUMERIC_FIELDS = [
    f.name for f in dataclasses.fields(DeviceParams) if f.name not in ("name", "sources")
]


@pytest.mark.parametrize("preset", list(PRESETS.values()), ids=list(PRESETS))
def test_every_preset_number_has_a_source(preset):
    assert set(preset.sources) == set(NUMERIC_FIELDS)
    assert all(isinstance(s, str) and s for s in preset.sources.values())


def test_presets_are_frozen_and_found_by_name():
    assert get_preset("neurram_hfo2") is NEURRAM_HFO2
    assert get_preset(GENERIC_RRAM) is GENERIC_RRAM
    with pytest.raises(dataclasses.FrozenInstanceError):
        NEURRAM_HFO2.g_max_uS = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        NEURRAM_HFO2.sources["g_max_uS"] = "x"  # type: ignore[index]


def test_unknown_preset_lists_the_choices():
    with pytest.raises(CrossbarError, match="neurram_hfo2"):
        get_preset("nope")


def test_derived_quantities():
    d = NEURRAM_HFO2
    assert d.g_range_uS == pytest.approx(39.0)
    assert d.level_step_uS == pytest.approx(39.0 / 15)
    one = d.replace(n_levels=1)
    assert one.level_step_uS == pytest.approx(39.0)
    assert one.sources["n_levels"] == "user override"


@pytest.mark.parametrize(
    "change, match",
    [
        ({"g_min_uS": -1.0}, "g_min_uS"),
        ({"g_max_uS": 0.5}, "g_max_uS"),
        ({"n_levels": 0}, "n_levels"),
        ({"n_levels": 2.0}, "n_levels"),
        ({"n_pulses_full_range": 0}, "n_pulses_full_range"),
        ({"v_read_V": 0.0}, "v_read_V"),
        ({"nonlinearity_ltp": -1.0}, "nonlinearity_ltp"),
        ({"r_wire_row_ohm": float("nan")}, "r_wire_row_ohm"),
    ],
)
def test_bad_device_parameters_raise(change, match):
    with pytest.raises(CrossbarError, match=match):
        NEURRAM_HFO2.replace(**change)
