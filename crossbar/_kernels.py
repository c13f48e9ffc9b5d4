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
    col_sum = np.empty(n)
    d_tail = np.empty(n)
    head = np.empty(n)
    g_max = 0.0
    for i in range(m):
        for j in range(n):
            g_max = max(g_max, g[i, j])
    c0_row = np.empty(n)
    c1_row = np.empty(n)
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
            for j in range(n):
                change = max(change, abs(new[i, j] - t[i, j]))
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


@njit(cache=True)
def digitise_and_sum(cur, var, z, sigma, add_noise, step, quantize, n_codes, weights, out):
    # pragma: no cover - compiled; reference: the NumPy read path of tests/test_crossbar_array.py
    """Read noise, per-tile ADC and the digital sum over tiles and slices, in one pass.

    ``cur [B, S, M, N]``: partial column currents of the ``B`` drive blocks and ``S``
    slices; ``var`` the same shape (``x^2 @ G^2`` sums) and ``z`` standard normals (float64,
    same shape) when ``add_noise``.  Per entry, with NumPy's operations and types:
    ``c + (sigma * sqrt(var)) * z`` (noise added in float64, rounded to the current's
    dtype), then if ``quantize`` ``clip(rint(c / st), -n_codes, n_codes) * st`` with
    ``st = step[b, s, n]`` (the ADC step of the tile and slice that senses line ``n``),
    times ``weights[s]`` (``n_levels ** s``) for ``s > 0``, summed over blocks and slices in
    that order into ``out [M, N]`` (overwritten).
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
                if differential:
                    v = (eff[k, 0, c, r] - eff[k, 1, c, r]) / step
                else:
                    v = (eff[k, 0, c, r] - g_ref) / step
                if transposed:
                    d_mats[k, tile % n_cb, c - c0, r] = v
                else:
                    d_mats[k, tile // n_cb, r - r0, c] = v


@njit(cache=True)
def relax_cells(cells, log_age, g_prog, z, fits, faults, fit_log_t, scale, sigma_scale,
                g_min, g_max, t, due_factor, t_prog, g_out, t_eval, t_due):
    # pragma: no cover - compiled; reference: noise.relaxed and CrossbarArray._due_times
    """Re-evaluate the relaxed conductances of the cells at flat indices ``cells``, in place.

    Per cell ``c`` with ``lt = log_age[k]`` (``log10(max(age, 1))``, computed by the caller
    with NumPy): the ``"wan2022"`` spread interpolated between the fit values ``fits [F + 1,
    n_cells]`` (``F`` fits at the times ``10**fit_log_t``, then the 1 s spread) exactly as
    :func:`crossbar.noise.wan2022_sigma_uS` does (segment by ``searchsorted(side="right")``,
    clipped to the first and last segment), times ``sigma_scale``; the relaxation spread
    ``sqrt(max(s_t^2 - s_1s^2, 0))``; ``max(g_prog + scale * sigma * z, 0)``; stuck cells
    (``faults`` 1: ``g_min``, 2: ``g_max``).  Writes ``g_out``, ``t_eval = t`` and the due
    time ``t_prog + max(t - t_prog, 1) * due_factor``; returns the earliest due time.
    """
    n_fit = fit_log_t.size
    earliest = np.inf
    lt_seen = np.nan  # cells of one age share the segment and fraction
    seg = 0
    frac = 0.0
    for k in range(cells.size):
        c = cells[k]
        lt = log_age[k]
        if lt != lt_seen:
            lt_seen = lt
            seg = 0
            for f in range(n_fit):
                if fit_log_t[f] <= lt:
                    seg = f
            seg = min(seg, n_fit - 2)
            frac = (lt - fit_log_t[seg]) / (fit_log_t[seg + 1] - fit_log_t[seg])
        lo = fits[seg, c]
        hi = fits[seg + 1, c]
        s_t = (lo + frac * (hi - lo)) * sigma_scale
        s_1 = fits[n_fit, c]
        var = s_t * s_t - s_1 * s_1
        sigma = np.sqrt(var if var > 0.0 else 0.0)
        g = g_prog[c] + scale * sigma * z[c]
        g = g if g > 0.0 else 0.0
        if faults[c] == 1:  # noise.FAULT_SA0
            g = g_min
        elif faults[c] == 2:  # noise.FAULT_SA1
            g = g_max
        g_out[c] = g
        t_eval[c] = t
        age = t - t_prog[c]
        due = t_prog[c] + (age if age > 1.0 else 1.0) * due_factor
        t_due[c] = due
        earliest = min(earliest, due)
    return earliest


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
        seg = 0
        for f in range(n_fit):
            if fit_log_t[f] <= log_t_1s:
                seg = f
        seg = min(seg, n_fit - 2)
        frac = (log_t_1s - fit_log_t[seg]) / (fit_log_t[seg + 1] - fit_log_t[seg])
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
def refresh_read_entries(cells, g, transposed, size, g_sq, d_mats, step, step_sq, g_ref,
                         differential, stale, tile_rows, tile_cols, n_cb):
    # pragma: no cover - compiled; reference: CrossbarArray._square_stack, _difference_stack
    """The read-matrix entries of the cells at flat indices ``cells`` of ``g [S, P, n_out,
    n_in]``, in place, for one read direction (stacked by drive block of ``size`` lines as
    ``CrossbarArray._stack``): ``g_sq`` (if not empty) gets the summed squares of the cells
    read together over ``step_sq``; ``d_mats`` (if not empty: no IR drop) ``(g+ - g-) /
    step`` or ``(g - g_ref) / step``; ``stale [S, P, n_tiles]`` (if not empty) marks the
    physical arrays holding the cells."""
    n_sl, n_pol, n_out, n_in = g.shape
    for j in range(cells.size):
        c = cells[j]
        i = c % n_in
        o = (c // n_in) % n_out
        p = (c // (n_in * n_out)) % n_pol
        k = c // (n_in * n_out * n_pol)
        drive = o if transposed else i
        sense = i if transposed else o
        b = drive // size
        r = drive % size
        if g_sq.shape[0] > 0:
            v = g[k, 0, o, i] * g[k, 0, o, i]
            if n_pol == 2:
                v = v + g[k, 1, o, i] * g[k, 1, o, i]
            g_sq[k, b, r, sense] = v / step_sq
        if d_mats.shape[0] > 0:
            d = g[k, 0, o, i] - g[k, 1, o, i] if differential else g[k, 0, o, i] - g_ref
            d_mats[k, b, r, sense] = d / step
        if stale.shape[0] > 0:
            stale[k, p, (i // tile_rows) * n_cb + o // tile_cols] = True
