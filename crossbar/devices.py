"""RRAM device presets: frozen records with units in the field names and a source per number.

Two presets ship:

* ``"neurram_hfo2"``: an HfO2 RRAM device in the style of the NeuRRAM chip
  (Wan et al., Nature 608, 504-512, 2022).
* ``"generic_rram"``: the default analog RRAM cell of MLP+NeuroSim V3.0 (``RealDevice`` in
  ``Cell.cpp``, neurosim/MLP_NeuroSim_V3.0).

Every field of a preset has an entry in :attr:`DeviceParams.sources`.  Entries marked
``[assumption]`` are our own choices where no public number exists; they are defaults, not
facts, and should be overridden with :func:`dataclasses.replace` when better data exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from crossbar._checks import check_positive, check_real
from crossbar.errors import CrossbarError


@dataclass(frozen=True)
class DeviceParams:
    """Physical constants of one RRAM cell and of the array wires around it.

    Attributes
    ----------
    name : str
        Preset name.
    g_min_uS, g_max_uS : float
        Programmable conductance range (microsiemens), ``0 <= g_min_uS < g_max_uS``.
    n_levels : int
        Number of conductance levels a cell is programmed to when weights are mapped
        (``>= 1``; one level means every cell sits at ``g_min_uS``).
    v_read_V : float
        Read voltage applied to an active word line (a spike of value 1 drives ``v_read_V``).
    v_write_V : float
        Amplitude of a programming pulse (used by hwsim for write energy).
    t_pulse_ns : float
        Width of a programming pulse.
    n_pulses_full_range : int
        Identical pulses that take a cell from ``g_min_uS`` to ``g_max_uS`` (the number of
        pulse-reachable states minus one; NeuroSim's ``maxNumLevelLTP``).
    nonlinearity_ltp, nonlinearity_ltd : float
        Pulse-response nonlinearity ``nu >= 0`` of potentiation and depression in the
        exponential model ``G(p) = g_min + (g_max - g_min) (1 - exp(-nu p / P)) / (1 - exp(-nu))``
        (``P = n_pulses_full_range``); ``nu = 0`` is the linear limit.  Different values
        make the response asymmetric.
    r_wire_row_ohm, r_wire_col_ohm : float
        Resistance of one word-line (row) and one bit-line (column) segment between
        neighbouring cells.
    r_driver_ohm, r_sense_ohm : float
        Resistance between a row driver and the first cell of its word line, and between the
        last cell of a bit line and the (virtual-ground) sense amplifier.
    sources : Mapping[str, str]
        Where each number comes from, one entry per field above.
    """

    name: str
    g_min_uS: float
    g_max_uS: float
    n_levels: int
    v_read_V: float
    v_write_V: float
    t_pulse_ns: float
    n_pulses_full_range: int
    nonlinearity_ltp: float
    nonlinearity_ltd: float
    r_wire_row_ohm: float
    r_wire_col_ohm: float
    r_driver_ohm: float
    r_sense_ohm: float
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_real("g_min_uS", self.g_min_uS, low=0.0)
        check_positive("g_max_uS", self.g_max_uS)
        if not self.g_max_uS > self.g_min_uS:
            raise CrossbarError(
                f"g_max_uS={self.g_max_uS!r}: expected a value > g_min_uS={self.g_min_uS!r}"
            )
        if (
            isinstance(self.n_levels, bool)
            or not isinstance(self.n_levels, int)
            or self.n_levels < 1
        ):
            raise CrossbarError(f"n_levels={self.n_levels!r}: expected an int >= 1")
        if (
            isinstance(self.n_pulses_full_range, bool)
            or not isinstance(self.n_pulses_full_range, int)
            or self.n_pulses_full_range < 1
        ):
            raise CrossbarError(
                f"n_pulses_full_range={self.n_pulses_full_range!r}: expected an int >= 1"
            )
        for name in ("v_read_V", "v_write_V", "t_pulse_ns"):
            check_positive(name, getattr(self, name))
        for name in (
            "nonlinearity_ltp",
            "nonlinearity_ltd",
            "r_wire_row_ohm",
            "r_wire_col_ohm",
            "r_driver_ohm",
            "r_sense_ohm",
        ):
            check_real(name, getattr(self, name), low=0.0)
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    @property
    def g_range_uS(self) -> float:
        """``g_max_uS - g_min_uS``."""
        return self.g_max_uS - self.g_min_uS

    @property
    def level_step_uS(self) -> float:
        """Conductance between neighbouring mapping levels (``g_range_uS`` if one level)."""
        return self.g_range_uS / max(self.n_levels - 1, 1)

    def replace(self, **changes: object) -> DeviceParams:
        """A copy with some fields changed (``sources`` of changed fields become "user")."""
        sources = dict(self.sources)
        for key in changes:
            if key != "sources":
                sources[key] = "user override"
        changes.setdefault("sources", sources)
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]  # field overrides, checked by __post_init__


_WAN2022 = "Wan et al., Nature 608, 504-512 (2022), NeuRRAM"
_AIHWKIT_WAN = (
    "aihwkit 1.2 ReRamWan2022NoiseModel fits Wan et al. 2022 with g_max = 40 uS "
    "(IBM/aihwkit src/aihwkit/inference/noise/reram.py)"
)
_AIHWKIT_IR = (
    "aihwkit IOParameters.ir_drop_g_ratio default 1/(0.35 ohm * 5e-6 S): 0.35 ohm per wire "
    "segment and a 5e-6 S maximal device conductance"
)
_BADCROSSBAR = (
    "[assumption] same as one wire segment, the convention of badcrossbar 1.1 "
    "(its examples and tests)"
)
_NEUROSIM = "MLP+NeuroSim V3.0 Cell.cpp RealDevice defaults (neurosim/MLP_NeuroSim_V3.0)"

NEURRAM_HFO2 = DeviceParams(
    name="neurram_hfo2",
    g_min_uS=1.0,
    g_max_uS=40.0,
    n_levels=16,
    v_read_V=0.2,
    v_write_V=2.0,
    t_pulse_ns=100.0,
    n_pulses_full_range=100,
    nonlinearity_ltp=3.0,
    nonlinearity_ltd=5.0,
    r_wire_row_ohm=0.35,
    r_wire_col_ohm=0.35,
    r_driver_ohm=0.35,
    r_sense_ohm=0.35,
    sources={
        "g_min_uS": "[assumption] 1 uS floor below the 40 uS maximum; " + _WAN2022,
        "g_max_uS": _AIHWKIT_WAN,
        "n_levels": "[proxy] 4-bit weights as in NeuRRAM and SpikeSim's ela_spikesim.py",
        "v_read_V": "[assumption] small read voltage to avoid read disturb",
        "v_write_V": "[assumption] SET/RESET amplitude of HfO2 RRAM, " + _NEUROSIM + " uses 2 V",
        "t_pulse_ns": "[assumption] 100 ns programming pulse; NeuroSim measured device uses 100 ns",
        "n_pulses_full_range": "[assumption] 100 pulses over the full range",
        "nonlinearity_ltp": "[assumption] moderate nonlinearity, exponential pulse model as NeuroSim",
        "nonlinearity_ltd": "[assumption] depression more abrupt than potentiation (asymmetry)",
        "r_wire_row_ohm": _AIHWKIT_IR,
        "r_wire_col_ohm": _AIHWKIT_IR,
        "r_driver_ohm": _BADCROSSBAR,
        "r_sense_ohm": _BADCROSSBAR,
    },
)

GENERIC_RRAM = DeviceParams(
    name="generic_rram",
    g_min_uS=0.476,
    g_max_uS=10.0,
    n_levels=32,
    v_read_V=0.5,
    v_write_V=2.0,
    t_pulse_ns=80.0,
    n_pulses_full_range=31,
    nonlinearity_ltp=4.0,
    nonlinearity_ltd=4.0,
    r_wire_row_ohm=0.35,
    r_wire_col_ohm=0.35,
    r_driver_ohm=0.35,
    r_sense_ohm=0.35,
    sources={
        "g_min_uS": _NEUROSIM + ": minConductance 4.76e-7 S",
        "g_max_uS": _NEUROSIM + ": maxConductance 1e-5 S",
        "n_levels": _NEUROSIM + ": 31 pulses give 32 states",
        "v_read_V": _NEUROSIM + ": readVoltage 0.5 V",
        "v_write_V": _NEUROSIM + ": writeVoltageLTP/LTD 2 V",
        "t_pulse_ns": _NEUROSIM + ": writePulseWidthLTP/LTD 80 ns",
        "n_pulses_full_range": _NEUROSIM + ": maxNumLevelLTP/LTD 31",
        "nonlinearity_ltp": "[assumption] nu = 4, close to NeuroSim's NL label 4.22 (not the same scale)",
        "nonlinearity_ltd": "[assumption] symmetric with LTP as NeuroSim's default (NL_LTD = -NL_LTP)",
        "r_wire_row_ohm": _AIHWKIT_IR,
        "r_wire_col_ohm": _AIHWKIT_IR,
        "r_driver_ohm": _BADCROSSBAR,
        "r_sense_ohm": _BADCROSSBAR,
    },
)

PRESETS: Mapping[str, DeviceParams] = MappingProxyType(
    {NEURRAM_HFO2.name: NEURRAM_HFO2, GENERIC_RRAM.name: GENERIC_RRAM}
)


def get_preset(name: str | DeviceParams) -> DeviceParams:
    """Return the preset called ``name`` (a :class:`DeviceParams` is returned unchanged)."""
    if isinstance(name, DeviceParams):
        return name
    if name not in PRESETS:
        raise CrossbarError(f"device={name!r}: expected one of {', '.join(map(repr, PRESETS))}")
    return PRESETS[name]
