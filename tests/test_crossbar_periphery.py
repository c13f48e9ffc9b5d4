"""DAC, ADC and shift-and-add."""

import numpy as np
import pytest

from crossbar import CrossbarError, PeripheryConfig
from crossbar.periphery import adc_quantize, dac_quantize, is_binary, normalise_inputs, shift_add


def test_binary_detection():
    assert is_binary(np.array([[0, 1, 1], [0, 0, 0]]))
    assert is_binary(np.array([[True, False]]))
    assert not is_binary(np.array([[0, 0.5]]))
    assert not is_binary(np.array([[0, -1]]))


def test_normalise_inputs_keeps_zero_rows():
    x = np.array([[0.0, 0.0], [2.0, -4.0]])
    xn, norm = normalise_inputs(x)
    np.testing.assert_array_equal(norm, [1.0, 4.0])
    np.testing.assert_array_equal(xn * norm[:, None], x)


@pytest.mark.parametrize("bits", [2, 3, 8])
def test_dac_error_within_half_step_and_levels(bits):
    x = np.linspace(-1, 1, 1001)[None]
    q = dac_quantize(x, bits)
    n = 2 ** (bits - 1) - 1
    assert np.abs(q - x).max() <= 0.5 / n + 1e-12
    assert np.unique(q).size == 2 * n + 1
    np.testing.assert_array_equal(dac_quantize(x, None), x)


@pytest.mark.parametrize("bits", [2, 4, 10])
def test_adc_quantises_within_half_step_and_clips(bits):
    fs = 3.0
    i = np.linspace(-2 * fs, 2 * fs, 4001)
    q = adc_quantize(i, bits, fs)
    n = 2 ** (bits - 1) - 1
    inside = np.abs(i) <= fs
    assert np.abs(q - i)[inside].max() <= fs / n / 2 + 1e-12
    np.testing.assert_allclose(q[i > fs], fs)
    np.testing.assert_allclose(q[i < -fs], -fs)
    np.testing.assert_array_equal(adc_quantize(i, None, fs), i)
    with pytest.raises(CrossbarError, match="full_scale"):
        adc_quantize(i, bits, 0.0)


def test_shift_add():
    partials = np.array([[1.0, 2.0], [3.0, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(shift_add(partials, 4), [1 + 12 + 16, 2 + 16])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dac_bits": 1}, "dac_bits"),
        ({"adc_bits": 0}, "adc_bits"),
        ({"adc_bits": 4.0}, "adc_bits"),
        ({"adc_full_scale_fraction": 0.0}, "adc_full_scale_fraction"),
        ({"adc_full_scale_fraction": 1.5}, "adc_full_scale_fraction"),
        ({"columns_per_adc": 0}, "columns_per_adc"),
    ],
)
def test_bad_periphery_config_raises(kwargs, match):
    with pytest.raises(CrossbarError, match=match):
        PeripheryConfig(**kwargs)
