"""The official UCI-HAR "Inertial Signals" windows, from a folder or zip the user supplies.

Human Activity Recognition Using Smartphones (Anguita et al., ESANN 2013; UCI id 240):
10,299 pre-cut windows of 128 samples (2.56 s at 50 Hz, 50 % overlap), 9 channels, 6
activities, 30 subjects; 7,352 train and 2,947 test windows.  :func:`load_uci_har` returns
both parts in one :class:`HarWindows` (train first, then test, each in file order); the
official split is ``subject_split(windows)`` with :data:`UCI_HAR_TEST_SUBJECTS`.

Accepted layouts under ``path``: the extracted ``UCI HAR Dataset`` folder, ``UCI HAR
Dataset.zip``, or UCI's download (a zip holding that zip), each possibly inside a folder.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from snn_dfa.data import cache
from snn_dfa.data._archive import open_member
from snn_dfa.data.records import HarWindows
from snn_dfa.data.windows import UCIHAR9_CHANNELS
from snn_dfa.errors import DataError

FOLDER = "uci_har"
URL = "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip"
ARCHIVE_NAME = "human+activity+recognition+using+smartphones.zip"
#: SHA-256 of UCI's download as published by a third party (not verified here; see
#: datasets/SHA256SUMS). A mismatch makes :func:`snn_dfa.data.download` refuse the file.
ARCHIVE_SHA256 = "c00b803081a5c797cd5e4b83700a9810b38d53d9d84e01917e090e1fdbc81031"
HOW_TO_OBTAIN = (
    f"download {URL} (or run snn_dfa.data.download('uci_har')) and put the zip or the "
    "extracted 'UCI HAR Dataset' folder in <cache>/uci_har or pass its path"
)
CLASS_NAMES: tuple[str, ...] = (
    "WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING",
)
WINDOW_LENGTH = 128
SAMPLE_RATE_HZ = 50.0


def default_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Default location of the user-supplied UCI-HAR files: ``<cache>/uci_har``."""
    return cache.resolve_cache_dir(cache_dir) / FOLDER


def _read_table(root: Path, member: str, dtype: type) -> np.ndarray:
    with open_member(root, member, HOW_TO_OBTAIN) as raw:
        text = io.TextIOWrapper(raw, encoding="ascii")
        try:
            return np.loadtxt(text, dtype=dtype, ndmin=2)
        except ValueError as exc:
            raise DataError(f"{root}: {member} is not a numeric table ({exc})") from exc


def load_uci_har(path: str | os.PathLike[str] | None = None) -> HarWindows:
    """Load UCI-HAR's 9-channel Inertial Signals.

    Parameters
    ----------
    path : path, optional
        Folder or zip holding the data set; default ``<cache>/uci_har``.

    Returns
    -------
    HarWindows
        ``X`` float32 (N, 128, 9) in :data:`UCIHAR9_CHANNELS` order (body_acc in g,
        body_gyro in rad/s, total_acc in g); ``y`` 0..5; ``recording`` -1 (UCI-HAR does not
        identify sessions) and ``start_index`` the window's row in train-then-test order.
    """
    root = default_path() if path is None else Path(path).expanduser()
    parts_X, parts_y, parts_subject = [], [], []
    for split in ("train", "test"):
        channels = []
        for name in UCIHAR9_CHANNELS:
            member = f"{split}/Inertial Signals/{name}_{split}.txt"
            channels.append(_read_table(root, member, np.float32))
        y = _read_table(root, f"{split}/y_{split}.txt", np.int64).ravel()
        subject = _read_table(root, f"{split}/subject_{split}.txt", np.int64).ravel()
        shapes = {c.shape for c in channels}
        if len(shapes) != 1 or channels[0].shape[1] != WINDOW_LENGTH:
            raise DataError(
                f"{root}: {split} Inertial Signals have shapes {sorted(shapes)}; expected "
                f"one shape (N, {WINDOW_LENGTH})"
            )
        n = channels[0].shape[0]
        if y.shape != (n,) or subject.shape != (n,):
            raise DataError(
                f"{root}: {split} has {n} windows but {y.size} labels and {subject.size} subjects"
            )
        if n and (y.min() < 1 or y.max() > len(CLASS_NAMES)):
            raise DataError(f"{root}: y_{split}.txt holds labels outside 1..{len(CLASS_NAMES)}")
        parts_X.append(np.stack(channels, axis=2))
        parts_y.append(y - 1)
        parts_subject.append(subject)
    X = np.concatenate(parts_X)
    return HarWindows(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=np.concatenate(parts_y),
        subject=np.concatenate(parts_subject),
        recording=np.full(X.shape[0], -1, dtype=np.int64),
        start_index=np.arange(X.shape[0], dtype=np.int64),
        channel_names=UCIHAR9_CHANNELS,
        class_names=CLASS_NAMES,
        sample_rate_hz=SAMPLE_RATE_HZ,
        name="uci_har",
    )
