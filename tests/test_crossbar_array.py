"""CrossbarArray: the SynapseBackend seam, ideal equality, zero-strength identity, counters, updates."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossbar import (
    NEURRAM_HFO2,
    CrossbarArray,
    CrossbarConfig,
    CrossbarError,
    CrossbarWarning,
    GPRNoiseModel,
    MappingConfig,
    NoiseConfig,
    PeripheryConfig,
    UpdateConfig,
)

RNG = np.random.default_rng(12345)
W = RNG.standard_normal((13, 37))
X_SPIKES = (RNG.random((6, 37)) < 0.3).astype(np.float64)
X_REAL = RNG.standard_normal((6, 37))
D = RNG.standard_normal((6, 13))
SMALL_TILES = {"tile_rows": 16, "tile_cols": 5}  # 3 x 3 tiles, ragged edges
# Mechanism tests run without device noise (the default is the measured "wan2022" chip).
QUIET = NoiseConfig.ideal()


@pytest.mark.parametrize(
    "mapping",
    [
        MappingConfig(quantize=False),
        MappingConfig(quantize=False, scaling="column"),
        MappingConfig(quantize=False, scheme="offset"),
    ],
    ids=str,
)
@pytest.mark.parametrize("x", [X_SPIKES, X_REAL], ids=["spikes", "real"])
def test_ideal_array_is_an_exact_matrix(mapping, x):
    arr = CrossbarArray(
        W, config=CrossbarConfig(noise=QUIET, mapping=mapping, **SMALL_TILES), seed=0, dtype=np.float64
    )
    np.testing.assert_allclose(arr.forward(x), x @ W.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(arr.backward(D), D @ W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(arr.get_weights(), W, rtol=1e-12, atol=1e-14)


def test_float32_output_within_float32_tolerance():
    arr = CrossbarArray(W, config=CrossbarConfig.ideal(), seed=0)
    y = arr.forward(X_REAL.astype(np.float32))
    assert y.dtype == np.float32 and arr.backward(D).dtype == np.float32
    np.testing.assert_allclose(y, X_REAL @ W.T, rtol=1e-5, atol=1e-5)


def test_satisfies_the_synapse_backend_protocol():
    backends = pytest.importorskip("snn_dfa.engine.backends")
    arr = CrossbarArray(W, seed=0)
    assert isinstance(arr, backends.SynapseBackend)
    assert arr.shape == (13, 37)


@pytest.mark.parametrize(
    "mapping",
    [
        MappingConfig(),
        MappingConfig(scaling="column"),
        MappingConfig(scheme="offset"),
        MappingConfig(n_slices=2),
    ],
    ids=str,
)
def test_quantised_noiseless_reads_equal_the_quantised_matrix(mapping):
    update = UpdateConfig(mode="reprogram") if mapping.n_slices > 1 else UpdateConfig()
    dev = NEURRAM_HFO2.replace(n_levels=4) if mapping.n_slices > 1 else NEURRAM_HFO2
    arr = CrossbarArray(
        W,
        dev,
        CrossbarConfig(noise=QUIET, mapping=mapping, update=update, **SMALL_TILES),
        seed=0,
        dtype=np.float64,
    )
    wq = arr.get_weights()
    assert np.all(np.abs(wq - W) <= arr.scales[:, None] / 2 * (1 + 1e-9))
    np.testing.assert_allclose(arr.forward(X_REAL), X_REAL @ wq.T, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(arr.backward(D), D @ wq, rtol=1e-10, atol=1e-10)


def _zero_strength_configs():
    zero_noise = NoiseConfig(
        noise_model="relative",
        prog_sigma_rel=0.0,
        read_sigma_rel=0.0,
        sa0_fraction=0.0,
        sa1_fraction=0.0,
        drift_nu=0.0,
        relax_sigma_rel=0.0,
    )
    zero_update = UpdateConfig(c2c_sigma_rel=0.0, d2d_step_sigma_rel=0.0)
    return {
        "noise": CrossbarConfig(noise=zero_noise, **SMALL_TILES),
        "update": CrossbarConfig(noise=QUIET, update=zero_update, **SMALL_TILES),
        "ir_fast": CrossbarConfig(noise=QUIET, ir_drop="fast", **SMALL_TILES),
        "ir_exact": CrossbarConfig(noise=QUIET, ir_drop="exact", **SMALL_TILES),
        "periphery": CrossbarConfig(noise=QUIET,
            periphery=PeripheryConfig(dac_bits=None, adc_bits=None), **SMALL_TILES
        ),
    }


@pytest.mark.parametrize("name", list(_zero_strength_configs()))
def test_every_non_ideality_at_zero_strength_is_the_identity(name):
    zero_wires = NEURRAM_HFO2.replace(
        r_wire_row_ohm=0.0, r_wire_col_ohm=0.0, r_driver_ohm=0.0, r_sense_ohm=0.0
    )
    ref = CrossbarArray(W, zero_wires, CrossbarConfig(noise=QUIET, **SMALL_TILES), seed=7, dtype=np.float64)
    arr = CrossbarArray(W, zero_wires, _zero_strength_configs()[name], seed=7, dtype=np.float64)
    arr.set_time(1e5)
    np.testing.assert_allclose(arr.forward(X_REAL), ref.forward(X_REAL), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(arr.backward(D), ref.backward(D), rtol=1e-12, atol=1e-12)
    dw = 0.05 * RNG.standard_normal(W.shape)
    arr.apply_update(dw)
    ref.apply_update(dw)
    np.testing.assert_allclose(arr.get_weights(), ref.get_weights(), rtol=1e-12, atol=1e-12)


def test_non_idealities_at_non_zero_strength_act():
    cfg = CrossbarConfig(noise=NoiseConfig(noise_model="relative", prog_sigma_rel=0.02, read_sigma_rel=0.05))
    arr = CrossbarArray(W, config=cfg, seed=1, dtype=np.float64)
    clean = CrossbarArray(W, config=CrossbarConfig(noise=QUIET), seed=1, dtype=np.float64)
    assert np.abs(arr.get_weights() - clean.get_weights()).max() > 0
    assert np.abs(arr.forward(X_REAL) - arr.forward(X_REAL)).max() > 0  # fresh read noise


def test_same_seed_same_results():
    cfg = CrossbarConfig(
        noise=NoiseConfig(noise_model="relative", prog_sigma_rel=0.02, read_sigma_rel=0.05, sa0_fraction=0.05)
    )
    a, b = (CrossbarArray(W, config=cfg, seed=3) for _ in range(2))
    np.testing.assert_array_equal(a.forward(X_REAL), b.forward(X_REAL))


def test_drift_scales_differential_weights_by_the_power_law():
    nu = 0.05
    dev = NEURRAM_HFO2.replace(g_min_uS=0.0)  # no clipping at g_min
    arr = CrossbarArray(
        W, dev, CrossbarConfig(noise=NoiseConfig(noise_model="relative", drift_nu=nu, t0_s=2.0)),
        seed=0, dtype=np.float64
    )
    w0 = arr.get_weights()
    arr.set_time(0.0)
    np.testing.assert_array_equal(arr.get_weights(), w0)
    arr.set_time(198.0)
    np.testing.assert_allclose(arr.get_weights(), w0 * 100.0**-nu, rtol=1e-12, atol=1e-12)
    with pytest.raises(CrossbarError, match="time_s"):
        arr.set_time(1.0)
    with pytest.raises(CrossbarError, match="time_s"):
        arr.set_time("later")
    assert "neurram_hfo2" in repr(arr)


@pytest.mark.parametrize("sa0, sa1", [(1.0, 0.0), (0.0, 1.0)])
def test_all_cells_stuck_gives_zero_differential_weights(sa0, sa1):
    cfg = CrossbarConfig(noise=NoiseConfig(sa0_fraction=sa0, sa1_fraction=sa1))
    arr = CrossbarArray(W, config=cfg, seed=0, dtype=np.float64)
    np.testing.assert_array_equal(arr.get_weights(), 0.0)
    np.testing.assert_allclose(arr.forward(X_REAL), 0.0, atol=1e-12)
    g = arr.conductances_uS
    assert np.all(g == (NEURRAM_HFO2.g_min_uS if sa0 else NEURRAM_HFO2.g_max_uS))
    arr.apply_update(np.ones_like(W))
    np.testing.assert_array_equal(arr.get_weights(), 0.0)


def test_conductances_within_bounds_under_strong_noise_and_updates():
    cfg = CrossbarConfig(
        noise=NoiseConfig(noise_model="relative", prog_sigma_rel=0.3, relax_sigma_rel=0.3, drift_nu=0.2),
        update=UpdateConfig(c2c_sigma_rel=0.1, d2d_step_sigma_rel=0.5),
    )
    arr = CrossbarArray(W, config=cfg, seed=0)
    for k in range(5):
        arr.apply_update(5 * RNG.standard_normal(W.shape))
        arr.set_time(10.0**k)
        g = arr.conductances_uS
        assert g.min() >= NEURRAM_HFO2.g_min_uS and g.max() <= NEURRAM_HFO2.g_max_uS


def test_spike_counters():
    cfg = CrossbarConfig(noise=QUIET, **SMALL_TILES)
    arr = CrossbarArray(W, config=cfg, seed=0)
    arr.reset_counters()
    arr.forward(X_SPIKES)
    tot = arr.counters.totals()
    assert tot["mvms"] == 6 * 2 * 9  # vectors x (G+, G-) x tiles
    assert tot["active_rows"] == 2 * 3 * int(X_SPIKES.sum())  # each input row feeds 3 column tiles
    assert tot["adc_conversions"] == 6 * 13 * 3  # every output, once per input tile
    assert tot["dac_conversions"] == tot["multilevel_mvms"] == 0
    t00 = arr.counters.tiles[0]
    assert (t00.rows, t00.cols, t00.n_physical_arrays) == (16, 5, 2)
    assert t00.active_rows == 2 * int(X_SPIKES[:, :16].sum())


@pytest.mark.parametrize("scheme", ["differential", "offset"])
def test_read_counters_per_tile_in_both_directions(scheme):
    """Every tile's drive counts are the non-zero inputs on its own driven lines: forward the
    inputs of its row block (per physical array), transposed the errors of its column block
    (per polarity and slice); conversions per sensed line of the tile."""
    n_pol, n_slices = (2, 2) if scheme == "differential" else (1, 1)
    cfg = CrossbarConfig(noise=QUIET, mapping=MappingConfig(scheme=scheme, n_slices=n_slices),
                         update=UpdateConfig(mode="reprogram"), **SMALL_TILES)
    arr = CrossbarArray(W, config=cfg, seed=0)
    x = X_SPIKES.copy()
    x[:, 16:32] = 0.0  # a row block without any spike
    d = D * (RNG.random(D.shape) < 0.5)
    arr.reset_counters()
    arr.forward(x)
    arr.backward(d)
    for t in arr.counters.tiles:
        rows = slice(16 * t.tile_row, 16 * t.tile_row + t.rows)
        cols = slice(5 * t.tile_col, 5 * t.tile_col + t.cols)
        assert t.active_rows == t.n_physical_arrays * np.count_nonzero(x[:, rows])
        assert t.active_columns == n_pol * n_slices * np.count_nonzero(d[:, cols])
        assert t.adc_conversions == 6 * t.cols * n_slices
        assert t.transposed_adc_conversions == 6 * t.rows * t.n_physical_arrays


def test_summary_is_plain_data():
    import json

    arr = CrossbarArray(
        W,
        config=CrossbarConfig(noise=QUIET,
            periphery=PeripheryConfig(adc_bits=5, columns_per_adc=8), **SMALL_TILES
        ),
    )
    s = arr.summary()
    assert json.loads(json.dumps(s)) == s
    assert (s["n_tiles"], s["adc_bits"], s["columns_per_adc"], s["n_polarities"]) == (9, 5, 8, 2)


def test_real_input_and_transposed_counters_and_reset():
    arr = CrossbarArray(
        W,
        config=CrossbarConfig(noise=QUIET,
            mapping=MappingConfig(n_slices=2), update=UpdateConfig(mode="reprogram")
        ),
        seed=0,
    )
    arr.reset_counters()
    arr.forward(X_REAL)
    arr.backward(D)
    tot = arr.counters.totals()
    # one 128-column tile: per slice the 13 pairs fit on one crossbar, so 2 slices = 2 arrays
    assert tot["mvms"] == 6 * 2 and tot["transposed_reads"] == 6 * 2
    assert tot["multilevel_mvms"] == tot["mvms"]
    assert tot["multilevel_active_rows"] == tot["active_rows"] == 2 * np.count_nonzero(X_REAL)
    assert tot["adc_conversions"] == tot["multilevel_adc_conversions"] == 6 * 13 * 2
    assert tot["transposed_adc_conversions"] == 6 * 37 * 2  # 2 physical arrays (slices)
    assert tot["active_columns"] == 4 * int(np.count_nonzero(D))  # pair x slices per output
    assert tot["dac_conversions"] == tot["active_rows"] + tot["active_columns"]
    arr.reset_counters()
    assert all(v == 0 for v in arr.counters.totals().values())
    assert arr.counters.as_dict()["tiles"][0]["rows"] == 37


def test_adc_error_bounded_and_clipping():
    bits = 6
    cfg = CrossbarConfig(noise=QUIET, periphery=PeripheryConfig(adc_bits=bits), **SMALL_TILES)
    arr = CrossbarArray(W, config=cfg, seed=0, dtype=np.float64)
    exact = X_SPIKES @ arr.get_weights().T
    dev = NEURRAM_HFO2
    step_uA = 16 * dev.v_read_V * dev.g_range_uS / (2 ** (bits - 1) - 1)
    bound = 3 * (step_uA / 2) / (dev.v_read_V * dev.level_step_uS) * arr.scales[0]  # 3 input tiles
    assert np.abs(arr.forward(X_SPIKES) - exact).max() <= bound * (1 + 1e-9)
    clip = CrossbarArray(
        W,
        config=CrossbarConfig(
            noise=QUIET, periphery=PeripheryConfig(adc_bits=8, adc_full_scale_fraction=0.01)
        ),
        seed=0,
        dtype=np.float64,
    )
    limit = (
        0.01
        * 37
        * dev.v_read_V
        * dev.g_range_uS
        / (dev.v_read_V * dev.level_step_uS)
        * clip.scales[0]
    )
    assert np.abs(clip.forward(X_SPIKES)).max() <= limit * (1 + 1e-9)
    assert np.abs(exact).max() > limit


def test_dac_quantisation_error_bounded():
    cfg = CrossbarConfig(noise=QUIET,
        mapping=MappingConfig(quantize=False), periphery=PeripheryConfig(dac_bits=4)
    )
    arr = CrossbarArray(W, config=cfg, seed=0, dtype=np.float64)
    err = arr.forward(X_REAL) - X_REAL @ W.T
    norm = np.abs(X_REAL).max(axis=1)
    bound = norm[:, None] * (0.5 / 7) * np.abs(W).sum(axis=1)[None]
    assert np.all(np.abs(err) <= bound + 1e-12)
    assert np.abs(err).max() > 0


def test_ir_drop_fast_close_to_exact_and_weaker_than_ideal():
    w = RNG.standard_normal((64, 64))
    x = (RNG.random((8, 64)) < 0.5).astype(float)
    dev = NEURRAM_HFO2.replace(
        r_wire_row_ohm=2.0, r_wire_col_ohm=2.0, r_driver_ohm=2.0, r_sense_ohm=2.0
    )
    outs = {
        m: CrossbarArray(w, dev, CrossbarConfig(noise=QUIET, ir_drop=m), seed=0, dtype=np.float64).forward(x)
        for m in ("none", "fast", "exact")
    }
    back = {
        m: CrossbarArray(w, dev, CrossbarConfig(noise=QUIET, ir_drop=m), seed=0, dtype=np.float64).backward(
            x[:, :64]
        )
        for m in ("none", "fast", "exact")
    }
    for o in (outs, back):
        scale = np.abs(o["none"]).mean()
        assert np.abs(o["exact"] - o["none"]).mean() > 0.01 * scale
        assert np.abs(o["fast"] - o["exact"]).mean() < 0.2 * np.abs(o["exact"] - o["none"]).mean()


def test_pulse_updates_track_dw_on_a_linear_device():
    dev = NEURRAM_HFO2.replace(nonlinearity_ltp=0.0, nonlinearity_ltd=0.0, n_pulses_full_range=1000)
    w = RNG.uniform(-0.5, 0.5, (6, 8))
    arr = CrossbarArray(
        w,
        dev,
        CrossbarConfig(
            noise=QUIET,
            mapping=MappingConfig(quantize=False, w_max=1.0),
            update=UpdateConfig(mode="nearest"),
        ),
        seed=0,
        dtype=np.float64,
    )
    dw = RNG.uniform(-0.3, 0.3, w.shape)
    before = arr.get_weights()
    arr.apply_update(dw)
    # round to nearest per cell (a pair crossing zero rounds two cells): error <= one pulse
    w_per_uS = arr.scales[0] / dev.level_step_uS
    step_w = dev.g_range_uS / dev.n_pulses_full_range * w_per_uS
    np.testing.assert_allclose(arr.get_weights(), before + dw, atol=step_w * (1 + 1e-9))
    assert arr.counters.totals()["programming_pulses"] == arr.pulse_counts.sum() > 0
    assert arr.counters.updates == 1


def test_nonlinear_open_loop_updates_miss_and_write_verify_helps():
    w = RNG.uniform(-0.5, 0.5, (10, 10))
    dw = RNG.uniform(-0.2, 0.2, w.shape)
    errs = {}
    for verify in (False, True):
        cfg = CrossbarConfig(noise=QUIET,
            mapping=MappingConfig(quantize=False, w_max=1.0),
            update=UpdateConfig(
                write_verify=verify, verify_tolerance_rel=0.03, verify_max_iterations=30
            ),
        )
        arr = CrossbarArray(w, config=cfg, seed=0, dtype=np.float64)
        arr.apply_update(dw)
        errs[verify] = np.abs(arr.get_weights() - (w + dw)).mean()
        if verify:
            assert arr.counters.totals()["verify_reads"] > 0
    assert errs[True] < errs[False] / 2


def test_reprogram_mode_with_bit_slices_accumulates_in_a_shadow():
    dev = NEURRAM_HFO2.replace(n_levels=4)
    cfg = CrossbarConfig(noise=QUIET,
        mapping=MappingConfig(n_slices=2, w_max=4.0), update=UpdateConfig(mode="reprogram")
    )
    w = np.zeros((2, 3))
    arr = CrossbarArray(w, dev, cfg, seed=0, dtype=np.float64)
    lsb = arr.scales[0]
    arr.reset_counters()
    arr.apply_update(np.full(w.shape, 0.3 * lsb))
    np.testing.assert_array_equal(arr.get_weights(), 0.0)  # below half an LSB: nothing written
    assert arr.counters.totals()["cells_programmed"] == 0
    arr.apply_update(np.full(w.shape, 0.3 * lsb))  # shadow reaches 0.6 LSB -> one level
    np.testing.assert_allclose(arr.get_weights(), lsb)
    assert arr.counters.totals()["cells_programmed"] == 6
    arr.apply_update(np.full(w.shape, 9.0 * lsb))  # 9.6 -> 10 = 2 + 2*4
    np.testing.assert_allclose(arr.get_weights(), 10 * lsb)


def test_gpr_programming_noise():
    model = GPRNoiseModel.from_csv()
    arr = CrossbarArray(
        np.tile(W, (8, 8)),
        config=CrossbarConfig(gpr_model=model, noise=NoiseConfig(noise_model="gpr")),
        seed=0,
        dtype=np.float64,
    )
    target = arr.get_weights() * 0  # shape only
    g = arr.conductances_uS
    assert g.shape[2:] == target.shape
    ideal = CrossbarArray(
        np.tile(W, (8, 8)), config=CrossbarConfig(noise=QUIET), seed=0, dtype=np.float64
    ).conductances_uS
    sel = np.isclose(ideal, 20.5, atol=1.4)  # levels near 20 uS
    _, sd = model.predict(ideal[sel])
    ratio = np.std(g[sel] - model.predict(ideal[sel])[0]) / sd.mean()
    assert 0.8 < ratio < 1.2


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: CrossbarArray(np.zeros((0, 3))), "weights"),
        (lambda: CrossbarArray(W, "nope"), "device"),
        (lambda: CrossbarArray(W, config="ideal"), "config"),
        (lambda: CrossbarArray(W, seed=-1), "seed"),
        (lambda: CrossbarConfig(noise=QUIET, ir_drop="spice"), "ir_drop"),
        (lambda: CrossbarConfig(noise=QUIET, tile_rows=0), "tile_rows"),
        (lambda: CrossbarConfig(noise="none"), "noise"),
        (lambda: CrossbarConfig(noise=QUIET, mapping=MappingConfig(n_slices=2)), "n_slices"),
        (
            lambda: CrossbarConfig(
                gpr_model=GPRNoiseModel.from_csv(),
                noise=NoiseConfig(noise_model="relative", prog_sigma_rel=0.1),
            ),
            "noise_model",
        ),
        (lambda: CrossbarArray(W).forward(np.ones((2, 5))), "x"),
        (lambda: CrossbarArray(W).backward(np.ones((2, 37))), "d"),
        (lambda: CrossbarArray(W).apply_update(np.ones((13, 3))), "dw"),
        (lambda: CrossbarArray(W).set_weights(np.ones((1, 1))), "weights"),
        (lambda: CrossbarArray(W).forward(np.full((1, 37), np.nan)), "x"),
    ],
)
def test_bad_input_raises_crossbar_error(make, match):
    with pytest.raises(CrossbarError, match=match):
        make()


def test_exact_ir_drop_orientation_forward_and_transposed():
    """Inputs drive rows (word lines) forward; the error drives columns in the transposed read."""
    from crossbar import ExactIRDropSolver

    dev = NEURRAM_HFO2.replace(
        r_wire_row_ohm=3.0, r_wire_col_ohm=1.0, r_driver_ohm=5.0, r_sense_ohm=2.0
    )
    w = RNG.standard_normal((6, 9))
    arr = CrossbarArray(w, dev, CrossbarConfig(noise=QUIET, ir_drop="exact"), seed=0, dtype=np.float64)
    g_pos, g_neg = arr.conductances_uS[0] * 1e-6  # [n_out, n_in] each
    x = RNG.uniform(0, 1, (4, 9))
    d = RNG.standard_normal((4, 6))
    unit = arr.scales / (dev.v_read_V * dev.level_step_uS * 1e-6)

    def solve(g, v, transposed):
        r = {"r_row_ohm": 3.0, "r_col_ohm": 1.0, "r_driver_ohm": 5.0, "r_sense_ohm": 2.0}
        if transposed:
            r = {"r_row_ohm": 1.0, "r_col_ohm": 3.0, "r_driver_ohm": 2.0, "r_sense_ohm": 5.0}
        return ExactIRDropSolver(g, **r).currents(v)

    xn = x / np.abs(x).max(axis=1, keepdims=True)
    v = xn * dev.v_read_V
    fwd = (solve(g_pos.T, v, False) - solve(g_neg.T, v, False)) * np.abs(x).max(
        axis=1, keepdims=True
    )
    np.testing.assert_allclose(arr.forward(x), fwd * unit, rtol=1e-9)
    ds = d * arr.scales
    norm = np.abs(ds).max(axis=1, keepdims=True)
    vb = ds / norm * dev.v_read_V
    bwd = (solve(g_pos, vb, True) - solve(g_neg, vb, True)) * norm
    np.testing.assert_allclose(
        arr.backward(d), bwd / (dev.v_read_V * dev.level_step_uS * 1e-6), rtol=1e-9
    )


def test_read_noise_statistics_through_the_read_path():
    from scipy import stats

    sigma = 0.05
    cfg = CrossbarConfig(
        mapping=MappingConfig(quantize=False), noise=NoiseConfig(noise_model="relative", read_sigma_rel=sigma)
    )
    w = RNG.standard_normal((3, 10))
    arr = CrossbarArray(w, config=cfg, seed=0, dtype=np.float64)
    x = np.tile((RNG.random(10) < 0.6).astype(float), (40_000, 1))
    y = arr.forward(x)
    g = arr.conductances_uS[0]  # [2, 3, 10]
    dev = NEURRAM_HFO2
    v = x[0] * dev.v_read_V
    std_uA = sigma * np.sqrt((v**2) @ (g[0] ** 2 + g[1] ** 2).T)
    std_w = std_uA / (dev.v_read_V * dev.level_step_uS) * arr.scales
    n = x.shape[0]
    np.testing.assert_allclose(y.mean(axis=0), x[0] @ w.T, atol=float(5 * std_w.max() / np.sqrt(n)))
    lo, hi = stats.chi2.ppf([stats.norm.cdf(-5), stats.norm.cdf(5)], n - 1) / (n - 1)
    ratio = y.var(axis=0, ddof=1) / std_w**2
    assert np.all((lo < ratio) & (ratio < hi))


def test_pulse_counts_per_cell_add_up_to_the_tile_counters():
    cfg = CrossbarConfig(noise=QUIET, mapping=MappingConfig(w_max=3.0), **SMALL_TILES)
    arr = CrossbarArray(W, config=cfg, seed=0)
    for _ in range(3):
        arr.apply_update(0.3 * RNG.standard_normal(W.shape))
    counts = arr.pulse_counts
    assert counts.shape == (1, 2, 13, 37) and counts.sum() > 0
    t = arr.counters.tiles[4]  # tile_row 1 (inputs 16..31), tile_col 1 (outputs 5..9)
    assert (t.tile_row, t.tile_col) == (1, 1)
    assert t.programming_pulses == counts[:, :, 5:10, 16:32].sum()
    assert arr.counters.totals()["programming_pulses"] == counts.sum()
    assert arr.counters.updates == 3


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(1, 20),
    st.integers(1, 7),
    st.integers(1, 7),
    st.sampled_from(["differential", "offset"]),
    st.integers(0, 2**31 - 1),
)
def test_ideal_equality_for_any_shape_and_tiling(n_out, n_in, tile_rows, tile_cols, scheme, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_out, n_in))
    cfg = CrossbarConfig(noise=QUIET,
        mapping=MappingConfig(quantize=False, scheme=scheme),
        tile_rows=tile_rows,
        tile_cols=tile_cols,
    )
    arr = CrossbarArray(w, config=cfg, seed=seed, dtype=np.float64)
    x = rng.standard_normal((3, n_in))
    d = rng.standard_normal((3, n_out))
    np.testing.assert_allclose(arr.forward(x), x @ w.T, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(arr.backward(d), d @ w, rtol=1e-10, atol=1e-10)
    assert len(arr.counters.tiles) == -(-n_in // tile_rows) * -(-n_out // tile_cols)


def test_gpr_output_model_shifts_and_spreads_column_outputs():
    """A fitted (ideal, measured) output model with 5 % gain loss and 0.01 spread."""
    rng = np.random.default_rng(0)
    ideal = np.repeat(np.linspace(-1, 1, 21), 200)
    measured = 0.95 * ideal + 0.01 * rng.standard_normal(ideal.size)
    model = GPRNoiseModel().fit(ideal, measured)
    w = RNG.standard_normal((4, 12))
    cfg = CrossbarConfig(noise=QUIET, mapping=MappingConfig(quantize=False), gpr_output_model=model)
    arr = CrossbarArray(w, config=cfg, seed=1, dtype=np.float64)
    x = np.tile((RNG.random(12) < 0.5).astype(float), (20_000, 1))
    y = arr.forward(x)
    dev = NEURRAM_HFO2
    i_max_w = 12 * (dev.g_range_uS / dev.level_step_uS) * arr.scales  # full scale in weight units
    np.testing.assert_allclose(
        y.mean(axis=0), 0.95 * (x[0] @ w.T), atol=float(5e-4 * i_max_w.max())
    )
    np.testing.assert_allclose(y.std(axis=0), 0.01 * i_max_w, rtol=0.05)


def _dense_open_loop_pulses(arr: CrossbarArray, dw: np.ndarray):
    """The open-loop pulse counts of an in-situ update by the dense mapping functions."""
    from crossbar.mapping import (
        conductances_to_levels,
        levels_to_conductances,
        levels_to_weights,
        weights_to_levels,
    )
    from crossbar.update import pulses_for_change

    dev, m = arr.device, arr.config.mapping
    unquantised = MappingConfig(scheme=m.scheme, scaling=m.scaling, quantize=False)
    w_int = levels_to_weights(conductances_to_levels(arr._intended, dev), m, dev, arr._scales)
    target = levels_to_conductances(weights_to_levels(w_int + dw, unquantised, dev, arr._scales),
                                    dev)
    return target, pulses_for_change(target - arr._intended, dev)


@pytest.mark.parametrize("scheme", ["differential", "offset"])
def test_sparse_open_loop_pulses_equal_the_dense_mapping_bitwise(scheme):
    """The update kernel gives exactly the pulses and targets of crossbar.mapping's functions,
    for every cell (zero for the cells it leaves out), also after earlier updates."""
    from crossbar._kernels import open_loop_pulses
    from crossbar.mapping import max_level_count

    rng = np.random.default_rng(7)
    w = rng.uniform(-0.5, 0.5, (9, 21))
    cfg = CrossbarConfig(mapping=MappingConfig(scheme=scheme, w_max=0.8),
                         noise=NoiseConfig(noise_model="relative", prog_sigma_rel=0.05), **SMALL_TILES)
    arr = CrossbarArray(w, config=cfg, seed=1, dtype=np.float64)
    dev = arr.device
    for scale in (0.3, 0.01, 0.05):  # large, sub-pulse and mixed changes
        dw = rng.uniform(-scale, scale, w.shape)
        target, n_dense = _dense_open_loop_pulses(arr, dw)
        cells, n, t = open_loop_pulses(
            arr._intended[0], dw, arr._scales, dev.g_min_uS, dev.g_max_uS, dev.level_step_uS,
            dev.g_range_uS / dev.n_pulses_full_range, max_level_count(cfg.mapping, dev),
            float((dev.n_levels - 1) // 2), scheme == "differential")
        np.testing.assert_array_equal(cells, np.flatnonzero(n_dense))
        np.testing.assert_array_equal(n, n_dense.flat[cells])
        np.testing.assert_array_equal(t, target.flat[cells])
        arr.apply_update(dw)


@pytest.mark.parametrize("ir_drop", ["none", "fast", "exact"])
@pytest.mark.parametrize("mode", ["nearest", "accumulate", "reprogram"])
@pytest.mark.parametrize("model", ["relative", "wan2022"])
def test_caches_after_updates_equal_a_rebuild_bitwise(ir_drop, mode, model):
    """After updates the conductances and read matrices (IR-drop corrections included) are
    refreshed cell by cell and tile by tile (the IR-drop corrections when a read needs
    them); they must equal a rebuild from scratch exactly, in both read directions, and so
    must the reads."""
    rng = np.random.default_rng(3)
    w = rng.uniform(-0.5, 0.5, (11, 37))
    cfg = CrossbarConfig(
        mapping=MappingConfig(w_max=0.8), ir_drop=ir_drop, update=UpdateConfig(mode=mode),
        ir_fast_update="full",  # bit-exact; the incremental one: tests/test_crossbar_irupdate.py
        noise=(NoiseConfig(noise_model="relative", prog_sigma_rel=0.05, sa0_fraction=0.05,
                           drift_nu=0.05) if model == "relative"
               else NoiseConfig(sa0_fraction=0.05)),
        **SMALL_TILES)
    arr = CrossbarArray(w, config=cfg, seed=2, dtype=np.float64)
    arr.set_time(10.0)  # drift acts on the cells programmed at time 0
    x = (rng.random((4, 37)) < 0.4).astype(np.float64)
    d = rng.standard_normal((4, 11))
    for _ in range(3):
        arr.forward(x), arr.backward(d)  # build both caches
        arr.apply_update(rng.uniform(-0.05, 0.05, w.shape) * (rng.random(w.shape) < 0.2))
    y, e = arr.forward(x), arr.backward(d)  # brings the stale IR-drop corrections up to date
    kept = {t: [None if a is None else a.copy() for a in arr._read_cache[t]] for t in (0, 1)}
    g_kept = arr._g_now().copy()
    arr._invalidate()
    np.testing.assert_array_equal(arr._g_now(), g_kept)
    for transposed in (False, True):
        arr._read_matrices(transposed)
        for got, want in zip(kept[transposed], arr._read_cache[transposed]):
            if want is None:
                assert got is None
            else:
                np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(arr.forward(x), y)
    np.testing.assert_array_equal(arr.backward(d), e)
    assert arr.pulse_counts.sum() > 0


@pytest.mark.parametrize("ir_drop", ["none", "fast"])
@pytest.mark.parametrize("model, start_s", [("wan2022", 1.0), ("wan2022", 604800.0),
                                            ("relative", 1.0)])
def test_stream_with_a_clock_keeps_caches_exact(ir_drop, model, start_s):
    """A chip-in-the-loop stream (reads, sparse updates, the clock advancing every window):

    * the cells re-evaluated by ``set_time`` are exactly those whose log-age grew by more
      than the resolution since their last evaluation (the due times only preselect);
    * every cached conductance is the noise model at the time the cell was last evaluated,
      computed without the cached fit values (``relaxed`` from the cell's own state: the
      reference of the compiled re-evaluation ``relax_cells``, also past the fitted times);
    * the read matrices, with the IR-drop corrections brought up to date lazily (after any
      number of refreshes, and rebuilt whole when most cells change), equal a rebuild from
      the same conductances bit for bit, in both directions.
    """
    from crossbar.noise import apply_faults, drift, relaxed

    rng = np.random.default_rng(5)
    w = rng.uniform(-0.5, 0.5, (11, 37))
    noise = (NoiseConfig(sa0_fraction=0.05, sa1_fraction=0.02) if model == "wan2022" else
             NoiseConfig(noise_model="relative", prog_sigma_rel=0.05, drift_nu=0.05,
                         relax_sigma_rel=0.02))
    cfg = CrossbarConfig(mapping=MappingConfig(w_max=0.8), ir_drop=ir_drop, noise=noise,
                         update=UpdateConfig(c2c_sigma_rel=0.05), ir_fast_update="full",
                         **SMALL_TILES)
    arr = CrossbarArray(w, config=cfg, seed=2, dtype=np.float64)
    arr.set_time(start_s)
    x = (rng.random((4, 37)) < 0.4).astype(np.float64)
    d = rng.standard_normal((4, 11))
    step = cfg.noise.time_step_decades
    warnings.simplefilter("ignore", CrossbarWarning)  # a week is past the fitted data
    refreshed = []
    for window in range(40):
        arr.forward(x)
        if window % 3:
            arr.backward(d)
        arr.apply_update(rng.uniform(-0.05, 0.05, w.shape) * (rng.random(w.shape) < 0.05))
        for dt in (1.28, 1e-3):  # a window, then a moment in which no cell is due
            t_prog, t_eval = arr._t_prog.copy(), arr._t_eval.copy()
            t = arr.time_s + dt
            arr.set_time(t)
            due = (np.log10(np.maximum(t - t_prog, 1.0))
                   - np.log10(np.maximum(t_eval - t_prog, 1.0))) > step
            np.testing.assert_array_equal(arr._t_eval, np.where(due, t, t_eval))
            refreshed.append(due.mean())
    age = arr._t_eval - arr._t_prog
    dev = arr.device
    if model == "wan2022":
        aged = relaxed(arr._g_prog, arr._g_anchor, age, arr._z_relax, dev, 1.0)
    else:
        aged = drift(arr._g_prog, age, arr._z_relax, dev, noise)
    g = arr._g_now().copy()
    np.testing.assert_array_equal(g, apply_faults(aged, arr._faults, dev))
    y, e = arr.forward(x), arr.backward(d)
    kept = {t: [None if a is None else a.copy() for a in arr._read_cache[t]] for t in (0, 1)}
    arr._read_cache, arr._ir_stale = {}, {}  # rebuild from the same conductances
    for transposed in (False, True):
        arr._read_matrices(transposed)
        for got, want in zip(kept[transposed], arr._read_cache[transposed]):
            if want is None:
                assert got is None
            else:
                np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(arr._g_now(), g)
    np.testing.assert_array_equal(arr.forward(x), y)
    np.testing.assert_array_equal(arr.backward(d), e)
    # the stream exercised all paths: whole-array refreshes (early windows), sparse ones,
    # and windows without any
    if start_s == 1.0:
        assert max(refreshed) == 1.0 and 0 in refreshed and 0 < min(refreshed[-20::2]) < 0.25


def _per_tile_read(arr: CrossbarArray, x: np.ndarray, transposed: bool) -> np.ndarray:
    """Noiseless read tile by tile, each tile's matrix built on its own (the reference of
    the stacked read): ``sum_tiles ADC(x_tile @ D_tile)``, for binary forward inputs or
    real transposed ones (normalised per row, no DAC)."""
    from crossbar.periphery import adc_quantize

    dev, per = arr.device, arr.config.periphery
    g = arr._g_now()
    step = dev.level_step_uS
    levels_full = dev.g_range_uS / step
    if transposed:
        x = x * arr._scales
        norm = np.abs(x).max(axis=1)
        x = x / norm[:, None]
    out = np.zeros((x.shape[0], arr.shape[1] if transposed else arr.shape[0]))
    for tile in range(len(arr.counters.tiles)):
        cb, rb = arr._tile_slices(tile)
        drive, sense = (cb, rb) if transposed else (rb, cb)
        cells = [g[0, p, cb, rb] if transposed else g[0, p, cb, rb].T for p in range(2)]
        eff = [arr._ir(c, transposed) for c in cells]
        cur = x[:, drive] @ ((eff[0] - eff[1]) / step)
        full_scale = per.adc_full_scale_fraction * (drive.stop - drive.start) * levels_full
        out[:, sense] += adc_quantize(cur, per.adc_bits, full_scale)
    return out * norm[:, None] if transposed else out * arr._scales


@pytest.mark.parametrize("ir_drop", ["none", "fast"])
def test_stacked_read_equals_a_per_tile_read(ir_drop):
    """All tiles at once (stacked products, per-tile ADC) against a plain loop over tiles."""
    rng = np.random.default_rng(4)
    w = rng.uniform(-0.5, 0.5, (11, 37))
    cfg = CrossbarConfig(periphery=PeripheryConfig(adc_bits=6), ir_drop=ir_drop, **SMALL_TILES)
    arr = CrossbarArray(w, config=cfg, seed=5, dtype=np.float64)
    x = (rng.random((40, 37)) < 0.4).astype(np.float64)
    d = rng.standard_normal((40, 11))
    np.testing.assert_allclose(arr.forward(x), _per_tile_read(arr, x, False), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(arr.backward(d), _per_tile_read(arr, d, True), rtol=1e-12,
                               atol=1e-12)


def _numpy_read(arr: CrossbarArray, x: np.ndarray, transposed: bool,
                rng: np.random.Generator) -> np.ndarray:
    """The read path step by step in NumPy (the reference of the compiled one): inputs
    normalised and converted (or spikes as they are), stacked by drive block, one product
    per slice, read noise ``c + sigma sqrt(x^2 @ G^2) z`` (``z`` drawn from ``rng`` in one
    call of the current's shape), ADC per tile, the shift-add over slices and the sum over
    blocks, then times the input norms and (forward) the weight scales."""
    from crossbar.periphery import dac_quantize, is_binary, normalise_inputs

    per, dt = arr.config.periphery, arr._cdtype
    x = x.astype(dt)
    if transposed:
        x = x * arr._scales.astype(dt)
    binary = is_binary(x)
    norm = None
    if not binary:
        fs = arr._dac_fs.get(transposed) if per.dac_range == "calibrated" else None
        if fs is None:
            x, norm = normalise_inputs(x)
        else:
            x, norm = np.clip(x / fs, -1.0, 1.0), np.full(x.shape[0], fs)
        x = dac_quantize(x, per.dac_bits).astype(dt)
    d_mats, g_sq = arr._read_matrices(transposed)
    n_slices, blocks, size, sense = d_mats.shape
    padded = np.zeros((x.shape[0], blocks * size), dt)
    padded[:, : x.shape[1]] = x
    xs = padded.reshape(x.shape[0], blocks, size).transpose(1, 0, 2)
    cur = np.stack([xs @ d_mats[k] for k in range(n_slices)], axis=1)
    sigma = arr.config.noise.read_sigma_rel
    if sigma > 0:
        var = np.stack([(xs if binary else xs**2) @ g_sq[k] for k in range(n_slices)], axis=1)
        cur = (cur + (sigma * np.sqrt(var)) * rng.standard_normal(cur.shape)).astype(dt)
    bits = per.adc_bits
    if bits is not None:
        n = 2 ** (bits - 1) - 1
        step = arr._adc_steps(transposed, n_slices, sense, n, False)[:, :, None, :]
        cur = np.clip(np.rint(cur / step), -n, n) * step
    out = np.zeros((x.shape[0], sense), dt)
    for b in range(blocks):
        for k in range(n_slices):
            out += cur[b, k] * dt(arr.device.n_levels**k) if k else cur[b, k]
    if norm is not None:
        out *= norm[:, None]
    if not transposed:
        out *= arr._scales.astype(dt)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["plain", "slices", "dac_bits", "calibrated", "max_adc",
                                  "no_adc", "noiseless"])
def test_read_path_equals_its_numpy_reference_bitwise(dtype, case):
    """forward and backward (spikes and real inputs) equal the NumPy read path to the bit,
    with the same random draws (the generators end in the same state)."""
    import copy

    rng = np.random.default_rng(8)
    per = {"plain": PeripheryConfig(adc_bits=6, adc_range="calibrated"),
           "slices": PeripheryConfig(adc_bits=5),
           "dac_bits": PeripheryConfig(adc_bits=6, dac_bits=4),
           "calibrated": PeripheryConfig(adc_bits=6, adc_range="calibrated",
                                         dac_range="calibrated"),
           "max_adc": PeripheryConfig(adc_bits=6, adc_full_scale_fraction=0.25),
           "no_adc": PeripheryConfig(),
           "noiseless": PeripheryConfig(adc_bits=6)}[case]
    slices = case == "slices"
    cfg = CrossbarConfig(
        mapping=MappingConfig(n_slices=2 if slices else 1, w_max=0.8),
        noise=NoiseConfig(read_sigma_rel=0.0 if case == "noiseless" else 0.05),
        update=UpdateConfig(mode="reprogram") if slices else UpdateConfig(),
        periphery=per, ir_drop="fast", **SMALL_TILES)
    arr = CrossbarArray(W * 0.3, config=cfg, seed=3, dtype=dtype)
    if per.needs_calibration:
        arr.calibrate(X_REAL)
        arr.calibrate(D, transposed=True)
    arr.apply_update(rng.uniform(-0.05, 0.05, W.shape))
    for x, transposed in ((X_SPIKES, False), (X_REAL, False), (D, True),
                          ((D > 0.5).astype(np.float64), True)):
        ref_rng = copy.deepcopy(arr._rng)
        want = _numpy_read(arr, x, transposed, ref_rng)
        got = arr.backward(x) if transposed else arr.forward(x)
        assert got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
        assert arr._rng.bit_generator.state == ref_rng.bit_generator.state


def test_clock_warns_once_cells_are_past_the_fitted_times():
    """Re-evaluating cells older than the last fitted time (2 days) warns, naming the oldest
    age; younger ones do not."""
    arr = CrossbarArray(W, config=CrossbarConfig(**SMALL_TILES), seed=0)
    arr.forward(X_SPIKES)  # conductances evaluated at time 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossbarWarning)
        arr.set_time(1.5 * 86400.0)
    with pytest.warns(CrossbarWarning, match=r"time since programming 2\.592e\+05 s"):
        arr.set_time(3 * 86400.0)


@pytest.mark.parametrize("mode", ["accumulate", "stochastic", "nearest"])
def test_float32_updates_equal_their_float64_values(mode):
    """A float32 request (the engine's dtype), validated without a float64 copy, programs the
    chip exactly as its float64 values do."""
    cfg = CrossbarConfig(update=UpdateConfig(mode=mode, c2c_sigma_rel=0.05), **SMALL_TILES)
    arrays = [CrossbarArray(W, config=cfg, seed=3) for _ in range(2)]
    rng = np.random.default_rng(9)
    for _ in range(4):
        dw = (0.2 * rng.standard_normal(W.shape)).astype(np.float32)
        arrays[0].apply_update(dw)
        arrays[1].apply_update(dw.astype(np.float64))
    np.testing.assert_array_equal(arrays[0].conductances_uS, arrays[1].conductances_uS)
    np.testing.assert_array_equal(arrays[0].pulse_counts, arrays[1].pulse_counts)
    np.testing.assert_array_equal(arrays[0].counters.counts, arrays[1].counters.counts)
    assert arrays[0].pulse_counts.sum() > 0
    with pytest.raises(CrossbarError, match="NaN or infinite"):
        arrays[0].apply_update(np.full(W.shape, np.inf, dtype=np.float32))
