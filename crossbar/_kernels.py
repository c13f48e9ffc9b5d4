"""numba kernels of the crossbar package (private; callers validate and coerce first).

Each kernel has a plain NumPy reference that ``tests/test_crossbar_kernels.py`` compares it to.
"""

from __future__ import annotations

import numpy as np
from numba import njit


IR_CONVERGED = 0
IR_NOT_CONTRACTING = 1
IR_MAX_ITERATIONS = 2


@njit(cache=True)
def fast_ir_fixed_point(
    g: np.ndarray,
    r_row: float,
    r_col: float,
    r_drv: float,
    r_sen: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, int, int, float]:  # pragma: no cover - compiled; reference: irdrop._fast_ir_reference
    """Substitutions of ``T = G * (1 - T A - B T)`` (see irdrop), serial, one pass each.

    ``g``: C-contiguous float64 ``[rows, cols]``.  With ``tol < 0`` exactly ``max_iter``
    substitutions run.  Otherwise the loop stops when the largest change of ``T`` is
    ``<= tol * max(G)`` (status ``IR_CONVERGED``), when a change is not smaller than the
    previous one (``IR_NOT_CONTRACTING``), or after ``max_iter`` substitutions
    (``IR_MAX_ITERATIONS``).  Returns ``(T, substitutions, status, ratio)`` with ``ratio``
    the last ratio of successive changes (0 before two substitutions).
    """
    m, n = g.shape
    t = g.copy()
    new = np.empty_like(g)
    ta = np.empty(n)
    col_sum = np.empty(n)
    d_tail = np.empty(n)
    head = np.empty(n)
    g_max = 0.0
    for i in range(m):
        for j in range(n):
            g_max = max(g_max, g[i, j])
    prev = -1.0
    ratio = 0.0
    for it in range(max_iter):
        for j in range(n):
            col_sum[j] = 0.0
            d_tail[j] = 0.0
            head[j] = 0.0
        for i in range(m):
            d_i = m - 1 - i
            for j in range(n):
                col_sum[j] += t[i, j]
                d_tail[j] += d_i * t[i, j]
        change = 0.0
        for i in range(m):
            d_i = m - 1 - i
            s = 0.0
            for k in range(n):
                s += t[i, k]
            c0 = 0.0
            c1 = 0.0
            for j in range(n):
                c0 += t[i, j]
                c1 += j * t[i, j]
                ta[j] = r_drv * s + r_row * (c1 + j * (s - c0))
            for j in range(n):
                bt = r_sen * col_sum[j] + r_col * (d_tail[j] + d_i * head[j])
                new[i, j] = g[i, j] * (1.0 - ta[j] - bt)
                diff = abs(new[i, j] - t[i, j])
                change = max(change, diff)
                d_tail[j] -= d_i * t[i, j]
                head[j] += t[i, j]
        t, new = new, t
        if tol >= 0.0:
            if prev > 0.0:
                ratio = change / prev
            if change <= tol * g_max:
                return t, it + 1, IR_CONVERGED, ratio
            if prev >= 0.0 and change >= prev:
                return t, it + 1, IR_NOT_CONTRACTING, ratio
        prev = change
    return t, max_iter, IR_MAX_ITERATIONS if tol >= 0.0 else IR_CONVERGED, ratio


@njit(cache=True, inline="always")
def _open_loop_target(intended, dw, s, o, i, p, g_min, g_max, level_step, q_max, q_ref,
                      differential):  # pragma: no cover - compiled
    """Target conductance of cell ``(p, o, i)`` (see :func:`open_loop_pulses`)."""
    if differential:
        lv0 = (intended[0, o, i] - g_min) / level_step
        lv1 = (intended[1, o, i] - g_min) / level_step
        w = (lv0 - lv1) * s
    else:
        w = ((intended[0, o, i] - g_min) / level_step - q_ref) * s
    q = (w + dw[o, i]) / s
    q = min(max(q, -q_max), q_max)
    if not differential:
        lv = q + q_ref
    elif p == 0:
        lv = abs(q) if q > 0 else 0.0
    else:
        lv = abs(q) if q < 0 else 0.0
    return min(max(g_min + lv * level_step, g_min), g_max)


@njit(cache=True)
def open_loop_pulses(intended, dw, scales, g_min, g_max, level_step, pulse_step, q_max,
                     q_ref, differential):  # pragma: no cover - compiled; reference: the
    # dense mapping functions of crossbar.mapping (tests/test_crossbar_array.py)
    """Open-loop pulse counts of an in-situ update, returned only for the cells that get any.

    ``intended [P, n_out, n_in]`` (µS, one slice; ``P = 2`` differential, ``1`` offset) are
    the conductances the controller intends, ``dw [n_out, n_in]`` the weight change and
    ``scales [n_out]`` the weight per level.  Per cell, with the operations of
    ``crossbar.mapping`` in the same order: intended weight, plus ``dw``, re-mapped without
    rounding (clipped to ``+-q_max``; the pair's other cell at level 0, or the offset
    ``q_ref``), target conductance clipped to the device range, and
    ``n = rint((target - intended) / pulse_step)``.  A first pass counts the cells that get
    pulses, a second collects them.

    Returns flat indices into ``intended`` (ascending), their ``n`` and targets.
    """
    n_pol, n_out, n_in = intended.shape
    n_all = np.empty((n_pol, n_out, n_in), dtype=np.int32)
    found = 0
    for p in range(n_pol):
        for o in range(n_out):
            s = scales[o]
            for i in range(n_in):
                t = _open_loop_target(intended, dw, s, o, i, p, g_min, g_max, level_step,
                                      q_max, q_ref, differential)
                n = np.rint((t - intended[p, o, i]) / pulse_step)
                n_all[p, o, i] = np.int32(n)
                found += n != 0
    out_idx = np.empty(found, dtype=np.int64)
    out_n = np.empty(found)
    out_t = np.empty(found)
    k = 0
    for p in range(n_pol):
        for o in range(n_out):
            for i in range(n_in):
                if n_all[p, o, i] != 0:
                    out_idx[k] = (p * n_out + o) * n_in + i
                    out_n[k] = n_all[p, o, i]
                    out_t[k] = _open_loop_target(intended, dw, scales[o], o, i, p, g_min,
                                                 g_max, level_step, q_max, q_ref,
                                                 differential)
                    k += 1
    return out_idx, out_n, out_t
