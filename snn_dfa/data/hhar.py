"""HHAR (Heterogeneity Activity Recognition) phone or watch windows, from CSV files.

Stisen et al., "Smart Devices are Different", SenSys 2015 (UCI id 344): 9 users (a..i)
with several phones and watches; ``Phones_accelerometer.csv``, ``Phones_gyroscope.csv``,
``Watch_accelerometer.csv`` and ``Watch_gyroscope.csv`` with the columns
``Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt``; ``gt`` is one of bike,
sit, stand, walk, stairsup, stairsdown or null.

Preprocessing (this project's choices, documented in ``datasets/README.md``):

1. rows are grouped by (User, Device); each group is one recording, sorted by
   ``Creation_Time`` (ns); accelerometer timestamps set the sample clock;
2. the gyroscope of the same device is linearly interpolated to the accelerometer
   timestamps; accelerometer samples outside the gyroscope's time span are dropped;
3. windows of 100 samples every 50 (SNN_HAR's HHAR setting); a window is labelled when all
   its samples carry the same non-null ``gt`` and no gap between consecutive samples
   exceeds ``max_gap_s``; otherwise it is labelled -1 (kept only with ``labelled_only=False``).

Devices sample at different rates (50-200 Hz), so ``sample_rate_hz`` is None.
"""

from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from snn_dfa._validation import check_choice, check_scalar
from snn_dfa.data import cache
from snn_dfa.data._archive import open_member
from snn_dfa.data.records import UNLABELLED, HarWindows
from snn_dfa.data.windows import cut_windows, window_labels, window_starts
from snn_dfa.errors import DataError

FOLDER = "hhar"
URL = "https://archive.ics.uci.edu/static/public/344/heterogeneity+activity+recognition.zip"
ARCHIVE_NAME = "heterogeneity+activity+recognition.zip"
HOW_TO_OBTAIN = (
    f"download {URL} (or run snn_dfa.data.download('hhar', sha256=...)) and put the zip or "
    "the extracted CSV files in <cache>/hhar or pass their path"
)
CLASS_NAMES: tuple[str, ...] = ("bike", "sit", "stand", "walk", "stairsup", "stairsdown")
CHANNEL_NAMES: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
DEVICE_FILES = {"phones": "Phones", "watch": "Watch"}
USERS: tuple[str, ...] = tuple("abcdefghi")
WINDOW_LENGTH = 100
WINDOW_STEP = 50
_COLUMNS = (
    "Index", "Arrival_Time", "Creation_Time", "x", "y", "z", "User", "Model", "Device", "gt",
)
_NULL = "null"


def default_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Default location of the user-supplied HHAR files: ``<cache>/hhar``."""
    return cache.resolve_cache_dir(cache_dir) / FOLDER


_Series = tuple[np.ndarray, np.ndarray, list[str]]


def _read_csv(root: Path, member: str) -> dict[tuple[str, str], _Series]:
    """``{(user, device): (time_ns int64 (n,), xyz float64 (n, 3), gt labels)}``."""
    times: dict[tuple[str, str], list[int]] = defaultdict(list)
    values: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    labels: dict[tuple[str, str], list[str]] = defaultdict(list)
    with open_member(root, member, HOW_TO_OBTAIN) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="ascii", newline=""))
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != _COLUMNS:
            raise DataError(f"{root}: {member} has header {header}; expected {list(_COLUMNS)}")
        for line_no, row in enumerate(reader, start=2):
            try:
                key = (row[6], row[8])
                t, x, y, z = int(row[2]), float(row[3]), float(row[4]), float(row[5])
                gt = row[9]
            except (IndexError, ValueError) as exc:
                raise DataError(f"{root}: {member} line {line_no} is malformed ({exc})") from exc
            times[key].append(t)
            values[key].append((x, y, z))
            labels[key].append(gt)
    out = {}
    for key, stamps in times.items():
        ts = np.asarray(stamps, dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        out[key] = (
            ts[order], np.asarray(values[key], dtype=np.float64)[order],
            [labels[key][i] for i in order],
        )
    return out


def load_hhar(
    path: str | os.PathLike[str] | None = None,
    *,
    device: str = "phones",
    labelled_only: bool = True,
    max_gap_s: float = 1.0,
) -> HarWindows:
    """Load HHAR accelerometer + gyroscope windows of 100 samples, step 50.

    Parameters
    ----------
    path : path, optional
        Folder or zip holding the CSV files; default ``<cache>/hhar``.
    device : {"phones", "watch"}
    labelled_only : bool
        Drop windows labelled -1 (mixed or null activity, or a gap over ``max_gap_s``).
    max_gap_s : float
        Largest allowed gap between consecutive samples inside a labelled window.

    Returns
    -------
    HarWindows
        ``X`` float32 (N, 100, 6): acc xyz (m/s^2), gyro xyz (rad/s); ``subject`` 0..8 for
        users a..i; ``recording`` the index of the (user, device) pair in sorted order;
        ``start_index`` the window's first accelerometer sample in that recording.
    """
    check_choice("device", device, DEVICE_FILES)
    check_scalar("max_gap_s", max_gap_s, low=0, low_inclusive=False)
    root = default_path() if path is None else Path(path).expanduser()
    prefix = DEVICE_FILES[device]
    acc = _read_csv(root, f"{prefix}_accelerometer.csv")
    gyro = _read_csv(root, f"{prefix}_gyroscope.csv")
    label_codes = {name: i for i, name in enumerate(CLASS_NAMES)}
    label_codes[_NULL] = len(CLASS_NAMES)
    label_map = np.array(list(range(len(CLASS_NAMES))) + [UNLABELLED], dtype=np.int64)
    X, y, subject, recording, start_index = [], [], [], [], []
    for rec_id, key in enumerate(sorted(set(acc) & set(gyro))):
        user = key[0]
        if user not in USERS:
            raise DataError(f"{root}: unknown HHAR user {user!r}; expected one of {USERS}")
        t_acc, xyz_acc, gt = acc[key]
        t_gyro, xyz_gyro, _ = gyro[key]
        inside = (t_acc >= t_gyro[0]) & (t_acc <= t_gyro[-1])
        t_acc, xyz_acc = t_acc[inside], xyz_acc[inside]
        try:
            codes = np.array(
                [label_codes[g] for g, k in zip(gt, inside, strict=True) if k], dtype=np.int64
            )
        except KeyError as exc:
            raise DataError(f"{root}: unknown HHAR activity {exc.args[0]!r}") from exc
        gyro_at_acc = np.stack(
            [np.interp(t_acc, t_gyro, xyz_gyro[:, axis]) for axis in range(3)], axis=1
        )
        signals = np.concatenate([xyz_acc, gyro_at_acc], axis=1).astype(np.float32)
        starts = window_starts(signals.shape[0], WINDOW_LENGTH, WINDOW_STEP)
        labels = window_labels(codes, starts, WINDOW_LENGTH, label_map)
        if starts.size:
            gaps = np.diff(t_acc) > max_gap_s * 1e9
            gap_windows = np.lib.stride_tricks.sliding_window_view(gaps, WINDOW_LENGTH - 1)
            labels[gap_windows[starts].any(axis=1)] = UNLABELLED
        keep = labels != UNLABELLED if labelled_only else np.ones(labels.shape, dtype=bool)
        X.append(cut_windows(signals, starts[keep], WINDOW_LENGTH))
        y.append(labels[keep])
        subject.append(np.full(int(keep.sum()), USERS.index(user), dtype=np.int64))
        recording.append(np.full(int(keep.sum()), rec_id, dtype=np.int64))
        start_index.append(starts[keep])
    if not X:
        raise DataError(f"{root}: no (user, device) pair has both accelerometer and gyroscope data")
    return HarWindows(
        X=np.concatenate(X),
        y=np.concatenate(y),
        subject=np.concatenate(subject),
        recording=np.concatenate(recording),
        start_index=np.concatenate(start_index),
        channel_names=CHANNEL_NAMES,
        class_names=CLASS_NAMES,
        sample_rate_hz=None,
        name=f"hhar_{device}",
    )
