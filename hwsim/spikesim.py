"""SpikeSim's energy / area / latency formulas (ELA engine), reproduced as published.

Source: Intelligent-Computing-Lab-Yale/SpikeSim,
``SNN_train_infer_quantization_ela/ela_spikesim.py``
(Moitra et al., "SpikeSim", IEEE TCAD 2023, arXiv 2210.12899), 65 nm CMOS. The functions below
re-implement the script's formulas, including its quirks, so that its numbers can be
reproduced; they are a *preset*, separate from hwsim's event-based model (``hwsim.estimate``),
whose per-event constants are derived from :data:`SPIKESIM_65NM` in ``hwsim.tech``.

Quirks kept on purpose (see docs/hwsim.md, "SpikeSim preset"):

- the per-PE-cycle energy counts ``X/8`` PEs (``X`` the crossbar size), and the number of PE
  cycles of a layer is ``ceil(C_out/X) * ceil(C_in/X) * H_out * W_out``, times ``T``;
- the neuron memory area counts the outputs of the first five layers only;
- latency: a layer starts when 75 % of the previous layer's outputs exist; each layer's
  finishing checkpoint counts ``neurons * T``; total = last checkpoint * PE cycle;
- the script refuses layer lists whose PE counts decrease (here: :class:`HwsimError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hwsim._validate import check_choice, check_int, check_real
from hwsim.errors import HwsimError

_SCRIPT = "SpikeSim ela_spikesim.py (Intelligent-Computing-Lab-Yale/SpikeSim, 65 nm)"


@dataclass(frozen=True)
class SpikeSimConstants:
    """The constants of SpikeSim's ELA script, with the script's own units.

    Energies are per SpikeSim PE cycle as the script uses them; areas per unit.
    Every field is taken verbatim from ``ela_spikesim.py``; the ``sources`` mapping says so.
    """

    xbar_energy_pJ_rram: float = 1.76423
    """Energy of one 64x64 RRAM crossbar read (per k^2 group member of a PE)."""
    xbar_energy_pJ_sram: float = 671.089
    """Energy of one 64x64 SRAM crossbar read (alternative device)."""
    tile_buffer_energy_pJ: float = 397.0
    """Tile buffer energy per PE cycle."""
    temporal_buffer_energy_pJ: float = 0.2
    """Temporal buffer energy per 8 columns per PE cycle."""
    subtractor_energy_pJ: float = 1.15e-6
    """Subtractor energy, used 16 times per 8 columns per PE cycle."""
    adc_energy_pJ: float = 2.03084
    """ADC energy (one ADC per 8 columns) per PE cycle."""
    htree_energy_pJ: float = 19.64 * 8
    """H-tree energy per PE cycle (the script writes ``19.64*8``)."""
    mux_energy_pJ: float = 0.094245
    """Multiplexer energy per ADC per PE cycle."""
    mem_fetch_energy_pJ: float = 4.64
    """Memory fetch energy per PE cycle."""
    neuron_energy_pJ: float = 1.274 * 4.0
    """LIF neuron module energy per PE cycle (the script writes ``1.274 * 4.0``)."""
    xbar_area_um2_rram: float = 26.2144
    """Area of one 64x64 RRAM crossbar (4F^2 cells, F = 40 nm: 4096 * 0.0064 um^2)."""
    xbar_area_um2_sram: float = 671.089
    """Area of one 64x64 SRAM crossbar."""
    tile_buffer_area_um2: float = 0.7391 * 64 * 128
    """Tile buffer area: 64 * 128 bits of 0.7391 um^2."""
    temporal_buffer_area_um2: float = 484.643999
    """Temporal buffer area per tile."""
    subtractor_area_um2: float = 13411.41498
    """Subtractor area per 8 columns (X/8 per tile)."""
    adc_area_um2: float = 693.633
    """Area of one ADC."""
    htree_area_um2: float = 216830 * 2
    """H-tree area per tile (the script writes ``216830*2``)."""
    mux_area_um2: float = 45.9
    """Multiplexer area per ADC."""
    memory_bit_area_um2: float = 0.7391
    """Area of one stored bit of input / neuron memory."""
    memory_bits_per_value: float = 22.0
    """Multiplier per stored input or neuron value in the script (``* 0.7391*22``)."""
    clock_MHz: float = 250.0
    """Clock frequency (``clk_freq = 250``)."""
    pe_cycle_clocks: float = 26.0
    """Clock periods per PE cycle (``PE_cycle = 26*(1000/clk_freq)`` ns)."""
    overlap_fraction: float = 0.75
    """Fraction of a layer's outputs after which the next layer starts (``cp``)."""
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if name != "sources":
                check_real(f"SpikeSimConstants.{name}", getattr(self, name))
        merged = {name: _SCRIPT for name in self.__dataclass_fields__ if name != "sources"}
        merged.update(self.sources)
        object.__setattr__(self, "sources", merged)

    @property
    def pe_cycle_ns(self) -> float:
        """Duration of one PE cycle in ns (104 ns at 250 MHz)."""
        return self.pe_cycle_clocks * 1000.0 / self.clock_MHz


SPIKESIM_CONSTANTS = SpikeSimConstants()
"""The constants of the public ``ela_spikesim.py``."""


@dataclass(frozen=True)
class SpikeSimNetwork:
    """A network as SpikeSim describes it: per layer input/output channels and spatial sizes.

    Parameters
    ----------
    in_channels, out_channels : tuple of int, shape (L,)
    in_dims, out_dims : tuple of int, shape (L,)
        Square feature-map side lengths (``H = W``).
    kernel_size : int
        Convolution kernel side ``k``; a PE holds ``k^2`` crossbars.
    time_steps : int
    """

    in_channels: tuple[int, ...]
    out_channels: tuple[int, ...]
    in_dims: tuple[int, ...]
    out_dims: tuple[int, ...]
    kernel_size: int = 3
    time_steps: int = 5

    def __post_init__(self) -> None:
        n = len(self.in_channels)
        if n == 0:
            raise HwsimError("SpikeSimNetwork.in_channels=(): expected at least one layer")
        for name in ("in_channels", "out_channels", "in_dims", "out_dims"):
            values = tuple(getattr(self, name))
            if len(values) != n:
                raise HwsimError(
                    f"SpikeSimNetwork.{name} has {len(values)} entries: expected {n} "
                    "(one per layer, like in_channels)"
                )
            for i, v in enumerate(values):
                check_int(f"SpikeSimNetwork.{name}[{i}]", v)
            object.__setattr__(self, name, values)
        check_int("SpikeSimNetwork.kernel_size", self.kernel_size)
        check_int("SpikeSimNetwork.time_steps", self.time_steps)


VGG9_CIFAR10 = SpikeSimNetwork(
    in_channels=(3, 64, 64, 128, 128, 256, 256),
    out_channels=(64, 64, 128, 128, 256, 256, 256),
    in_dims=(32, 32, 16, 16, 8, 8, 8),
    out_dims=(32, 16, 16, 8, 8, 8, 4),
    kernel_size=3,
    time_steps=5,
)
"""The script's example: VGG9 on CIFAR-10 with 5 time steps (its convolutional layers)."""


@dataclass(frozen=True)
class SpikeSimArea:
    """Area results of SpikeSim's ``compute_area``, in um^2."""

    neuron_memory_um2: float
    pe_and_subtractor_um2: float
    digital_um2: float
    total_um2: float


@dataclass(frozen=True)
class SpikeSimResult:
    """Everything the SpikeSim formulas give for one network."""

    pes_per_layer: tuple[int, ...]
    tiles: int
    pe_cycle_energy_pJ: float
    energy_per_layer_pJ: tuple[float, ...]
    area: SpikeSimArea
    latency_ns: float

    @property
    def energy_pJ(self) -> float:
        """Total energy over the layers (pJ)."""
        return float(sum(self.energy_per_layer_pJ))


def _pes(net: SpikeSimNetwork, xbar_size: int) -> tuple[int, ...]:
    return tuple(
        math.ceil(ci / xbar_size) * math.ceil(co / xbar_size)
        for ci, co in zip(net.in_channels, net.out_channels)
    )


def spikesim_tiles(net: SpikeSimNetwork, xbar_size: int = 64, pes_per_tile: int = 8) -> int:
    """Number of tiles: ``ceil(sum_l ceil(C_in/X) ceil(C_out/X) / pes_per_tile)``.

    Raises
    ------
    HwsimError
        If the PE counts decrease over the layers (SpikeSim refuses such networks).
    """
    check_int("xbar_size", xbar_size)
    check_int("pes_per_tile", pes_per_tile)
    pes = _pes(net, xbar_size)
    if list(pes) != sorted(pes):
        raise HwsimError(
            f"SpikeSim PE counts per layer {list(pes)}: expected non-decreasing over the layers "
            "(SpikeSim's mapping refuses other orders)"
        )
    return math.ceil(sum(pes) / pes_per_tile)


def spikesim_pe_cycle_energy_pJ(
    xbar_size: int = 64,
    kernel_size: int = 3,
    device: str = "rram",
    c: SpikeSimConstants = SPIKESIM_CONSTANTS,
) -> float:
    """Energy of one SpikeSim PE cycle (pJ).

    ``E_PE = k^2 E_xbar + (X/8)(E_ADC + E_MUX)``;
    ``E_cycle = E_Htree + E_fetch + E_neuron + (X/8) E_PE + (X/8) 16 E_sub + (X/8) E_tmp``
    ``+ E_tilebuf``.
    """
    check_choice("device", device, ("rram", "sram"))
    e_xbar = c.xbar_energy_pJ_rram if device == "rram" else c.xbar_energy_pJ_sram
    groups = xbar_size / 8
    e_pe = kernel_size**2 * e_xbar + groups * (c.adc_energy_pJ + c.mux_energy_pJ)
    return (
        c.htree_energy_pJ
        + c.mem_fetch_energy_pJ
        + c.neuron_energy_pJ
        + groups * e_pe
        + groups * 16 * c.subtractor_energy_pJ
        + groups * c.temporal_buffer_energy_pJ
        + c.tile_buffer_energy_pJ
    )


def spikesim_energy_pJ(
    net: SpikeSimNetwork,
    xbar_size: int = 64,
    device: str = "rram",
    c: SpikeSimConstants = SPIKESIM_CONSTANTS,
) -> tuple[float, ...]:
    """Per-layer energy (pJ), shape (L,): ``ceil(C_out/X) ceil(C_in/X) H_out W_out E_cycle T``."""
    e_cycle = spikesim_pe_cycle_energy_pJ(xbar_size, net.kernel_size, device, c)
    return tuple(
        float(p * d * d * e_cycle * net.time_steps)
        for p, d in zip(_pes(net, xbar_size), net.out_dims)
    )


def spikesim_area_um2(
    net: SpikeSimNetwork,
    xbar_size: int = 64,
    pes_per_tile: int = 8,
    device: str = "rram",
    c: SpikeSimConstants = SPIKESIM_CONSTANTS,
) -> SpikeSimArea:
    """Area as SpikeSim's ``compute_area`` (um^2).

    ``A_PE = k^2 A_xbar + (X/8)(A_ADC + A_MUX)``;
    ``A_tile = (X/8) A_sub + A_tmp + A_tilebuf + pes_per_tile A_PE + A_Htree``;
    ``total = tiles A_tile + sum_l C_in H_in^2 m + sum_{l<5} C_out H_out^2 m``
    with ``m = 0.7391 * 22``.
    """
    check_choice("device", device, ("rram", "sram"))
    tiles = spikesim_tiles(net, xbar_size, pes_per_tile)
    a_xbar = c.xbar_area_um2_rram if device == "rram" else c.xbar_area_um2_sram
    groups = xbar_size / 8
    a_pe = net.kernel_size**2 * a_xbar + groups * (c.adc_area_um2 + c.mux_area_um2)
    a_tile = (
        groups * c.subtractor_area_um2
        + c.temporal_buffer_area_um2
        + c.tile_buffer_area_um2
        + pes_per_tile * a_pe
        + c.htree_area_um2
    )
    per_value = c.memory_bit_area_um2 * c.memory_bits_per_value
    input_memory = float(np.sum(np.array(net.in_channels) * np.array(net.in_dims) ** 2)) * per_value
    first5 = slice(0, 5)
    neuron_memory = (
        float(np.sum(np.array(net.out_channels[first5]) * np.array(net.out_dims[first5]) ** 2))
        * per_value
    )
    total = a_tile * tiles + input_memory + neuron_memory
    digital = (c.temporal_buffer_area_um2 + c.tile_buffer_area_um2 + pes_per_tile * a_pe) * tiles
    return SpikeSimArea(
        neuron_memory_um2=neuron_memory,
        pe_and_subtractor_um2=(pes_per_tile * a_pe + groups * c.subtractor_area_um2) * tiles,
        digital_um2=digital + input_memory,
        total_um2=total,
    )


def spikesim_latency_ns(net: SpikeSimNetwork, c: SpikeSimConstants = SPIKESIM_CONSTANTS) -> float:
    """End-to-end latency (ns) as SpikeSim's ``latency_gen`` (final-latency version).

    Layer ``l`` holds ``N_l = C_out H_out^2`` neurons. Its start checkpoint is
    ``sum_{j<l} int(0.75 N_j) T`` and its halt checkpoint is that plus ``N_l T``;
    the latency is the last layer's halt checkpoint times the PE cycle (104 ns).
    """
    neurons = [co * d * d for co, d in zip(net.out_channels, net.out_dims)]
    starts = np.cumsum([0] + [int(c.overlap_fraction * n) * net.time_steps for n in neurons[:-1]])
    halts = starts + np.array(neurons) * net.time_steps
    return float(halts[-1] * c.pe_cycle_ns)


def spikesim(
    net: SpikeSimNetwork = VGG9_CIFAR10,
    xbar_size: int = 64,
    pes_per_tile: int = 8,
    device: str = "rram",
    c: SpikeSimConstants = SPIKESIM_CONSTANTS,
) -> SpikeSimResult:
    """All SpikeSim results for ``net`` (defaults: the script's VGG9 example)."""
    return SpikeSimResult(
        pes_per_layer=_pes(net, xbar_size),
        tiles=spikesim_tiles(net, xbar_size, pes_per_tile),
        pe_cycle_energy_pJ=spikesim_pe_cycle_energy_pJ(xbar_size, net.kernel_size, device, c),
        energy_per_layer_pJ=spikesim_energy_pJ(net, xbar_size, device, c),
        area=spikesim_area_um2(net, xbar_size, pes_per_tile, device, c),
        latency_ns=spikesim_latency_ns(net, c),
    )
