"""Event-driven LIF kernels of SFDFA (private), each with a plain reference implementation.

The wrappers in :mod:`snn_dfa.eventdriven.neuron` validate and coerce once; the numba kernels here
never see bad input.  Every numba kernel has a plain Python/NumPy counterpart below it
(suffix ``_reference``) written from the definitions rather than from the incremental
traces, and the tests compare the two.

Notation (docs/sfdfa.md has the derivation).  With ``tau = 2 tau_s``, ``x = exp(t / tau)``
and threshold ``c`` the membrane between events is ``u = b / x - a / x**2`` with

    a = sum_j w_j sum_z exp(t_j^z / tau_s)
    b = sum_j w_j sum_z exp(t_j^z / tau) - c sum_k exp(t_k / tau)

and the next spike is the smaller root of ``c x**2 - b x + a = 0``, ``x* = 2a / (b + sqrt(D))``
with ``D = b**2 - 4 a c``.  Implicit differentiation gives

    dt*/dtheta = tau (da/dtheta - x* db/dtheta) / (a - c x*^2),   a - c x*^2 = x* sqrt(D) > 0.

The numba kernel keeps every exponential relative to a moving time origin ``t0`` (rebased
when events move more than ``_REBASE_SPAN`` synaptic time constants past it) so arbitrarily
long inputs never overflow; all quantities above are homogeneous, so rebasing only rescales
them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Rebase the exponentials once the newest event is this many tau_s past the origin:
# exp(40) ~ 2e17 keeps b**2 and 4ac far from float64 overflow (1.8e308).
_REBASE_SPAN = 40.0


@njit(cache=True)
def flatten_events(times, counts, tangents):
    """Merge per-neuron spike buffers into one time-sorted event list per sample.

    Parameters
    ----------
    times : float64 [B, n, K]
        Spike times, ascending in the first ``counts[b, i]`` entries of each row.
    counts : int64 [B, n]
    tangents : float64 [B, n, K]
        Tangent (directional derivative) of each spike time.

    Returns
    -------
    ev_t, ev_tan : float64 [B, E]
        Event times (``inf`` padded) and tangents, sorted by time (ties by channel).
    ev_j : int64 [B, E]
        Channel of each event.
    n_ev : int64 [B]
        Number of events per sample.
    """
    B, n, _K = times.shape
    n_ev = np.zeros(B, np.int64)
    for s in range(B):
        for i in range(n):
            n_ev[s] += counts[s, i]
    E = 0
    for s in range(B):
        E = max(E, n_ev[s])
    ev_t = np.full((B, E), np.inf)
    ev_tan = np.zeros((B, E))
    ev_j = np.zeros((B, E), np.int64)
    buf_t = np.empty(E)
    buf_j = np.empty(E, np.int64)
    buf_tan = np.empty(E)
    for s in range(B):
        m = 0
        for i in range(n):
            for k in range(counts[s, i]):
                buf_t[m] = times[s, i, k]
                buf_j[m] = i
                buf_tan[m] = tangents[s, i, k]
                m += 1
        order = np.argsort(buf_t[:m], kind="mergesort")
        for q in range(m):
            p = order[q]
            ev_t[s, q] = buf_t[p]
            ev_j[s, q] = buf_j[p]
            ev_tan[s, q] = buf_tan[p]
    return ev_t, ev_j, ev_tan, n_ev


@njit(cache=True)
def layer_forward(ev_t, ev_j, ev_tan, n_ev, weights_t, tau_s, threshold, t_sim,
                  perturbation, use_perturbation, track_tangents, input_tangents, want_elig,
                  public_denominator, standin_tangent,
                  out_t, out_tan, out_cnt, el_values, el_sample, el_neuron, el_channels,
                  el_n_active):
    """Simulate one fully connected layer of event-driven LIF neurons, sample by sample.

    Events outermost, neurons innermost: each input event updates every neuron's ``a``,
    ``b`` (and tangents) in one contiguous pass over ``weights_t[j]``, in the same pass the
    cheap no-crossing tests for the interval up to the next event are evaluated for every
    neuron, and only the neurons that pass them are solved (square root, spikes,
    eligibility).  The input traces are shared by all neurons and kept once per sample, in
    the order channels first fire (compact index ``m``), so the eligibility update at a
    spike is a contiguous pass too.  Each neuron sees the same floating-point operations in
    the same order as in a neuron-by-neuron loop, so the result does not depend on this
    ordering.

    Parameters
    ----------
    ev_t, ev_tan : float64 [B, E]; ev_j : int64 [B, E]; n_ev : int64 [B]
        Input events from :func:`flatten_events`.
    weights_t : float64 [n_in, n_out], C-contiguous
        The transposed weights (row ``j``: the weights from input ``j`` to every neuron).
    tau_s, threshold, t_sim : float
        Synaptic time constant (``tau = 2 tau_s``), threshold ``c``, end of the simulation.
    perturbation : float64 [B, n_out]
        Added to the tangent of each neuron's first spike when ``use_perturbation``.
    track_tangents, want_elig : bool
        Propagate spike-time tangents; accumulate ``elig[b, i, j] = sum_m dt_im / dw_ij``.
    input_tangents : bool
        False when every input tangent is 0 (e.g. the encoded input layer): the per-event
        tangent sums are then skipped (they would stay exactly 0).
    public_denominator : bool
        Divide the eligibility by ``a`` (the authors' published kernel) instead of the exact
        ``a - c x^2``.
    standin_tangent : bool
        Instead of the exact tangent, the authors' published stand-in: the sum of
        ``w_ij * tangent`` over the input spikes received since the neuron's previous spike
        (no exponentials, no denominator), plus the perturbation on the first spike.
    out_t : float64 [B, n_out, K] (filled with inf), out_tan : float64 [B, n_out, K],
    out_cnt : int64 [B, n_out]
        Outputs, written in place; ``K`` bounds the spikes per neuron.
    el_values : float64 [B n_out, A]; el_sample, el_neuron : int64 [B n_out];
    el_channels : int64 [B, A]; el_n_active : int64 [B]
        The eligibility by rows (when ``want_elig``), written in place: row ``r`` is
        ``elig[el_sample[r], el_neuron[r], el_channels[s, m]] = el_values[r, m]`` for
        ``m < el_n_active[s]``, one row per (sample, neuron that spiked) in that order;
        every other entry is exactly 0.  ``A`` bounds the channels a sample receives.

    Returns
    -------
    int
        Number of eligibility rows written.
    """
    B, E = ev_t.shape
    n_in, n_out = weights_t.shape
    K = out_t.shape[2]
    tau = 2.0 * tau_s
    c = threshold
    c_tau = threshold / tau
    sum_tangents = track_tangents and input_tangents
    # per-event exponentials in the frame in force after the event, the event's x in the
    # frame of the interval before it, and the rescaling applied when the frame moves
    ea = np.empty(E)
    eb = np.empty(E)
    x_before = np.empty(E)
    scale_a = np.ones(E)
    scale_b = np.ones(E)
    t0_after = np.empty(E)
    ev_m = np.empty(E, np.int64)       # compact index of each event's channel
    active = np.empty(n_in, np.int64)  # channels in the order they first fire
    slot = np.full(n_in, -1, np.int64)
    # per-neuron state, one contiguous array per quantity
    a = np.zeros(n_out)
    b = np.zeros(n_out)
    a_dot = np.zeros(n_out)
    b_dot = np.zeros(n_out)
    standin = np.zeros(n_out)
    cnt = np.zeros(n_out, np.int64)
    maybe = np.zeros(n_out, np.bool_)
    # input traces (shared) and per-synapse reset trace / eligibility, compact index
    trace_a = np.zeros(n_in)
    trace_b = np.zeros(n_in)
    resid = np.zeros((n_out, n_in) if want_elig else (1, 1))
    elig_c = np.zeros((n_out, n_in) if want_elig else (1, 1))
    n_rows = 0
    for s in range(B):
        # ---- per-sample event preprocessing (shared by all neurons) ----
        n_e = 0
        while n_e < n_ev[s] and ev_t[s, n_e] <= t_sim:
            n_e += 1
        t0 = 0.0
        n_act = 0
        for e in range(n_e):
            t = ev_t[s, e]
            x_before[e] = math.exp((t - t0) / tau)
            if t - t0 > _REBASE_SPAN * tau_s:
                scale_b[e] = math.exp(-(t - t0) / tau)
                scale_a[e] = scale_b[e] * scale_b[e]
                t0 = t
            else:
                scale_a[e] = 1.0
                scale_b[e] = 1.0
            t0_after[e] = t0
            eb[e] = math.exp((t - t0) / tau)
            ea[e] = eb[e] * eb[e]
            j = ev_j[s, e]
            if slot[j] < 0:
                slot[j] = n_act
                active[n_act] = j
                n_act += 1
            ev_m[e] = slot[j]
        x_end = math.exp((t_sim - t0) / tau)
        a[:] = 0.0
        b[:] = 0.0
        a_dot[:] = 0.0
        b_dot[:] = 0.0
        standin[:] = 0.0
        cnt[:] = 0
        trace_a[:n_act] = 0.0
        trace_b[:n_act] = 0.0
        n_seen = 0
        # before the first event a = 0 everywhere: no neuron can cross
        for e in range(n_e):
            if scale_b[e] != 1.0:  # the time origin moves: rescale every neuron's state
                sa = scale_a[e]
                sb = scale_b[e]
                for i in range(n_out):
                    a[i] *= sa
                    a_dot[i] *= sa
                    b[i] *= sb
                    b_dot[i] *= sb
                for m in range(n_seen):
                    trace_a[m] *= sa
                    trace_b[m] *= sb
                if want_elig:
                    for i in range(n_out):
                        r_row = resid[i]
                        for m in range(n_seen):
                            r_row[m] *= sb
            # ---- apply event e to every neuron, and test the interval up to the next ----
            m_e = ev_m[e]
            n_seen = max(n_seen, m_e + 1)  # channels received so far (compact indices)
            w_row = weights_t[ev_j[s, e]]
            ea_e = ea[e]
            eb_e = eb[e]
            x_lo0 = eb_e
            x_hi = x_before[e + 1] if e + 1 < n_e else x_end
            finite_hi = x_hi < np.inf
            trace_a[m_e] += ea_e
            trace_b[m_e] += eb_e
            if sum_tangents:
                tan_e = ev_tan[s, e]
                if standin_tangent:
                    for i in range(n_out):
                        standin[i] += w_row[i] * tan_e
                else:
                    for i in range(n_out):
                        a_dot[i] += w_row[i] * ea_e * tan_e / tau_s
                        b_dot[i] += w_row[i] * eb_e * tan_e / tau
            n_maybe = 0
            for i in range(n_out):
                ai = a[i] + w_row[i] * ea_e
                bi = b[i] + w_row[i] * eb_e
                a[i] = ai
                b[i] = bi
                # cheap rejections (no sqrt): the root 2a / (b + sqrt D) needs a > 0;
                # q(x) = c x^2 - b x + a is convex and positive at x_lo (u < c there), so
                # with q(x_hi) > 0 a root needs the vertex b / 2c inside the interval
                x_v = 0.5 * bi / c
                shut = finite_hi & ((c * x_hi - bi) * x_hi + ai > 0.0) \
                    & ((x_v <= x_lo0) | (x_v >= x_hi))
                ok = (ai > 0.0) & (cnt[i] < K) & (not shut)
                maybe[i] = ok
                n_maybe += ok
            if n_maybe == 0:
                continue
            # ---- solve the candidates: every threshold crossing before the next event ----
            t0 = t0_after[e]
            for i in range(n_out):
                if not maybe[i]:
                    continue
                ai = a[i]
                bi = b[i]
                bdi = b_dot[i]
                ci = cnt[i]
                x_lo = x_lo0
                while ci < K:
                    if ai <= 0.0:
                        break
                    if finite_hi and (c * x_hi - bi) * x_hi + ai > 0.0:
                        x_v = 0.5 * bi / c
                        if x_v <= x_lo or x_v >= x_hi:
                            break
                    disc = bi * bi - 4.0 * ai * c
                    if disc <= 0.0:
                        break
                    sq = math.sqrt(disc)
                    den = bi + sq
                    if den <= 0.0:
                        break
                    x = 2.0 * ai / den
                    if x < x_lo or x > x_hi:
                        break
                    inv = tau / (x * sq)  # tau / (a - c x^2), exact implicit derivative
                    inv_elig = tau / ai if public_denominator else inv
                    if want_elig:
                        e_row = elig_c[i]
                        r_row = resid[i]
                        for m in range(n_seen):
                            g = inv_elig * (trace_a[m] - x * (trace_b[m] - c_tau * r_row[m]))
                            e_row[m] += g
                            r_row[m] += x * g
                    tangent = 0.0
                    if track_tangents:
                        if standin_tangent:
                            t_int = standin[i]
                            standin[i] = 0.0
                        else:
                            t_int = inv * (a_dot[i] - x * bdi)
                            bdi -= c_tau * x * t_int
                        tangent = t_int
                        if use_perturbation and ci == 0:
                            tangent += perturbation[s, i]
                    out_t[s, i, ci] = t0 + tau * math.log(x)
                    out_tan[s, i, ci] = tangent
                    bi -= c * x
                    ci += 1
                    x_lo = x
                b[i] = bi
                b_dot[i] = bdi
                cnt[i] = ci
        # ---- outputs; reset the compact per-synapse state of the neurons that spiked ----
        if want_elig:
            el_n_active[s] = n_act
            el_channels[s, :n_act] = active[:n_act]
        for i in range(n_out):
            out_cnt[s, i] = cnt[i]
            if want_elig and cnt[i] > 0:
                e_row = elig_c[i]
                r_row = resid[i]
                out_row = el_values[n_rows]
                el_sample[n_rows] = s
                el_neuron[n_rows] = i
                n_rows += 1
                for m in range(n_act):
                    out_row[m] = e_row[m]
                    e_row[m] = 0.0
                    r_row[m] = 0.0
        for m in range(n_act):
            slot[active[m]] = -1
    return n_rows


@njit(cache=True)
def eligibility_rows_to_dense(values, sample, neuron, channels, n_active, out):
    """Scatter eligibility rows (see :func:`layer_forward`) into ``out [B, n_out, n_in]``
    (zeros)."""
    for r in range(values.shape[0]):
        s = sample[r]
        row = out[s, neuron[r]]
        for m in range(n_active[s]):
            row[channels[s, m]] = values[r, m]


@njit(cache=True)
def eligibility_rows_gradient(values, sample, neuron, channels, n_active, delta, out):
    """``out[i, j] += sum_r [neuron[r] = i] values[r, m] delta[sample[r], i]`` over the
    eligibility rows, ``j = channels[sample[r], m]``, rows in order (so for every synapse the
    samples are summed in ascending order)."""
    for r in range(values.shape[0]):
        s = sample[r]
        i = neuron[r]
        d = delta[s, i]
        row = out[i]
        for m in range(n_active[s]):
            row[channels[s, m]] += values[r, m] * d


def layer_forward_reference(times, counts, tangents, weights, tau_s, threshold, t_sim,
                            max_spikes, perturbation=None, track_tangents=False,
                            want_elig=False, public_denominator=False,
                            standin_tangent=False):
    """Plain reference of :func:`layer_forward`, recomputing every sum from its definition.

    No time-origin rebasing (valid while ``t / tau_s`` stays below ~700), no incremental
    traces: before each candidate spike ``a``, ``b``, their derivatives with respect to
    every weight and their tangents are summed afresh over the inputs received and the
    neuron's own earlier spikes.

    Parameters
    ----------
    times, tangents : float64 [B, n_in, K_in]; counts : int64 [B, n_in]
        Input spike buffers.
    weights : float64 [n_out, n_in]
    tau_s, threshold, t_sim : float; max_spikes : int
    perturbation : float64 [B, n_out] or None
    track_tangents, want_elig, public_denominator, standin_tangent : bool

    Returns
    -------
    out_t, out_tan : float64 [B, n_out, max_spikes]; out_cnt : int64 [B, n_out];
    elig : float64 [B, n_out, n_in] (zeros unless ``want_elig``)
    """
    B, n_in, _ = times.shape
    n_out = weights.shape[0]
    tau = 2.0 * tau_s
    c = threshold
    out_t = np.full((B, n_out, max_spikes), np.inf)
    out_tan = np.zeros((B, n_out, max_spikes))
    out_cnt = np.zeros((B, n_out), np.int64)
    elig = np.zeros((B, n_out, n_in))
    for s in range(B):
        events = sorted(
            (times[s, j, k], j, tangents[s, j, k])
            for j in range(n_in) for k in range(counts[s, j]) if times[s, j, k] <= t_sim
        )
        bounds = [ev[0] for ev in events] + [t_sim]
        for i in range(n_out):
            spikes = []  # (time, dt/dw [n_in], internal tangent)
            for e, t_hi in enumerate(bounds):
                received = events[:e]
                t_lo = received[-1][0] if received else -np.inf
                while len(spikes) < max_spikes:
                    if spikes:
                        t_lo = max(t_lo, spikes[-1][0])
                    a = sum(weights[i, j] * np.exp(t / tau_s) for t, j, _ in received)
                    b = sum(weights[i, j] * np.exp(t / tau) for t, j, _ in received)
                    b -= c * sum(np.exp(tk / tau) for tk, _, _ in spikes)
                    disc = b * b - 4.0 * a * c
                    if disc <= 0.0 or b + np.sqrt(disc) <= 0.0:
                        break
                    x = 2.0 * a / (b + np.sqrt(disc))
                    if x <= 0.0:
                        break
                    t_new = tau * np.log(x)
                    if t_new < t_lo or t_new > t_hi:
                        break
                    da_dw = np.zeros(n_in)
                    db_dw = np.zeros(n_in)
                    a_dot = 0.0
                    b_dot = 0.0
                    for t, j, tan in received:
                        da_dw[j] += np.exp(t / tau_s)
                        db_dw[j] += np.exp(t / tau)
                        a_dot += weights[i, j] * np.exp(t / tau_s) * tan / tau_s
                        b_dot += weights[i, j] * np.exp(t / tau) * tan / tau
                    for tk, dtk_dw, tan_k in spikes:
                        db_dw -= c * np.exp(tk / tau) / tau * dtk_dw
                        b_dot -= c * np.exp(tk / tau) / tau * tan_k
                    denom = a - c * x * x
                    dt_dw = tau * (da_dw - x * db_dw) / (a if public_denominator else denom)
                    tan_int = tau * (a_dot - x * b_dot) / denom if track_tangents else 0.0
                    if track_tangents and standin_tangent:
                        # inputs received after the previous own spike, weighted tangents
                        since = spikes[-1][0] if spikes else -np.inf
                        tan_int = sum(weights[i, j] * tan for t, j, tan in received
                                      if t >= since)
                    k = len(spikes)
                    out_t[s, i, k] = t_new
                    delivered = tan_int
                    if track_tangents and perturbation is not None and k == 0:
                        delivered += perturbation[s, i]
                    out_tan[s, i, k] = delivered
                    if want_elig:
                        elig[s, i] += dt_dw
                    spikes.append((t_new, dt_dw, tan_int))
            out_cnt[s, i] = len(spikes)
    return out_t, out_tan, out_cnt, elig


@njit(cache=True)
def _level_crossings(x, threshold, dt, out_t, out_cnt, write):
    """Count (``write=False``) or write level crossings of ``x [N, T, C]``; see below."""
    N, T, C = x.shape
    for s in range(N):
        for ch in range(C):
            th = threshold[ch]
            ref = x[s, 0, ch]
            n_up = 0
            n_dn = 0
            for k in range(T - 1):
                v0 = x[s, k, ch]
                v1 = x[s, k + 1, ch]
                while v1 >= ref + th:
                    if write:
                        out_t[s, 2 * ch, n_up] = (k + (ref + th - v0) / (v1 - v0)) * dt
                    n_up += 1
                    ref += th
                while v1 <= ref - th:
                    if write:
                        out_t[s, 2 * ch + 1, n_dn] = (k + (ref - th - v0) / (v1 - v0)) * dt
                    n_dn += 1
                    ref -= th
            out_cnt[s, 2 * ch] = n_up
            out_cnt[s, 2 * ch + 1] = n_dn


def delta_encode_kernel(x, threshold, dt):
    """Level-crossing (delta) encoding of ``x [N, T, C]`` into ``2C`` spike channels.

    The signal is interpolated linearly between samples ``dt`` apart; channel ``2c`` spikes
    whenever channel ``c`` rises ``threshold[c]`` above its reference level, channel
    ``2c + 1`` whenever it falls ``threshold[c]`` below; the reference then moves by one
    threshold.  Spike times are the exact crossing times of the interpolation.

    Returns
    -------
    times : float64 [N, 2C, K] (inf padded), counts : int64 [N, 2C]
    """
    N, _T, C = x.shape
    counts = np.zeros((N, 2 * C), np.int64)
    dummy = np.empty((1, 1, 1))
    _level_crossings(x, threshold, dt, dummy, counts, False)
    K = max(int(counts.max()) if counts.size else 0, 1)
    times = np.full((N, 2 * C, K), np.inf)
    _level_crossings(x, threshold, dt, times, counts, True)
    return times, counts


def delta_encode_reference(x, threshold, dt):
    """Plain reference of :func:`delta_encode_kernel`: the same crossings, found by
    quantising the interpolated signal's level index ``floor((v - x0) / th)`` change by
    change, one sample interval at a time."""
    N, T, C = x.shape
    trains = [[[] for _ in range(2 * C)] for _ in range(N)]
    for s in range(N):
        for ch in range(C):
            th = threshold[ch]
            level = 0  # the reference is x0 + level * th
            for k in range(T - 1):
                v0, v1 = x[s, k, ch], x[s, k + 1, ch]
                rel1 = (v1 - x[s, 0, ch]) / th
                while rel1 >= level + 1:
                    target = x[s, 0, ch] + (level + 1) * th
                    trains[s][2 * ch].append((k + (target - v0) / (v1 - v0)) * dt)
                    level += 1
                while rel1 <= level - 1:
                    target = x[s, 0, ch] + (level - 1) * th
                    trains[s][2 * ch + 1].append((k + (target - v0) / (v1 - v0)) * dt)
                    level -= 1
    K = max([1] + [len(tr) for row in trains for tr in row])
    times = np.full((N, 2 * C, K), np.inf)
    counts = np.zeros((N, 2 * C), np.int64)
    for s in range(N):
        for q in range(2 * C):
            counts[s, q] = len(trains[s][q])
            times[s, q, :counts[s, q]] = trains[s][q]
    return times, counts
