"""The measured chip: Wan 2022 spread and relaxation, calibrated converters, updates that are
not lost, and a fast IR-drop model that is never silently wrong.

Statistical checks use bounds of ``Z`` standard errors (two-sided false-alarm rate ~6e-7 each).
"""

import warnings

import numpy as np
import pytest
from scipy import stats

from crossbar import (
    NEURRAM_HFO2,
    CrossbarArray,
    CrossbarConfig,
    CrossbarError,
    CrossbarWarning,
    ExactIRDropSolver,
    MappingConfig,
    NoiseConfig,
    PeripheryConfig,
    UpdateConfig,
    fast_effective_conductance,
)
from crossbar.noise import WAN2022_FITS, wan2022_sigma_uS
from crossbar.update import coincidence_pulses, whole_pulses

Z = 5.0
QUIET = NoiseConfig.ideal()
LINEAR = NEURRAM_HFO2.replace(nonlinearity_ltp=0.0, nonlinearity_ltd=0.0)


def _chi2_bounds(n: int) -> tuple[float, float]:
    """Bounds on ``s^2 / sigma^2`` for ``n`` Gaussian samples."""
    return tuple(stats.chi2.ppf([stats.norm.cdf(-Z), stats.norm.cdf(Z)], n - 1) / (n - 1))


def test_wan2022_coefficients_are_aihwkits_fits():
    """The numbers of aihwkit's ReRamWan2022NoiseModel (IBM/aihwkit reram.py, 0c9de57)."""
    assert WAN2022_FITS[1.0] == (0.348, 16.030, -43.853, 45.393, -16.815)
    assert WAN2022_FITS[86400.0] == (0.701, 22.086, -50.773, 47.095, -16.458)
    assert WAN2022_FITS[172800.0] == (0.782, 20.274, -43.507, 37.062, -11.934)
    # interpolation is linear in log10(t): half-way in log time is the mean of the fits
    g = np.linspace(0, 40, 9)
    mid = wan2022_sigma_uS(g, np.sqrt(86400.0))
    np.testing.assert_allclose(
        mid, 0.5 * (wan2022_sigma_uS(g, 1.0) + wan2022_sigma_uS(g, 86400.0)), rtol=1e-12
    )
    # below the earliest measurement the 1 s fit holds
    np.testing.assert_array_equal(wan2022_sigma_uS(g, 0.0), wan2022_sigma_uS(g, 1.0))


@pytest.mark.parametrize("age_s", [1.0, 86400.0])
def test_sampled_spread_matches_the_published_fit(age_s):
    """Cells programmed to one level: mean at the target, variance sigma_t(g)^2 (chi-square)."""
    dev = NEURRAM_HFO2
    n_levels = dev.n_levels
    # every weight on one level k (positive weights on G+), many weights per level
    levels = np.array([3, 8, 15])
    w = np.repeat(levels.astype(float), 20_000).reshape(3, -1)  # [3, 20000]
    cfg = CrossbarConfig(mapping=MappingConfig(w_max=float(n_levels - 1)))
    arr = CrossbarArray(w, dev, cfg, seed=11, dtype=np.float64)
    arr.set_time(age_s)
    g = arr.conductances_uS[0, 0]  # G+ cells [3, 20000]
    target = dev.g_min_uS + levels * dev.level_step_uS
    sigma = wan2022_sigma_uS(target, age_s, dev.g_max_uS)
    n = w.shape[1]
    lo, hi = _chi2_bounds(n)
    for row in range(3):
        err = g[row] - target[row]
        assert abs(err.mean()) < Z * sigma[row] / np.sqrt(n)
        assert lo < err.var(ddof=1) / sigma[row] ** 2 < hi


def test_relaxation_keeps_the_programming_error_and_adds_an_independent_part():
    dev = NEURRAM_HFO2
    w = np.full((1, 50_000), 8.0)
    arr = CrossbarArray(w, dev, CrossbarConfig(mapping=MappingConfig(w_max=15.0)), seed=3)
    g1 = arr.conductances_uS[0, 0, 0].copy()
    arr.set_time(86400.0)
    g2 = arr.conductances_uS[0, 0, 0]
    target = dev.g_min_uS + 8 * dev.level_step_uS
    expected = wan2022_sigma_uS(target, 1.0) / wan2022_sigma_uS(target, 86400.0)
    r = np.corrcoef(g1, g2)[0, 1]
    assert abs(r - expected) < Z * (1 - expected**2) / np.sqrt(w.size)  # se of a correlation


def test_relaxation_is_evaluated_at_the_stated_time_resolution():
    """Cells are re-evaluated when their age has grown by more than ``time_step_decades``;
    between re-evaluations they keep their last value, and at a re-evaluation they equal the
    exact chip (resolution 0) at that moment."""
    w = np.random.default_rng(0).uniform(-1, 1, (20, 30))

    def chip(step: float) -> CrossbarArray:
        return CrossbarArray(w, config=CrossbarConfig(noise=NoiseConfig(
            time_step_decades=step)), seed=4)

    coarse, exact = chip(0.05), chip(0.0)
    last = coarse.conductances_uS
    np.testing.assert_array_equal(last, exact.conductances_uS)
    t_eval, refreshes = 1.0, 0
    for t in np.geomspace(2.0, 2e4, 200):  # 0.02 decades apart
        coarse.set_time(t)
        exact.set_time(t)
        g = coarse.conductances_uS
        if np.log10(t) - np.log10(t_eval) > 0.05:  # every cell programmed at 0: all stale
            np.testing.assert_array_equal(g, exact.conductances_uS)
            t_eval, refreshes = t, refreshes + 1
        else:
            np.testing.assert_array_equal(g, last)
        last = g
    assert 60 <= refreshes <= 100  # 4 decades / 0.05, rounded up to the 0.02 grid
    # a programmed cell restarts its own clock and is re-evaluated on its own schedule
    coarse.apply_update(np.full(w.shape, 0.2))
    assert not np.array_equal(coarse.conductances_uS, last)


def test_times_past_the_data_warn_and_bad_times_raise():
    arr = CrossbarArray(np.ones((2, 3)), seed=0)
    arr.set_time(172800.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr.get_weights()  # within the data: no warning
    with pytest.warns(CrossbarWarning, match="beyond the last fitted time"):
        arr.set_time(7 * 86400.0)  # cached conductances are re-evaluated here
        arr.get_weights()
    with pytest.raises(CrossbarError, match=r"time_s=-1.0: expected a finite time >= "):
        CrossbarArray(np.ones((2, 3)), seed=0).set_time(-1.0)
    with pytest.raises(CrossbarError, match="age_s"):
        wan2022_sigma_uS(1.0, -5.0)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: NoiseConfig(noise_model="lognormal"), r"noise_model='lognormal': expected one of"),
        (lambda: NoiseConfig(prog_sigma_rel=0.3), "prog_sigma_rel=0.3: expected 0.0 with"),
        (lambda: NoiseConfig(prog_noise_scale=-1.0), "prog_noise_scale"),
        (lambda: PeripheryConfig(calibration_percentile=0.0), r"expected a value in \(0, 100\]"),
        (lambda: PeripheryConfig(calibration_percentile=100.5), "calibration_percentile=100.5"),
        (lambda: PeripheryConfig(adc_range="auto"), "adc_range"),
        (lambda: UpdateConfig(mode="coincidence", bit_length=0), "bit_length=0: expected an int >= 1"),
        (lambda: UpdateConfig(mode="pulse"), "mode='pulse': expected one of"),
        (lambda: CrossbarConfig(ir_fast_fallback="ignore"), "ir_fast_fallback"),
    ],
)
def test_bad_chip_settings_name_key_value_and_expectation(make, match):
    with pytest.raises(CrossbarError, match=match):
        make()


# ----------------------------------------------------------------------------- updates
def _linear_array(mode: str, w: np.ndarray, **update) -> CrossbarArray:
    cfg = CrossbarConfig(
        noise=QUIET,
        mapping=MappingConfig(quantize=False, w_max=1.0),
        update=UpdateConfig(mode=mode, **update),
    )
    return CrossbarArray(w, LINEAR, cfg, seed=0, dtype=np.float64)


def test_accumulated_sub_pulse_updates_move_the_weight_within_one_pulse():
    """50 updates of 0.4 pulse: accumulate moves 20 pulses (within one); nearest moves none."""
    w = np.zeros((4, 5))
    moved = {}
    for mode in ("accumulate", "nearest"):
        arr = _linear_array(mode, w)
        pulse_w = arr.scales[0] * (LINEAR.g_range_uS / LINEAR.n_pulses_full_range) / (
            LINEAR.level_step_uS
        )
        for _ in range(50):
            arr.apply_update(np.full(w.shape, 0.4 * pulse_w))
        moved[mode] = (arr.get_weights() - w) / pulse_w
        if mode == "accumulate":
            tot = arr.counters.totals()
            assert tot["accumulator_reads"] == tot["accumulator_writes"] == 50 * w.size
            # one pulse every 2.5 updates (the float sum of fifty 0.4 may end just below 20)
            assert 19 * w.size <= tot["transfers"] <= 20 * w.size
    assert np.all(np.abs(moved["accumulate"] - 20.0) < 1.0)
    np.testing.assert_allclose(moved["nearest"], 0.0, atol=1e-9)


def test_stochastic_rounding_mean_equals_the_request():
    rng = np.random.default_rng(5)
    request = np.array([0.3, -1.7, 2.05, 0.0])
    n = 200_000
    k = np.stack([whole_pulses(request, "stochastic", rng) for _ in range(50)])
    k = np.concatenate([k, whole_pulses(np.tile(request, (n, 1)), "stochastic", rng)])
    frac = request - np.floor(request)
    se = np.sqrt(frac * (1 - frac) / k.shape[0])
    assert np.all(np.abs(k.mean(axis=0) - request) <= Z * se + 1e-12)
    assert set(np.unique(k[:, 1])) <= {-2.0, -1.0}
    # through the array: counts one draw per weight per update
    arr = _linear_array("stochastic", np.zeros((3, 4)))
    arr.apply_update(np.full((3, 4), 1e-3))
    assert arr.counters.totals()["rounding_draws"] == 12


@pytest.mark.parametrize("bit_length", [1, 10, 31])
def test_pulse_coincidence_expectation_equals_the_outer_product(bit_length):
    """Mean count per cell equals a_i b_j; per cell the count is Binomial(cycles, p_i q_j)."""
    rng = np.random.default_rng(bit_length)
    a = np.array([2.0, -0.5, 0.0, 1.2])
    b = np.array([3.0, 1.0, -2.5])  # largest count 6 pulses: several rounds when BL < 6
    n = 20_000
    total = np.zeros((4, 3))
    for _ in range(n):
        k, rounds = coincidence_pulses(a, b, bit_length, rng)
        total += k
    assert rounds == int(np.ceil(6.0 / bit_length))
    outer = np.outer(a, b)
    cycles = rounds * bit_length
    pq = np.abs(outer) / cycles
    se = np.sqrt(cycles * pq * (1 - pq) / n)
    assert np.all(np.abs(total / n - outer) <= Z * se + 1e-12)


def test_coincidence_update_through_the_array_counts_cycles_and_bits():
    arr = _linear_array("coincidence", np.zeros((3, 4)), bit_length=8)
    pulse_w = arr.scales[0] * (LINEAR.g_range_uS / LINEAR.n_pulses_full_range) / LINEAR.level_step_uS
    x = np.array([[1.0, 0.5, 0.0, -1.0]])
    d = np.array([[2.0, -1.0, 0.5]])
    arr.apply_outer_update(x, d, scale=pulse_w)  # two pulses at most: one round of BL = 8
    tot = arr.counters.totals()
    assert tot["pulse_cycles"] == 8 and tot["stochastic_bits"] == 8 * (4 + 3)
    assert tot["updates"] == 1
    moved = arr.get_weights() / pulse_w
    assert np.all(np.sign(moved) * np.sign(d.T @ x) >= 0)  # a coincidence moves the right way
    assert np.all(np.abs(moved) <= 8 + 1e-9)
    # a general dW goes through its SVD: a rank-one dW is one term
    arr.reset_counters()
    arr.apply_update(pulse_w * d.T @ x)
    assert arr.counters.totals()["pulse_cycles"] == 8


# ----------------------------------------------------------------------------- calibration
def test_calibrated_adc_range_is_the_percentile_of_measured_currents():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((20, 40))
    x = (rng.random((300, 40)) < 0.2).astype(float)
    per = PeripheryConfig(adc_bits=6, adc_range="calibrated", calibration_percentile=99.0)
    cfg = CrossbarConfig(noise=QUIET, periphery=per, tile_rows=40, tile_cols=20)
    arr = CrossbarArray(w, config=cfg, seed=0, dtype=np.float64)
    with pytest.raises(CrossbarError, match="calibrate"):
        arr.forward(x)
    arr.calibrate(x)
    # the calibrated full scale in weight units: 99th percentile of |x @ Wq.T|
    wq = arr.get_weights()
    fs_w = np.percentile(np.abs(x @ wq.T), 99.0)
    y = arr.forward(x)
    assert np.abs(y).max() <= fs_w * (1 + 1e-9)
    inside = np.abs(x @ wq.T) <= fs_w
    step = fs_w / (2**5 - 1)
    assert np.all(np.abs(y - x @ wq.T)[inside] <= step / 2 * (1 + 1e-9))
    assert np.mean(~inside) <= 0.01 + 1e-12
    # and it resolves better than the largest-possible range
    worst = CrossbarArray(
        w, config=CrossbarConfig(noise=QUIET, periphery=PeripheryConfig(adc_bits=6)), seed=0
    )
    exact = x @ wq.T
    assert np.linalg.norm(y - exact) < np.linalg.norm(worst.forward(x) - exact) / 3


def test_layer_scope_shares_one_range_and_dac_calibration_clips():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((10, 30))
    x = rng.standard_normal((200, 30))
    per = PeripheryConfig(
        adc_bits=8, adc_range="calibrated", calibration_scope="layer", dac_range="calibrated",
        dac_bits=8, calibration_percentile=95.0,
    )
    arr = CrossbarArray(
        w, config=CrossbarConfig(noise=QUIET, periphery=per, tile_rows=10), seed=0, dtype=np.float64
    )
    arr.calibrate(x)
    assert len({v for v in arr._adc_fs.values()}) == 1 and len(arr._adc_fs) == 3
    fs_x = np.percentile(np.abs(x), 95.0)
    assert arr._dac_fs[False] == fs_x
    # an input beyond the DAC range reads exactly as its clipped value (same DAC codes)
    big = 10 * x[:5]
    np.testing.assert_array_equal(arr.forward(big), arr.forward(np.clip(big, -fs_x, fs_x)))


# ----------------------------------------------------------------------------- IR drop
def _wires(r):
    return {"r_row_ohm": r, "r_col_ohm": r, "r_driver_ohm": r, "r_sense_ohm": r}


def test_fast_ir_model_falls_back_or_raises_when_not_contracting():
    """A 32x32 array of up to 100 uS cells with 50 ohm wires (ratio of changes about 2.8)."""
    g = np.random.default_rng(0).uniform(1e-6, 100e-6, (32, 32))
    with pytest.warns(CrossbarWarning, match="stopped contracting.*exact nodal solve"):
        t = fast_effective_conductance(g, **_wires(50.0))
    np.testing.assert_allclose(t, ExactIRDropSolver(g, **_wires(50.0)).transfer_matrix(), rtol=1e-12)
    with pytest.raises(CrossbarError, match="stopped contracting"):
        fast_effective_conductance(g, **_wires(50.0), on_failure="raise")
    with pytest.raises(CrossbarError, match="did not reach its tolerance"):
        fast_effective_conductance(g, **_wires(0.35), max_iter=2, on_failure="raise")


@pytest.mark.parametrize("n, r", [(64, 1.0), (64, 5.0), (128, 0.35), (128, 1.0)])
def test_fast_ir_model_matches_the_exact_solve_where_it_converges(n, r):
    """Binary drive (not the uniform drive the model assumes): within 1 % of the column
    currents, at least 20 times closer than ignoring the wires."""
    rng = np.random.default_rng(n)
    g = rng.uniform(1e-6, 40e-6, (n, n))
    v = 0.2 * (rng.random((16, n)) < 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = v @ fast_effective_conductance(g, **_wires(r))
    exact = ExactIRDropSolver(g, **_wires(r)).currents(v)
    err = np.abs(fast - exact).mean() / np.abs(exact).mean()
    assert err < 0.01
    assert err < np.abs(v @ g - exact).mean() / np.abs(exact).mean() / 20


def test_array_fast_ir_falls_back_with_a_warning():
    dev = NEURRAM_HFO2.replace(
        g_max_uS=100.0, r_wire_row_ohm=50.0, r_wire_col_ohm=50.0, r_driver_ohm=50.0,
        r_sense_ohm=50.0,
    )
    w = np.random.default_rng(1).uniform(0.5, 1.0, (32, 32))
    x = (np.random.default_rng(2).random((4, 32)) < 0.5).astype(float)
    arrays = {
        m: CrossbarArray(w, dev, CrossbarConfig(noise=QUIET, ir_drop=m), seed=0, dtype=np.float64)
        for m in ("fast", "exact")
    }
    with pytest.warns(CrossbarWarning, match="fast IR-drop model"):
        fast = arrays["fast"].forward(x)
    np.testing.assert_allclose(fast, arrays["exact"].forward(x), rtol=1e-9)
    raising = CrossbarArray(
        w, dev, CrossbarConfig(noise=QUIET, ir_drop="fast", ir_fast_fallback="raise"), seed=0
    )
    with pytest.raises(CrossbarError, match="fast IR-drop model"):
        raising.forward(x)
