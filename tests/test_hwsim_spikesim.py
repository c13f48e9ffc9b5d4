"""SpikeSim's ELA formulas for its VGG9 example.

Expected values are recomputed here independently from the formulas and constants of
``ela_spikesim.py`` (Intelligent-Computing-Lab-Yale/SpikeSim), and compared with the totals that
script prints:
running Intelligent-Computing-Lab-Yale/SpikeSim ``SNN_train_infer_quantization_ela/ela_spikesim.py``
(commit ec70d30) on 2026-11-28 printed 6 tiles, ``total_compute_area 8425528.755833998 um^2``,
``total_energy 15906934.026240002 pJ`` and ``Final Latency 62832640.0 ns``.
"""

import math

import pytest

from hwsim import HwsimError
from hwsim.components import mvm_latency_ns
from hwsim.spikesim import (
    SPIKESIM_CONSTANTS,
    VGG9_CIFAR10,
    SpikeSimNetwork,
    spikesim,
    spikesim_tiles,
)
from hwsim.tech import SPIKESIM_65NM

C_IN = [3, 64, 64, 128, 128, 256, 256]
C_OUT = [64, 64, 128, 128, 256, 256, 256]
D_IN = [32, 32, 16, 16, 8, 8, 8]
D_OUT = [32, 16, 16, 8, 8, 8, 4]
X, K, T, PES_PER_TILE = 64, 3, 5, 8


def expected_tiles():
    pes = [math.ceil(a / X) * math.ceil(b / X) for a, b in zip(C_IN, C_OUT)]
    assert pes == [1, 1, 2, 4, 8, 16, 16]
    return math.ceil(sum(pes) / PES_PER_TILE)


def expected_energy_per_layer():
    e_pe = K * K * 1.76423 + X / 8 * (2.03084 + 0.094245)
    e_cycle = (
        19.64 * 8 + 4.64 + 1.274 * 4.0 + X / 8 * e_pe + X / 8 * 16 * 1.15e-6 + X / 8 * 0.2 + 397
    )
    return [
        math.ceil(co / X) * math.ceil(ci / X) * d * d * e_cycle * T
        for ci, co, d in zip(C_IN, C_OUT, D_OUT)
    ]


def expected_area():
    a_pe = K * K * 26.2144 + X / 8 * (693.633 + 45.9)
    a_tile = X / 8 * 13411.41498 + 484.643999 + 0.7391 * 64 * 128 + PES_PER_TILE * a_pe + 216830 * 2
    inputs = sum(c * d * d for c, d in zip(C_IN, D_IN)) * 0.7391 * 22
    neurons = sum(c * d * d for c, d in zip(C_OUT[:5], D_OUT[:5])) * 0.7391 * 22
    return a_tile * expected_tiles() + inputs + neurons, neurons


def expected_latency_ns():
    pe_cycle_ns = 26 * 1000 / 250
    n = [c * d * d for c, d in zip(C_OUT, D_OUT)]
    start_last = sum(int(0.75 * x) * T for x in n[:-1])
    return (start_last + n[-1] * T) * pe_cycle_ns


def test_vgg9_tiles():
    assert spikesim_tiles(VGG9_CIFAR10) == expected_tiles() == 6


def test_vgg9_energy_matches_formula():
    result = spikesim()
    assert result.energy_per_layer_pJ == pytest.approx(expected_energy_per_layer(), rel=1e-9)
    assert result.energy_pJ == pytest.approx(sum(expected_energy_per_layer()), rel=1e-9)
    assert result.energy_pJ == pytest.approx(15906934.026240002, rel=1e-12)  # script output


def test_vgg9_area_matches_formula():
    total, neurons = expected_area()
    area = spikesim().area
    assert area.total_um2 == pytest.approx(total, rel=1e-9)
    assert area.neuron_memory_um2 == pytest.approx(neurons, rel=1e-9)
    assert area.total_um2 == pytest.approx(8425528.755833998, rel=1e-12)  # script output


def test_vgg9_latency_matches_formula():
    assert spikesim().latency_ns == pytest.approx(expected_latency_ns(), rel=1e-12)
    assert spikesim().latency_ns == pytest.approx(62_832_640.0, rel=1e-12)  # script output


def test_decreasing_pe_counts_rejected():
    net = SpikeSimNetwork(
        in_channels=(256, 64), out_channels=(256, 64), in_dims=(8, 8), out_dims=(8, 8)
    )
    with pytest.raises(HwsimError, match="non-decreasing"):
        spikesim_tiles(net)


def test_network_lengths_checked():
    with pytest.raises(HwsimError, match="out_channels"):
        SpikeSimNetwork(
            in_channels=(3, 64), out_channels=(64,), in_dims=(32, 32), out_dims=(32, 32)
        )


def test_event_preset_is_consistent_with_spikesim():
    """The per-event preset splits SpikeSim's per-array and per-cycle numbers without loss."""
    assert SPIKESIM_65NM.cell_read_energy_pJ * 64 * 64 == pytest.approx(
        SPIKESIM_CONSTANTS.xbar_energy_pJ_rram
    )
    assert SPIKESIM_65NM.cell_area_um2 * 64 * 64 == pytest.approx(
        SPIKESIM_CONSTANTS.xbar_area_um2_rram
    )
    assert SPIKESIM_65NM.adc_energy_pJ_ref * 8 == pytest.approx(SPIKESIM_CONSTANTS.adc_energy_pJ)
    # an activation of a 64-column array with 8 columns per 4-bit ADC is one SpikeSim PE cycle
    assert (
        mvm_latency_ns(8, 4, SPIKESIM_65NM)
        == pytest.approx(SPIKESIM_CONSTANTS.pe_cycle_ns)
        == pytest.approx(104.0)
    )
