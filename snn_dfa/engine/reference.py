"""Plain NumPy references for the numba kernels (slow, obvious, tested against the kernels).

They follow the equations in :mod:`snn_dfa.engine.neurons` line by line, vectorised over the
batch and the neurons and looping over time.
"""

from __future__ import annotations

import numpy as np

from snn_dfa.engine.neurons import LIFParams, LIFState, Reset, lif_step, refractory_gate


def lif_forward_reference(current: np.ndarray, params: LIFParams, threshold: np.ndarray,
                          state: LIFState | None = None
                          ) -> tuple[np.ndarray, np.ndarray, LIFState]:
    """Spikes and membranes ``[T, B, n]`` by repeated :func:`lif_step`."""
    T, B, n = current.shape
    state = LIFState.zeros(B, n, current.dtype) if state is None else state
    spikes, membranes = np.empty_like(current), np.empty_like(current)
    for t in range(T):
        spikes[t], state = lif_step(current[t], state, params, threshold)
        membranes[t] = state.u
    return spikes, membranes, state


def _reset_factors(params: LIFParams, spikes_t: np.ndarray, membranes_t: np.ndarray,
                   threshold: np.ndarray) -> tuple:
    """``(p, c) = (du[t+1]/du[t], du[t+1]/ds[t])`` at step ``t``."""
    beta = params.beta
    p: np.ndarray | float
    c: np.ndarray | float
    if params.reset is Reset.ZERO:
        p, c = beta * (1.0 - spikes_t), -beta * membranes_t
    elif params.reset is Reset.SUBTRACT:
        p, c = beta, -threshold * (beta if params.reset_decays else 1.0)
    else:
        p, c = beta, 0.0
    return p, (0.0 if params.detach_reset else c)


def lif_backward_reference(membranes: np.ndarray, spikes: np.ndarray, grad_membranes: np.ndarray,
                           grad_spikes: np.ndarray, params: LIFParams, threshold: np.ndarray,
                           refractory0: np.ndarray | None = None) -> np.ndarray:
    """``dL/dI`` by the BPTT recursion of ``snn_dfa.engine._kernels.lif_backward``."""
    T, B, n = membranes.shape
    gate = refractory_gate(spikes, params, refractory0)  # recomputed forwards, as in the pass
    gate = np.ones_like(membranes) if gate is None else gate
    a_next = np.zeros((B, n), membranes.dtype)
    out = np.empty_like(membranes)
    for t in range(T - 1, -1, -1):
        p, c = _reset_factors(params, spikes[t], membranes[t], threshold)
        sg = params.surrogate.derivative(membranes[t] - threshold) * gate[t]
        a = p * a_next + grad_membranes[t] + (grad_spikes[t] + c * a_next) * sg
        out[t] = gate[t] * a
        a_next = a
    return out


def lif_jvp_reference(membranes: np.ndarray, spikes: np.ndarray, tangent_current: np.ndarray,
                      params: LIFParams, threshold: np.ndarray,
                      refractory0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tangents ``(du, ds)`` by the recursion of ``snn_dfa.engine._kernels.lif_jvp``."""
    T, B, n = membranes.shape
    gate = refractory_gate(spikes, params, refractory0)
    gate = np.ones_like(membranes) if gate is None else gate
    du_all, ds_all = np.empty_like(membranes), np.empty_like(membranes)
    du = np.zeros((B, n))
    ds = np.zeros((B, n))
    for t in range(T):
        if t > 0:
            p, c = _reset_factors(params, spikes[t - 1], membranes[t - 1], threshold)
            du = p * du + c * ds
        else:
            du = np.zeros((B, n))
        du = du + gate[t] * tangent_current[t]
        ds = params.surrogate.derivative(membranes[t] - threshold) * gate[t] * du
        du_all[t], ds_all[t] = du, ds
    return du_all, ds_all


def patches_reference(x: np.ndarray, kernel: int, left: int, right: int, stride: int
                      ) -> np.ndarray:
    """Sliding windows along time of the zero-padded ``x [T, B, n]``: ``[T_out, B, n, kernel]``
    (the reference of the ``im2col`` and pooling kernels)."""
    xp = np.pad(x, ((left, right), (0, 0), (0, 0)))
    return np.lib.stride_tricks.sliding_window_view(xp, kernel, axis=0)[::stride]


def unpatch_reference(grad_patches: np.ndarray, steps: int, kernel: int, left: int, right: int,
                      stride: int) -> np.ndarray:
    """Adjoint of :func:`patches_reference`: scatter-add ``[T_out, B, n, kernel]`` back to
    ``[steps, B, n]``, tap by tap (the reference of ``col2im`` and pooling's backward)."""
    t_out, batch, n, _ = grad_patches.shape
    out = np.zeros((steps + left + right, batch, n), grad_patches.dtype)
    stop = stride * (t_out - 1) + 1
    for j in range(kernel):
        out[j : j + stop : stride] += grad_patches[..., j]
    return out[left : left + steps]
