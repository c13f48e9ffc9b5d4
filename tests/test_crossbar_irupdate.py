"""Incremental fast IR drop (``ir_fast_update="incremental"``) against the full solve.

The claim (``crossbar._kernels.fast_ir_incremental``): after any stream of conductance
changes, every physical array's effective conductances are within ``ir_fast_tolerance *
max(G of that array)`` of what solving it again from scratch (``ir_fast_update="full"``)
gives, and the read matrices of both directions hold exactly the difference of those
effective conductances.
"""

import numpy as np
import pytest

from crossbar import CrossbarArray, CrossbarConfig, CrossbarError, MappingConfig, NoiseConfig
from crossbar._kernels import _cross_bounds, _cross_drop_add
from crossbar.devices import NEURRAM_HFO2
from crossbar.irdrop import _shared_drops
from crossbar.update import UpdateConfig

TILES = {"tile_rows": 32, "tile_cols": 24}  # 40 x 70 weights: 3 x 2 tiles, ragged edges
SHAPE = (40, 70)


def _pair(noise: NoiseConfig, scheme: str = "differential", device=NEURRAM_HFO2,
          update: str = "accumulate") -> tuple[CrossbarArray, CrossbarArray]:
    """The same chip twice (same seed and weights): IR drop updated incrementally, and
    solved again for every changed array."""
    w = np.random.default_rng(7).uniform(-0.5, 0.5, SHAPE)
    arrays = []
    for how in ("incremental", "full"):
        cfg = CrossbarConfig(mapping=MappingConfig(scheme=scheme, w_max=0.8), noise=noise,
                             update=UpdateConfig(mode=update), ir_drop="fast",
                             ir_fast_update=how, **TILES)
        arrays.append(CrossbarArray(w, device, cfg, seed=3, dtype=np.float64))
    return arrays[0], arrays[1]


def _worst_ratio(inc: CrossbarArray, full: CrossbarArray) -> float:
    """Largest ``|T_inc - T_full| / (tol * max G)`` over the physical arrays and both read
    directions (after reads brought both up to date); also checks that the read matrices
    are the difference stacks of the effective conductances, entry for entry."""
    np.testing.assert_array_equal(inc._g_now(), full._g_now())  # same conductances
    g = inc._g_now()
    tol = inc.config.ir_fast_tolerance
    worst = 0.0
    for transposed in (False, True):
        d_inc, _ = inc._read_matrices(transposed)
        full._read_matrices(transposed)
        e_inc, e_full = inc._read_cache[transposed][0], full._read_cache[transposed][0]
        np.testing.assert_array_equal(d_inc, inc._difference_stack(e_inc, transposed))
        for tile in range(len(inc.counters.tiles)):
            cb, rb = inc._tile_slices(tile)
            for k in range(g.shape[0]):
                for p in range(g.shape[1]):
                    dev = np.abs(e_inc[k, p, cb, rb] - e_full[k, p, cb, rb]).max()
                    worst = max(worst, dev / (tol * g[k, p, cb, rb].max()))
    return worst


def _stream(inc: CrossbarArray, full: CrossbarArray, windows: int, rng: np.random.Generator,
            break_bound: bool = False) -> float:
    """A chip-in-the-loop stream on both arrays: forward and transposed reads, updates of
    one cell, of a few outputs, of many cells, and the clock (relaxation steps of recently
    programmed cells, and of all cells at once); returns the worst ratio seen.
    ``break_bound``: the incremental array's deviation bounds are reset to minus infinity
    before every read, so it never re-solves (the test must then fail)."""
    x = (rng.random((3, SHAPE[1])) < 0.4).astype(np.float64)
    d = rng.standard_normal((3, SHAPE[0]))
    worst = 0.0
    for window in range(windows):
        kind = window % 4
        dw = np.zeros(SHAPE)
        if kind == 0:  # one weight
            dw[rng.integers(SHAPE[0]), rng.integers(SHAPE[1])] = rng.choice([-0.2, 0.2])
        elif kind == 1:  # a few outputs (a DFA-like outer product)
            rows = rng.integers(0, SHAPE[0], 2)
            dw[rows] = rng.uniform(-0.08, 0.08, (2, SHAPE[1])) * (rng.random((2, SHAPE[1])) < 0.3)
        elif kind == 2:  # many cells
            dw = rng.uniform(-0.05, 0.05, SHAPE) * (rng.random(SHAPE) < 0.3)
        for arr in (inc, full):
            arr.apply_update(dw)
            if kind == 3:
                arr.set_time(arr.time_s + 1.28 * (1 + 30 * (window % 8 == 3)))
        if break_bound:
            for state in inc._ir_states.values():
                state.sigma[:] = -np.inf
        for arr in (inc, full):
            arr.forward(x)
            arr.backward(d)
        worst = max(worst, _worst_ratio(inc, full))
    return worst


@pytest.mark.parametrize("scheme", ["differential", "offset"])
@pytest.mark.parametrize("noise", [
    NoiseConfig(sa0_fraction=0.03, sa1_fraction=0.03),  # Wan 2022 spread, relaxation
    NoiseConfig(noise_model="relative", prog_sigma_rel=0.03, drift_nu=0.05,
                relax_sigma_rel=0.02),
], ids=["wan2022_faults", "relative_drift"])
def test_incremental_stays_within_the_tolerance_of_the_full_solve(scheme, noise):
    """Long random streams (single pulses, a few outputs, many cells, clock steps), SA0 and
    SA1 cells, differential and offset mappings, both read directions, ragged tiles: every
    array's incremental effective conductances stay within ``ir_fast_tolerance * max G`` of
    the full solve's; the updates along changed lines, the re-solves from the previous
    solution and the cold solves were all exercised."""
    inc, full = _pair(noise, scheme)
    worst = _stream(inc, full, 60, np.random.default_rng(11))
    assert worst <= 1.0
    counts = inc.ir_update_counts
    assert counts["sparse"] > 0 and counts["dense"] > 0 and counts["cold"] > 0
    assert full.ir_update_counts["cold"] == 0  # the full mode does not keep a state


def test_a_broken_bound_makes_the_comparison_fail():
    """The same comparison detects an incremental update that never re-solves: with the
    bounds reset before every read, arrays with thicker wires (0.35 -> 3 ohm, so that the
    neglected second-order terms grow ~70x; the substitution still contracts by q ~ 0.1)
    drift beyond the tolerance within the stream."""
    dev = NEURRAM_HFO2.replace(r_wire_row_ohm=3.0, r_wire_col_ohm=3.0, r_driver_ohm=3.0,
                               r_sense_ohm=3.0)
    quiet = NoiseConfig.ideal()
    inc, full = _pair(quiet, device=dev)
    assert _stream(inc, full, 60, np.random.default_rng(11)) <= 1.0  # with the bound: holds
    inc, full = _pair(quiet, device=dev)
    assert _stream(inc, full, 60, np.random.default_rng(11), break_bound=True) > 1.0


def test_first_solve_equals_the_full_mode_bitwise():
    """An array's first solve (no state yet) is the full solve itself, bit for bit."""
    inc, full = _pair(NoiseConfig())
    for transposed in (False, True):
        np.testing.assert_array_equal(inc._read_matrices(transposed)[0],
                                      full._read_matrices(transposed)[0])


def _cross(m: int, n: int, rng: np.random.Generator):
    row_in = np.zeros(m, dtype=bool)
    col_in = np.zeros(n, dtype=bool)
    row_in[rng.choice(m, 3, replace=False)] = True
    col_in[rng.choice(n, 2, replace=False)] = True
    on = row_in[:, None] | col_in[None, :]
    return row_in, col_in, np.flatnonzero(row_in), np.flatnonzero(col_in), on


@pytest.mark.parametrize("shape", [(17, 9), (8, 30)])
def test_cross_drops_equal_the_dense_drops_on_the_cross(shape):
    """``_cross_drop_add`` adds ``dt A + B dt`` (the dense cumulative-sum reference,
    ``irdrop._shared_drops``) at every cell of the cross, for a change zero off it, and
    nothing elsewhere."""
    rng = np.random.default_rng(2)
    m, n = shape
    r = (0.3, 0.5, 0.7, 1.1)  # r_row, r_col, r_driver, r_sense
    row_in, col_in, rows, cols, on = _cross(m, n, rng)
    dt = np.where(on, rng.standard_normal(shape), 0.0)
    drop = np.zeros(shape)
    _cross_drop_add(dt, drop, row_in, col_in, rows, cols, *r, np.empty((3, n)))
    ta, bt = _shared_drops(dt, *r)
    np.testing.assert_allclose(drop[on], (ta + bt)[on], rtol=1e-12, atol=1e-12)
    assert not drop[~on].any()


@pytest.mark.parametrize("shape", [(17, 9), (8, 30)])
def test_cross_bounds_bound_the_dense_drops(shape):
    """``_cross_bounds`` bounds ``|dt A + B dt|`` everywhere and off the cross."""
    rng = np.random.default_rng(4)
    m, n = shape
    r_row, r_col, r_drv, r_sen = 0.3, 0.5, 0.7, 1.1
    for _ in range(20):
        row_in, col_in, rows, cols, on = _cross(m, n, rng)
        dt = np.where(on, rng.standard_normal(shape), 0.0)
        ta, bt = _shared_drops(dt, r_row, r_col, r_drv, r_sen)
        everywhere, off = _cross_bounds(dt, row_in, col_in, rows, cols,
                                        r_drv + r_row * np.arange(n),
                                        r_sen + r_col * (m - 1 - np.arange(m)), np.empty(n))
        assert np.abs(ta + bt).max() <= everywhere * (1 + 1e-12)
        assert np.abs(ta + bt)[~on].max() <= off * (1 + 1e-12)
        assert off <= everywhere


def test_ir_fast_update_is_checked():
    with pytest.raises(CrossbarError, match="ir_fast_update"):
        CrossbarConfig(ir_fast_update="sometimes")
