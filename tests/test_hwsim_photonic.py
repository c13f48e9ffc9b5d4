"""Optical DFA cost model (hwsim.photonic): hand-computed step costs and the crossover."""

import math

import pytest

from hwsim.errors import HwsimError
from hwsim.photonic import (
    LIGHTON_OPU,
    V100,
    ElectronicTech,
    OpticalTech,
    crossover_width,
    step_costs,
)


def test_step_costs_by_hand():
    gpu = ElectronicTech(peak_TFLOPS=1.0, utilisation=1.0, power_W=100.0)
    opu = OpticalTech(frame_rate_Hz=1000.0, power_W=10.0, host_link_GBps=1.0)
    c = step_costs([4, 3, 5, 2], batch=10, optical=opu, gpu=gpu)
    fwd = 2 * 10 * (4 * 3 + 3 * 5 + 5 * 2)            # 740 FLOPs
    assert c["bp"].time_s == pytest.approx((fwd + fwd + 2 * 10 * (3 * 5 + 5 * 2)) / 1e12)
    assert c["dfa"].parts_s["projection"] == pytest.approx(2 * 10 * 2 * (3 + 5) / 1e12)
    frames = 10 * 2 * 2                                 # two binary inputs, two frames each
    assert c["optical_dfa"].parts_s["opu_frames"] == pytest.approx(frames / 1000.0)
    link = (frames * 8 * 8 / 8 + 10 * 2 * 2 / 8) / 1e9  # camera bytes + input bits
    assert c["optical_dfa"].parts_s["transfer"] == pytest.approx(link)
    assert c["optical_dfa"].energy_J == pytest.approx(2 * fwd / 1e12 * 100 + frames / 1000 * 10)
    assert c["bp"].energy_J == pytest.approx(c["bp"].time_s * 100)


def test_tiling_multiplies_frames_when_the_projection_exceeds_the_device():
    opu = OpticalTech(max_inputs=4, max_outputs=10)
    small = step_costs([3, 10, 4], 1, opu)["optical_dfa"].parts_s["opu_frames"]
    tiled = step_costs([3, 11, 5], 1, opu)["optical_dfa"].parts_s["opu_frames"]
    assert tiled == pytest.approx(4 * small)  # 2 input tiles x 2 output tiles


def test_optics_never_wins_for_a_small_classifier_but_wins_with_a_vocabulary():
    # 10 classes: the projection is cheaper on the GPU than the frames at any width here.
    assert crossover_width(4, 10, 784, 64, "dfa", max_width=1 << 18) is None
    n = crossover_width(8, 50257, 1024, 64, "dfa")
    assert n is not None
    def f(w):
        return step_costs([1024, *[w] * 8, 50257], 64)

    assert f(n)["optical_dfa"].time_s < f(n)["dfa"].time_s
    assert f(n - 1)["optical_dfa"].time_s >= f(n - 1)["dfa"].time_s
    # Against BP optics wins earlier than against electronic DFA (BP also pays the chain).
    assert crossover_width(8, 50257, 1024, 64, "bp") <= n


def test_presets_cite_every_constant_and_bad_input_is_refused():
    for preset in (LIGHTON_OPU, V100):
        numeric = [k for k, v in vars(preset).items() if isinstance(v, (int, float))]
        assert set(numeric) <= set(preset.sources)
    assert LIGHTON_OPU.frame_rate_Hz * 2 * 1e12 == pytest.approx(1500e12)
    with pytest.raises(HwsimError, match="widths"):
        step_costs([3, 4], 1)
    with pytest.raises(HwsimError, match="utilisation"):
        ElectronicTech(utilisation=1.5)
    with pytest.raises(HwsimError, match="against"):
        crossover_width(2, 10, 10, 1, "sfdfa")
    assert math.isfinite(step_costs([3, 4, 2], 1)["bp"].time_s)
