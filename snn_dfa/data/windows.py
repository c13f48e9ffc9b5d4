"""Preprocessing, windowing, normalisation, subject splits and per-subject streams.

The UCI-HAR signal chain (Anguita et al., ESANN 2013; the UCI-HAR ``README.txt`` and
``features_info.txt``) applied to raw 50 Hz smartphone recordings, one recording at a time:

1. noise removal on every accelerometer and gyroscope axis: a median filter, then a
   3rd-order low-pass Butterworth filter with a 20 Hz corner;
2. gravity separation: a low-pass Butterworth filter with a 0.3 Hz corner applied to the
   noise-filtered acceleration gives gravity; body acceleration = total - gravity;
3. nine channels in the order of UCI-HAR's "Inertial Signals" as usually loaded:
   body_acc xyz (g), body_gyro xyz (rad/s), total_acc xyz (g).

Butterworth filters run forward and backward (``scipy.signal.sosfiltfilt``: zero phase,
squared magnitude response, so -6 dB at the corner).  scipy.signal and scipy.ndimage are
imported when first needed: together they take about a second to import, and loading a
converted cache does not use them.  The median-filter length and the
gravity-filter order are not stated by UCI-HAR; the defaults below are this project's
choices and are labelled as such.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from snn_dfa._validation import check_array, check_scalar
from snn_dfa.data.records import UNLABELLED, HarWindows
from snn_dfa.errors import NotFittedError, ValidationError

#: Test subjects of the official UCI-HAR split (the other 21 of 30 are training subjects).
UCI_HAR_TEST_SUBJECTS: tuple[int, ...] = (2, 4, 9, 10, 12, 13, 18, 20, 24)

#: Channel order of the nine UCI-HAR-style signals.
UCIHAR9_CHANNELS: tuple[str, ...] = (
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
)


@dataclass(frozen=True)
class UciHarFilterParams:
    """Parameters of the UCI-HAR signal chain.

    Attributes
    ----------
    sample_rate_hz : float
        50 Hz: UCI-HAR / UCI HAPT ``README.txt`` ("captured ... at a constant rate of 50Hz").
    median_kernel : int
        3 samples. Assumption: UCI-HAR ``features_info.txt`` names "a median filter"
        without its length; 3 is the smallest odd length.
    noise_order : int
        3: ``features_info.txt`` ("a 3rd order low pass Butterworth filter").
    noise_cutoff_hz : float
        20 Hz: ``features_info.txt`` ("with a corner frequency of 20 Hz").
    gravity_order : int
        3. Assumption: the gravity filter's order is not stated; the noise filter's order
        is reused.
    gravity_cutoff_hz : float
        0.3 Hz: UCI-HAR ``README.txt`` ("a filter with 0.3 Hz cutoff frequency was used").
    """

    sample_rate_hz: float = 50.0
    median_kernel: int = 3
    noise_order: int = 3
    noise_cutoff_hz: float = 20.0
    gravity_order: int = 3
    gravity_cutoff_hz: float = 0.3

    def __post_init__(self) -> None:
        check_scalar("sample_rate_hz", self.sample_rate_hz, low=0, low_inclusive=False)
        check_scalar("median_kernel", self.median_kernel, int, low=1)
        if self.median_kernel % 2 == 0:
            raise ValidationError(f"median_kernel={self.median_kernel}: expected an odd length")
        nyquist = self.sample_rate_hz / 2
        for name in ("noise", "gravity"):
            check_scalar(f"{name}_order", getattr(self, f"{name}_order"), int, low=1)
            check_scalar(
                f"{name}_cutoff_hz", getattr(self, f"{name}_cutoff_hz"),
                low=0, high=nyquist, low_inclusive=False, high_inclusive=False,
            )

    def noise_sos(self) -> np.ndarray:
        """Second-order sections of the noise low-pass filter, shape (n_sections, 6)."""
        import scipy.signal

        return scipy.signal.butter(
            self.noise_order, self.noise_cutoff_hz, btype="lowpass",
            output="sos", fs=self.sample_rate_hz,
        )

    def gravity_sos(self) -> np.ndarray:
        """Second-order sections of the gravity low-pass filter, shape (n_sections, 6)."""
        import scipy.signal

        return scipy.signal.butter(
            self.gravity_order, self.gravity_cutoff_hz, btype="lowpass",
            output="sos", fs=self.sample_rate_hz,
        )


def ucihar_channels(
    acc_g: np.ndarray, gyro_rad_s: np.ndarray, params: UciHarFilterParams | None = None
) -> np.ndarray:
    """The nine UCI-HAR-style channels of one continuous recording.

    Parameters
    ----------
    acc_g : array, shape (n_samples, 3)
        Raw triaxial acceleration in g.
    gyro_rad_s : array, shape (n_samples, 3)
        Raw triaxial angular velocity in rad/s.
    params : UciHarFilterParams, optional

    Returns
    -------
    ndarray of float32, shape (n_samples, 9)
        Channels in :data:`UCIHAR9_CHANNELS` order.
    """
    import scipy.ndimage
    import scipy.signal

    params = UciHarFilterParams() if params is None else params
    acc = check_array("acc_g", acc_g, ndim=2, shape=(None, 3), dtype=np.float64)
    gyro = check_array("gyro_rad_s", gyro_rad_s, shape=acc.shape, dtype=np.float64)
    raw = np.concatenate([acc, gyro], axis=1)
    min_len = 3 * 2 * max(params.noise_order, params.gravity_order) + 1
    if raw.shape[0] <= min_len:
        raise ValidationError(
            f"acc_g: expected more than {min_len} samples for zero-phase filtering, "
            f"got {raw.shape[0]}"
        )
    # Median filter along time only; edges repeat the end samples.
    denoised = scipy.ndimage.median_filter(raw, size=(params.median_kernel, 1), mode="nearest")
    denoised = scipy.signal.sosfiltfilt(params.noise_sos(), denoised, axis=0)
    total_acc, body_gyro = denoised[:, :3], denoised[:, 3:]
    gravity = scipy.signal.sosfiltfilt(params.gravity_sos(), total_acc, axis=0)
    body_acc = total_acc - gravity
    return np.concatenate([body_acc, body_gyro, total_acc], axis=1).astype(np.float32)


def window_starts(n_samples: int, length: int, step: int) -> np.ndarray:
    """First sample of every full window of ``length`` samples, every ``step`` samples.

    Windows start at 0, step, 2*step, ... and a trailing partial window is dropped.

    Returns
    -------
    ndarray of int64, shape (n_windows,)
    """
    check_scalar("n_samples", n_samples, int, low=0)
    check_scalar("length", length, int, low=1)
    check_scalar("step", step, int, low=1)
    if n_samples < length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - length + 1, step, dtype=np.int64)


def cut_windows(signals: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Copy the windows ``signals[s : s + length]`` for every ``s`` in ``starts``.

    Parameters
    ----------
    signals : array, shape (n_samples, C)
    starts : int array, shape (N,)
    length : int

    Returns
    -------
    ndarray, shape (N, length, C), the dtype of ``signals``
    """
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size and (starts.min() < 0 or starts.max() + length > signals.shape[0]):
        raise ValidationError(
            f"starts: windows of {length} samples must lie within {signals.shape[0]} samples"
        )
    return signals[starts[:, None] + np.arange(length)]


def window_labels(
    sample_labels: np.ndarray, starts: np.ndarray, length: int, label_map: np.ndarray
) -> np.ndarray:
    """Label of each window: the rule is "all samples agree".

    A window gets class ``label_map[l]`` when every one of its samples carries the same
    source label ``l`` and ``label_map[l] >= 0``; otherwise (mixed labels, an unlabelled or
    an unmapped label) it gets ``UNLABELLED`` (-1).

    Parameters
    ----------
    sample_labels : int array, shape (n_samples,)
        Source labels, non-negative integers after any offset the caller applies.
    starts : int array, shape (N,)
    length : int
    label_map : int array, shape (n_source_labels,)
        Class index (or -1) for each source label value.

    Returns
    -------
    ndarray of int64, shape (N,)
    """
    starts = np.asarray(starts, dtype=np.int64)
    labels = np.asarray(sample_labels, dtype=np.int64)
    if starts.size == 0:
        return np.zeros(0, dtype=np.int64)
    if labels.min() < 0 or labels.max() >= len(label_map):
        raise ValidationError(
            f"sample_labels: expected values in [0, {len(label_map) - 1}], got "
            f"[{labels.min()}, {labels.max()}]"
        )
    views = np.lib.stride_tricks.sliding_window_view(labels, length)[starts]
    first = views[:, 0]
    uniform = (views.min(axis=1) == first) & (views.max(axis=1) == first)
    return np.where(uniform, np.asarray(label_map, dtype=np.int64)[first], UNLABELLED)


_Data = TypeVar("_Data", np.ndarray, HarWindows)


class Normalizer:
    """Per-channel standardisation fitted on training data only.

    ``fit`` stores ``mean_`` and ``std_`` (shape (C,), float64) over every window and time
    step of the training windows; ``transform`` returns ``(X - mean_) / std_`` as float32.
    A channel that is constant in the training data keeps scale 1.
    """

    def fit(self, data: np.ndarray | HarWindows) -> Normalizer:
        """Learn the per-channel mean and standard deviation of ``data`` (N, T, C)."""
        X = check_array("X", _signals(data), ndim=3, dtype=np.float64)
        if X.shape[0] * X.shape[1] == 0:
            raise ValidationError(f"X: expected at least one sample to fit on, got {X.shape}")
        self.mean_ = X.mean(axis=(0, 1))
        std = X.std(axis=(0, 1))
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, data: _Data) -> _Data:
        """Standardise ``data`` (an (N, T, C) array or HarWindows) with the fitted statistics."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("Normalizer: call fit on the training data before transform")
        X = check_array("X", _signals(data), ndim=3, dtype=None)
        if X.shape[2] != self.mean_.shape[0]:
            raise ValidationError(
                f"X: expected {self.mean_.shape[0]} channels as in fit, got {X.shape[2]}"
            )
        out = ((X - self.mean_) / self.std_).astype(np.float32)
        if isinstance(data, HarWindows):
            return dataclasses.replace(data, X=out)
        return out


def _signals(data: np.ndarray | HarWindows) -> np.ndarray:
    return data.X if isinstance(data, HarWindows) else data


def _check_subjects(windows: HarWindows, name: str, subjects: Iterable[int]) -> np.ndarray:
    wanted = np.asarray(sorted({int(s) for s in subjects}), dtype=np.int64)
    missing = np.setdiff1d(wanted, windows.subject)
    if missing.size:
        raise ValidationError(
            f"{name}={wanted.tolist()}: subject(s) {missing.tolist()} have no windows; "
            f"available subjects are {np.unique(windows.subject).tolist()}"
        )
    return wanted


def subject_split(
    windows: HarWindows, test_subjects: Iterable[int] = UCI_HAR_TEST_SUBJECTS
) -> tuple[HarWindows, HarWindows]:
    """Split by subject: ``(train, test)``; test holds exactly ``test_subjects``' windows."""
    test = _check_subjects(windows, "test_subjects", test_subjects)
    in_test = np.isin(windows.subject, test)
    if in_test.all():
        raise ValidationError(f"test_subjects={test.tolist()}: leaves no training subject")
    return windows.subset(~in_test), windows.subset(in_test)


def subject_stream(windows: HarWindows, subject: int) -> HarWindows:
    """All windows of ``subject`` in recording order (by recording, then start sample).

    Windows labelled ``UNLABELLED`` (transitions, unlabelled stretches, windows across two
    activities) stay in the stream when ``windows`` holds them (``load_hapt(...,
    basic_only=False)``); ``stream.labelled`` tells the adaptation loop which to score.
    """
    _check_subjects(windows, "subject", [subject])
    index = np.flatnonzero(windows.subject == subject)
    order = np.lexsort((windows.start_index[index], windows.recording[index]))
    return windows.subset(index[order])


def adaptation_split(
    windows: HarWindows, adapt_subject: int, pretrain_subjects: Iterable[int] | None = None
) -> tuple[HarWindows, HarWindows]:
    """``(pretrain, stream)``: pre-train on some subjects, adapt on one held-out subject.

    Parameters
    ----------
    windows : HarWindows
    adapt_subject : int
        The subject whose windows form the adaptation stream (recording order).
    pretrain_subjects : iterable of int, optional
        Subjects to pre-train on; by default every subject except ``adapt_subject``.
        Must not contain ``adapt_subject``.
    """
    _check_subjects(windows, "adapt_subject", [adapt_subject])
    if pretrain_subjects is None:
        pretrain = np.setdiff1d(np.unique(windows.subject), [adapt_subject])
    else:
        pretrain = _check_subjects(windows, "pretrain_subjects", pretrain_subjects)
        if adapt_subject in pretrain:
            raise ValidationError(
                f"pretrain_subjects={pretrain.tolist()}: must not contain "
                f"adapt_subject={adapt_subject}"
            )
    if pretrain.size == 0:
        raise ValidationError("pretrain_subjects: no subject left to pre-train on")
    return (
        windows.subset(np.isin(windows.subject, pretrain)),
        subject_stream(windows, adapt_subject),
    )
