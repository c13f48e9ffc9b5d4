"""numba kernels of the clock-driven engine.  Private: the wrappers in ``snn_dfa.engine.neurons`` /
``snn_dfa.engine.layers`` validate and coerce once; these never see bad input.

Each kernel has a plain NumPy reference (``snn_dfa.engine.reference``) that tests compare against.
Reset codes follow ``snn_dfa.engine.neurons.Reset``; surrogate codes ``SurrogateKind``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from snn_dfa.engine._codes import RESET_SUBTRACT as _SUBTRACT
from snn_dfa.engine._codes import RESET_ZERO as _ZERO
from snn_dfa.engine._codes import SURROGATE_FAST_SIGMOID as _FAST_SIGMOID
from snn_dfa.engine._codes import SURROGATE_TRIANGLE as _TRIANGLE


@njit(cache=True, fastmath=False)
def lif_forward(current, beta, theta, reset, reset_decays, refractory_steps,
                u, s, ref, out_s, out_u, record_u):
    """Integrate ``current [T, B, n]`` from state ``(u, s, ref) [B, n]`` (updated in place).

    Writes spikes to ``out_s [T, B, n]`` and, when ``record_u``, membranes to ``out_u``.
    """
    T, B, n = current.shape
    one = current.dtype.type(1.0)
    sub = beta if reset_decays else one
    for t in range(T):
        for b in range(B):
            for i in range(n):
                up = u[b, i]
                sp = s[b, i]
                if reset == _SUBTRACT:
                    rho = sp * theta[i] * sub
                elif reset == _ZERO:
                    rho = sp * beta * up
                else:
                    rho = current.dtype.type(0.0)
                r = ref[b, i]
                if r == 0:
                    un = beta * up - rho + current[t, b, i]
                    sn = one if un > theta[i] else current.dtype.type(0.0)
                else:
                    un = beta * up - rho
                    sn = current.dtype.type(0.0)
                if sn > 0:
                    ref[b, i] = refractory_steps
                elif r > 0:
                    ref[b, i] = r - 1
                u[b, i] = un
                s[b, i] = sn
                out_s[t, b, i] = sn
                if record_u:
                    out_u[t, b, i] = un


@njit(cache=True, inline="always")
def _surrogate(kind, k, x):
    if kind == _FAST_SIGMOID:
        d = k * abs(x) + 1.0
        return 1.0 / (d * d)
    elif kind == _TRIANGLE:
        return max(0.0, k - abs(x)) / (k * k)
    else:
        y = 0.5 * math.pi * k * x
        return 0.5 * k / (1.0 + y * y)


@njit(cache=True, inline="always")
def _gated(s, ref0, refractory_steps, t, b, i):
    """Whether neuron (b, i) is refractory at step t (recomputed from the spikes)."""
    if ref0[b, i] > t:
        return True
    for j in range(1, refractory_steps + 1):
        if t - j >= 0 and s[t - j, b, i] > 0:
            return True
    return False


@njit(cache=True, inline="always")
def _reset_factors(reset, beta, sub, detach_reset, s_t, u_t, theta_i):
    """``(p, c) = (du[t+1]/du[t], du[t+1]/ds[t])`` of the LIF recursion at one neuron."""
    if reset == _ZERO:
        p = beta * (1.0 - s_t)
        c = -beta * u_t
    elif reset == _SUBTRACT:
        p = beta
        c = -theta_i * sub
    else:
        p = beta
        c = 0.0
    if detach_reset:
        c = 0.0
    return p, c


@njit(cache=True)
def lif_backward(u, s, grad_u, grad_s, beta, theta, reset, reset_decays, refractory_steps,
                 ref0, detach_reset, sg_kind, sg_scale, grad_current):
    """Exact BPTT through the LIF recursion with a surrogate spike derivative.

    ``u, s [T, B, n]`` from the forward pass (membrane before reset, spikes), ``grad_u`` and
    ``grad_s [T, B, n]`` the loss gradients reaching the membranes and spikes directly (from
    the readout or the next layer), ``ref0 [B, n]`` the refractory counters at ``t = 0``.
    Writes ``dL/dI [T, B, n]`` to ``grad_current``.

    Recursion for ``a[t] = dL/du[t]`` (``a[T] = 0``)::

        a[t] = p[t] a[t+1] + grad_u[t] + (grad_s[t] + c[t] a[t+1]) sigma'(u[t] - theta) g[t]
        dL/dI[t] = g[t] a[t]

    with ``p = du[t+1]/du[t]``, ``c = du[t+1]/ds[t]`` (0 when the reset is detached) and
    ``g[t]`` the refractory gate, recomputed from the spikes.
    """
    T, B, n = u.shape
    sub = beta if reset_decays else 1.0
    a_next = np.zeros((B, n), dtype=grad_current.dtype)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            for i in range(n):
                gated = _gated(s, ref0, refractory_steps, t, b, i)
                p, c = _reset_factors(reset, beta, sub, detach_reset, s[t, b, i], u[t, b, i],
                                      theta[i])
                an = a_next[b, i]
                a = p * an + grad_u[t, b, i]
                if gated:
                    grad_current[t, b, i] = 0.0
                else:
                    sg = _surrogate(sg_kind, sg_scale, u[t, b, i] - theta[i])
                    a += (grad_s[t, b, i] + c * an) * sg
                    grad_current[t, b, i] = a
                a_next[b, i] = a


@njit(cache=True)
def lif_jvp(u, s, grad_current, beta, theta, reset, reset_decays, refractory_steps, ref0,
            detach_reset, sg_kind, sg_scale, tan_u, tan_s):
    """Forward-mode tangent of the LIF recursion (the transpose of ``lif_backward``).

    Given the tangent of the input currents ``grad_current [T, B, n]`` (``dI``) and the
    recorded ``u, s``, writes the tangents of the membranes and spikes::

        du[t] = p[t-1] du[t-1] + c[t-1] ds[t-1] + g[t] dI[t]
        ds[t] = sigma'(u[t] - theta) g[t] du[t]
    """
    T, B, n = u.shape
    sub = beta if reset_decays else 1.0
    for b in range(B):
        for i in range(n):
            du_prev = 0.0
            ds_prev = 0.0
            for t in range(T):
                gated = _gated(s, ref0, refractory_steps, t, b, i)
                du = 0.0
                if t > 0:
                    p, c = _reset_factors(reset, beta, sub, detach_reset, s[t - 1, b, i],
                                          u[t - 1, b, i], theta[i])
                    du = p * du_prev + c * ds_prev
                if gated:
                    ds = 0.0
                else:
                    du += grad_current[t, b, i]
                    ds = _surrogate(sg_kind, sg_scale, u[t, b, i] - theta[i]) * du
                tan_u[t, b, i] = du
                tan_s[t, b, i] = ds
                du_prev = du
                ds_prev = ds


@njit(cache=True)
def lif_forward_plain(current, beta, theta, reset, reset_decays, u, s, out_s, out_u, record_u):
    """:func:`lif_forward` without a refractory period (the common case): no refractory
    counters, no branch on them in the inner loop.  The same operations on the same types
    as the general kernel, so bitwise the same results."""
    T, B, n = current.shape
    one = current.dtype.type(1.0)
    zero = current.dtype.type(0.0)
    sub = beta if reset_decays else one
    for t in range(T):
        for b in range(B):
            for i in range(n):
                up = u[b, i]
                sp = s[b, i]
                if reset == _SUBTRACT:
                    rho = sp * theta[i] * sub
                elif reset == _ZERO:
                    rho = sp * beta * up
                else:
                    rho = zero
                un = beta * up - rho + current[t, b, i]
                sn = one if un > theta[i] else zero
                u[b, i] = un
                s[b, i] = sn
                out_s[t, b, i] = sn
            if record_u:
                for i in range(n):
                    out_u[t, b, i] = u[b, i]


@njit(cache=True)
def lif_backward_plain(u, s, grad_u, grad_s, has_grad_u, has_grad_s, beta, theta, reset,
                       reset_decays, detach_reset, sg_kind, sg_scale, grad_current):
    """:func:`lif_backward` without a refractory period (no gate to recompute); the same
    operations on the same types as the general kernel.  The surrogate slopes of a row are
    computed in a loop of their own, which vectorises (about 4x faster at batch 64).  A
    gradient whose ``has_grad_*`` flag is False is zero (its array is not read): the same
    result as an array of zeros, without allocating and reading one."""
    T, B, n = u.shape
    sub = beta if reset_decays else 1.0
    zero = grad_current.dtype.type(0.0)
    a_next = np.zeros((B, n), dtype=grad_current.dtype)
    slope = np.empty(n, dtype=np.float64)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            for i in range(n):
                slope[i] = _surrogate(sg_kind, sg_scale, u[t, b, i] - theta[i])
            for i in range(n):
                p, c = _reset_factors(reset, beta, sub, detach_reset, s[t, b, i], u[t, b, i],
                                      theta[i])
                an = a_next[b, i]
                a = p * an + (grad_u[t, b, i] if has_grad_u else zero)
                a += ((grad_s[t, b, i] if has_grad_s else zero) + c * an) * slope[i]
                grad_current[t, b, i] = a
                a_next[b, i] = a


@njit(cache=True)
def im2col(x, kernel, left, stride, out):
    """Patches of the zero-padded ``x [T, B, C]`` along time into ``out [T_out * B, C * k]``
    (row ``t * B + b``, column ``c * k + j`` holds ``x[t * stride + j - left, b, c]``)."""
    T, B, C = x.shape
    t_out = out.shape[0] // B
    zero = out.dtype.type(0.0)
    for to in range(t_out):
        t0 = to * stride - left
        for b in range(B):
            row = to * B + b
            for j in range(kernel):
                t = t0 + j
                if 0 <= t < T:
                    for c in range(C):
                        out[row, c * kernel + j] = x[t, b, c]
                else:
                    for c in range(C):
                        out[row, c * kernel + j] = zero


@njit(cache=True)
def col2im(grad_rows, kernel, left, stride, out):
    """Adjoint of :func:`im2col`: ``out [T, B, C]`` (overwritten) gathers from
    ``grad_rows [T_out * B, C * k]`` the entries of the patches holding each input, summed
    over the taps ``j`` in ascending order (the order of the NumPy reference)."""
    T, B, C = out.shape
    t_out = grad_rows.shape[0] // B
    for t in range(T):
        for b in range(B):
            for c in range(C):
                out[t, b, c] = 0.0
            for j in range(kernel):
                num = t + left - j
                if num < 0 or num % stride != 0 or num // stride >= t_out:
                    continue
                row = (num // stride) * B + b
                for c in range(C):
                    out[t, b, c] += grad_rows[row, c * kernel + j]


@njit(cache=True)
def pool_forward(x, kernel, stride, padding, divisor, out):
    """Sum pooling along time of the zero-padded ``x [T, B, C]`` into ``out [T_out, B, C]``,
    divided by ``divisor`` (``kernel`` for average pooling, 1 for sum pooling)."""
    T, B, C = x.shape
    t_out = out.shape[0]
    for to in range(t_out):
        t0 = to * stride - padding
        for b in range(B):
            for c in range(C):
                acc = out.dtype.type(0.0)
                for j in range(kernel):
                    t = t0 + j
                    if 0 <= t < T:
                        acc += x[t, b, c]
                out[to, b, c] = acc / divisor


@njit(cache=True)
def pool_backward(grad_y, kernel, stride, padding, divisor, out):
    """Adjoint of :func:`pool_forward`: ``out [T, B, C]`` (overwritten) from ``grad_y``,
    summed over the taps in ascending order."""
    T, B, C = out.shape
    t_out = grad_y.shape[0]
    for t in range(T):
        for b in range(B):
            for c in range(C):
                out[t, b, c] = 0.0
            for j in range(kernel):
                num = t + padding - j
                if num < 0 or num % stride != 0 or num // stride >= t_out:
                    continue
                to = num // stride
                for c in range(C):
                    out[t, b, c] += grad_y[to, b, c] / divisor
