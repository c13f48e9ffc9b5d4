"""Input encodings into spike times for the event-driven network.

* :func:`ttfs_encode` - time-to-first-spike for images: one spike per pixel at
  ``t = t_max_s (1 - p / 255)``; a pixel of 0 gives no spike (the authors' SFDFA
  code, ``t_max_s = 0.1``).
* :func:`delta_encode` - delta (level-crossing) encoding for multichannel IMU windows
  ``[N, T, C]``: channel ``2c`` spikes each time signal ``c`` rises one threshold above its
  reference level, channel ``2c + 1`` each time it falls one threshold below; spike times are
  the exact crossing times of the linearly interpolated signal.
"""

from __future__ import annotations

import numpy as np

from snn_dfa._validation import check_array, check_scalar
from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven import _kernels
from snn_dfa.eventdriven.neuron import SpikeBuffer


def ttfs_encode(images: np.ndarray, t_max_s: float = 0.1) -> SpikeBuffer:
    """Time-to-first-spike encoding of 8-bit images.

    Parameters
    ----------
    images : int array [N, ...] with values in [0, 255]
        Flattened to ``[N, D]``.
    t_max_s : float
        Spike time of the darkest non-zero pixel's limit (``p -> 0``); ``p = 255`` spikes at 0.

    Returns
    -------
    SpikeBuffer [N, D, 1]
    """
    check_scalar("t_max_s", t_max_s, (int, float), low=0.0, low_inclusive=False)
    img = np.asarray(images)
    if img.ndim < 2:
        raise ValidationError(f"images: expected shape (N, ...) with >= 2 dims, got {img.shape}")
    pix = check_array("images", img.reshape(img.shape[0], -1), ndim=2, dtype=np.float64)
    if pix.size and (pix.min() < 0 or pix.max() > 255):
        raise ValidationError(
            f"images: expected pixel values in [0, 255], got range [{pix.min()}, {pix.max()}]")
    on = pix > 0
    times = np.where(on, t_max_s * (1.0 - pix / 255.0), np.inf)[:, :, None]
    return SpikeBuffer(np.ascontiguousarray(times), on.astype(np.int64), None)


def delta_encode(windows: np.ndarray, threshold: float | np.ndarray, dt_s: float,
                 *, implementation: str = "numba") -> SpikeBuffer:
    """Delta (level-crossing) encoding of IMU windows.

    Parameters
    ----------
    windows : array [N, T, C]
        Sensor windows, ``T >= 2`` samples ``dt_s`` apart.
    threshold : float or array [C]
        Level step per channel, in the signal's units (> 0).
    dt_s : float
        Sampling period in seconds; sample ``k`` is at ``k dt_s``.
    implementation : {"numba", "reference"}

    Returns
    -------
    SpikeBuffer [N, 2C, K]
        ``K`` is the largest spike count of any channel.
    """
    x = check_array("windows", windows, ndim=3, dtype=np.float64)
    if x.shape[1] < 2:
        raise ValidationError(f"windows: expected at least 2 time steps, got shape {x.shape}")
    check_scalar("dt_s", dt_s, (int, float), low=0.0, low_inclusive=False)
    th = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (x.shape[2],)).copy() \
        if np.ndim(threshold) == 0 else check_array("threshold", threshold,
                                                    shape=(x.shape[2],), dtype=np.float64)
    if not (np.isfinite(th).all() and (th > 0).all()):
        raise ValidationError(f"threshold: expected finite values > 0, got {th}")
    if implementation == "numba":
        times, counts = _kernels.delta_encode_kernel(x, th, float(dt_s))
    elif implementation == "reference":
        times, counts = _kernels.delta_encode_reference(x, th, float(dt_s))
    else:
        raise ValidationError(
            f"implementation={implementation!r}: expected one of 'numba', 'reference'")
    return SpikeBuffer(times, counts, None)
