"""Weights <-> conductances: round trip within half an LSB, bounds, boundary cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossbar import NEURRAM_HFO2, CrossbarError, MappingConfig
from crossbar.mapping import (
    conductances_to_weights,
    levels_to_weights,
    tile_slices,
    weight_scales,
    weights_to_conductances,
    weights_to_levels,
)

MAPPINGS = [
    MappingConfig(),
    MappingConfig(scaling="column"),
    MappingConfig(scheme="offset"),
    MappingConfig(scheme="offset", scaling="column"),
    MappingConfig(n_slices=2),
    MappingConfig(n_slices=3, scaling="column"),
]


@pytest.mark.parametrize("mapping", MAPPINGS, ids=str)
@pytest.mark.parametrize("n_levels", [3, 4, 16])
def test_round_trip_within_half_lsb_and_bounds(mapping, n_levels):
    dev = NEURRAM_HFO2.replace(n_levels=n_levels)
    rng = np.random.default_rng(n_levels)
    w = rng.standard_normal((7, 11)) * rng.uniform(0.1, 3.0, size=(7, 1))
    g, scales = weights_to_conductances(w, dev, mapping)
    assert g.shape == (mapping.n_slices, mapping.n_polarities, 7, 11)
    assert g.min() >= dev.g_min_uS and g.max() <= dev.g_max_uS
    # every cell sits on a device level
    lv = (g - dev.g_min_uS) / dev.level_step_uS
    np.testing.assert_allclose(lv, np.rint(lv), atol=1e-9)
    back = conductances_to_weights(g, scales, dev, mapping)
    lsb = scales[:, None] * np.ones_like(w)
    assert np.all(np.abs(back - w) <= lsb / 2 * (1 + 1e-12))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(2, 9),
    st.integers(1, 3),
    st.sampled_from(["array", "column"]),
    st.integers(0, 2**31 - 1),
)
def test_round_trip_property(n_out, n_in, n_levels, n_slices, scaling, seed):
    dev = NEURRAM_HFO2.replace(n_levels=n_levels)
    mapping = MappingConfig(n_slices=n_slices, scaling=scaling)
    w = np.random.default_rng(seed).uniform(-2, 2, (n_out, n_in))
    g, scales = weights_to_conductances(w, dev, mapping)
    assert g.min() >= dev.g_min_uS and g.max() <= dev.g_max_uS
    back = conductances_to_weights(g, scales, dev, mapping)
    assert np.all(np.abs(back - w) <= scales[:, None] / 2 * (1 + 1e-12))


def test_unquantised_mapping_is_exact():
    w = np.random.default_rng(1).standard_normal((5, 9))
    mapping = MappingConfig(quantize=False)
    g, scales = weights_to_conductances(w, NEURRAM_HFO2, mapping)
    np.testing.assert_allclose(
        conductances_to_weights(g, scales, NEURRAM_HFO2, mapping), w, rtol=1e-12, atol=1e-14
    )


def test_bit_slices_are_base_L_digits():
    dev = NEURRAM_HFO2.replace(n_levels=4)
    mapping = MappingConfig(n_slices=2)
    w = np.array([[15.0, -6.0, 0.0, 1.0]])
    scales = weight_scales(w, mapping, dev)
    assert scales[0] == pytest.approx(1.0)  # 15 / (4**2 - 1)
    lv = weights_to_levels(w, mapping, dev, scales)
    # 15 = 3 + 3*4 (positive cells), -6 = 2 + 1*4 (negative cells)
    np.testing.assert_array_equal(lv[:, 0, 0], [[3, 0, 0, 1], [3, 0, 0, 0]])
    np.testing.assert_array_equal(lv[:, 1, 0], [[0, 2, 0, 0], [0, 1, 0, 0]])
    np.testing.assert_allclose(levels_to_weights(lv, mapping, dev, scales), w)


def test_one_level_device_maps_everything_to_zero_at_g_min():
    dev = NEURRAM_HFO2.replace(n_levels=1)
    w = np.random.default_rng(2).standard_normal((4, 4))
    g, scales = weights_to_conductances(w, dev)
    np.testing.assert_array_equal(g, dev.g_min_uS)
    np.testing.assert_array_equal(conductances_to_weights(g, scales, dev), 0.0)


def test_zero_weights_and_fixed_w_max_clip():
    g, scales = weights_to_conductances(np.zeros((2, 3)), NEURRAM_HFO2)
    np.testing.assert_array_equal(g, NEURRAM_HFO2.g_min_uS)
    mapping = MappingConfig(w_max=1.0)
    w = np.array([[0.5, 3.0, -3.0]])
    g, scales = weights_to_conductances(w, NEURRAM_HFO2, mapping)
    back = conductances_to_weights(g, scales, NEURRAM_HFO2, mapping)
    np.testing.assert_allclose(back[0, 1:], [1.0, -1.0])
    assert g.max() <= NEURRAM_HFO2.g_max_uS


def test_column_scaling_uses_each_outputs_range():
    w = np.array([[1.0, -0.5], [100.0, 50.0]])
    scales = weight_scales(w, MappingConfig(scaling="column"), NEURRAM_HFO2)
    np.testing.assert_allclose(scales, [1.0 / 15, 100.0 / 15])


def test_tile_slices_cover_the_range():
    assert tile_slices(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert tile_slices(4, 4) == [slice(0, 4)]
    with pytest.raises(CrossbarError, match="tile size"):
        tile_slices(4, 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scheme": "single"}, "scheme"),
        ({"scaling": "row"}, "scaling"),
        ({"n_slices": 0}, "n_slices"),
        ({"n_slices": 2, "quantize": False}, "n_slices"),
        ({"n_slices": 2, "scheme": "offset"}, "n_slices"),
        ({"w_max": -1.0}, "w_max"),
    ],
)
def test_bad_mapping_config_raises(kwargs, match):
    with pytest.raises(CrossbarError, match=match):
        MappingConfig(**kwargs)


def test_offset_needs_three_levels_and_weights_must_be_finite():
    with pytest.raises(CrossbarError, match="n_levels >= 3"):
        weights_to_conductances(
            np.ones((2, 2)), NEURRAM_HFO2.replace(n_levels=2), MappingConfig(scheme="offset")
        )
    with pytest.raises(CrossbarError, match="weights"):
        weights_to_conductances(np.array([[np.nan]]), NEURRAM_HFO2)
