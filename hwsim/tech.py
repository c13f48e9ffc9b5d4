"""Technology presets: per-event energy, area and timing constants, each with a cited source.

A :class:`Tech` is a frozen record whose field names carry their units; ``sources`` maps every
numeric field to the place it comes from (paper, script, or "[assumption]: why").
Presets: :data:`SPIKESIM_65NM` (SpikeSim's 65 nm analog constants turned into per-event
costs, Horowitz 45 nm int8 digital operations, RRAM write pulses from the device literature)
and :data:`SPIKESIM_65NM_FP32` (same, with Horowitz's fp32 digital operations).
Users write their own preset as TOML and read it with :func:`load_tech`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwsim._validate import check_choice, check_keys, check_mapping, check_real
from hwsim.errors import HwsimError
from hwsim.spikesim import SPIKESIM_CONSTANTS as _S

_SS = "SpikeSim ela_spikesim.py (65 nm)"
_HOROWITZ = "Horowitz, 'Computing's energy problem', ISSCC 2014, 45 nm, 0.9 V"
_AREA = "[unverified: recalled area table]"


@dataclass(frozen=True)
class Tech:
    """Per-event costs of one technology. All numbers are >= 0 and finite.

    Energies are per event (pJ), areas per unit (um^2), times per event (ns).
    ``sources`` maps each numeric field name to its citation.
    """

    name: str
    node_nm: float
    clock_MHz: float
    # RRAM crossbar
    cell_read_energy_pJ: float
    """Energy of one cell in one read: driven line x sensed line."""
    cell_area_um2: float
    array_read_ns: float
    """Settling time of one array read before conversion."""
    # converters and column periphery
    adc_energy_pJ_ref: float
    """Energy of one ADC conversion at ``adc_bits_ref``; scales as 2^(bits - ref)."""
    adc_area_um2_ref: float
    """Area of one ADC at ``adc_bits_ref``; scales as 2^(bits - ref)."""
    adc_bits_ref: float
    adc_ns_per_bit: float
    """Conversion time per bit (SAR: one comparison per bit)."""
    dac_energy_pJ: float
    """Energy of driving one line for one 1-bit pass (multi-bit inputs go bit-serially)."""
    dac_area_um2: float
    mux_energy_pJ: float
    """Per conversion."""
    mux_area_um2: float
    """Per ADC."""
    shift_add_energy_pJ: float
    """Shift-and-add / subtractor energy per conversion."""
    shift_add_area_um2: float
    """Per shift-add unit (one per 8 columns of a tile)."""
    temporal_buffer_energy_pJ: float
    """Per conversion."""
    temporal_buffer_area_um2: float
    """Per tile."""
    accumulate_ns: float
    """Shift-add / accumulation time after the last conversion of an MVM."""
    # neurons
    neuron_update_energy_pJ: float
    neuron_unit_area_um2: float
    # SRAM
    sram_energy_pJ_per_bit_ref: float
    """Access energy per bit of an SRAM of ``sram_capacity_bits_ref``; scales as sqrt(capacity)."""
    sram_capacity_bits_ref: float
    sram_area_um2_per_bit: float
    sram_access_ns: float
    sram_word_bits: float
    # interconnect
    htree_energy_pJ_per_bit: float
    htree_area_um2_per_tile: float
    # digital arithmetic for learning
    add_energy_pJ: float
    mult_energy_pJ: float
    add_area_um2: float
    mult_area_um2: float
    # RRAM programming
    write_pulse_energy_pJ: float
    """Energy a pulse dissipates in the cell (``V^2 G t``; see :func:`with_device_writes`)."""
    write_pulse_ns: float
    write_driver_energy_pJ: float
    """Energy of the write driver per pulse (charging the selected line)."""
    write_driver_area_um2: float
    """Per array column (write / verify driver)."""
    # static
    leakage_nW_per_um2: float
    """Static power per unit of CMOS area (leakage, clocking, control); not cells or wires."""
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwsimError(f"Tech.name={self.name!r}: expected a non-empty string")
        for name in numeric_fields():
            check_real(f"Tech.{name}", getattr(self, name))
        for name in ("clock_MHz", "adc_bits_ref", "sram_capacity_bits_ref", "sram_word_bits"):
            check_real(f"Tech.{name}", getattr(self, name), strict=True)
        sources = dict(check_mapping("Tech.sources", self.sources))
        check_keys(sources, numeric_fields(), "Tech.sources")
        missing = [n for n in numeric_fields() if not str(sources.get(n, "")).strip()]
        if missing:
            raise HwsimError(
                f"Tech {self.name!r}: sources missing for {missing}; expected a citation "
                "(or '[assumption]: reason') for every constant"
            )
        object.__setattr__(self, "sources", sources)

    @property
    def clock_ns(self) -> float:
        """One clock period in ns."""
        return 1000.0 / self.clock_MHz

    def replace(self, sources: Mapping[str, str] | None = None, **changes: Any) -> Tech:
        """Return a copy with ``changes``; every changed constant needs a new source.

        Parameters
        ----------
        sources : mapping, optional
            Citations for the changed constants (required for each of them).
        **changes
            New values by field name; unknown names raise with a did-you-mean hint.
        """
        check_keys(changes, [f.name for f in dataclasses.fields(self)], "Tech.replace")
        new_sources = dict(self.sources)
        for key in changes:
            if key in numeric_fields():
                new_sources.pop(key)
        new_sources.update(sources or {})
        return dataclasses.replace(self, sources=new_sources, **changes)


def numeric_fields() -> tuple[str, ...]:
    """Names of the numeric constants of :class:`Tech` (all but ``name`` and ``sources``)."""
    return tuple(f.name for f in dataclasses.fields(Tech) if f.name not in ("name", "sources"))


_X = 64  # SpikeSim's crossbar size, used to turn its per-array numbers into per-cell ones
_COLS_PER_ADC = 8  # SpikeSim: one ADC per 8 columns

_SPIKESIM_VALUES: dict[str, float] = {
    "node_nm": 65.0,
    "clock_MHz": _S.clock_MHz,
    "cell_read_energy_pJ": _S.xbar_energy_pJ_rram / (_X * _X),
    "cell_area_um2": _S.xbar_area_um2_rram / (_X * _X),
    "array_read_ns": 1000.0 / _S.clock_MHz,
    "adc_energy_pJ_ref": _S.adc_energy_pJ / _COLS_PER_ADC,
    "adc_area_um2_ref": _S.adc_area_um2,
    "adc_bits_ref": 4.0,
    "adc_ns_per_bit": 3.0 * 1000.0 / _S.clock_MHz / 4.0,
    "dac_energy_pJ": 0.0,
    "dac_area_um2": 0.0,
    "mux_energy_pJ": _S.mux_energy_pJ / _COLS_PER_ADC,
    "mux_area_um2": _S.mux_area_um2,
    "shift_add_energy_pJ": 16 * _S.subtractor_energy_pJ / _COLS_PER_ADC,
    "shift_add_area_um2": _S.subtractor_area_um2,
    "temporal_buffer_energy_pJ": _S.temporal_buffer_energy_pJ / _COLS_PER_ADC,
    "temporal_buffer_area_um2": _S.temporal_buffer_area_um2,
    "accumulate_ns": 1000.0 / _S.clock_MHz,
    "neuron_update_energy_pJ": 1.274,
    "neuron_unit_area_um2": 282.0 + 2 * 36.0,
    "sram_energy_pJ_per_bit_ref": 10.0 / 64.0,
    "sram_capacity_bits_ref": 8 * 1024 * 8.0,
    "sram_area_um2_per_bit": _S.memory_bit_area_um2,
    "sram_access_ns": 1000.0 / _S.clock_MHz,
    "sram_word_bits": 64.0,
    "htree_energy_pJ_per_bit": _S.htree_energy_pJ / (8 * _X),
    "htree_area_um2_per_tile": _S.htree_area_um2,
    "add_energy_pJ": 0.03,
    "mult_energy_pJ": 0.2,
    "add_area_um2": 36.0,
    "mult_area_um2": 282.0,
    "write_pulse_energy_pJ": 2.0 * 50e-6 * 10e-9 * 1e12,
    "write_pulse_ns": 10.0,
    "write_driver_energy_pJ": 0.05,
    "write_driver_area_um2": 0.0,
    "leakage_nW_per_um2": 0.1,
}

_SPIKESIM_SOURCES: dict[str, str] = {
    "node_nm": "SpikeSim paper (Moitra et al., TCAD 2023): 65 nm CMOS",
    "clock_MHz": f"{_SS}: clk_freq = 250",
    "cell_read_energy_pJ": f"{_SS}: 1.76423 pJ per 64x64 RRAM crossbar read / 4096 cells "
    "(row drivers included, as in SpikeSim)",
    "cell_area_um2": f"{_SS}: 26.2144 um^2 per 64x64 crossbar / 4096 = 4F^2 at F = 40 nm",
    "array_read_ns": "[assumption]: one clock; with 8 x 3-clock conversions and one clock of "
    "accumulation an MVM takes SpikeSim's 26-clock PE cycle (104 ns)",
    "adc_energy_pJ_ref": f"{_SS}: 2.03084 pJ per ADC per PE cycle, read as 8 conversions "
    "(one ADC per 8 columns)",
    "adc_area_um2_ref": f"{_SS}: 693.633 um^2 per ADC",
    "adc_bits_ref": "SpikeSim/NICE default ADC precision 4 bits",
    "adc_ns_per_bit": "[assumption]: 3 clocks per 4-bit conversion at 250 MHz (see array_read_ns)",
    "dac_energy_pJ": f"{_SS}: no separate driver term; drivers are inside the crossbar energy",
    "dac_area_um2": f"{_SS}: no separate driver area",
    "mux_energy_pJ": f"{_SS}: 0.094245 pJ per ADC per PE cycle / 8 conversions",
    "mux_area_um2": f"{_SS}: 45.9 um^2 per ADC",
    "shift_add_energy_pJ": f"{_SS}: 16 x 1.15e-6 pJ per 8 columns per PE cycle / 8 conversions",
    "shift_add_area_um2": f"{_SS}: 13411.41498 um^2 per 8 columns of a tile",
    "temporal_buffer_energy_pJ": f"{_SS}: 0.2 pJ per 8 columns per PE cycle / 8 conversions",
    "temporal_buffer_area_um2": f"{_SS}: 484.643999 um^2 per tile",
    "accumulate_ns": "[assumption]: one clock (see array_read_ns)",
    "neuron_update_energy_pJ": f"{_SS}: neuron = 1.274 * 4.0 pJ per PE cycle; 1.274 pJ read "
    "as one LIF update [assumption]",
    "neuron_unit_area_um2": f"[assumption]: one 8-bit multiplier + two 8-bit adders ({_HOROWITZ}: "
    "282 + 2 x 36 um^2 [unverified]) for leak, integrate and threshold",
    "sram_energy_pJ_per_bit_ref": f"{_HOROWITZ}: 8 kB SRAM, 64-bit access 10 pJ",
    "sram_capacity_bits_ref": f"{_HOROWITZ}: 8 kB reference SRAM",
    "sram_area_um2_per_bit": f"{_SS}: 0.7391 um^2 per stored bit (tile buffer 0.7391 x 64 x 128)",
    "sram_access_ns": "[assumption]: one 64-bit word per clock",
    "sram_word_bits": "[assumption]: 64-bit SRAM words (Horowitz's access width)",
    "htree_energy_pJ_per_bit": f"{_SS}: H-tree 19.64 x 8 pJ per PE cycle, spread over the "
    "8 x 64 bits of a PE cycle's eight 64-wide PEs [assumption]",
    "htree_area_um2_per_tile": f"{_SS}: 216830 x 2 um^2 per tile",
    "add_energy_pJ": f"{_HOROWITZ}: 8-bit integer add 0.03 pJ",
    "mult_energy_pJ": f"{_HOROWITZ}: 8-bit integer multiply 0.2 pJ",
    "add_area_um2": f"{_HOROWITZ}: 8-bit integer adder 36 um^2 {_AREA}",
    "mult_area_um2": f"{_HOROWITZ}: 8-bit integer multiplier 282 um^2 {_AREA}",
    "write_pulse_energy_pJ": "[assumption] from device-literature ranges (Wong et al., "
    "'Metal-oxide RRAM', Proc. IEEE 2012 [unverified]): 2 V x 50 uA x 10 ns = 1 pJ per pulse",
    "write_pulse_ns": "[assumption]: 10 ns SET/RESET pulse (Wong et al., Proc. IEEE 2012 "
    "[unverified]; NeuroSim's default pulse width [unverified])",
    "write_driver_energy_pJ": "[assumption]: C V^2 of a 64-cell line of about 12 fF (0.2 fF "
    "per cell of wire and access device) charged to 2 V = 0.05 pJ per pulse",
    "write_driver_area_um2": "[assumption]: write drivers shared with the read drivers, no extra "
    "area (SpikeSim has none); set it for a dedicated write path",
    "leakage_nW_per_um2": "[assumption]: 0.1 nW/um^2 (0.1 mW/mm^2) of CMOS periphery and SRAM, "
    "between 65 nm low-power SRAM and general-purpose logic; no source at hand, set it for "
    "your process (SpikeSim models no static energy)",
}

SPIKESIM_65NM = Tech(name="spikesim65", sources=_SPIKESIM_SOURCES, **_SPIKESIM_VALUES)
"""Default preset: SpikeSim 65 nm analog periphery, Horowitz 45 nm int8 digital units."""

SPIKESIM_65NM_FP32 = SPIKESIM_65NM.replace(
    name="spikesim65_fp32",
    add_energy_pJ=0.9,
    mult_energy_pJ=3.7,
    add_area_um2=4184.0,
    mult_area_um2=7700.0,
    sources={
        "add_energy_pJ": f"{_HOROWITZ}: 32-bit float add 0.9 pJ",
        "mult_energy_pJ": f"{_HOROWITZ}: 32-bit float multiply 3.7 pJ",
        "add_area_um2": f"{_HOROWITZ}: 32-bit float adder 4184 um^2 {_AREA}",
        "mult_area_um2": f"{_HOROWITZ}: 32-bit float multiplier 7700 um^2 {_AREA}",
    },
)
"""As :data:`SPIKESIM_65NM` with fp32 learning arithmetic."""

PRESETS: dict[str, Tech] = {t.name: t for t in (SPIKESIM_65NM, SPIKESIM_65NM_FP32)}


def get_preset(name: str) -> Tech:
    """Return the preset called ``name`` (see :data:`PRESETS`)."""
    return PRESETS[check_choice("tech preset", name, PRESETS)]


def tech_from_dict(data: Mapping[str, Any]) -> Tech:
    """Build a :class:`Tech` from a plain mapping (the TOML layout of :func:`load_tech`).

    Layout: ``name`` (required), ``base`` (optional preset name to start from),
    ``[constants]`` (field -> number) and ``[sources]`` (field -> citation). Without ``base``
    every constant must be given; with ``base`` every overridden constant needs a source.
    Unknown keys are rejected with a did-you-mean hint.
    """
    data = check_mapping("tech", data)
    check_keys(data, ("name", "base", "constants", "sources"), "tech file")
    if "name" not in data:
        raise HwsimError("tech file: missing 'name'; expected a string naming the preset")
    constants = dict(check_mapping("tech [constants]", data.get("constants", {})))
    sources = dict(check_mapping("tech [sources]", data.get("sources", {})))
    check_keys(constants, numeric_fields(), "tech [constants]")
    check_keys(sources, numeric_fields(), "tech [sources]")
    if "base" in data:
        return get_preset(data["base"]).replace(name=data["name"], sources=sources, **constants)
    missing = [n for n in numeric_fields() if n not in constants]
    if missing:
        raise HwsimError(
            f"tech file {data['name']!r}: constants {missing} missing; give them or set "
            f"base = one of {sorted(PRESETS)}"
        )
    return Tech(name=data["name"], sources=sources, **constants)


def load_tech(path: str | Path) -> Tech:
    """Read a technology preset from a TOML file (layout: :func:`tech_from_dict`)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise HwsimError(f"tech file {str(path)!r}: not found; expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise HwsimError(f"tech file {str(path)!r}: invalid TOML ({exc})") from None
    return tech_from_dict(data)
