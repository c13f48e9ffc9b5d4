"""Fashion-MNIST from IDX files (Debian's ``dataset-fashion-mnist`` or any folder).

Xiao, Rasul, Vollgraf, arXiv 1708.07747 (2017): 60,000 training and 10,000 test grey
images of 28 x 28 pixels, 10 classes.  Files: ``{train,t10k}-images-idx3-ubyte`` and
``{train,t10k}-labels-idx1-ubyte``, each optionally gzip-compressed (``.gz``).

IDX format: two zero bytes, a type byte (0x08 = unsigned byte), a byte giving the number
of dimensions, one big-endian uint32 per dimension, then the values in C order.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import IO

import numpy as np

from snn_dfa._validation import check_choice
from snn_dfa.data.records import ImageSet
from snn_dfa.errors import DataError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HOW_TO_OBTAIN = (
    "apt-get install dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist) or "
    "pass a folder holding the four IDX files"
)
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_UBYTE = 0x08


def read_idx(stream: IO[bytes] | io.BufferedIOBase, source: str = "<stream>") -> np.ndarray:
    """Read one unsigned-byte IDX array from a binary stream.

    Returns
    -------
    ndarray of uint8, with the shape stored in the file
    """
    header = stream.read(4)
    if len(header) < 4 or header[0] != 0 or header[1] != 0:
        raise DataError(f"{source}: not an IDX file (magic bytes {header!r})")
    if header[2] != _UBYTE:
        raise DataError(f"{source}: IDX type 0x{header[2]:02x}; expected 0x08 (unsigned byte)")
    ndim = header[3]
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
    count = int(np.prod(shape, dtype=np.int64))
    data = stream.read(count + 1)
    if len(data) != count:
        raise DataError(
            f"{source}: IDX shape {shape} needs {count} bytes of values, found {len(data)}; "
            "the file is truncated or has trailing bytes"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _open_idx(folder: Path, stem: str) -> np.ndarray:
    for name, opener in ((f"{stem}.gz", gzip.open), (stem, open)):
        path = folder / name
        if path.is_file():
            try:
                with opener(path, "rb") as fh:
                    return read_idx(fh, str(path))
            except DataError:
                raise
            except (OSError, EOFError) as exc:
                raise DataError(f"{path}: unreadable ({exc})") from exc
    raise DataError(f"missing data file {folder / stem}[.gz]; {HOW_TO_OBTAIN}")


def load_fashion_mnist(
    path: str | os.PathLike[str] | None = None, *, split: str = "train"
) -> ImageSet:
    """Load the Fashion-MNIST training or test images.

    Parameters
    ----------
    path : path, optional
        Folder holding the IDX files; default ``/usr/share/datasets/fashion-mnist``.
    split : {"train", "test"}

    Returns
    -------
    ImageSet
        ``X`` uint8 (N, 28, 28); ``y`` int64 0..9.
    """
    check_choice("split", split, SPLIT_PREFIX)
    folder = DEBIAN_DIR if path is None else Path(path).expanduser()
    prefix = SPLIT_PREFIX[split]
    images = _open_idx(folder, f"{prefix}-images-idx3-ubyte")
    labels = _open_idx(folder, f"{prefix}-labels-idx1-ubyte")
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{folder}: images {images.shape} and labels {labels.shape} do not match; "
            "expected (N, H, W) and (N,)"
        )
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{folder}: labels outside 0..{len(CLASS_NAMES) - 1}")
    return ImageSet(
        X=images.copy(),
        y=labels.astype(np.int64),
        class_names=CLASS_NAMES,
        max_value=255,
        name=f"fashion_mnist_{split}",
    )
