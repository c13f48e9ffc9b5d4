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


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_compiled_binary_test_and_normalisation_equal_numpy_bitwise(dtype):
    """is_binary and normalise_inputs (compiled) against the NumPy expressions they
    replace: ``all((x == 0) | (x == 1))``; ``norm = where(max|x| > 0, max|x|, 1)``,
    ``x / norm`` (rows of zeros, NaN and infinities included for floats)."""
    rng = np.random.default_rng(1)
    scale = 10.0 ** rng.integers(-30, 30, (30, 1)) if np.dtype(dtype).kind == "f" else 1e3
    x = (rng.standard_normal((30, 17)) * scale).astype(dtype)
    x[3] = 0
    x[4, ::2] = 0
    x[5] = rng.random(17) < 0.5
    if np.issubdtype(x.dtype, np.floating):
        x[6, 3], x[7, 2], x[8, 5] = np.nan, np.inf, -np.inf
    for rows in (x, x[5:6], (x[:, :4] != 0).astype(dtype), x[:, :0]):
        assert is_binary(rows) == bool(np.all((rows == 0) | (rows == 1)))
        ref = rows if rows.dtype.kind == "f" else rows.astype(np.float64)
        with np.errstate(invalid="ignore"):
            top = np.abs(ref).max(axis=1) if ref.shape[1] else np.zeros(ref.shape[0], ref.dtype)
            norm = np.where(top > 0, top, ref.dtype.type(1))
            want = ref / norm[:, None]
            xn, got = normalise_inputs(rows)
        assert xn.dtype == got.dtype == ref.dtype
        np.testing.assert_array_equal(got.view(np.uint8), norm.view(np.uint8))
        np.testing.assert_array_equal(xn.view(np.uint8), want.view(np.uint8))


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
