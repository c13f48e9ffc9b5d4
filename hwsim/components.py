"""Per-component cost models: energy per event, area per unit and latency, from parameters.

Each function is a closed-form model of one component; :func:`hwsim.estimate.estimate`
multiplies them by the counted events and units. Equations and sources: docs/hwsim.md.
"""

from __future__ import annotations

import math

from hwsim._validate import check_real
from hwsim.tech import Tech


def array_read_energy_pJ(driven_lines: float, sensed_lines: float, tech: Tech) -> float:
    """Energy of reading a crossbar: ``driven * sensed * E_cell`` (pJ).

    Parameters
    ----------
    driven_lines : float
        Rows driven (forward) or columns driven (transposed read), summed over reads.
    sensed_lines : float
        Lines sensed per read (the array's columns forward, its rows transposed).
    """
    check_real("driven_lines", driven_lines)
    check_real("sensed_lines", sensed_lines)
    return driven_lines * sensed_lines * tech.cell_read_energy_pJ


def array_area_um2(rows: int, cols: int, tech: Tech) -> float:
    """Area of one ``rows x cols`` crossbar: ``rows * cols * A_cell`` (um^2)."""
    return check_real("rows", rows) * check_real("cols", cols) * tech.cell_area_um2


def adc_energy_pJ(bits: float, tech: Tech) -> float:
    """Energy of one conversion: ``E_ref * 2^(bits - bits_ref)`` (pJ).

    The doubling per bit is the Walden figure-of-merit scaling ``E = FOM * 2^ENOB``
    of SAR converters; the reference point is SpikeSim's 4-bit ADC.
    """
    check_real("adc_bits", bits, minimum=1.0)
    return tech.adc_energy_pJ_ref * 2.0 ** (bits - tech.adc_bits_ref)


def adc_area_um2(bits: float, tech: Tech) -> float:
    """Area of one ADC: ``A_ref * 2^(bits - bits_ref)`` (um^2; capacitive DAC grows as 2^bits)."""
    check_real("adc_bits", bits, minimum=1.0)
    return tech.adc_area_um2_ref * 2.0 ** (bits - tech.adc_bits_ref)


def adc_conversion_ns(bits: float, tech: Tech) -> float:
    """Time of one SAR conversion: ``bits * t_bit`` (ns)."""
    check_real("adc_bits", bits, minimum=1.0)
    return bits * tech.adc_ns_per_bit


def mvm_latency_ns(cols_per_adc: int, adc_bits: float, tech: Tech) -> float:
    """Time of one array activation (ns).

    ``t_read + cols_per_adc * t_conv(bits) + t_accumulate``: the columns sharing an ADC
    through the multiplexer are converted one after the other; all ADCs work in parallel.
    With the SpikeSim preset (8 columns per ADC, 4 bits) this is 26 clocks = 104 ns.
    """
    check_real("cols_per_adc", cols_per_adc, minimum=1.0)
    return (
        tech.array_read_ns + cols_per_adc * adc_conversion_ns(adc_bits, tech) + tech.accumulate_ns
    )


def per_conversion_energy_pJ(bits: float, tech: Tech) -> dict[str, float]:
    """Energy of everything that runs once per ADC conversion, by component (pJ)."""
    return {
        "adc": adc_energy_pJ(bits, tech),
        "mux": tech.mux_energy_pJ,
        "shift_add": tech.shift_add_energy_pJ,
        "temporal_buffer": tech.temporal_buffer_energy_pJ,
    }


def sram_energy_pJ_per_bit(capacity_bits: float, tech: Tech) -> float:
    """Access energy per bit of an SRAM of ``capacity_bits``: ``E_ref sqrt(C / C_ref)`` (pJ).

    Square-root scaling follows Horowitz's figures (8 kB: 10 pJ, 32 kB: 20 pJ per 64-bit
    access): bit-line and word-line lengths grow with the square root of the capacity.
    A zero capacity (no such memory) costs nothing.
    """
    check_real("capacity_bits", capacity_bits)
    return tech.sram_energy_pJ_per_bit_ref * math.sqrt(capacity_bits / tech.sram_capacity_bits_ref)


def sram_area_um2(capacity_bits: float, tech: Tech) -> float:
    """Area of an SRAM: ``capacity_bits * A_bit`` (um^2)."""
    return check_real("capacity_bits", capacity_bits) * tech.sram_area_um2_per_bit


def sram_access_ns(bits: float, tech: Tech) -> float:
    """Time to move ``bits`` through one SRAM port, one word per access (ns)."""
    return check_real("bits", bits) / tech.sram_word_bits * tech.sram_access_ns


def digital_energy_pJ(adds: float, mults: float, tech: Tech) -> float:
    """Energy of digital arithmetic: ``adds * E_add + mults * E_mult`` (pJ)."""
    return (
        check_real("adds", adds) * tech.add_energy_pJ
        + check_real("mults", mults) * tech.mult_energy_pJ
    )


def mac_lane_area_um2(lanes: int, tech: Tech) -> float:
    """Area of ``lanes`` multiply-add lanes: ``lanes * (A_add + A_mult)`` (um^2)."""
    return check_real("lanes", lanes) * (tech.add_area_um2 + tech.mult_area_um2)


def digital_latency_ns(ops: float, lanes: int, tech: Tech) -> float:
    """Time of ``ops`` digital operations on ``lanes`` parallel lanes, one op per clock (ns)."""
    check_real("lanes", lanes, strict=True)
    return check_real("ops", ops) / lanes * tech.clock_ns


def verify_read_energy_pJ(adc_bits: float, tech: Tech) -> float:
    """Energy of one write-verify read of one cell (pJ).

    One driven line, one sensed cell, one conversion with its multiplexer:
    ``E_cell + E_dac + E_adc(bits) + E_mux``.
    """
    return (
        array_read_energy_pJ(1.0, 1.0, tech)
        + tech.dac_energy_pJ
        + adc_energy_pJ(adc_bits, tech)
        + tech.mux_energy_pJ
    )


def programming_round_ns(
    verifies_per_pulse: float, cols_per_adc: int, adc_bits: float, tech: Tech
) -> float:
    """Time of one programming round of one array row (ns).

    A pulse on all selected cells of a row, then ``verifies_per_pulse`` verify reads of that
    row (each an array activation): ``t_pulse + v * t_mvm``.
    """
    check_real("verifies_per_pulse", verifies_per_pulse)
    return tech.write_pulse_ns + verifies_per_pulse * mvm_latency_ns(cols_per_adc, adc_bits, tech)


def cell_write_energy_pJ(v_write_V: float, g_uS: float, t_pulse_ns: float) -> float:
    """Energy one programming pulse dissipates in a cell: ``V^2 G t`` (pJ).

    V^2 x uS x ns = 1e-15 J = 1e-3 pJ.
    """
    v = check_real("v_write_V", v_write_V)
    return v * v * check_real("g_uS", g_uS) * check_real("t_pulse_ns", t_pulse_ns) * 1e-3


def with_device_writes(
    tech: Tech,
    *,
    device: str,
    v_write_V: float,
    g_min_uS: float,
    g_max_uS: float,
    t_pulse_ns: float,
) -> Tech:
    """``tech`` with its write pulse taken from an RRAM device preset.

    A pulse of ``v_write_V`` for ``t_pulse_ns`` dissipates ``V^2 G t`` in a cell of
    conductance ``G``, taken at the middle of the programmable range ``(g_min + g_max) / 2``
    [assumption: updated cells sit anywhere in their range]; the driver adds
    ``write_driver_energy_pJ`` per pulse, a verify read costs a one-cell read with its
    conversion (:func:`hwsim.components.verify_read_energy_pJ`).

    Parameters
    ----------
    tech : Tech
    device : str
        The preset's name (recorded in the sources).
    v_write_V, g_min_uS, g_max_uS, t_pulse_ns : float
        The preset's pulse amplitude, conductance range and pulse width.
    """
    g_mid = (check_real("g_min_uS", g_min_uS) + check_real("g_max_uS", g_max_uS)) / 2.0
    energy = cell_write_energy_pJ(v_write_V, g_mid, t_pulse_ns)
    src = f"device preset {device!r}"
    return tech.replace(
        name=f"{tech.name}+{device}",
        write_pulse_energy_pJ=energy,
        write_pulse_ns=float(t_pulse_ns),
        sources={
            "write_pulse_energy_pJ": f"{src}: V_write^2 x (g_min + g_max)/2 x t_pulse = "
            f"{v_write_V:g}^2 V^2 x {g_mid:g} uS x {t_pulse_ns:g} ns = {energy:.4g} pJ",
            "write_pulse_ns": f"{src}: t_pulse_ns = {t_pulse_ns:g}",
        },
    )


def interconnect_energy_pJ(bits: float, tech: Tech) -> float:
    """Energy of moving ``bits`` over the H-tree: ``bits * E_bit`` (pJ)."""
    return check_real("bits", bits) * tech.htree_energy_pJ_per_bit


def static_energy_pJ(area_um2: float, latency_ns: float, tech: Tech) -> float:
    """Static energy ``P_leak * A * t`` (pJ).

    ``leakage_nW_per_um2 * area_um2`` is in nW, and nW x ns = 1e-18 J = 1e-6 pJ.
    """
    check_real("area_um2", area_um2)
    check_real("latency_ns", latency_ns)
    return tech.leakage_nW_per_um2 * area_um2 * latency_ns * 1e-6
