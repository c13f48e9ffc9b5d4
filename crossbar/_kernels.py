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
    g_max = 0.0
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            g_max = max(g_max, g[i, j])
    t, done, status, ratio, _ = _ir_iterate(g, g.copy(), np.empty_like(g), r_row, r_col,
                                            r_drv, r_sen, max_iter, tol, g_max)
    return t, done, status, ratio


@njit(cache=True)
def _ir_iterate(g, t, new, r_row, r_col, r_drv, r_sen, max_iter, tol, g_max):
    # pragma: no cover - compiled
    """The substitutions of :func:`fast_ir_fixed_point` from the start ``t`` (``new`` a
    buffer of the same shape; both are overwritten).  Returns ``(T, substitutions, status,
    ratio, change)`` (``T`` is ``t`` or ``new``) with ``change`` the largest change of the
    last substitution.

    Even substitutions read ``t`` and write ``new``, odd ones the other way round, each
    with the roles fixed at its call (exchanging the two arrays in a variable instead
    keeps the compiler from vectorising the substitution: twice the time)."""
    work = np.empty((6, g.shape[1]))
    prev = -1.0
    ratio = 0.0
    change = 0.0
    for it in range(max_iter):
        if it % 2 == 0:
            change = _substitute(g, t, new, r_row, r_col, r_drv, r_sen, work)
        else:
            change = _substitute(g, new, t, r_row, r_col, r_drv, r_sen, work)
        if tol >= 0.0:
            if prev > 0.0:
                ratio = change / prev
            if change <= tol * g_max:
                return new if it % 2 == 0 else t, it + 1, IR_CONVERGED, ratio, change
            if prev >= 0.0 and change >= prev:
                return new if it % 2 == 0 else t, it + 1, IR_NOT_CONTRACTING, ratio, change
        prev = change
    return (new if max_iter % 2 else t), max_iter, \
        IR_MAX_ITERATIONS if tol >= 0.0 else IR_CONVERGED, ratio, change


@njit(cache=True)
def _substitute(g, t, new, r_row, r_col, r_drv, r_sen, work):
    # pragma: no cover - compiled
    """One substitution ``new = G * (1 - T A - B T)`` from ``t`` (``work [6, cols]``
    scratch); returns the largest change ``max |new - t|``, kept per column first (which
    vectorises: a maximum does not depend on the order)."""
    m, n = g.shape
    col_sum, d_tail, head, c0_row, c1_row = work[0], work[1], work[2], work[3], work[4]
    col_change = work[5]
    for j in range(n):
        col_sum[j] = 0.0
        d_tail[j] = 0.0
        head[j] = 0.0
        col_change[j] = 0.0
    for i in range(m):
        d_i = m - 1 - i
        for j in range(n):
            col_sum[j] += t[i, j]
            d_tail[j] += d_i * t[i, j]
    change = 0.0
    for i in range(m):
        d_i = m - 1 - i
        # prefix sums of the row (serial); the last is the row sum
        c0 = 0.0
        c1 = 0.0
        for j in range(n):
            c0 += t[i, j]
            c1 += j * t[i, j]
            c0_row[j] = c0
            c1_row[j] = c1
        s = c0
        for j in range(n):  # vectorises
            ta = r_drv * s + r_row * (c1_row[j] + j * (s - c0_row[j]))
            bt = r_sen * col_sum[j] + r_col * (d_tail[j] + d_i * head[j])
            new[i, j] = g[i, j] * (1.0 - ta - bt)
            d_tail[j] -= d_i * t[i, j]
            head[j] += t[i, j]
        for j in range(n):  # per column: vectorises (a maximum does not depend on order)
            col_change[j] = max(col_change[j], abs(new[i, j] - t[i, j]))
    for j in range(n):
        change = max(change, col_change[j])
    return change


@njit(cache=True, inline="always")
def _open_loop_level(intended, dw, s, o, i, g_min, level_step, q_max, q_ref,
                     differential):  # pragma: no cover - compiled
    """Wanted level (clipped) of weight ``(o, i)`` after the change (see
    :func:`open_loop_pulses`)."""
    if differential:
        lv0 = (intended[0, o, i] - g_min) / level_step
        lv1 = (intended[1, o, i] - g_min) / level_step
        w = (lv0 - lv1) * s
    else:
        w = ((intended[0, o, i] - g_min) / level_step - q_ref) * s
    q = (w + dw[o, i]) / s
    return min(max(q, -q_max), q_max)


@njit(cache=True, inline="always")
def _open_loop_target(q, p, g_min, g_max, level_step, q_ref,
                      differential):  # pragma: no cover - compiled
    """Target conductance of cell ``p`` of a weight whose wanted level is ``q``."""
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
    pulses (the wanted level once per weight), a second collects them.

    Returns flat indices into ``intended`` (ascending), their ``n`` and targets.
    """
    n_pol, n_out, n_in = intended.shape
    n_all = np.empty((n_pol, n_out, n_in), dtype=np.int32)
    q_row = np.empty(n_in)
    found = 0
    for o in range(n_out):
        s = scales[o]
        for i in range(n_in):  # vectorises
            q_row[i] = _open_loop_level(intended, dw, s, o, i, g_min, level_step, q_max, q_ref,
                                        differential)
        for p in range(n_pol):
            for i in range(n_in):  # vectorises
                t = _open_loop_target(q_row[i], p, g_min, g_max, level_step, q_ref,
                                      differential)
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
                    q = _open_loop_level(intended, dw, scales[o], o, i, g_min, level_step,
                                         q_max, q_ref, differential)
                    out_t[k] = _open_loop_target(q, p, g_min, g_max, level_step, q_ref,
                                                 differential)
                    k += 1
    return out_idx, out_n, out_t


@njit(cache=True, error_model="numpy")  # no zero-division checks: the divisions vectorise
def digitise_and_sum(cur, var, z, sigma, add_noise, step, quantize, n_codes, weights, norm,
                     scales, out):
    # pragma: no cover - compiled; reference: the NumPy read path of tests/test_crossbar_kernels.py
    """Read noise, per-tile ADC, the digital sum over tiles and slices and the output
    scaling, in one pass.

    ``cur [B, S, M, N]``: partial column currents of the ``B`` drive blocks and ``S``
    slices; ``var`` the same shape (``x^2 @ G^2`` sums) and ``z`` standard normals (float64,
    same shape) when ``add_noise``.  Per entry, with NumPy's operations and types:
    ``c + (sigma * sqrt(var)) * z`` (noise added in float64, rounded to the current's
    dtype), then if ``quantize`` ``clip(rint(c / st), -n_codes, n_codes) * st`` with
    ``st = step[b, s, n]`` (the ADC step of the tile and slice that senses line ``n``, > 0),
    times ``weights[s]`` (``n_levels ** s``) for ``s > 0``, summed over blocks and slices in
    that order into ``out [M, N]`` (overwritten, starting from zeros).  Then, if not empty,
    ``out *= norm[:, None]`` (``norm [M]``, float32 or float64: the product is taken in
    ``norm``'s precision, as NumPy's in-place product) and ``out *= scales`` (``[N]``).
    """
    B, S, M, N = cur.shape
    dt = out.dtype.type
    sig = dt(sigma)
    lo = dt(-n_codes)
    hi = dt(n_codes)
    out[:] = 0.0
    for b in range(B):
        for s in range(S):
            w = dt(weights[s])
            for m in range(M):
                for n in range(N):
                    st = step[b, s, n]
                    c = cur[b, s, m, n]
                    if add_noise:
                        sd = sig * np.sqrt(var[b, s, m, n])
                        c = dt(np.float64(c) + np.float64(sd) * z[b, s, m, n])
                    if quantize:
                        c = min(max(np.rint(c / st), lo), hi) * st
                    if s > 0:
                        c = c * w
                    out[m, n] += c
    if norm.size:
        for m in range(M):
            for n in range(N):
                out[m, n] = out[m, n] * norm[m]
    if scales.size:
        for m in range(M):
            for n in range(N):
                out[m, n] = out[m, n] * scales[n]


@njit(cache=True)
def all_binary(x):  # pragma: no cover - compiled; reference: tests/test_crossbar_periphery.py
    """Whether every entry of ``x`` (1-d) is 0 or 1 (stops at the first that is not)."""
    for v in x:
        if v != 0 and v != 1:
            return False
    return True


@njit(cache=True, error_model="numpy")
def normalise_rows(x, xn, norm):
    # pragma: no cover - compiled; reference: tests/test_crossbar_periphery.py
    """``norm[m] = max_j |x[m, j]|`` (1 where that is 0 or NaN, as ``np.where(norm > 0,
    norm, 1)`` leaves it) and ``xn = x / norm[:, None]``; ``x, xn [M, n]``, ``norm [M]``,
    one float dtype."""
    M, n = x.shape
    for m in range(M):
        top = x.dtype.type(0)
        nan = False
        for j in range(n):
            a = abs(x[m, j])
            if a > top:
                top = a
            elif a != a:
                nan = True
        nm = top if top > 0 and not nan else x.dtype.type(1)
        norm[m] = nm
        for j in range(n):
            xn[m, j] = x[m, j] / nm


@njit(cache=True)
def stack_inputs(x, xs, x_sq):
    # pragma: no cover - compiled; reference: tests/test_crossbar_array.py (_numpy_read)
    """The operands of a stacked read: ``xs [blocks, M, size]`` holds the columns of ``x
    [M, n]`` in runs of ``size`` per drive block (zero padded after column ``n``);
    ``x_sq`` (if not empty) ``xs * xs``."""
    blocks, M, size = xs.shape
    n = x.shape[1]
    for b in range(blocks):
        for m in range(M):
            for j in range(size):
                c = b * size + j
                v = x[m, c] if c < n else x.dtype.type(0)
                xs[b, m, j] = v
                if x_sq.size:
                    x_sq[b, m, j] = v * v


@njit(cache=True)
def fast_ir_tiles(g_uS, eff, jobs, row_bounds, col_bounds, n_cb, transposed, r_row, r_col,
                  r_drv, r_sen, max_iter, tol, d_mats, step, g_ref, differential, failed):
    # pragma: no cover - compiled
    """The fast IR-drop model of several physical arrays, and their read matrices, in place.

    ``g_uS, eff [S, P, n_out, n_in]`` (µS); ``jobs [J, 3]`` rows ``(slice, polarity, tile)``
    with tiles row-major over (row block, column block); ``row_bounds``, ``col_bounds``
    the block edges.  Each array is driven along its rows (inputs), or along its columns
    for a transposed read, and computed exactly as :func:`fast_ir_fixed_point` of the
    conductances in siemens (``g * 1e-6``, iterated to ``tol``), scaled back by ``1e6``; a
    job whose iteration does not converge is flagged in ``failed [J]`` (1) and its ``eff``
    left as it was, for the caller to handle.  Then the tile's
    entries of ``d_mats [S, blocks, size, sense]`` (if not empty) become
    ``(eff+ - eff-) / step`` (or ``(eff - g_ref) / step``), stacked by drive block as in
    ``CrossbarArray._read_matrices``.
    """
    for j in range(jobs.shape[0]):
        k, p, tile = jobs[j, 0], jobs[j, 1], jobs[j, 2]
        r0, r1 = row_bounds[tile // n_cb], row_bounds[tile // n_cb + 1]
        c0, c1 = col_bounds[tile % n_cb], col_bounds[tile % n_cb + 1]
        if transposed:  # columns (outputs) drive
            a = np.empty((c1 - c0, r1 - r0))
            for c in range(c1 - c0):
                for r in range(r1 - r0):
                    a[c, r] = g_uS[k, p, c0 + c, r0 + r] * 1e-6
        else:
            a = np.empty((r1 - r0, c1 - c0))
            for r in range(r1 - r0):
                for c in range(c1 - c0):
                    a[r, c] = g_uS[k, p, c0 + c, r0 + r] * 1e-6
        t, _, status, _ = fast_ir_fixed_point(a, r_row, r_col, r_drv, r_sen, max_iter, tol)
        if status != IR_CONVERGED:
            failed[j] = 1
            continue
        for c in range(c1 - c0):
            for r in range(r1 - r0):
                eff[k, p, c0 + c, r0 + r] = (t[c, r] if transposed else t[r, c]) * 1e6
    if d_mats.shape[0] == 0:
        return
    for j in range(jobs.shape[0]):
        k, tile = jobs[j, 0], jobs[j, 2]
        r0, r1 = row_bounds[tile // n_cb], row_bounds[tile // n_cb + 1]
        c0, c1 = col_bounds[tile % n_cb], col_bounds[tile % n_cb + 1]
        for c in range(c0, c1):
            for r in range(r0, r1):
                _write_d(eff, d_mats, k, tile, n_cb, c - c0 if transposed else r - r0, c, r,
                         transposed, differential, step, g_ref)


@njit(cache=True, inline="always")
def _log_t_segment(fit_log_t, lt):  # pragma: no cover - compiled
    """Segment ``seg`` of the fitted log-times ``fit_log_t`` that holds ``lt`` (the last
    one beyond them) and the fraction of the way through it: the linear interpolation of
    the Wan 2022 spreads in log-time (as ``crossbar.noise.wan2022_sigma_uS``)."""
    n_fit = fit_log_t.size
    seg = 0
    for f in range(n_fit):
        if fit_log_t[f] <= lt:
            seg = f
    seg = min(seg, n_fit - 2)
    return seg, (lt - fit_log_t[seg]) / (fit_log_t[seg + 1] - fit_log_t[seg])


@njit(cache=True, error_model="numpy")  # no zero-division checks (the divisors are sizes)
def refresh_read_entries(cells, g, reads, tile_in, tile_out, step, step_sq, g_ref,
                         differential):
    # pragma: no cover - compiled; reference: CrossbarArray._square_stack, _difference_stack
    """The read-matrix entries of the cells at flat indices ``cells`` of ``g [S, P, n_out,
    n_in]``, in place, for both read directions.

    ``reads`` holds per direction (forward, transposed) ``(g_sq, d_mats, stale, block,
    row)``: the matrices stacked by drive block as ``CrossbarArray._stack`` (``[S, blocks,
    size, sense]``), of which ``g_sq`` (if not empty) gets the summed squares of the cells
    read together over ``step_sq`` and ``d_mats`` (if not empty: no IR drop) ``(g+ - g-) /
    step`` or ``(g - g_ref) / step``; ``stale [S, P, n_tiles]`` (if not empty) marks the
    physical arrays holding the cells (tile ``tile_in[i] + tile_out[o]`` of input ``i`` and
    output ``o``); ``block``, ``row`` map a driven line to its block and its row in the
    block.  A direction whose five arrays are empty is skipped.
    """
    sq_f, d_f, stale_f, block_f, row_f = reads[0]
    sq_t, d_t, stale_t, block_t, row_t = reads[1]
    squares = sq_f.shape[0] > 0 or sq_t.shape[0] > 0
    differences = d_f.shape[0] > 0 or d_t.shape[0] > 0
    n_pol, n_out, n_in = g.shape[1], g.shape[2], g.shape[3]
    lo = hi = -1  # the flat range of the present cell's row (divisions once per row)
    o = k = p = 0
    for j in range(cells.size):
        c = cells[j]
        if c < lo or c >= hi:
            q = c // n_in
            lo = q * n_in
            hi = lo + n_in
            q2 = q // n_out
            o = q - q2 * n_out
            k = q2 // n_pol
            p = q2 - k * n_pol
        i = c - lo
        v = 0.0
        if squares:
            v = g[k, 0, o, i] * g[k, 0, o, i]
            if n_pol == 2:
                v = v + g[k, 1, o, i] * g[k, 1, o, i]
            v = v / step_sq
        d = 0.0
        if differences:
            d = (g[k, 0, o, i] - g[k, 1, o, i] if differential else g[k, 0, o, i] - g_ref) / step
        tile = tile_in[i] + tile_out[o]
        if block_f.size > 0:  # forward: the inputs drive, the outputs sense
            _write_read_entry(sq_f, d_f, stale_f, k, p, tile, block_f[i], row_f[i], o, v, d)
        if block_t.size > 0:  # transposed: the outputs drive, the inputs sense
            _write_read_entry(sq_t, d_t, stale_t, k, p, tile, block_t[o], row_t[o], i, v, d)


@njit(cache=True, inline="always")
def _write_read_entry(sq, dm, stale, k, p, tile, b, r, sense, v, d):
    # pragma: no cover - compiled
    """One cell's entries in one read direction (see :func:`refresh_read_entries`): the
    square sum ``v`` and difference ``d`` at driven row ``r`` of block ``b``, sensed line
    ``sense``, and its physical array marked stale (each only where the array is not
    empty)."""
    if sq.shape[0] > 0:
        sq[k, b, r, sense] = v
    if dm.shape[0] > 0:
        dm[k, b, r, sense] = d
    if stale.shape[0] > 0:
        stale[k, p, tile] = True


@njit(cache=True)
def clamped_ages(cells, t, t_prog, out):
    # pragma: no cover - compiled; reference: CrossbarArray._refresh_cells (NumPy before)
    """``out[k] = max(t - t_prog[c], 1)`` for the cells ``c = cells[k]`` (what
    :func:`relax_cells` takes the ``log10`` of); returns the largest ``t - t_prog[c]``
    (``-inf`` if there is no cell), for the warning beyond the fitted times."""
    oldest = -np.inf
    for k in range(cells.size):
        age = t - t_prog[cells[k]]
        out[k] = age if age > 1.0 else 1.0
        oldest = max(oldest, age)
    return oldest


@njit(cache=True)
def relax_cells(cells, log_age, g_prog, z, fits, faults, fit_log_t, scale, sigma_scale,
                g_min, g_max, t, due_factor, t_prog, g, t_eval, t_due, reads, tile_in,
                tile_out, step, step_sq, g_ref, differential):
    # pragma: no cover - compiled; reference: noise.relaxed and CrossbarArray._due_times
    """Re-evaluate the relaxed conductances of the cells at flat indices ``cells``, in place,
    then their read entries.

    Per cell ``c`` with ``lt = log_age[k]`` (``log10(max(age, 1))``, computed by the caller
    with NumPy): the ``"wan2022"`` spread interpolated between the fit values ``fits [F + 1,
    n_cells]`` (``F`` fits at the times ``10**fit_log_t``, then the 1 s spread) exactly as
    :func:`crossbar.noise.wan2022_sigma_uS` does (segment by ``searchsorted(side="right")``,
    clipped to the first and last segment), times ``sigma_scale``; the relaxation spread
    ``sqrt(max(s_t^2 - s_1s^2, 0))``; ``max(g_prog + scale * sigma * z, 0)``; stuck cells
    (``faults`` 1: ``g_min``, 2: ``g_max``).  Writes ``g [S, P, n_out, n_in]``, ``t_eval =
    t`` and the due time ``t_prog + max(t - t_prog, 1) * due_factor``, then the read entries
    of :func:`refresh_read_entries` with ``reads`` .. ``differential``; returns the earliest
    due time.
    """
    n_fit = fit_log_t.size
    g_out = g.reshape(-1)
    earliest = np.inf
    lt_seen = np.nan  # cells of one age share the segment and fraction
    seg = 0
    frac = 0.0
    for k in range(cells.size):
        c = cells[k]
        lt = log_age[k]
        if lt != lt_seen:
            lt_seen = lt
            seg, frac = _log_t_segment(fit_log_t, lt)
        lo = fits[seg, c]
        hi = fits[seg + 1, c]
        s_t = (lo + frac * (hi - lo)) * sigma_scale
        s_1 = fits[n_fit, c]
        var = s_t * s_t - s_1 * s_1
        sigma = np.sqrt(var if var > 0.0 else 0.0)
        v = g_prog[c] + scale * sigma * z[c]
        v = v if v > 0.0 else 0.0
        if faults[c] == 1:  # noise.FAULT_SA0
            v = g_min
        elif faults[c] == 2:  # noise.FAULT_SA1
            v = g_max
        g_out[c] = v
        t_eval[c] = t
        age = t - t_prog[c]
        due = t_prog[c] + (age if age > 1.0 else 1.0) * due_factor
        t_due[c] = due
        earliest = min(earliest, due)
    refresh_read_entries(cells, g, reads, tile_in, tile_out, step, step_sq, g_ref,
                         differential)
    return earliest


# Counters of fast_ir_incremental's ``stats`` (one int64 each).
IR_STAT_COLD = 0  # arrays solved from scratch (first read, or after a fallback)
IR_STAT_DENSE = 1  # arrays re-solved by substitutions started from their previous solution
IR_STAT_SPARSE = 2  # arrays updated along the changed lines only, within the bound
IR_STAT_CHANGED_CELLS = 3  # changed cells seen
IR_STAT_SUBSTITUTIONS = 4  # dense substitutions run (cold and warm)
IR_N_STATS = 5


@njit(cache=True)
def _cross_drop_add(dt, drop, row_in, col_in, rows, cols, r_row, r_col, r_drv, r_sen, work):
    # pragma: no cover - compiled; reference: irdrop._shared_drops (tests)
    """``drop += dt A + B dt`` at the cells of the cross (rows ``rows`` and columns
    ``cols``, also given as masks ``row_in``, ``col_in``), for a change ``dt [m, n]`` that is
    zero outside the cross; ``work [3, n]`` scratch.  Same sums as the dense substitution,
    over the non-zero entries only: ``O(n |rows| + m |cols|)``."""
    m, n = dt.shape
    # word-line part (dt A): full prefix sums on the rows of the cross, and on the other
    # rows over the cross's columns only (dt is zero elsewhere on them)
    for i in range(m):
        tot = 0.0
        if row_in[i]:
            for j in range(n):
                tot += dt[i, j]
            c0 = 0.0
            c1 = 0.0
            for j in range(n):
                c0 += dt[i, j]
                c1 += j * dt[i, j]
                drop[i, j] += r_drv * tot + r_row * (c1 + j * (tot - c0))
        else:
            for jj in range(cols.size):
                tot += dt[i, cols[jj]]
            c0 = 0.0
            c1 = 0.0
            for jj in range(cols.size):
                j = cols[jj]
                c0 += dt[i, j]
                c1 += j * dt[i, j]
                drop[i, j] += r_drv * tot + r_row * (c1 + j * (tot - c0))
    # bit-line part (B dt): full column sums on the cross's columns ...
    for jj in range(cols.size):
        j = cols[jj]
        csum = 0.0
        dtail = 0.0
        for i in range(m):
            csum += dt[i, j]
            dtail += (m - 1 - i) * dt[i, j]
        head = 0.0
        for i in range(m):
            d_i = m - 1 - i
            drop[i, j] += r_sen * csum + r_col * (dtail + d_i * head)
            dtail -= d_i * dt[i, j]
            head += dt[i, j]
    # ... and, on the other columns, sums over the cross's rows only
    csum_v, tail_v, head_v = work[0], work[1], work[2]
    for j in range(n):
        csum_v[j] = 0.0
        tail_v[j] = 0.0
        head_v[j] = 0.0
    for ii in range(rows.size):
        i = rows[ii]
        for j in range(n):
            csum_v[j] += dt[i, j]
            tail_v[j] += (m - 1 - i) * dt[i, j]
    for ii in range(rows.size):
        i = rows[ii]
        d_i = m - 1 - i
        for j in range(n):
            if not col_in[j]:
                drop[i, j] += r_sen * csum_v[j] + r_col * (tail_v[j] + d_i * head_v[j])
            tail_v[j] -= d_i * dt[i, j]
            head_v[j] += dt[i, j]


@njit(cache=True)
def _cross_bounds(dt, row_in, col_in, rows, cols, a_star, b_star, work):
    # pragma: no cover - compiled
    """Bounds on ``|dt A + B dt|`` for a change ``dt`` that is zero outside the cross:
    ``(everywhere, off the cross)``.  With ``A_kj <= a_star[k] = r_drv + k r_row`` and
    ``B_il <= b_star[l] = r_sen + (m - 1 - l) r_col``: ``|(dt A)_ij| <= sum_k |dt_ik|
    a_star[k]`` (a row sum) and ``|(B dt)_ij| <= sum_l b_star[l] |dt_lj|`` (a column sum);
    off the cross a row holds non-zeros only in the cross's columns and a column only in
    its rows.  ``work [n]`` scratch."""
    m, n = dt.shape
    row_all = 0.0
    row_off = 0.0
    for i in range(m):
        s = 0.0
        if row_in[i]:
            for j in range(n):
                s += abs(dt[i, j]) * a_star[j]
            row_all = max(row_all, s)
        else:
            for jj in range(cols.size):
                s += abs(dt[i, cols[jj]]) * a_star[cols[jj]]
            row_all = max(row_all, s)
            row_off = max(row_off, s)
    col_s = work
    for j in range(n):
        col_s[j] = 0.0
    for ii in range(rows.size):
        i = rows[ii]
        for j in range(n):
            col_s[j] += abs(dt[i, j]) * b_star[i]
    col_all = 0.0
    col_off = 0.0
    for j in range(n):
        if col_in[j]:
            s = 0.0
            for i in range(m):
                s += abs(dt[i, j]) * b_star[i]
            col_all = max(col_all, s)
        else:
            col_all = max(col_all, col_s[j])
            col_off = max(col_off, col_s[j])
    return row_all + col_all, row_off + col_off


@njit(cache=True)
def _cross_resubstitute(g, t, drop, dt, row_in, cols):
    # pragma: no cover - compiled
    """``T = G * (1 - drop)`` on the cross (rows ``row_in``, columns ``cols``); ``dt``
    receives the change there."""
    m, n = t.shape
    for i in range(m):
        if row_in[i]:
            for j in range(n):
                v = g[i, j] * (1.0 - drop[i, j])
                dt[i, j] = v - t[i, j]
                t[i, j] = v
        else:
            for jj in range(cols.size):
                j = cols[jj]
                v = g[i, j] * (1.0 - drop[i, j])
                dt[i, j] = v - t[i, j]
                t[i, j] = v


@njit(cache=True, error_model="numpy")  # no zero-division checks: divisions vectorise
def fast_ir_incremental(g_uS, eff, jobs, row_bounds, col_bounds, n_cb, transposed, r_row,
                        r_col, r_drv, r_sen, max_iter, tol, d_mats, step, g_ref,
                        differential, failed, t_st, g_st, sigma, valid, cross_fraction,
                        stats):
    # pragma: no cover - compiled; reference: fast_ir_tiles (tests/test_crossbar_irupdate.py)
    """:func:`fast_ir_tiles` by updates: each physical array's ``T`` is carried from its
    last solution and kept within ``tol * max(G)`` of the full solve's.

    State per array ``(slice, polarity, tile)``, in the kernel's layout (rows driven,
    row-major, flattened), siemens: ``t_st``, ``g_st [S, P, tiles, size]`` (``size`` of the
    largest tile) hold ``T`` and the ``G`` it belongs to; ``valid [S, P, tiles]`` whether
    they exist; ``sigma [S, P, tiles]`` bounds the staleness of the drops ``D = 1 - T / G``
    (``T = G (1 - D)`` by construction; where ``G = 0`` take ``D = T A + B T``):
    ``max |D - (T A + B T)| <= sigma``.  With ``q = max(G) (max_j sum_k A_kj + max_i sum_l
    B_il)``, the substitution's contraction in the max norm, ``T - T* = -L(T - T*) + G
    ((T A + B T) - D)`` gives ``|T - T*| <= max(G) sigma / (1 - q)``; the full solve stops
    at a change ``<= tol max(G)``, so ``|T_full - T*| <= q tol max(G) / (1 - q)``; hence
    ``sigma <= (1 - 2 q) tol`` keeps ``|T - T_full| <= tol max(G)`` (up to float64
    rounding, ~1e-16 relative per operation).

    Per job the cells whose conductance differs from ``g_st`` are found.  Without a state,
    or when ``q`` is 0 or ``>= 1/3`` (the bound cannot hold), the array is solved from ``T =
    G`` by the substitutions of :func:`fast_ir_fixed_point` (same result, bit for bit:
    ``cold``).  Otherwise the changed cells get ``G' (1 - D)`` with their old drops (exact
    to first order).  If the cross of the changed rows and columns covers more than
    ``cross_fraction`` of the array, or a changed cell had ``G = 0``, substitutions run from
    there until ``(max_j sum_k A_kj + max_i sum_l B_il) * change <= (1 - 2 q) tol``
    (``dense``; usually one substitution: the full solve's rule is stricter than its own
    guarantee needs, by ``(1 - 2 q) / q``); then ``sigma`` is that product (a substitution's
    result has the drops of the ``T`` it started from, and the last change bounds their
    change).  Otherwise the update follows the changed lines (``sparse``): with the
    first-order change ``dt0`` (zero off the changed cells), ``D += dt0 A + B dt0`` (zero off
    the cross, so exact) and the cross re-substituted, ``T = G' (1 - D)`` (change ``dt1``);
    ``D += dt1 A + B dt1`` on the cross only, re-substituted again (``dt2``); ``sigma`` grows
    by the bound of ``dt1``'s drops off the cross plus that of ``dt2``'s everywhere
    (:func:`_cross_bounds`), and if that exceeds ``(1 - 2 q) tol`` the substitutions run as
    for ``dense``.  A job whose substitutions do not converge is flagged in ``failed``, its
    state dropped and ``eff`` left as it was.  ``eff`` and ``d_mats`` (as in
    :func:`fast_ir_tiles`) are written where ``T`` changed; ``stats`` (int64, ``IR_N_STATS``)
    counts what happened (``IR_STAT_*``).
    """
    size = t_st.shape[3]
    dt_buf = np.empty(size)  # changes of T (each job's first pass writes all of its own)
    dx_buf = np.empty(size)  # drops on the cross
    new_buf = np.empty(size)
    gn_buf = np.empty(size)
    work = np.empty((3, size))
    side = max(t_st.shape[3], 1)
    row_buf = np.empty(side, dtype=np.bool_)
    col_buf = np.empty(side, dtype=np.bool_)
    rows_buf = np.empty(side, dtype=np.int64)
    cols_buf = np.empty(side, dtype=np.int64)
    a_buf = np.empty(side)
    b_buf = np.empty(side)
    for jb in range(jobs.shape[0]):
        k, p, tile = jobs[jb, 0], jobs[jb, 1], jobs[jb, 2]
        r0, r1 = row_bounds[tile // n_cb], row_bounds[tile // n_cb + 1]
        c0, c1 = col_bounds[tile % n_cb], col_bounds[tile % n_cb + 1]
        m, n = (c1 - c0, r1 - r0) if transposed else (r1 - r0, c1 - c0)
        # contiguous [m, n] views (the compiled substitutions vectorise on them)
        dt = dt_buf[: m * n].reshape(m, n)
        dx = dx_buf[: m * n].reshape(m, n)
        t = t_st[k, p, tile][: m * n].reshape(m, n)
        g = g_st[k, p, tile][: m * n].reshape(m, n)
        have = valid[k, p, tile]
        gn = gn_buf[: m * n].reshape(m, n)
        if transposed:  # the new conductances, read along the stored rows of g_uS
            for i in range(m):
                for j in range(n):
                    gn[i, j] = g_uS[k, p, c0 + i, r0 + j] * 1e-6
        else:
            for j in range(n):
                for i in range(m):
                    gn[i, j] = g_uS[k, p, c0 + j, r0 + i] * 1e-6
        # the changed cells get the first-order update T = G' (1 - D) with their old drops
        # D = 1 - T / G (change in dt); without branches, so that it vectorises
        g_max = 0.0
        n_changed = 0
        from_zero = 0  # changed cells whose old G was 0 (their D is not 1 - T / G)
        row_in = row_buf[:m]
        col_in = col_buf[:n]
        col_in[:] = False
        for i in range(m):
            row_changed = 0
            for j in range(n):
                v = gn[i, j]
                old = g[i, j]
                ch = v != old
                u = v * (t[i, j] / (old if old > 0.0 else 1.0))
                u = u if ch & have else t[i, j]
                dt[i, j] = u - t[i, j]
                t[i, j] = u
                g[i, j] = v
                g_max = max(g_max, v)
                n_changed += ch
                row_changed += ch
                from_zero += ch & (old == 0.0)
                col_in[j] |= ch
            row_in[i] = row_changed > 0
        if have and n_changed == 0:
            continue
        stats[IR_STAT_CHANGED_CELLS] += n_changed
        a_sum = n * r_drv + r_row * n * (n - 1) / 2.0  # max_j sum_k A_kj (j = n - 1)
        b_sum = m * r_sen + r_col * m * (m - 1) / 2.0  # max_i sum_l B_il (i = 0)
        q = g_max * (a_sum + b_sum)
        budget = (1.0 - 2.0 * q) * tol  # on sigma
        sparse = False
        n_rows = 0
        for i in range(m):
            if row_in[i]:
                rows_buf[n_rows] = i
                n_rows += 1
        n_cols = 0
        for j in range(n):
            if col_in[j]:
                cols_buf[n_cols] = j
                n_cols += 1
        rows = rows_buf[:n_rows]
        cols = cols_buf[:n_cols]
        cross = rows.size * n + cols.size * m - rows.size * cols.size
        cold = not have or q == 0.0 or 3.0 * q >= 1.0
        if cold:
            stats[IR_STAT_COLD] += 1
            t[:, :] = g
        elif from_zero or cross > cross_fraction * m * n:
            stats[IR_STAT_DENSE] += 1
        else:
            for i in range(m):  # the drops on the cross (dt holds dt0)
                line = row_in[i]
                for jj in range(n if line else cols.size):
                    j = jj if line else cols[jj]
                    dx[i, j] = 1.0 - t[i, j] / g[i, j] if g[i, j] > 0.0 else 0.0
            w = work[:, :n]
            a_star = a_buf[:n]
            b_star = b_buf[:m]
            for j in range(n):
                a_star[j] = r_drv + r_row * j
            for i in range(m):
                b_star[i] = r_sen + r_col * (m - 1 - i)
            _cross_drop_add(dt, dx, row_in, col_in, rows, cols, r_row, r_col, r_drv,
                            r_sen, w)
            _cross_resubstitute(g, t, dx, dt, row_in, cols)
            _, off = _cross_bounds(dt, row_in, col_in, rows, cols, a_star, b_star, w[0])
            _cross_drop_add(dt, dx, row_in, col_in, rows, cols, r_row, r_col, r_drv,
                            r_sen, w)
            _cross_resubstitute(g, t, dx, dt, row_in, cols)
            full, _ = _cross_bounds(dt, row_in, col_in, rows, cols, a_star, b_star, w[0])
            s_new = sigma[k, p, tile] + off + full
            if s_new <= budget:
                sigma[k, p, tile] = s_new
                sparse = True
                stats[IR_STAT_SPARSE] += 1
            else:
                stats[IR_STAT_DENSE] += 1
        if not sparse:
            # from scratch: the full solve's stopping rule (same result); from an update:
            # stop once (a_sum + b_sum) * change, the drops' staleness, fits the budget
            res, done, status, _, change = _ir_iterate(
                g, t, new_buf[: m * n].reshape(m, n), r_row, r_col, r_drv, r_sen, max_iter,
                tol if cold else budget / q, g_max)
            stats[IR_STAT_SUBSTITUTIONS] += done
            if status != IR_CONVERGED:
                valid[k, p, tile] = False
                failed[jb] = 1
                continue
            if done % 2:
                t[:, :] = res
            sigma[k, p, tile] = (a_sum + b_sum) * change
            valid[k, p, tile] = True
        # write the effective conductances, and the read-matrix entries, that changed; the
        # entries from the states (from eff where a polarity's state is missing: solved
        # exactly after a failure)
        blk, base = (tile % n_cb, r0) if transposed else (tile // n_cb, c0)
        t0 = t_st[k, 0, tile][: m * n].reshape(m, n)
        t1 = t_st[k, 1, tile][: m * n].reshape(m, n) if differential else t0
        from_state = valid[k, 0, tile] and (not differential or valid[k, 1, tile])
        if sparse:
            for i in range(m):
                line = row_in[i]
                for jj in range(n if line else cols.size):
                    j = jj if line else cols[jj]
                    o, x = (c0 + i, r0 + j) if transposed else (c0 + j, r0 + i)
                    eff[k, p, o, x] = t[i, j] * 1e6
                    if d_mats.shape[0] == 0:
                        continue
                    if from_state:
                        d_mats[k, blk, i, base + j] = (
                            (t0[i, j] * 1e6 - t1[i, j] * 1e6) / step if differential
                            else (t0[i, j] * 1e6 - g_ref) / step)
                    else:
                        _write_d(eff, d_mats, k, tile, n_cb, i, o, x, transposed,
                                 differential, step, g_ref)
            continue
        if transposed:  # each in its own storage order
            for i in range(m):
                for j in range(n):
                    eff[k, p, c0 + i, r0 + j] = t[i, j] * 1e6
        else:
            for j in range(n):
                for i in range(m):
                    eff[k, p, c0 + j, r0 + i] = t[i, j] * 1e6
        if d_mats.shape[0] == 0:
            continue
        if from_state:
            for i in range(m):
                for j in range(n):
                    if differential:
                        d_mats[k, blk, i, base + j] = (t0[i, j] * 1e6 - t1[i, j] * 1e6) / step
                    else:
                        d_mats[k, blk, i, base + j] = (t0[i, j] * 1e6 - g_ref) / step
        else:
            for i in range(m):
                for j in range(n):
                    o, x = (c0 + i, r0 + j) if transposed else (c0 + j, r0 + i)
                    _write_d(eff, d_mats, k, tile, n_cb, i, o, x, transposed, differential,
                             step, g_ref)


@njit(cache=True, inline="always")
def _write_d(eff, d_mats, k, tile, n_cb, i, o, x, transposed, differential, step, g_ref):
    # pragma: no cover - compiled
    """The read-matrix entry of output ``o``, input ``x`` (row ``i`` of its tile's block)
    from ``eff`` (:func:`fast_ir_tiles` and :func:`fast_ir_incremental`)."""
    if differential:
        v = (eff[k, 0, o, x] - eff[k, 1, o, x]) / step
    else:
        v = (eff[k, 0, o, x] - g_ref) / step
    if transposed:
        d_mats[k, tile % n_cb, i, x] = v
    else:
        d_mats[k, tile // n_cb, i, o] = v


#: Codes of the whole-pulse modes of :func:`whole_pulse_targets`.
MODE_ACCUMULATE = 0
MODE_STOCHASTIC = 1
MODE_NEAREST = 2


@njit(cache=True)
def whole_pulse_targets(intended, dw, w_pulse, scales, mode, acc, uniforms, g_min, g_max,
                        level_step, pulse_step, q_max, q_ref, differential, tile_rows,
                        tile_cols, n_cb, transfers):
    # pragma: no cover - compiled; reference: update.whole_pulses + open_loop_pulses
    """Whole pulses of a weight change and the open-loop pulse counts they cause, in one pass.

    Per weight ``(o, i)``, with NumPy's operations in :func:`crossbar.update.whole_pulses`'s
    order: the request ``r = dw / w_pulse[o]`` (pulses), its whole pulses ``k`` by ``mode``
    (``MODE_ACCUMULATE``: ``acc += r; k = trunc(acc); acc -= k``, in place;
    ``MODE_STOCHASTIC``: ``floor(r) + (uniforms[o, i] < r - floor(r))``; ``MODE_NEAREST``:
    ``rint(r)``), counted in ``transfers [n_tiles]`` when non-zero (tiles row-major over
    (row block, column block) of ``tile_rows`` inputs by ``tile_cols`` outputs); then
    ``k * w_pulse[o]`` is the change :func:`open_loop_pulses` maps to its cells.

    Returns what :func:`open_loop_pulses` returns for that change.
    """
    n_pol, n_out, n_in = intended.shape
    dk = np.empty((n_out, n_in))
    for o in range(n_out):
        wp = w_pulse[o]
        for b in range((n_in + tile_rows - 1) // tile_rows):  # the tiles along the row
            moved = 0
            i0, i1 = b * tile_rows, min(n_in, (b + 1) * tile_rows)
            if mode == MODE_ACCUMULATE:
                for i in range(i0, i1):  # vectorises
                    a = acc[o, i] + dw[o, i] / wp
                    k = np.trunc(a)
                    acc[o, i] = a - k
                    moved += k != 0.0
                    dk[o, i] = k * wp
            elif mode == MODE_STOCHASTIC:
                for i in range(i0, i1):
                    r = dw[o, i] / wp
                    low = np.floor(r)
                    k = low + (1.0 if uniforms[o, i] < r - low else 0.0)
                    moved += k != 0.0
                    dk[o, i] = k * wp
            else:
                for i in range(i0, i1):
                    k = np.rint(dw[o, i] / wp)
                    moved += k != 0.0
                    dk[o, i] = k * wp
            transfers[b * n_cb + o // tile_cols] += moved
    return open_loop_pulses(intended, dk, scales, g_min, g_max, level_step, pulse_step, q_max,
                            q_ref, differential)


@njit(cache=True)
def pulse_positions(cells, n, g_uS, gain, g_min, g_range, n_full, em_ltp, em_ltd, linear_ltp,
                    linear_ltd, y, steps, log_arg):
    # pragma: no cover - compiled; reference: update.pulse_response
    """First part of :func:`crossbar.update.pulse_response` for the cells at flat indices
    ``cells`` receiving ``n`` pulses: ``steps = gain * n / n_full``, the normalised position
    ``y = clip((g - g_min) / g_range, 0, 1)`` and the argument of the inverse curve's
    ``log1p``: ``y * expm1(-nu_ltp)`` (LTP) or ``(1 - y) * expm1(-nu_ltd)`` (LTD), with
    ``em_ltp``, ``em_ltd`` those ``expm1`` values (0 for a linear curve).  The caller takes
    ``log1p`` with NumPy (its SIMD ``log1p`` may differ from the C library's in the last bit).
    """
    for j in range(cells.size):
        c = cells[j]
        steps[j] = gain[c] * n[j] / n_full
        yy = min(max((g_uS[c] - g_min) / g_range, 0.0), 1.0)
        y[j] = yy
        if n[j] > 0:
            log_arg[j] = 0.0 if linear_ltp else yy * em_ltp
        else:
            log_arg[j] = 0.0 if linear_ltd else (1.0 - yy) * em_ltd


@njit(cache=True)
def pulse_moves(n, y, steps, log1p_arg, nu_ltp, nu_ltd, linear_ltp, linear_ltd, out):
    # pragma: no cover - compiled; reference: update.pulse_response
    """Second part of :func:`crossbar.update.pulse_response`: the position along the curve
    (``-log1p(.) / nu``, or ``y`` / ``1 - y`` when linear) moved by ``+-steps`` and clipped
    to ``[0, 1]``; writes ``-nu * v`` (the argument of the curve's ``expm1``, taken by the
    caller with NumPy) or ``v`` itself when linear."""
    for j in range(n.size):
        if n[j] > 0:
            u = y[j] if linear_ltp else -log1p_arg[j] / nu_ltp
            v = min(max(u + steps[j], 0.0), 1.0)
            out[j] = v if linear_ltp else -nu_ltp * v
        else:
            u = 1.0 - y[j] if linear_ltd else -log1p_arg[j] / nu_ltd
            v = min(max(u - steps[j], 0.0), 1.0)
            out[j] = v if linear_ltd else -nu_ltd * v


@njit(cache=True)
def program_pulsed_cells(cells, n, moved, expm1_moved, z, em_ltp, em_ltd, linear_ltp,
                         linear_ltd, g_min, g_max, g_range, c2c_uS, pulse_step, faults, g_uS,
                         intended, pulse_count, tile_rows, tile_cols, n_cb, n_in, n_out,
                         tile_pulses, g_prog, g_anchor, t_prog, t, fits, coef, fit_log_t,
                         log_t_1s, g_max_fit, sigma_scale):
    # pragma: no cover - compiled; reference: update.program_with_pulses (no write-verify)
    # and CrossbarArray._finish_update
    """Open-loop programming of the cells at flat indices ``cells`` (``n`` pulses each) and
    its bookkeeping, in place; returns the flat indices of the cells that changed.

    Per cell, as :func:`crossbar.update.apply_pulses` and ``program_with_pulses`` without
    write-verify: the new position from ``moved``/``expm1_moved`` (see
    :func:`pulse_moves`), ``g_min + g_range * y``; if ``c2c_uS > 0`` plus
    ``c2c_uS * sqrt(|n|) * z`` and clipped to the device range; stuck cells (``faults !=
    0``) keep ``g_uS``.  The controller's ``intended`` conductance moves by ``n *
    pulse_step`` (clipped); ``pulse_count`` and ``tile_pulses [n_tiles]`` add ``|n|``.  A
    cell that is not stuck restarts its clock at ``t`` from its new conductance
    (``g_prog``, ``g_anchor``, ``t_prog``) and, if ``fits`` has rows, gets the relaxation
    fit values of :meth:`CrossbarArray._fit_values`: the polynomials ``coef [F, deg + 1]``
    (Horner, as ``numpy.polynomial.polynomial.polyval``) at ``clip(g / g_max_fit, 0, 1)``,
    then the spread at ``log10(1 s) = log_t_1s`` interpolated as
    :func:`crossbar.noise.wan2022_sigma_uS`, times ``sigma_scale``.
    """
    n_fit = coef.shape[0]
    n_coef = coef.shape[1]
    done = np.empty(cells.size, dtype=np.int64)
    n_done = 0
    for j in range(cells.size):
        c = cells[j]
        if n[j] > 0:
            yn = moved[j] if linear_ltp else -expm1_moved[j] / -em_ltp
        else:
            yn = 1.0 - (moved[j] if linear_ltd else -expm1_moved[j] / -em_ltd)
        g = g_min + g_range * yn
        if c2c_uS > 0.0:
            g = g + c2c_uS * np.sqrt(abs(n[j])) * z[j]
            g = min(max(g, g_min), g_max)
        stuck = faults[c] != 0
        if stuck:
            g = g_uS[c]
        intended[c] = min(max(intended[c] + n[j] * pulse_step, g_min), g_max)
        pulses = np.int64(abs(n[j]))
        pulse_count[c] += pulses
        i = c % n_in
        o = (c // n_in) % n_out
        tile_pulses[(i // tile_rows) * n_cb + o // tile_cols] += pulses
        if stuck:
            continue
        g_prog[c] = g
        g_anchor[c] = g
        t_prog[c] = t
        done[n_done] = c
        n_done += 1
        if fits.shape[0] == 0:
            continue
        x = min(max(g / g_max_fit, 0.0), 1.0)
        for f in range(n_fit):
            v = coef[f, n_coef - 1] + x * 0.0
            for q in range(2, n_coef + 1):
                v = coef[f, n_coef - q] + v * x
            fits[f, c] = v
        seg, frac = _log_t_segment(fit_log_t, log_t_1s)
        lo = fits[seg, c]
        hi = fits[seg + 1, c]
        fits[n_fit, c] = (lo + frac * (hi - lo)) * sigma_scale
    return done[:n_done]


@njit(cache=True)
def surely_due(due, t, t_prog, t_eval, sure_factor):
    # pragma: no cover - compiled; reference: the log-age test of CrossbarArray.set_time
    """Which of the cells at flat indices ``due`` are surely due for re-evaluation at ``t``:
    ``max(t - t_prog, 1) > max(t_eval - t_prog, 1) * sure_factor``.  With ``sure_factor =
    10**step * (1 + 1e-6)`` the log-age test of ``set_time`` (``log10(max(t - t_prog, 1)) -
    log10(max(t_eval - t_prog, 1)) > step``) then holds by a margin of 4e-7 decades, far
    beyond the rounding of the logarithms, so only the others need it."""
    sure = np.empty(due.size, dtype=np.bool_)
    for k in range(due.size):
        c = due[k]
        age = t - t_prog[c]
        seen = t_eval[c] - t_prog[c]
        sure[k] = (age if age > 1.0 else 1.0) > (seen if seen > 1.0 else 1.0) * sure_factor
    return sure


@njit(cache=True)
def nonzero_per_block(x, block_of_line, n_blocks):
    # pragma: no cover - compiled; reference: np.add.reduceat(np.count_nonzero(x, axis=0), ...)
    """Non-zero entries of ``x [M, n]`` per block of lines (``block_of_line [n]``), summed
    over the rows: ``int64 [n_blocks]``."""
    out = np.zeros(n_blocks, dtype=np.int64)
    for m in range(x.shape[0]):
        for j in range(x.shape[1]):
            if x[m, j] != 0:
                out[block_of_line[j]] += 1
    return out


@njit(cache=True)
def record_read_counts(counts, phys, batch, active, n_sense, n_slices, n_polarities,
                       transposed, multilevel, columns):
    # pragma: no cover - compiled; reference: the definitions of crossbar.counters
    """Add one read of ``batch`` vectors to ``counts [n_tiles, n_events]`` in place, as
    :meth:`crossbar.counters.CrossbarCounters.record_read` defines it; ``columns`` are the
    columns of ``mvms``, ``active_rows``, ``adc_conversions``, their three multi-level
    parts, ``transposed_reads``, ``active_columns``, ``transposed_adc_conversions`` and
    ``dac_conversions``, in that order."""
    for j in range(counts.shape[0]):
        if transposed:
            drives = active[j] * n_polarities * n_slices
            counts[j, columns[6]] += batch * phys[j]
            counts[j, columns[7]] += drives
            counts[j, columns[8]] += batch * n_sense[j] * phys[j]
        else:
            drives = active[j] * phys[j]
            conversions = batch * n_sense[j] * n_slices
            counts[j, columns[0]] += batch * phys[j]
            counts[j, columns[1]] += drives
            counts[j, columns[2]] += conversions
            if multilevel:
                counts[j, columns[3]] += batch * phys[j]
                counts[j, columns[4]] += drives
                counts[j, columns[5]] += conversions
        if multilevel:
            counts[j, columns[9]] += drives
