"""Technology presets: every constant has a source; TOML preset files; validation."""

import dataclasses

import pytest

from hwsim import HwsimError
from hwsim.tech import (
    PRESETS,
    SPIKESIM_65NM,
    Tech,
    get_preset,
    load_tech,
    numeric_fields,
    tech_from_dict,
)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_cite_every_constant(name):
    tech = PRESETS[name]
    assert set(tech.sources) == set(numeric_fields())
    assert all(s.strip() for s in tech.sources.values())


def test_fp32_preset_changes_only_digital_units():
    fp32 = get_preset("spikesim65_fp32")
    changed = {n for n in numeric_fields() if getattr(fp32, n) != getattr(SPIKESIM_65NM, n)}
    assert changed == {"add_energy_pJ", "mult_energy_pJ", "add_area_um2", "mult_area_um2"}
    assert fp32.mult_energy_pJ == 3.7 and "3.7" in fp32.sources["mult_energy_pJ"]


def test_unknown_preset_did_you_mean():
    with pytest.raises(HwsimError, match="did you mean 'spikesim65'"):
        get_preset("spikesim56")


def test_replace_requires_a_source_for_changed_constants():
    with pytest.raises(HwsimError, match="sources missing for \\['adc_energy_pJ_ref'\\]"):
        SPIKESIM_65NM.replace(adc_energy_pJ_ref=1.0)
    t = SPIKESIM_65NM.replace(adc_energy_pJ_ref=1.0, sources={"adc_energy_pJ_ref": "my chip"})
    assert t.adc_energy_pJ_ref == 1.0 and t.sources["adc_energy_pJ_ref"] == "my chip"


def test_replace_unknown_field_did_you_mean():
    with pytest.raises(HwsimError, match="did you mean 'adc_bits_ref'"):
        SPIKESIM_65NM.replace(adc_bit_ref=6)


def test_negative_constant_rejected():
    values = {n: getattr(SPIKESIM_65NM, n) for n in numeric_fields()}
    values["cell_read_energy_pJ"] = -1.0
    with pytest.raises(HwsimError, match="cell_read_energy_pJ=-1.0"):
        Tech(name="bad", sources=SPIKESIM_65NM.sources, **values)


def test_toml_with_base(tmp_path):
    path = tmp_path / "chip.toml"
    path.write_text(
        'name = "mychip"\nbase = "spikesim65"\n'
        "[constants]\nadc_energy_pJ_ref = 0.5\nleakage_nW_per_um2 = 0.1\n"
        '[sources]\nadc_energy_pJ_ref = "datasheet"\nleakage_nW_per_um2 = "measured"\n'
    )
    t = load_tech(path)
    assert t.name == "mychip"
    assert t.adc_energy_pJ_ref == 0.5 and t.leakage_nW_per_um2 == 0.1
    assert t.cell_read_energy_pJ == SPIKESIM_65NM.cell_read_energy_pJ
    assert t.sources["leakage_nW_per_um2"] == "measured"


def test_toml_full_file_round_trip(tmp_path):
    lines = ['name = "copy"', "[constants]"]
    lines += [f"{n} = {float(getattr(SPIKESIM_65NM, n))!r}" for n in numeric_fields()]
    lines += ["[sources]"] + [f'{n} = "same as spikesim65"' for n in numeric_fields()]
    path = tmp_path / "copy.toml"
    path.write_text("\n".join(lines) + "\n")
    t = load_tech(path)
    assert dataclasses.replace(t, name="spikesim65") == SPIKESIM_65NM


def test_toml_unknown_key_did_you_mean(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('name = "t"\nbase = "spikesim65"\n[constants]\nadc_energy_pj_ref = 1.0\n')
    with pytest.raises(HwsimError, match="did you mean 'adc_energy_pJ_ref'"):
        load_tech(path)
    with pytest.raises(HwsimError, match="did you mean 'constants'"):
        tech_from_dict({"name": "t", "constant": {}})


def test_toml_missing_constants_without_base():
    with pytest.raises(HwsimError, match="missing"):
        tech_from_dict({"name": "t", "constants": {"node_nm": 65.0}})


def test_toml_file_errors(tmp_path):
    with pytest.raises(HwsimError, match="not found"):
        load_tech(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(HwsimError, match="invalid TOML"):
        load_tech(bad)
