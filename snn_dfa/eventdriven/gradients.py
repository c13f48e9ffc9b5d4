"""Exact spike-time gradients, computed online with per-synapse traces.

For neuron ``i`` with ``x = exp(t / tau)`` the spike condition ``c x^2 - b x + a = 0``
defines each spike time implicitly.  Differentiating it (docs/sfdfa.md, section 2):

    dt_m/dw_ij = tau (da/dw_ij - x_m db/dw_ij) / (a - c x_m^2),    a - c x_m^2 = x_m sqrt(D_m)

    da/dw_ij = A_j = sum_{t_j^z < t_m} exp(t_j^z / tau_s)
    db/dw_ij = B_j - (c / tau) R_ij,   B_j = sum_{t_j^z < t_m} exp(t_j^z / tau),
                                       R_ij = sum_{k < m} x_k dt_k/dw_ij

``A_j`` and ``B_j`` are presynaptic traces (shared by all neurons of the layer); ``R_ij`` is
the per-synapse trace that carries the dependence of a spike on the neuron's earlier spikes
through their resets (the "intra-neuron dependency").  After each spike ``R_ij += x_m
dt_m/dw_ij``.  Everything is updated at events only, forward in time: no state is stored
for a backward pass.

**The denominator.**  The authors' public kernel divides by ``a``; exact implicit
differentiation divides by ``a - c x_m^2`` (equivalently ``x_m sqrt(D_m)``).  The two agree
only when ``c x_m^2 << a``, which never holds at a crossing: there ``c x_m^2 = b x_m - a``.
The kernels implement the exact form; the tests check it against finite differences.
``simulate_layer(..., denominator="published")`` reproduces the published kernel's ``a``.

The kernel computing these lives in :mod:`snn_dfa.eventdriven._kernels`; this module is the public
entry point for the eligibility and turns eligibilities and errors into weight gradients.
"""

from __future__ import annotations

import numpy as np

from snn_dfa._validation import check_array
from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven import _kernels
from snn_dfa.eventdriven.neuron import EligibilityRows, LIFParams, SpikeBuffer, simulate_layer


def spike_time_gradient(inputs: SpikeBuffer, weights: np.ndarray, params: LIFParams,
                        *, implementation: str = "numba") -> np.ndarray:
    """Exact ``sum_m dt_im / dw_ij`` per sample, reset dependency included.

    Parameters
    ----------
    inputs : SpikeBuffer [B, n_in, K]
    weights : array [n_out, n_in]
    params : LIFParams
    implementation : {"numba", "reference"}

    Returns
    -------
    float64 [B, n_out, n_in]
    """
    out = simulate_layer(inputs, weights, params, eligibility=True,
                         implementation=implementation)
    assert out.eligibility is not None
    return out.eligibility


def weight_gradient(eligibility: np.ndarray | EligibilityRows, delta: np.ndarray) -> np.ndarray:
    """Batch-mean weight gradient ``g_ij = mean_b eligibility[b, i, j] * delta[b, i]``.

    ``delta[b, i]`` is the error assigned to neuron ``i``'s spike times: the output error
    for the output layer, the projected feedback error plus the rate regulariser for
    hidden layers.  Only the stored rows are visited (neurons that spiked, channels
    received); for every synapse the samples are summed in ascending order.

    Parameters
    ----------
    eligibility : array [B, n_out, n_in] or EligibilityRows
        (:attr:`LayerOutput.eligibility_rows` of :func:`simulate_layer`).
    delta : array [B, n_out]

    Returns
    -------
    float64 [n_out, n_in]
    """
    if isinstance(eligibility, EligibilityRows):
        rows = eligibility
    else:
        elig = check_array("eligibility", eligibility, ndim=3, dtype=np.float64, finite=False)
        rows = EligibilityRows.from_dense(elig)
    B, n_out, n_in = rows.shape
    d = check_array("delta", delta, dtype=np.float64)
    if d.shape != (B, n_out):
        raise ValidationError(
            f"delta: expected shape {(B, n_out)} to match eligibility {rows.shape}, "
            f"got {d.shape}")
    grad = np.zeros((n_out, n_in))
    _kernels.eligibility_rows_gradient(rows.values, rows.sample, rows.neuron, rows.channels,
                                       rows.n_active, d, grad)
    # a NaN or infinite eligibility makes its synapse's sum non-finite (x * 0 is NaN for
    # x = inf), so checking the sums checks every stored entry
    if not np.isfinite(grad).all():
        raise ValidationError(
            f"eligibility: contains NaN or infinite value(s) (synapses "
            f"{np.argwhere(~np.isfinite(grad))[:3].tolist()}...)")
    return grad / B
