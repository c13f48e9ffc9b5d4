"""Containers returned by the loaders: windows of wearable signals and small image sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn_dfa.errors import ValidationError

#: Label of a window that carries no single class (a postural transition, an unlabelled
#: stretch, or a window that straddles two activities). Kept in streams, never in
#: classification sets.
UNLABELLED = -1


@dataclass(frozen=True, eq=False)
class HarWindows:
    """Fixed-length windows of body-worn sensor signals, one row per window.

    Attributes
    ----------
    X : ndarray of float32, shape (N, T, C)
        Signal windows, sample-major inside a window (T samples of C channels).
    y : ndarray of int64, shape (N,)
        Class index into ``class_names``, or ``UNLABELLED`` (-1).
    subject : ndarray of int64, shape (N,)
        Subject identifier of each window (-1 when the source has none).
    recording : ndarray of int64, shape (N,)
        Recording (session) the window was cut from (-1 when the source has none).
    start_index : ndarray of int64, shape (N,)
        First sample of the window inside its recording; sorting by
        ``(recording, start_index)`` gives recording order.
    channel_names : tuple of str, length C
    class_names : tuple of str
    sample_rate_hz : float or None
        Sampling rate (None when the source mixes rates, e.g. HHAR devices).
    name : str
        Short dataset name, e.g. ``"hapt"``.
    """

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    recording: np.ndarray
    start_index: np.ndarray
    channel_names: tuple[str, ...]
    class_names: tuple[str, ...]
    sample_rate_hz: float | None
    name: str

    def __post_init__(self) -> None:
        if self.X.ndim != 3 or self.X.dtype != np.float32:
            raise ValidationError(
                f"HarWindows.X: expected float32 of shape (N, T, C), got {self.X.dtype} "
                f"{self.X.shape}"
            )
        n = self.X.shape[0]
        for field in ("y", "subject", "recording", "start_index"):
            arr = getattr(self, field)
            if arr.shape != (n,) or arr.dtype != np.int64:
                raise ValidationError(
                    f"HarWindows.{field}: expected int64 of shape ({n},), got {arr.dtype} "
                    f"{arr.shape}"
                )
        if len(self.channel_names) != self.X.shape[2]:
            raise ValidationError(
                f"HarWindows.channel_names: expected {self.X.shape[2]} names, got "
                f"{len(self.channel_names)}"
            )
        if n and (self.y.max() >= len(self.class_names) or self.y.min() < UNLABELLED):
            raise ValidationError(
                f"HarWindows.y: expected values in [-1, {len(self.class_names) - 1}], got "
                f"[{self.y.min()}, {self.y.max()}]"
            )

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask, shape (N,): True where the window carries a class."""
        return self.y != UNLABELLED

    def subset(self, index: np.ndarray) -> HarWindows:
        """Windows selected by a boolean mask or an integer index array (copies)."""
        index = np.asarray(index)
        if index.dtype == np.bool_ and index.shape != (len(self),):
            raise ValidationError(
                f"index: expected a boolean mask of shape ({len(self)},), got {index.shape}"
            )
        return HarWindows(
            X=self.X[index],
            y=self.y[index],
            subject=self.subject[index],
            recording=self.recording[index],
            start_index=self.start_index[index],
            channel_names=self.channel_names,
            class_names=self.class_names,
            sample_rate_hz=self.sample_rate_hz,
            name=self.name,
        )

    def class_counts(self) -> np.ndarray:
        """Number of labelled windows per class, shape (n_classes,)."""
        return np.bincount(self.y[self.labelled], minlength=len(self.class_names))


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A labelled image set.

    Attributes
    ----------
    X : ndarray of uint8, shape (N, H, W)
        Grey-level images.
    y : ndarray of int64, shape (N,)
        Class index into ``class_names``.
    class_names : tuple of str
    max_value : int
        Largest possible pixel value (255 for Fashion-MNIST, 16 for scikit-learn digits).
    name : str
    """

    X: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    max_value: int
    name: str

    def __post_init__(self) -> None:
        if self.X.ndim != 3 or self.X.dtype != np.uint8:
            raise ValidationError(
                f"ImageSet.X: expected uint8 of shape (N, H, W), got {self.X.dtype} "
                f"{self.X.shape}"
            )
        if self.y.shape != (self.X.shape[0],) or self.y.dtype != np.int64:
            raise ValidationError(
                f"ImageSet.y: expected int64 of shape ({self.X.shape[0]},), got "
                f"{self.y.dtype} {self.y.shape}"
            )

    def __len__(self) -> int:
        return int(self.X.shape[0])
