"""numba kernels of the crossbar package (private; callers validate and coerce first).

Each kernel has a plain NumPy reference that ``tests/test_crossbar_kernels.py`` compares it to.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fast_ir_fixed_point(
    g: np.ndarray, r_row: float, r_col: float, r_drv: float, r_sen: float, n_iter: int
) -> np.ndarray:  # pragma: no cover - compiled; reference: irdrop._fast_ir_reference
    """``n_iter`` substitutions of ``T = G * (1 - T A - B T)`` (see irdrop), serial, one pass each.

    ``g``: C-contiguous float64 ``[rows, cols]``; returns a new array.
    """
    m, n = g.shape
    t = g.copy()
    new = np.empty_like(g)
    ta = np.empty(n)
    col_sum = np.empty(n)
    d_tail = np.empty(n)
    head = np.empty(n)
    for _ in range(n_iter):
        for j in range(n):
            col_sum[j] = 0.0
            d_tail[j] = 0.0
            head[j] = 0.0
        for i in range(m):
            d_i = m - 1 - i
            for j in range(n):
                col_sum[j] += t[i, j]
                d_tail[j] += d_i * t[i, j]
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
                d_tail[j] -= d_i * t[i, j]
                head[j] += t[i, j]
        t, new = new, t
    return t
