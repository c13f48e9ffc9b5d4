"""Hand-computed examples for every component model of hwsim.components."""

import pytest

from hwsim import HwsimError
from hwsim import components as c
from hwsim.tech import SPIKESIM_65NM as S

E_CELL = 1.76423 / 4096


def test_array_read_energy_and_area():
    assert c.array_read_energy_pJ(10, 64, S) == pytest.approx(10 * 64 * E_CELL)
    assert c.array_read_energy_pJ(64, 64, S) == pytest.approx(1.76423)
    assert c.array_area_um2(128, 64, S) == pytest.approx(2 * 26.2144)


def test_adc_scales_with_bits():
    assert c.adc_energy_pJ(4, S) == pytest.approx(2.03084 / 8)
    assert c.adc_energy_pJ(6, S) == pytest.approx(4 * 2.03084 / 8)
    assert c.adc_area_um2(5, S) == pytest.approx(2 * 693.633)
    assert c.adc_conversion_ns(4, S) == pytest.approx(12.0)
    assert c.adc_conversion_ns(8, S) == pytest.approx(24.0)


def test_mvm_latency():
    # one clock read + 8 conversions of 12 ns + one clock accumulate
    assert c.mvm_latency_ns(8, 4, S) == pytest.approx(4 + 8 * 12 + 4)
    assert c.mvm_latency_ns(4, 8, S) == pytest.approx(4 + 4 * 24 + 4)


def test_per_conversion_energy():
    e = c.per_conversion_energy_pJ(4, S)
    assert e == pytest.approx(
        {
            "adc": 2.03084 / 8,
            "mux": 0.094245 / 8,
            "shift_add": 16 * 1.15e-6 / 8,
            "temporal_buffer": 0.2 / 8,
        }
    )


def test_sram_scales_with_capacity():
    ref = 10 / 64  # Horowitz: 8 kB SRAM, 10 pJ per 64-bit access
    assert c.sram_energy_pJ_per_bit(65536, S) == pytest.approx(ref)
    assert c.sram_energy_pJ_per_bit(4 * 65536, S) == pytest.approx(2 * ref)  # 32 kB: 20 pJ
    assert c.sram_energy_pJ_per_bit(0, S) == 0.0
    assert c.sram_area_um2(1000, S) == pytest.approx(739.1)
    assert c.sram_access_ns(128, S) == pytest.approx(2 * 4.0)


def test_digital_units():
    assert c.digital_energy_pJ(3, 2, S) == pytest.approx(3 * 0.03 + 2 * 0.2)
    assert c.mac_lane_area_um2(4, S) == pytest.approx(4 * (36 + 282))
    assert c.digital_latency_ns(100, 8, S) == pytest.approx(100 / 8 * 4.0)


def test_write_and_verify():
    assert S.write_pulse_energy_pJ == pytest.approx(2.0 * 50e-6 * 10e-9 / 1e-12)
    expected = E_CELL + 0.0 + 2.03084 / 8 + 0.094245 / 8
    assert c.verify_read_energy_pJ(4, S) == pytest.approx(expected)
    assert c.programming_round_ns(1, 8, 4, S) == pytest.approx(10 + 104)
    assert c.programming_round_ns(0, 8, 4, S) == pytest.approx(10)


def test_interconnect_and_static():
    assert c.interconnect_energy_pJ(512, S) == pytest.approx(19.64 * 8)
    # 0.1 nW/um^2 x 1000 um^2 = 0.1 uW; for 1000 ns that is 1e-13 J = 0.1 pJ
    assert c.static_energy_pJ(1000, 1000, S) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: c.adc_energy_pJ(0, S), "adc_bits"),
        (lambda: c.array_read_energy_pJ(-1, 64, S), "driven_lines"),
        (lambda: c.sram_energy_pJ_per_bit(float("nan"), S), "capacity_bits"),
        (lambda: c.digital_latency_ns(10, 0, S), "lanes"),
        (lambda: c.digital_energy_pJ("3", 0, S), "adds"),
    ],
)
def test_bad_parameters_named(call, name):
    with pytest.raises(HwsimError, match=name):
        call()
