"""IR drop: the exact solver against badcrossbar, zero-resistance limits, the fast model's error."""

import warnings

import numpy as np
import pytest

from crossbar import (
    NEURRAM_HFO2,
    CrossbarError,
    ExactIRDropSolver,
    exact_currents,
    fast_effective_conductance,
)

with warnings.catch_warnings(record=True):
    # badcrossbar forces an ImportWarning filter to "always" and warns that its plotting part
    # (pycairo) is missing; the solver is not affected.  record=True keeps it out of the run.
    badcrossbar = pytest.importorskip("badcrossbar")


def _r(r_row, r_col, r_drv, r_sen):
    return {"r_row_ohm": r_row, "r_col_ohm": r_col, "r_driver_ohm": r_drv, "r_sense_ohm": r_sen}


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1), (4, 7), (9, 3), (12, 12)])
@pytest.mark.parametrize(
    "r_wl, r_bl", [(1.0, 1.0), (0.35, 2.5), (5.0, 0.2), (0.0, 1.5), (2.0, 0.0)]
)
def test_exact_solver_equals_badcrossbar(shape, r_wl, r_bl):
    rng = np.random.default_rng(sum(shape))
    g = rng.uniform(1e-6, 40e-6, shape)
    v = rng.uniform(-0.2, 0.2, (3, shape[0]))
    ours = exact_currents(g, v, **_r(r_wl, r_bl, r_wl, r_bl))
    ref = badcrossbar.compute(
        v.T, 1.0 / g, r_i_word_line=r_wl, r_i_bit_line=r_bl, node_voltages=False, all_currents=False
    ).currents.output
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=0)


def test_node_voltages_equal_badcrossbar():
    rng = np.random.default_rng(3)
    g = rng.uniform(1e-6, 40e-6, (5, 4))
    v = rng.uniform(0, 0.2, (1, 5))
    wl, bl = ExactIRDropSolver(g, **_r(3.0, 2.0, 3.0, 2.0)).node_voltages(v)
    ref = badcrossbar.compute(v.T, 1.0 / g, r_i_word_line=3.0, r_i_bit_line=2.0).voltages
    np.testing.assert_allclose(wl[0], ref.word_line, rtol=1e-9)
    np.testing.assert_allclose(bl[0], ref.bit_line, rtol=1e-9)


def test_zero_wire_resistance_is_the_ideal_mvm():
    rng = np.random.default_rng(4)
    g = rng.uniform(1e-6, 40e-6, (8, 6))
    v = rng.uniform(-0.2, 0.2, (4, 8))
    np.testing.assert_allclose(exact_currents(g, v, **_r(0, 0, 0, 0)), v @ g, rtol=1e-12)
    np.testing.assert_array_equal(fast_effective_conductance(g, **_r(0, 0, 0, 0)), g)


def _dense_reference(g, v, r_row, r_col, r_drv, r_sen):
    """Independent dense nodal solve written cell by cell (all resistances > 0)."""
    m, n = g.shape
    N = 2 * m * n

    def wl(i, j):
        return i * n + j

    def bl(i, j):
        return m * n + i * n + j

    A = np.zeros((N, N))
    rhs = np.zeros((N, v.shape[0]))

    def add(a, b, cond):
        A[a, a] += cond
        if b is not None:
            A[b, b] += cond
            A[a, b] -= cond
            A[b, a] -= cond

    for i in range(m):
        add(wl(i, 0), None, 1 / r_drv)
        rhs[wl(i, 0)] += v[:, i] / r_drv
        for j in range(n):
            add(wl(i, j), bl(i, j), g[i, j])
            if j + 1 < n:
                add(wl(i, j), wl(i, j + 1), 1 / r_row)
            if i + 1 < m:
                add(bl(i, j), bl(i + 1, j), 1 / r_col)
    for j in range(n):
        add(bl(m - 1, j), None, 1 / r_sen)
    x = np.linalg.solve(A, rhs)
    return np.array([x[bl(m - 1, j)] / r_sen for j in range(n)]).T


def test_exact_solver_with_distinct_driver_and_sense_resistances():
    rng = np.random.default_rng(9)
    g = rng.uniform(1e-6, 40e-6, (5, 4))
    v = rng.uniform(-0.2, 0.2, (3, 5))
    rs = (0.7, 1.9, 13.0, 4.0)
    np.testing.assert_allclose(
        exact_currents(g, v, **_r(*rs)), _dense_reference(g, v, *rs), rtol=1e-9
    )


def test_zero_wire_segments_with_driver_and_sense_resistance_lump_the_lines():
    """r_row = r_col = 0: each row is one node behind r_drv, each column one node behind r_sen."""
    rng = np.random.default_rng(10)
    g = rng.uniform(1e-6, 40e-6, (5, 4))
    v = rng.uniform(0, 0.2, (2, 5))
    r_drv, r_sen = 50.0, 80.0
    m, n = g.shape
    A = np.block(
        [
            [np.diag(1 / r_drv + g.sum(axis=1)), -g],
            [-g.T, np.diag(1 / r_sen + g.sum(axis=0))],
        ]
    )
    rhs = np.vstack([v.T / r_drv, np.zeros((n, v.shape[0]))])
    expected = np.linalg.solve(A, rhs)[m:].T / r_sen
    np.testing.assert_allclose(exact_currents(g, v, **_r(0, 0, r_drv, r_sen)), expected, rtol=1e-9)


@pytest.mark.parametrize(
    "rs", [(0, 1, 0, 1), (1, 0, 1, 0), (1, 1, 0, 0), (1, 1, 1, 0), (0, 1, 1, 0)]
)
def test_partly_zero_resistances_are_the_limit_of_small_ones(rs):
    """Merged nodes (r = 0) agree with the unmerged circuit at r = 1e-4 ohm (effect ~1e-8)."""
    rng = np.random.default_rng(5)
    g = rng.uniform(1e-6, 40e-6, (5, 4))
    v = rng.uniform(0, 0.2, (2, 5))
    exact0 = exact_currents(g, v, **_r(*rs))
    small = [r if r > 0 else 1e-4 for r in rs]
    np.testing.assert_allclose(exact0, exact_currents(g, v, **_r(*small)), rtol=1e-6)
    np.testing.assert_allclose(exact0, _dense_reference(g, v, *small), rtol=1e-6)


def test_transfer_matrix_is_the_linear_map():
    rng = np.random.default_rng(6)
    g = rng.uniform(1e-6, 40e-6, (6, 5))
    solver = ExactIRDropSolver(g, **_r(2.0, 1.0, 3.0, 0.5))
    v = rng.uniform(0, 0.2, (3, 6))
    np.testing.assert_allclose(v @ solver.transfer_matrix(), solver.currents(v), rtol=1e-10)


def test_fast_model_is_first_order_exact():
    """Halving the wire resistance quarters the fast model's error (second-order remainder)."""
    rng = np.random.default_rng(7)
    g = rng.uniform(1e-6, 40e-6, (16, 16))
    v = rng.uniform(0, 0.2, (4, 16))
    errs = []
    for r in (2.0, 1.0, 0.5):
        exact = exact_currents(g, v, **_r(r, r, r, r))
        fast = v @ fast_effective_conductance(g, **_r(r, r, r, r), n_iter=1)
        errs.append(np.abs(fast - exact).max())
    assert 3.5 < errs[0] / errs[1] < 4.5
    assert 3.5 < errs[1] / errs[2] < 4.5


@pytest.mark.parametrize("n_iter", [1, 2, 3])
def test_fast_model_iterations_gain_an_order_each(n_iter):
    """Uniform drive: error ~ r^(n_iter + 1), so halving r divides it by about 2^(n_iter + 1)."""
    rng = np.random.default_rng(11)
    g = rng.uniform(1e-6, 40e-6, (12, 10))
    v = np.full((1, 12), 0.2)
    errs = [
        np.abs(
            v @ fast_effective_conductance(g, **_r(r, r, r, r), n_iter=n_iter)
            - exact_currents(g, v, **_r(r, r, r, r))
        ).max()
        for r in (1.0, 0.5)
    ]
    ratio = errs[0] / errs[1]
    assert 2 ** (n_iter + 1) * 0.75 < ratio < 2 ** (n_iter + 1) * 1.35


def test_fast_model_fixed_point_is_exact_for_uniform_drive():
    rng = np.random.default_rng(12)
    g = rng.uniform(1e-6, 40e-6, (20, 15))
    v = np.full((1, 20), 0.2)
    rs = _r(1.0, 2.0, 3.0, 0.5)
    t = fast_effective_conductance(g, **rs, n_iter=60)
    np.testing.assert_allclose(v @ t, exact_currents(g, v, **rs), rtol=1e-9)


def test_fast_model_error_at_128_with_the_preset_wires():
    """Target of the issue: mean relative column-current error <= 2 % (128 x 128, preset)."""
    dev = NEURRAM_HFO2
    rng = np.random.default_rng(8)
    g = rng.uniform(dev.g_min_uS, dev.g_max_uS, (128, 128)) * 1e-6
    v = (rng.random((16, 128)) < 0.5) * dev.v_read_V
    r = _r(dev.r_wire_row_ohm, dev.r_wire_col_ohm, dev.r_driver_ohm, dev.r_sense_ohm)
    exact = exact_currents(g, v, **r)
    fast = v @ fast_effective_conductance(g, **r)
    ideal = v @ g
    err_fast = np.mean(np.abs(fast - exact) / exact)
    err_ideal = np.mean(np.abs(ideal - exact) / exact)
    assert err_fast <= 0.02
    assert err_fast < err_ideal / 20
    # worst case: every cell at g_max
    g_max = np.full((128, 128), dev.g_max_uS * 1e-6)
    exact = exact_currents(g_max, v, **r)
    assert np.mean(np.abs(v @ fast_effective_conductance(g_max, **r) - exact) / exact) <= 0.02


def test_bad_inputs_raise():
    g = np.full((2, 2), 1e-5)
    with pytest.raises(CrossbarError, match="r_row_ohm"):
        ExactIRDropSolver(g, **_r(-1, 0, 0, 0))
    with pytest.raises(CrossbarError, match="g_S"):
        ExactIRDropSolver(-g, **_r(1, 1, 1, 1))
    with pytest.raises(CrossbarError, match="v_V"):
        ExactIRDropSolver(g, **_r(1, 1, 1, 1)).currents(np.ones((1, 3)))
    with pytest.raises(CrossbarError, match="g_S"):
        fast_effective_conductance(np.ones(3), **_r(1, 1, 1, 1))
    with pytest.raises(CrossbarError, match="n_iter"):
        fast_effective_conductance(g, **_r(1, 1, 1, 1), n_iter=0)
