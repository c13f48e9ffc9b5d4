"""IR drop in a passive crossbar: an exact sparse nodal solve and a fast fixed-point model.

Circuit (the convention of badcrossbar 1.1, with separate driver and sense resistances):

* row (word line) ``i`` is driven at its left end by a voltage source ``V_i`` through
  ``r_driver_ohm``; neighbouring cells on a row are joined by ``r_row_ohm``; the right end
  is open;
* column (bit line) ``j`` runs from row 0 (open end) to row ``rows - 1``, neighbouring cells
  joined by ``r_col_ohm``; its last node is tied to the grounded (virtual-ground) sense
  amplifier through ``r_sense_ohm``;
* the device at ``(i, j)`` of conductance ``G_ij`` joins word-line node ``(i, j)`` to
  bit-line node ``(i, j)``.

The output current of column ``j`` is the current into its sense amplifier, which by
Kirchhoff's current law equals the sum of the device currents of that column.

Zero resistances are allowed: nodes joined by a zero resistance are merged before the
solve, so with all four resistances zero the result is exactly ``V @ G``.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from crossbar._checks import as_float_array, check_choice, check_int, check_real
from crossbar._kernels import (
    IR_CONVERGED,
    IR_MAX_ITERATIONS,
    IR_NOT_CONTRACTING,
    fast_ir_fixed_point,
)
from crossbar.errors import CrossbarError, CrossbarWarning


def _check_resistances(
    r_row_ohm: float, r_col_ohm: float, r_driver_ohm: float, r_sense_ohm: float
) -> tuple[float, float, float, float]:
    return (
        check_real("r_row_ohm", r_row_ohm, low=0.0),
        check_real("r_col_ohm", r_col_ohm, low=0.0),
        check_real("r_driver_ohm", r_driver_ohm, low=0.0),
        check_real("r_sense_ohm", r_sense_ohm, low=0.0),
    )


def _check_conductances(g_S: np.ndarray) -> np.ndarray:
    g = as_float_array("g_S", g_S, ndim=2)
    if g.size == 0:
        raise CrossbarError(f"g_S: expected a non-empty array, got shape {g.shape}")
    if (g < 0).any():
        raise CrossbarError("g_S: expected non-negative conductances")
    return g


class ExactIRDropSolver:
    """Exact nodal analysis of one crossbar, factorised once for many input vectors.

    Parameters
    ----------
    g_S : array [rows, cols]
        Device conductances in siemens (``>= 0``).
    r_row_ohm, r_col_ohm : float
        Word-line and bit-line segment resistances (``>= 0``).
    r_driver_ohm, r_sense_ohm : float
        Driver-to-first-cell and last-cell-to-sense resistances (``>= 0``).

    Notes
    -----
    Unknowns are the ``2 rows cols`` node voltages (fewer after merging nodes joined by zero
    resistance).  Kirchhoff's current law gives a sparse symmetric positive-definite system
    ``L_uu v_u = -L_uk v_k`` (``k``: sources and ground), factorised once with SuperLU
    (minimum-degree ordering on ``A + A^T``, no pivoting).
    """

    def __init__(
        self,
        g_S: np.ndarray,
        *,
        r_row_ohm: float,
        r_col_ohm: float,
        r_driver_ohm: float,
        r_sense_ohm: float,
    ) -> None:
        self.g_S = _check_conductances(g_S)
        r_row, r_col, r_drv, r_sen = _check_resistances(
            r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm
        )
        m, n = self.g_S.shape
        self.shape = (m, n)
        mn = m * n
        wl = np.arange(mn).reshape(m, n)  # word-line node ids
        bl = mn + wl  # bit-line node ids
        src = 2 * mn + np.arange(m)  # source node ids
        gnd = 2 * mn + m
        n_nodes = gnd + 1

        # Resistive edges (a, b, resistance) of the wires.
        wire_a = [src, wl[:, :-1].ravel(), bl[:-1, :].ravel(), bl[-1, :]]
        wire_b = [wl[:, 0], wl[:, 1:].ravel(), bl[1:, :].ravel(), np.full(n, gnd)]
        wire_r = [
            np.full(m, r_drv),
            np.full(m * (n - 1), r_row),
            np.full((m - 1) * n, r_col),
            np.full(n, r_sen),
        ]
        a = np.concatenate(wire_a)
        b = np.concatenate(wire_b)
        r = np.concatenate(wire_r)
        short = r == 0.0
        # Merge nodes joined by zero resistance.
        adj = sp.coo_matrix(
            (np.ones(int(short.sum())), (a[short], b[short])), shape=(n_nodes, n_nodes)
        )
        _, label = connected_components(adj, directed=False)
        if label[gnd] in set(label[src].tolist()):
            raise CrossbarError("all four resistances form a short from a source to ground")
        self._label = label
        # Conductance edges between distinct super-nodes: wires with r > 0 and the devices.
        ea = np.concatenate([label[a[~short]], label[wl.ravel()]])
        eb = np.concatenate([label[b[~short]], label[bl.ravel()]])
        eg = np.concatenate([1.0 / r[~short], self.g_S.ravel()])
        keep = ea != eb
        ea, eb, eg = ea[keep], eb[keep], eg[keep]
        n_lab = int(label.max()) + 1
        lap = sp.coo_matrix(
            (
                np.concatenate([eg, eg, -eg, -eg]),
                (np.concatenate([ea, eb, ea, eb]), np.concatenate([ea, eb, eb, ea])),
            ),
            shape=(n_lab, n_lab),
        ).tocsr()
        known = np.zeros(n_lab, dtype=bool)
        known[label[src]] = True
        known[label[gnd]] = True
        self._unknown = np.flatnonzero(~known)
        # Map each source's super-node to its row, to build the known-voltage vector.
        self._src_label = label[src]
        self._gnd_label = label[gnd]
        self._n_lab = n_lab
        self._known = np.flatnonzero(known)
        self._l_uk = lap[self._unknown][:, self._known]
        l_uu = lap[self._unknown][:, self._unknown].tocsc()
        # The system is symmetric positive definite: symmetric ordering, no pivoting.
        self._lu = (
            splu(
                l_uu,
                permc_spec="MMD_AT_PLUS_A",
                diag_pivot_thresh=0.0,
                options={"SymmetricMode": True},
            )
            if self._unknown.size
            else None
        )

    def node_voltages(self, v_V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Word-line and bit-line node voltages for input voltages ``v_V [M, rows]``.

        Returns
        -------
        v_wl, v_bl : arrays [M, rows, cols]
        """
        m, n = self.shape
        v = as_float_array("v_V", v_V, ndim=2, shape=(None, m))
        batch = v.shape[0]
        v_lab = np.zeros((self._n_lab, batch))
        v_lab[self._src_label] = v.T
        v_lab[self._gnd_label] = 0.0
        if self._lu is not None:
            rhs = -(self._l_uk @ v_lab[self._known])
            v_lab[self._unknown] = self._lu.solve(np.asarray(rhs))
        v_nodes = v_lab[self._label[: 2 * m * n]]  # [2 m n, M]
        v_wl = v_nodes[: m * n].T.reshape(batch, m, n)
        v_bl = v_nodes[m * n :].T.reshape(batch, m, n)
        return v_wl, v_bl

    def currents(self, v_V: np.ndarray) -> np.ndarray:
        """Column output currents in amperes ``[M, cols]`` for inputs ``v_V [M, rows]``."""
        v_wl, v_bl = self.node_voltages(v_V)
        return np.einsum("bij,ij->bj", v_wl - v_bl, self.g_S)

    def transfer_matrix(self) -> np.ndarray:
        """The exact effective conductance ``T [rows, cols]`` with ``currents(v) = v @ T``.

        The circuit is linear, so the IR-degraded array acts as one matrix.
        """
        return self.currents(np.eye(self.shape[0]))


def exact_currents(
    g_S: np.ndarray,
    v_V: np.ndarray,
    *,
    r_row_ohm: float,
    r_col_ohm: float,
    r_driver_ohm: float,
    r_sense_ohm: float,
) -> np.ndarray:
    """Column currents ``[M, cols]`` (A) of the exact nodal solve; see :class:`ExactIRDropSolver`."""
    solver = ExactIRDropSolver(
        g_S,
        r_row_ohm=r_row_ohm,
        r_col_ohm=r_col_ohm,
        r_driver_ohm=r_driver_ohm,
        r_sense_ohm=r_sense_ohm,
    )
    return solver.currents(v_V)


def _shared_drops(
    t: np.ndarray, r_row: float, r_col: float, r_drv: float, r_sen: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(T A)`` and ``(B T)`` of :func:`fast_effective_conductance` in ``O(rows cols)``."""
    m, n = t.shape
    # (T A)_ij = r_drv S_i + r_row (sum_{k<=j} k T_ik + j sum_{k>j} T_ik)
    k = np.arange(n, dtype=np.float64)
    row_sum = t.sum(axis=1, keepdims=True)
    c0 = np.cumsum(t, axis=1)
    c1 = np.cumsum(t * k, axis=1)
    ta = r_drv * row_sum + r_row * (c1 + k * (row_sum - c0))
    # (B T)_ij = r_sen S'_j + r_col sum_l (m-1-max(i,l)) T_lj; with d_l = m-1-l this is
    # sum_{l>=i} d_l T_lj + d_i sum_{l<i} T_lj
    d = (m - 1 - np.arange(m, dtype=np.float64))[:, None]
    col_sum = t.sum(axis=0, keepdims=True)
    dt_tail = np.cumsum((d * t)[::-1], axis=0)[::-1]
    t_head = np.cumsum(t, axis=0) - t
    bt = r_sen * col_sum + r_col * (dt_tail + d * t_head)
    return ta, bt


FAST_IR_FALLBACKS = ("exact", "raise")
_IR_CONDITIONS = {
    IR_NOT_CONTRACTING: "the fixed-point iteration stopped contracting",
    IR_MAX_ITERATIONS: "the fixed-point iteration did not reach its tolerance",
}


def fast_effective_conductance(
    g_S: np.ndarray,
    *,
    r_row_ohm: float,
    r_col_ohm: float,
    r_driver_ohm: float,
    r_sense_ohm: float,
    n_iter: int | None = None,
    tol: float = 1e-6,
    max_iter: int = 100,
    on_failure: str = "exact",
) -> np.ndarray:
    """Fast IR-drop model: an effective conductance matrix ``T [rows, cols]``, ``I = V @ T``.

    Let ``A_jk = r_driver + min(j, k) r_row`` be the word-line resistance shared by the paths
    to columns ``j`` and ``k``, and ``B_il = r_sense + (rows - 1 - max(i, l)) r_col`` the
    bit-line resistance shared by rows ``i`` and ``l`` on their way to the sense amplifier.
    With device currents ``I_ij = T_ij V_i`` the word-line node voltage is
    ``V_i - sum_k A_jk T_ik V_i`` and the bit-line node voltage ``sum_l B_il T_lj V_l``.
    Taking ``V_l = V_i`` in the bit-line term (exact when all rows are driven alike) gives the
    fixed point

        T = G * (1 - T A - B T),

    solved by substitution from ``T = G``.  The word-line part is exact for any input; the
    bit-line part approximates the currents of the other rows by a uniform drive.  ``T A``
    and ``B T`` cost ``O(rows cols)`` with cumulative sums, so a read costs one matrix
    product and a conductance change ``O(iterations rows cols)``.

    The substitution is a linear iteration; it converges only while it contracts (roughly
    ``max(G A + B G) < 1``: wire drops well below the read voltage).  By default it runs
    until the largest change of ``T`` is ``<= tol * max(G)``; if a change is not smaller
    than the previous one (not contracting) or ``max_iter`` substitutions pass, the model
    is not trusted: with ``on_failure="exact"`` a :class:`~crossbar.errors.CrossbarWarning`
    names the condition and the exact nodal solve (:class:`ExactIRDropSolver`) is returned;
    with ``on_failure="raise"`` a :class:`~crossbar.errors.CrossbarError` is raised.

    Parameters
    ----------
    g_S : array [rows, cols]
        Conductances in siemens.
    n_iter : int or None
        ``None`` (default): iterate to ``tol`` as above.  An int ``>= 1``: exactly that many
        substitutions, no checks (the order-``n_iter`` expansion; ``1`` is the first-order
        model ``G * (1 - G A - B G)``, for studying the approximation itself).
    tol : float
        Relative tolerance (``> 0``).
    max_iter : int
        Substitutions allowed (``>= 1``).
    on_failure : {"exact", "raise"}
        What to do when the iteration does not converge.

    Returns
    -------
    array [rows, cols]
        ``T`` in siemens; equal to ``g_S`` when all resistances are zero.
    """
    g = _check_conductances(g_S)
    r = _check_resistances(r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm)
    check_choice("on_failure", on_failure, FAST_IR_FALLBACKS)
    if n_iter is not None:
        check_int("n_iter", n_iter, low=1)
        return fast_ir_fixed_point(g, *r, n_iter, -1.0)[0]
    if not check_real("tol", tol) > 0:
        raise CrossbarError(f"tol={tol!r}: expected a value > 0")
    check_int("max_iter", max_iter, low=1)
    return fast_ir_unchecked(g, r, tol, max_iter, on_failure)


def fast_ir_unchecked(
    g_S: np.ndarray,
    resistances: tuple[float, float, float, float],
    tol: float,
    max_iter: int,
    on_failure: str,
) -> np.ndarray:
    """:func:`fast_effective_conductance` (iterated to ``tol``) for callers that validated
    their input once: ``g_S [rows, cols]`` float64 ``>= 0``, ``resistances = (r_row, r_col,
    r_driver, r_sense)`` in ohms (``CrossbarArray`` recomputes single tiles with it)."""
    g = np.ascontiguousarray(g_S)
    r = resistances
    t, done, status, ratio = fast_ir_fixed_point(g, *r, max_iter, tol)
    if status == IR_CONVERGED:
        return t
    condition = (
        f"fast IR-drop model: {_IR_CONDITIONS[status]} after {done} substitutions "
        f"(ratio of successive changes {ratio:.3g}; tol={tol}, max_iter={max_iter}) for a "
        f"{g.shape[0]}x{g.shape[1]} array with max conductance {g.max():.3g} S and wires "
        f"r_row={r[0]}, r_col={r[1]}, r_driver={r[2]}, r_sense={r[3]} ohm"
    )
    if on_failure == "raise":
        raise CrossbarError(condition + "; expected a contracting iteration (use the exact solve)")
    warnings.warn(condition + "; using the exact nodal solve instead", CrossbarWarning, stacklevel=3)
    return ExactIRDropSolver(
        g, r_row_ohm=r[0], r_col_ohm=r[1], r_driver_ohm=r[2], r_sense_ohm=r[3]
    ).transfer_matrix()


def _fast_ir_reference(
    g: np.ndarray, r_row: float, r_col: float, r_drv: float, r_sen: float, n_iter: int
) -> np.ndarray:
    """Plain NumPy version of the compiled fixed point (the kernel's test oracle)."""
    t = g
    for _ in range(n_iter):
        ta, bt = _shared_drops(t, r_row, r_col, r_drv, r_sen)
        t = g * (1.0 - ta - bt)
    return t
