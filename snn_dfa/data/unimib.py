"""UniMiB-SHAR accelerometer windows (.mat files read with scipy.io), from a user path.

UniMiB SHAR (Micucci, Mobilio, Napoletano, Applied Sciences 7(10):1101, 2017): smartphone
acceleration (m/s^2) of 30 subjects, pre-cut into windows of 151 samples (about 3 s at
50 Hz) around each event.  ``<subset>_data.mat`` holds ``<subset>_data``, shape (N, 453):
151 x values, then 151 y, then 151 z; ``<subset>_labels.mat`` holds ``<subset>_labels``,
shape (N, 3): class (1..K), subject (1..30), trial; ``<subset>_names.mat`` holds
``<subset>_names``, a 2 x K cell array whose second row gives the class names.
Subsets: ``acc`` (17 classes: 9 activities of daily living + 8 falls), ``adl`` (9), ``fall`` (8).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from snn_dfa._validation import check_choice
from snn_dfa.data import cache
from snn_dfa.data._archive import open_member
from snn_dfa.data.records import HarWindows
from snn_dfa.errors import DataError

FOLDER = "unimib_shar"
HOW_TO_OBTAIN = (
    "request UniMiB-SHAR from http://www.sal.disco.unimib.it/technologies/unimib-shar/ and "
    "put its zip or 'data' folder in <cache>/unimib_shar or pass its path"
)
SUBSETS = ("acc", "adl", "fall")
WINDOW_LENGTH = 151
SAMPLE_RATE_HZ = 50.0
CHANNEL_NAMES: tuple[str, ...] = ("acc_x", "acc_y", "acc_z")


def default_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Default location of the user-supplied UniMiB-SHAR files: ``<cache>/unimib_shar``."""
    return cache.resolve_cache_dir(cache_dir) / FOLDER


def _read_mat(root: Path, name: str) -> np.ndarray:
    with open_member(root, f"{name}.mat", HOW_TO_OBTAIN) as fh:
        try:
            content = scipy.io.loadmat(fh)
        except Exception as exc:  # scipy raises ValueError/TypeError/MatReadError
            raise DataError(f"{root}: {name}.mat is not a readable MATLAB file ({exc})") from exc
    if name not in content:
        raise DataError(f"{root}: {name}.mat has no variable {name!r}")
    return np.asarray(content[name])


def _cell_text(cell: object) -> str:
    return str(np.asarray(cell).ravel()[0])


def load_unimib_shar(
    path: str | os.PathLike[str] | None = None, *, subset: str = "acc"
) -> HarWindows:
    """Load UniMiB-SHAR windows.

    Parameters
    ----------
    path : path, optional
        Folder or zip holding the .mat files; default ``<cache>/unimib_shar``.
    subset : {"acc", "adl", "fall"}

    Returns
    -------
    HarWindows
        ``X`` float32 (N, 151, 3) in m/s^2; ``y`` 0..K-1; ``subject`` 1..30;
        ``recording`` -1 (trial numbers restart for every activity, so they do not order
        windows in time) and ``start_index`` the window's row in the file.
    """
    check_choice("subset", subset, SUBSETS)
    root = default_path() if path is None else Path(path).expanduser()
    data = _read_mat(root, f"{subset}_data")
    labels = _read_mat(root, f"{subset}_labels")
    names = _read_mat(root, f"{subset}_names")
    if data.ndim != 2 or data.shape[1] != 3 * WINDOW_LENGTH:
        raise DataError(
            f"{root}: {subset}_data has shape {data.shape}; expected (N, {3 * WINDOW_LENGTH})"
        )
    if labels.shape != (data.shape[0], 3):
        raise DataError(
            f"{root}: {subset}_labels has shape {labels.shape}; expected ({data.shape[0]}, 3)"
        )
    if names.ndim != 2 or names.shape[0] != 2:
        raise DataError(f"{root}: {subset}_names has shape {names.shape}; expected (2, K)")
    class_names = tuple(_cell_text(c) for c in names[1])
    y = labels[:, 0].astype(np.int64) - 1
    if y.size and (y.min() < 0 or y.max() >= len(class_names)):
        raise DataError(
            f"{root}: {subset}_labels holds classes outside 1..{len(class_names)}"
        )
    X = data.reshape(-1, 3, WINDOW_LENGTH).transpose(0, 2, 1)
    return HarWindows(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=y,
        subject=labels[:, 1].astype(np.int64),
        recording=np.full(data.shape[0], -1, dtype=np.int64),
        start_index=np.arange(data.shape[0], dtype=np.int64),
        channel_names=CHANNEL_NAMES,
        class_names=class_names,
        sample_rate_hz=SAMPLE_RATE_HZ,
        name=f"unimib_shar_{subset}",
    )
