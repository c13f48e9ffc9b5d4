"""Where data lives, checksums, and the verified HDF5 cache.

* :func:`default_cache_dir`: ``$SNN_DFA_DATA_DIR`` if set; else ``<repo>/datasets/cache``
  when snn_dfa runs from a source checkout (the package's parent folder holds
  ``datasets/`` and ``setup.cfg``); else ``$XDG_CACHE_HOME/snn-dfa`` (``~/.cache/snn-dfa``).
* :func:`write_arrays` writes named arrays and a JSON metadata record to an HDF5 file under a
  temporary name, stores a SHA-256 of the contents and renames the file when complete, so an
  interrupted write never leaves a file that looks finished.
* :func:`read_arrays` reads such a file back and recomputes the SHA-256; a truncated, altered
  or unreadable file raises :class:`~snn_dfa.errors.DataError` and is never used.
* :func:`fetch` is the opt-in download: it streams a URL to a temporary file, checks its
  SHA-256 and renames it only when it matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from snn_dfa.errors import DataError, notice

ENV_DATA_DIR = "SNN_DFA_DATA_DIR"
_CHUNK_BYTES = 1 << 20
_HASH_ATTR = "content_sha256"
_META_ATTR = "meta_json"


def default_cache_dir() -> Path:
    """The folder holding converted caches and user-supplied raw datasets (not created)."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "datasets").is_dir() and (repo / "setup.cfg").is_file():
        return repo / "datasets" / "cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "snn-dfa"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir`` as a Path, or :func:`default_cache_dir` when None."""
    return default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str, how_to_obtain: str) -> None:
    """Raise DataError unless ``path`` exists and has the expected SHA-256."""
    if not path.is_file():
        raise DataError(f"missing data file {path}; {how_to_obtain}")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise DataError(
            f"{path} fails its checksum: SHA-256 {actual}, expected {expected_sha256}; "
            f"the file is truncated or altered. {how_to_obtain}"
        )


def _content_sha256(arrays: Mapping[str, np.ndarray], meta_json: str) -> str:
    digest = hashlib.sha256()
    digest.update(meta_json.encode())
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"\0{name}\0{arr.dtype.str}\0{arr.shape}\0".encode())
        digest.update(arr.data.cast("B"))
    return digest.hexdigest()


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write ``arrays`` and ``meta`` (JSON-serialisable) to ``path`` atomically.

    The file is written as ``<path>.partial-<pid>`` and renamed to ``path`` only after it
    was closed successfully; on any error the partial file is removed.
    """
    meta_json = json.dumps(dict(meta), sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.partial-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as fh:
            for name, arr in arrays.items():
                fh.create_dataset(name, data=arr)
            fh.attrs[_META_ATTR] = meta_json
            fh.attrs[_HASH_ATTR] = _content_sha256(arrays, meta_json)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_meta(path: Path) -> dict[str, Any]:
    """The metadata record of a cache file, without reading or verifying its arrays."""
    try:
        with h5py.File(path, "r") as fh:
            return dict(json.loads(fh.attrs[_META_ATTR]))
    except Exception as exc:
        raise DataError(
            f"cache file {path} is unreadable ({type(exc).__name__}: {exc}); "
            "delete it to rebuild it"
        ) from exc


def read_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read every array and the metadata of a cache file and verify its SHA-256.

    Raises
    ------
    DataError
        If the file is missing, unreadable (e.g. truncated) or its contents do not match
        the stored SHA-256.
    """
    if not path.is_file():
        raise DataError(f"missing cache file {path}")
    try:
        with h5py.File(path, "r") as fh:
            meta_json = str(fh.attrs[_META_ATTR])
            stored = str(fh.attrs[_HASH_ATTR])
            arrays = {name: fh[name][()] for name in fh}
    except Exception as exc:
        raise DataError(
            f"cache file {path} is unreadable ({type(exc).__name__}: {exc}); "
            "delete it to rebuild it"
        ) from exc
    actual = _content_sha256(arrays, meta_json)
    if actual != stored:
        raise DataError(
            f"cache file {path} fails its checksum (stored SHA-256 {stored}, contents "
            f"{actual}); it was altered or damaged. Delete it to rebuild it"
        )
    return arrays, dict(json.loads(meta_json))


def read_or_none(path: Path, meta: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays of the cache entry ``path`` if it holds ``meta`` and passes its checksum;
    None when it must be (re)built: absent, stale, or damaged (then one line says so, and an
    entry that is a folder is moved aside, never deleted)."""
    if path.is_dir() and not path.is_symlink():
        aside = path.with_name(f"{path.name}.not-a-file-{os.getpid()}")
        os.rename(path, aside)
        notice(f"cache entry {str(path)!r} was a folder; moved it to {str(aside)!r}; "
               "rebuilding the entry")
        return None
    if not path.is_file():
        return None
    try:
        if read_meta(path) != dict(meta):
            return None  # stale: another format or other settings
        arrays, _ = read_arrays(path)
    except DataError as exc:
        reason = "fails its checksum" if "checksum" in str(exc) else "is unreadable"
        notice(f"cache file {str(path)!r} {reason}; rebuilding it")
        return None
    return arrays


def fetch(url: str, dest: Path, expected_sha256: str) -> Path:
    """Download ``url`` to ``dest`` and verify its SHA-256 (opt-in, needs a network).

    The bytes go to ``<dest>.partial-<pid>`` first; ``dest`` appears only when the
    checksum matches. A mismatch raises DataError and leaves nothing behind.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        try:
            with urllib.request.urlopen(url) as response, open(tmp, "wb") as out:
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            raise DataError(f"could not download {url}: {exc}") from exc
        if digest.hexdigest() != expected_sha256:
            raise DataError(
                f"download of {url} fails its checksum: SHA-256 {digest.hexdigest()}, "
                f"expected {expected_sha256}; nothing was saved"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
