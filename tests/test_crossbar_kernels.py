"""numba kernels against their NumPy references."""

import numpy as np
import pytest

from crossbar._kernels import fast_ir_fixed_point
from crossbar.irdrop import _fast_ir_reference


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (13, 6), (64, 64)])
@pytest.mark.parametrize("n_iter", [1, 2, 4])
def test_fast_ir_kernel_matches_numpy(shape, n_iter):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    g = rng.uniform(1e-6, 40e-6, shape)
    rs = (0.35, 1.3, 2.0, 0.0)
    np.testing.assert_allclose(
        fast_ir_fixed_point(g, *rs, n_iter, -1.0)[0], _fast_ir_reference(g, *rs, n_iter), rtol=1e-12
    )


def _serial_substitution(g, t, r_row, r_col, r_drv, r_sen):
    """One substitution of the fixed point in the kernel's order of operations, element by
    element in Python floats: column sums over the rows in order, each row's prefix sums
    from its first column, the bit-line tails updated row after row."""
    m, n = g.shape
    col_sum, d_tail, head = [0.0] * n, [0.0] * n, [0.0] * n
    for i in range(m):
        for j in range(n):
            col_sum[j] += t[i, j]
            d_tail[j] += (m - 1 - i) * t[i, j]
    new = np.empty_like(g)
    for i in range(m):
        d_i = m - 1 - i
        c0_row, c1_row, c0, c1 = [], [], 0.0, 0.0
        for j in range(n):
            c0 += t[i, j]
            c1 += j * t[i, j]
            c0_row.append(c0)
            c1_row.append(c1)
        s = c0
        for j in range(n):
            ta = r_drv * s + r_row * (c1_row[j] + j * (s - c0_row[j]))
            bt = r_sen * col_sum[j] + r_col * (d_tail[j] + d_i * head[j])
            new[i, j] = g[i, j] * (1.0 - ta - bt)
            d_tail[j] -= d_i * t[i, j]
            head[j] += t[i, j]
    return new


@pytest.mark.parametrize("shape", [(1, 1), (9, 1), (13, 6), (7, 20)])
def test_fast_ir_substitutions_equal_the_serial_order_bitwise(shape):
    """The compiled substitutions (alternating between two buffers, the largest change
    kept per column) give bit for bit what the serial order of operations gives, for odd
    and even counts and with the stopping rule: same ``T``, count, ratio and change."""
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    g = rng.uniform(1e-6, 40e-6, shape)
    rs = (0.35, 1.3, 2.0, 0.7)
    ts = [g.copy()]
    for _ in range(6):
        ts.append(_serial_substitution(g, ts[-1], *rs))
    for n_iter in (1, 2, 5):
        t, done, status, _ = fast_ir_fixed_point(g, *rs, n_iter, -1.0)
        np.testing.assert_array_equal(t, ts[n_iter])
        assert (done, status) == (n_iter, 0)
    t, done, status, ratio = fast_ir_fixed_point(g, *rs, 100, 1e-6)
    changes = [np.abs(ts[k + 1] - ts[k]).max() for k in range(done)]
    np.testing.assert_array_equal(t, ts[done])
    assert status == 0 and changes[-1] <= 1e-6 * g.max() < changes[-2]
    assert ratio == changes[-1] / changes[-2]


SMALL = {"tile_rows": 8, "tile_cols": 5}


def _in_situ_array(scheme="differential", mode="accumulate", model="wan2022", linear=False,
                   seed=1):
    """A small array with every effect the in-situ update path handles: c2c write noise,
    d2d step spread, stuck cells, relaxation (``model``), a nonlinear (or linear) device."""
    import dataclasses

    from crossbar import CrossbarArray, CrossbarConfig, MappingConfig, NoiseConfig, UpdateConfig
    from crossbar.devices import get_preset

    dev = get_preset("neurram_hfo2")
    if linear:
        dev = dataclasses.replace(dev, nonlinearity_ltp=0.0, nonlinearity_ltd=0.0)
    noise = (NoiseConfig(noise_model="relative", prog_sigma_rel=0.05, sa0_fraction=0.05,
                         sa1_fraction=0.05, drift_nu=0.05) if model == "relative"
             else NoiseConfig(sa0_fraction=0.05, sa1_fraction=0.05))
    cfg = CrossbarConfig(mapping=MappingConfig(scheme=scheme, w_max=0.8), noise=noise,
                         update=UpdateConfig(mode=mode, c2c_sigma_rel=0.05,
                                             d2d_step_sigma_rel=0.1), **SMALL)
    rng = np.random.default_rng(seed)
    arr = CrossbarArray(rng.uniform(-0.5, 0.5, (11, 37)), dev, cfg, seed=seed,
                        dtype=np.float64)
    arr.set_time(3.0)
    return arr


def _numpy_in_situ_update(arr, dw):
    """The in-situ update with the NumPy functions the compiled path replaces
    (update.whole_pulses, the open-loop kernel, update.program_with_pulses and
    CrossbarArray._finish_update), on ``arr`` in place."""
    from crossbar._kernels import open_loop_pulses
    from crossbar.mapping import max_level_count
    from crossbar.noise import FAULT_NONE
    from crossbar.update import program_with_pulses, whole_pulses

    dev, m, upd = arr.device, arr.config.mapping, arr.config.update
    arr.counters.updates += 1
    w_pulse = arr._weight_per_pulse()
    k = whole_pulses(dw / w_pulse[:, None], upd.mode, arr._rng, arr._acc)
    if upd.mode == "accumulate":
        arr._count("accumulator_reads", arr._tile_cells)
        arr._count("accumulator_writes", arr._tile_cells)
        o, i = np.nonzero(k)
        arr._count("transfers", np.bincount(arr._tile_of(o, i), minlength=len(arr.counters.tiles)))
    elif upd.mode == "stochastic":
        arr._count("rounding_draws", arr._tile_cells)
    step = dev.g_range_uS / dev.n_pulses_full_range
    cells, n0, target = open_loop_pulses(
        arr._intended[0], k * w_pulse[:, None], arr._scales, dev.g_min_uS, dev.g_max_uS,
        dev.level_step_uS, step, max_level_count(m, dev), float((dev.n_levels - 1) // 2),
        m.scheme == "differential")
    stuck = arr._faults.flat[cells] != FAULT_NONE
    g_new, pulses, reads = program_with_pulses(
        arr._g_now().flat[cells], target, arr._gain.flat[cells], dev, upd,
        arr.config.noise.read_sigma_rel, stuck, arr._rng, n0)
    arr._intended.flat[cells] = np.clip(arr._intended.flat[cells] + n0 * step, dev.g_min_uS,
                                        dev.g_max_uS)
    arr._finish_update(cells, pulses, reads, (pulses > 0) & ~stuck, g_new)


STATE = ("_acc", "_intended", "_g_prog", "_g_anchor", "_anchor_fits", "_t_prog", "_z_relax",
         "_pulse_count", "_g_cache", "_t_eval", "_t_due")


@pytest.mark.parametrize("mode", ["accumulate", "stochastic", "nearest"])
@pytest.mark.parametrize("scheme", ["differential", "offset"])
@pytest.mark.parametrize(("model", "linear"),
                         [("wan2022", False), ("wan2022", True), ("relative", False)])
def test_compiled_in_situ_update_equals_the_numpy_path_bitwise(mode, scheme, model, linear):
    """whole_pulse_targets, pulse_positions, pulse_moves and program_pulsed_cells (with NumPy's
    draws, log1p and expm1 between them) leave every state array, counter and the random
    stream exactly as the NumPy functions do, update after update (large, sub-pulse and
    mixed changes, with time passing)."""
    arr = _in_situ_array(scheme, mode, model, linear)
    ref = _in_situ_array(scheme, mode, model, linear)  # the same chip (same seed)
    rng = np.random.default_rng(5)
    for n, scale in enumerate((0.3, 0.01, 0.05, 0.002, 0.2)):
        dw = rng.uniform(-scale, scale, arr.shape)
        arr.apply_update(dw)
        _numpy_in_situ_update(ref, dw)
        for name in STATE:
            np.testing.assert_array_equal(getattr(arr, name), getattr(ref, name), err_msg=name)
        np.testing.assert_array_equal(arr.counters.counts, ref.counters.counts)
        assert arr._rng.bit_generator.state == ref._rng.bit_generator.state
        arr.set_time(arr.time_s + 2.0**n)
        ref.set_time(ref.time_s + 2.0**n)
    assert arr.pulse_counts.sum() > 0


class _Replay:
    """Stands in for a Generator whose ``random`` draws are known."""

    def __init__(self, uniforms):
        self.uniforms = uniforms

    def random(self, shape):
        assert shape == self.uniforms.shape
        return self.uniforms


@pytest.mark.parametrize("mode", ["accumulate", "stochastic", "nearest"])
def test_whole_pulse_targets_match_whole_pulses_and_open_loop(mode):
    """The fused pass gives the whole pulses of update.whole_pulses (accumulator included),
    the open-loop cells, counts and targets of open_loop_pulses for them, and the per-tile
    count of weights with a transfer."""
    from crossbar._kernels import (
        MODE_ACCUMULATE,
        MODE_NEAREST,
        MODE_STOCHASTIC,
        open_loop_pulses,
        whole_pulse_targets,
    )
    from crossbar.mapping import max_level_count
    from crossbar.update import whole_pulses

    arr = _in_situ_array(mode=mode)
    dev, m = arr.device, arr.config.mapping
    consts = (dev.g_min_uS, dev.g_max_uS, dev.level_step_uS,
              dev.g_range_uS / dev.n_pulses_full_range, max_level_count(m, dev),
              float((dev.n_levels - 1) // 2), True)
    code = {"accumulate": MODE_ACCUMULATE, "stochastic": MODE_STOCHASTIC,
            "nearest": MODE_NEAREST}[mode]
    rng = np.random.default_rng(2)
    acc = rng.uniform(-0.9, 0.9, arr.shape)
    acc_ref = acc.copy()
    w_pulse = arr._weight_per_pulse()
    for scale in (0.3, 0.004, 0.05):
        dw = rng.uniform(-scale, scale, arr.shape)
        uniforms = rng.random(arr.shape)
        transfers = np.zeros(len(arr.counters.tiles), dtype=np.int64)
        got = whole_pulse_targets(arr._intended[0], dw, w_pulse, arr._scales, code, acc,
                                  uniforms, *consts, 8, 5, len(arr._col_blocks), transfers)
        k = whole_pulses(dw / w_pulse[:, None], mode, _Replay(uniforms), acc_ref)
        want = open_loop_pulses(arr._intended[0], k * w_pulse[:, None], arr._scales, *consts)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(acc, acc_ref)
        o, i = np.nonzero(k)
        np.testing.assert_array_equal(
            transfers, np.bincount(arr._tile_of(o, i), minlength=len(arr.counters.tiles)))


def test_surely_due_cells_pass_the_log_age_test():
    """Every cell surely_due calls due passes set_time's log-age test; near the threshold it
    leaves the decision to the test (and far from it, decides)."""
    from crossbar._kernels import surely_due

    rng = np.random.default_rng(4)
    step = 0.05
    t = 1e4
    t_prog = rng.uniform(0.0, t, 5000)
    t_eval = t_prog + (t - t_prog) * rng.uniform(0.0, 1.0, 5000)
    # a tenth of the cells exactly at the threshold (up to rounding), some young ones
    near = rng.random(5000) < 0.1
    t_eval[near] = t_prog[near] + (t - t_prog[near]) / 10.0**step
    t_prog[:50] = t - rng.uniform(0.0, 2.0, 50)
    t_eval[:50] = np.minimum(t, t_prog[:50] + rng.uniform(0.0, 1.5, 50))
    due = np.flatnonzero(t > t_prog + np.maximum(t_eval - t_prog, 1.0) * 10.0**step * (1 - 1e-6))
    sure = surely_due(due, t, t_prog, t_eval, 10.0**step * (1.0 + 1e-6))
    tp, te = t_prog[due], t_eval[due]
    exact = (np.log10(np.maximum(t - tp, 1.0)) - np.log10(np.maximum(te - tp, 1.0))) > step
    assert exact[sure].all()
    assert sure.sum() > 1000 and (exact & ~sure).sum() > 100 and (~exact).sum() > 0


@pytest.mark.parametrize("scheme", ["differential", "offset"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("directions", [(False,), (True,), (False, True)])
@pytest.mark.parametrize("order", ["ascending", "shuffled", "rows"])
def test_refresh_read_entries_equal_the_rebuilt_stacks(scheme, dtype, directions, order):
    """After changing some cells, refresh_read_entries makes the stacked squares and
    differences of every direction it is given equal _square_stack/_difference_stack of the
    new conductances bit for bit, leaves a direction it is not given alone, and marks
    exactly the physical arrays that hold the cells; whatever the order of the cells
    (ascending as set_time passes them, shuffled, or runs along rows as programming does)."""
    from crossbar import CrossbarArray, CrossbarConfig, MappingConfig, NoiseConfig
    from crossbar._kernels import refresh_read_entries

    rng = np.random.default_rng(6)
    cfg = CrossbarConfig(mapping=MappingConfig(scheme=scheme, w_max=0.8),
                         noise=NoiseConfig(read_sigma_rel=0.01), **SMALL)
    arr = CrossbarArray(rng.uniform(-0.5, 0.5, (11, 37)), config=cfg, seed=0, dtype=dtype)
    g = arr._g_now().copy()
    old = {t: (arr._difference_stack(g, t), arr._square_stack(g, t)) for t in (False, True)}
    cells = np.sort(rng.choice(g.size, 60, replace=False))
    if order == "shuffled":
        cells = rng.permutation(cells)
    elif order == "rows":  # whole rows, and a row revisited after another
        cells = np.concatenate([np.arange(37, 74), np.arange(300, 310), np.arange(40, 45)])
    g.flat[cells] += rng.uniform(-3.0, 3.0, cells.size)
    n_tiles = len(arr.counters.tiles)
    reads, stacks = [], {}
    for t in (False, True):
        d_mats, g_sq = (a.copy() for a in old[t])
        stale = np.zeros((*g.shape[:2], n_tiles), dtype=bool)
        stacks[t] = (d_mats, g_sq, stale)
        reads.append((g_sq, d_mats, stale, *arr._drive_rows[t]) if t in directions
                     else arr._no_entries)
    refresh_read_entries(cells, g, tuple(reads), arr._tile_of_input, arr._tile_of_output,
                         *arr._entry_constants)
    k, p, o, i = np.unravel_index(cells, g.shape)
    marked = np.zeros((*g.shape[:2], n_tiles), dtype=bool)
    marked[k, p, arr._tile_of(o, i)] = True
    for t in (False, True):
        d_mats, g_sq, stale = stacks[t]
        if t in directions:
            np.testing.assert_array_equal(g_sq, arr._square_stack(g, t))
            np.testing.assert_array_equal(d_mats, arr._difference_stack(g, t))
            np.testing.assert_array_equal(stale, marked)
        else:
            np.testing.assert_array_equal(d_mats, old[t][0])
            np.testing.assert_array_equal(g_sq, old[t][1])
            assert not stale.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_dtype", [None, np.float32, np.float64])
@pytest.mark.parametrize("slices", [1, 3])
def test_digitise_and_sum_equals_numpy_bitwise(dtype, norm_dtype, slices):
    """Noise, ADC, shift-add, block sum and output scaling of the compiled read against the
    NumPy operations (in-place products in the precision of the norms, as NumPy takes them)."""
    from crossbar._kernels import digitise_and_sum

    rng = np.random.default_rng(slices)
    blocks, m, n, n_codes, sigma = 4, 7, 9, 31, 0.05
    cur = rng.normal(0, 20, (blocks, slices, m, n)).astype(dtype)
    var = (rng.random(cur.shape) * 400).astype(dtype)
    z = rng.standard_normal(cur.shape)
    step = rng.uniform(0.2, 2.0, (blocks, slices, n)).astype(dtype)
    weights = 3.0 ** np.arange(slices)
    norm = (np.empty(0) if norm_dtype is None
            else rng.uniform(0.1, 3.0, m).astype(norm_dtype))
    scales = rng.uniform(0.01, 0.1, n).astype(dtype)
    for noise, quantize in ((True, True), (True, False), (False, True)):
        c = (cur + (sigma * np.sqrt(var)) * z).astype(dtype) if noise else cur
        if quantize:
            st = step[:, :, None, :]
            c = np.clip(np.rint(c / st), -n_codes, n_codes) * st
        want = np.zeros((m, n), dtype)
        for b in range(blocks):
            for s in range(slices):
                want += c[b, s] * dtype(weights[s]) if s else c[b, s]
        if norm.size:
            want *= norm[:, None]
        want *= scales
        got = np.empty((m, n), dtype)
        digitise_and_sum(cur, var, z, sigma, noise, step, quantize, n_codes, weights, norm,
                         scales, got)
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def test_clamped_ages_equal_numpy():
    """clamped_ages writes max(t - t_prog, 1) of the cells, as NumPy computes it, and returns
    the largest unclamped age (-inf for no cells)."""
    from crossbar._kernels import clamped_ages

    rng = np.random.default_rng(8)
    t = 1234.5678
    t_prog = np.concatenate([rng.uniform(0.0, t, 500), t - rng.uniform(0.0, 1.0, 20), [t]])
    cells = rng.permutation(t_prog.size)[:400]
    out = np.empty(cells.size)
    oldest = clamped_ages(cells, t, t_prog, out)
    np.testing.assert_array_equal(out, np.maximum(t - t_prog[cells], 1.0))
    assert oldest == np.max(t - t_prog[cells])
    assert clamped_ages(cells[:0], t, t_prog, out[:0]) == -np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonzero_per_block_equals_numpy(dtype):
    """nonzero_per_block counts what np.add.reduceat(np.count_nonzero(x, axis=0), starts)
    counts, for ragged blocks, empty rows and signed zeros."""
    from crossbar._kernels import nonzero_per_block

    rng = np.random.default_rng(10)
    x = (rng.standard_normal((5, 37)) * (rng.random((5, 37)) < 0.4)).astype(dtype)
    x[2] = 0.0
    x[3, :4] = -0.0
    block = np.arange(37) // 16
    want = np.add.reduceat(np.count_nonzero(x, axis=0), [0, 16, 32])
    np.testing.assert_array_equal(nonzero_per_block(x, block, 3), want)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("multilevel", [False, True])
def test_record_read_adds_the_defined_counts(transposed, multilevel):
    """CrossbarCounters.record_read (compiled) adds per tile what the definitions of
    crossbar.counters give, written out column by column with NumPy."""
    from crossbar.counters import EVENT_FIELDS, CrossbarCounters, TileCounters

    rng = np.random.default_rng(11)
    tiles = [TileCounters(r, c, 16, 5, int(rng.integers(1, 4))) for r in range(3)
             for c in range(2)]
    counters = CrossbarCounters(tiles)
    counters.counts[:] = rng.integers(0, 100, counters.counts.shape)
    want = counters.counts.copy()
    active = rng.integers(0, 50, len(tiles))
    sense = rng.integers(1, 17, len(tiles))
    batch, n_slices, n_pol = 7, 3, 2
    counters.record_read(batch, active, sense, n_slices, n_pol, transposed, multilevel)
    col = {name: i for i, name in enumerate(EVENT_FIELDS)}
    phys = counters.physical_arrays
    if transposed:
        drives = active * n_pol * n_slices
        want[:, col["transposed_reads"]] += batch * phys
        want[:, col["active_columns"]] += drives
        want[:, col["transposed_adc_conversions"]] += batch * sense * phys
    else:
        drives = active * phys
        for prefix in ("", "multilevel_") if multilevel else ("",):
            want[:, col[prefix + "mvms"]] += batch * phys
            want[:, col[prefix + "active_rows"]] += drives
            want[:, col[prefix + "adc_conversions"]] += batch * sense * n_slices
    if multilevel:
        want[:, col["dac_conversions"]] += drives
    np.testing.assert_array_equal(counters.counts, want)
