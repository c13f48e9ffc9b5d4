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
