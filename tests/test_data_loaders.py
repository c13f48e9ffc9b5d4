"""Loaders of user-supplied and packaged data sets, on small files written in the real formats."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from snn_dfa.data import (
    UCIHAR9_CHANNELS,
    download,
    load_basic_motions,
    load_digits,
    load_fashion_mnist,
    load_hhar,
    load_uci_har,
    load_unimib_shar,
    read_idx,
    registry,
    subject_split,
)
from snn_dfa.errors import DataError, ValidationError

# ----------------------------------------------------------------------------- UCI-HAR


def _uci_har_files(n_train: int = 4, n_test: int = 3) -> dict[str, bytes]:
    """Member path -> bytes of a miniature "UCI HAR Dataset" in the official layout."""
    files = {}
    for split, n, subjects in (("train", n_train, [1, 1, 3, 3]), ("test", n_test, [2, 2, 4])):
        for c, name in enumerate(UCIHAR9_CHANNELS):
            rows = [
                " ".join(f"{(c * 1000 + i * 128 + t) / 1e4: .8e}" for t in range(128))
                for i in range(n)
            ]
            files[f"UCI HAR Dataset/{split}/Inertial Signals/{name}_{split}.txt"] = (
                "\n".join("  " + r for r in rows) + "\n").encode()
        files[f"UCI HAR Dataset/{split}/y_{split}.txt"] = "".join(
            f"{1 + i % 6}\n" for i in range(n)).encode()
        files[f"UCI HAR Dataset/{split}/subject_{split}.txt"] = "".join(
            f"{s}\n" for s in subjects[:n]).encode()
    files["UCI HAR Dataset/activity_labels.txt"] = b"1 WALKING\n"
    return files


def _write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _check_uci(w):
    assert w.X.shape == (7, 128, 9) and w.X.dtype == np.float32
    assert w.y.tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert w.subject.tolist() == [1, 1, 3, 3, 2, 2, 4]
    # channel c, window i (within its split), sample t holds (c*1000 + i*128 + t) / 1e4
    assert w.X[5, 7, 4] == pytest.approx((4 * 1000 + 1 * 128 + 7) / 1e4)
    train, test = subject_split(w, test_subjects=[2, 4])
    assert (len(train), len(test)) == (4, 3)


def test_uci_har_from_folder_zip_and_nested_zip(tmp_path):
    files = _uci_har_files()
    folder = tmp_path / "folder"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    _check_uci(load_uci_har(folder))
    inner = _write_zip(tmp_path / "UCI HAR Dataset.zip", files)
    _check_uci(load_uci_har(inner))
    outer = _write_zip(tmp_path / "download.zip", {
        "UCI HAR Dataset.zip": inner.read_bytes(),
        "__MACOSX/UCI HAR Dataset/train/y_train.txt": b"junk",
    })
    _check_uci(load_uci_har(outer))


def test_uci_har_missing_and_inconsistent_files(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*archive.ics.uci.edu"):
        load_uci_har(tmp_path / "nowhere")
    files = _uci_har_files()
    del files["UCI HAR Dataset/test/y_test.txt"]
    with pytest.raises(DataError, match=r"test/y_test.txt.*UCI HAR"):
        load_uci_har(_write_zip(tmp_path / "a.zip", files))
    files = _uci_har_files()
    files["UCI HAR Dataset/train/y_train.txt"] = b"1\n2\n7\n1\n"
    with pytest.raises(DataError, match="labels outside"):
        load_uci_har(_write_zip(tmp_path / "b.zip", files))
    files = _uci_har_files()
    files["UCI HAR Dataset/train/subject_train.txt"] = b"1\n1\n"
    with pytest.raises(DataError, match="4 windows but 4 labels and 2 subjects"):
        load_uci_har(_write_zip(tmp_path / "c.zip", files))


# ------------------------------------------------------------------------- UniMiB-SHAR


def _write_unimib(folder: Path, n: int = 5, names=("Walking", "Running", "FallingForw")):
    folder.mkdir(parents=True, exist_ok=True)
    data = np.arange(n * 453, dtype=np.float64).reshape(n, 453)
    labels = np.array([[1 + i % len(names), 10 + i, 1 + i // 2] for i in range(n)], dtype=float)
    cells = np.empty((2, len(names)), dtype=object)
    for k, name in enumerate(names):
        cells[0, k] = f"description of {name}"
        cells[1, k] = name
    scipy.io.savemat(folder / "acc_data.mat", {"acc_data": data})
    scipy.io.savemat(folder / "acc_labels.mat", {"acc_labels": labels})
    scipy.io.savemat(folder / "acc_names.mat", {"acc_names": cells})
    return data


def test_unimib_shar_mat_files(tmp_path):
    data = _write_unimib(tmp_path / "UniMiB-SHAR" / "data")
    w = load_unimib_shar(tmp_path)
    assert w.X.shape == (5, 151, 3) and w.X.dtype == np.float32
    np.testing.assert_array_equal(w.X[2, :, 0], data[2, :151])    # x block first
    np.testing.assert_array_equal(w.X[2, :, 2], data[2, 302:])    # then y, then z
    assert w.class_names == ("Walking", "Running", "FallingForw")
    assert w.y.tolist() == [0, 1, 2, 0, 1]
    assert w.subject.tolist() == [10, 11, 12, 13, 14]
    with pytest.raises(ValidationError, match="subset"):
        load_unimib_shar(tmp_path, subset="both")
    with pytest.raises(DataError, match="adl_data.mat"):
        load_unimib_shar(tmp_path, subset="adl")


def test_unimib_shar_rejects_bad_contents(tmp_path):
    _write_unimib(tmp_path)
    scipy.io.savemat(tmp_path / "acc_data.mat", {"acc_data": np.zeros((5, 450))})
    with pytest.raises(DataError, match=r"shape \(5, 450\)"):
        load_unimib_shar(tmp_path)
    (tmp_path / "acc_data.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataError, match="not a readable MATLAB file"):
        load_unimib_shar(tmp_path)


# -------------------------------------------------------------------------------- HHAR

_HHAR_HEADER = "Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt\n"


def _hhar_csv(rows) -> bytes:
    lines = [_HHAR_HEADER]
    for i, (t_ns, x, y, z, user, device, gt) in enumerate(rows):
        lines.append(f"{i},{t_ns // 1_000_000},{t_ns},{x},{y},{z},{user},nexus4,{device},{gt}\n")
    return "".join(lines).encode()


def _write_hhar(folder: Path, n: int = 250) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    acc, gyro = [], []
    for user, device in (("a", "nexus4_1"), ("b", "s3_1")):
        for k in range(n):
            t = 10_000_000 * k + (5_000_000_000 if k >= 200 and user == "b" else 0)
            gt = "walk" if k < 150 else "sit"
            acc.append((t, k / 10, 0.5, 9.8, user, device, gt))
        for k in range(n + 2):  # gyro on its own clock, a linear ramp in x
            t = 10_000_000 * k - 3_000_000
            t += 5_000_000_000 if k >= 200 and user == "b" else 0
            gyro.append((t, t / 1e9, -1.0, 0.25, user, device, "walk"))
    acc.reverse()  # the loader sorts by Creation_Time
    (folder / "Phones_accelerometer.csv").write_bytes(_hhar_csv(acc))
    (folder / "Phones_gyroscope.csv").write_bytes(_hhar_csv(gyro))


def test_hhar_csv_windows_labels_and_gyro_alignment(tmp_path):
    _write_hhar(tmp_path)
    w = load_hhar(tmp_path, labelled_only=False)
    assert w.X.shape == (8, 100, 6) and w.channel_names[3] == "gyro_x"
    # user a: windows at 0, 50, 100, 150 -> walk, walk, mixed, sit
    a = w.subset(w.subject == 0)
    assert a.start_index.tolist() == [0, 50, 100, 150]
    assert [a.class_names[i] if i >= 0 else None for i in a.y] == ["walk", "walk", None, "sit"]
    np.testing.assert_allclose(a.X[1, :, 0], np.arange(50, 150) / 10, rtol=1e-6)
    # gyro x = its own timestamp in s, interpolated to the accelerometer times
    np.testing.assert_allclose(a.X[1, :, 3], np.arange(50, 150) * 0.01, rtol=1e-5)
    # user b has a 5 s gap after sample 200: the window across it is unlabelled
    b = w.subset(w.subject == 1)
    assert b.y.tolist() == [0 + 3, 3, -1, -1]
    labelled = load_hhar(tmp_path)
    assert len(labelled) == 5 and labelled.labelled.all()
    with pytest.raises(DataError, match="Watch_accelerometer.csv"):
        load_hhar(tmp_path, device="watch")


def test_hhar_rejects_malformed_csv(tmp_path):
    _write_hhar(tmp_path)
    bad_row = b"0,1,x,1,2,3,a,m,d,walk\n"  # Creation_Time is not an integer
    (tmp_path / "Phones_gyroscope.csv").write_bytes(_HHAR_HEADER.encode() + bad_row)
    with pytest.raises(DataError, match="line 2 is malformed"):
        load_hhar(tmp_path)
    (tmp_path / "Phones_gyroscope.csv").write_bytes(b"a,b,c\n")
    with pytest.raises(DataError, match="header"):
        load_hhar(tmp_path)


# ----------------------------------------------------------------------- Fashion-MNIST


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(np.uint8).tobytes()


def test_fashion_mnist_idx_files_gz_and_plain(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1, 5], dtype=np.uint8)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(_idx(images))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(labels))
    fm = load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(fm.X, images)
    assert fm.y.tolist() == labels.tolist() and fm.class_names[9] == "Ankle boot"
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.*apt-get install"):
        load_fashion_mnist(tmp_path, split="test")


def test_idx_reader_rejects_damaged_files(tmp_path):
    good = _idx(np.zeros((2, 3), dtype=np.uint8))
    assert read_idx(io.BytesIO(good)).shape == (2, 3)
    with pytest.raises(DataError, match="truncated"):
        read_idx(io.BytesIO(good[:-1]))
    with pytest.raises(DataError, match="trailing"):
        read_idx(io.BytesIO(good + b"\0"))
    with pytest.raises(DataError, match="magic"):
        read_idx(io.BytesIO(b"\x1f\x8b" + good))
    with pytest.raises(DataError, match="type 0x0d"):
        read_idx(io.BytesIO(bytes([0, 0, 0x0D, 1, 0, 0, 0, 0])))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(good)[:-8])
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(np.zeros(2, dtype=np.uint8)))
    with pytest.raises(DataError, match="unreadable"):
        load_fashion_mnist(tmp_path)


# ----------------------------------------------------------- packaged sets and registry


def test_digits_and_basic_motions():
    digits = load_digits()
    assert digits.X.shape == (1797, 8, 8) and digits.X.max() == 16
    assert np.bincount(digits.y).min() > 170
    train, test = load_basic_motions()
    assert train.X.shape == test.X.shape == (40, 100, 6)
    assert train.class_names == ("Badminton", "Running", "Standing", "Walking")
    assert train.class_counts().tolist() == [10, 10, 10, 10]


def test_registry_lists_every_dataset_and_local_availability(tmp_path):
    rows = {r.name: r for r in registry(tmp_path)}
    assert set(rows) == {"hapt", "uci_har", "unimib_shar", "hhar", "basicmotions",
                         "fashion_mnist", "digits", "cora", "citeseer", "tiny_shakespeare"}
    assert rows["hapt"].available  # the pip package is installed
    assert not rows["uci_har"].available and str(tmp_path / "uci_har") == rows["uci_har"].location
    assert all(r.how_to_obtain and r.licence and r.loader.startswith("snn_dfa.data.")
               for r in rows.values())
    (tmp_path / "uci_har").mkdir()
    _write_zip(tmp_path / "uci_har" / "UCI HAR Dataset.zip", _uci_har_files())
    _write_unimib(tmp_path / "unimib_shar")
    _write_hhar(tmp_path / "hhar")
    rows = {r.name: r for r in registry(tmp_path)}
    assert rows["uci_har"].available and rows["unimib_shar"].available and rows["hhar"].available


def test_download_is_checksummed(tmp_path):
    archive = _write_zip(tmp_path / "mirror.zip", _uci_har_files())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match="no published SHA-256"):
        download("hhar", cache_dir, url=archive.as_uri())
    with pytest.raises(DataError, match="fails its checksum"):
        download("uci_har", cache_dir, url=archive.as_uri())  # recorded hash differs
    saved = download("uci_har", cache_dir, url=archive.as_uri(), sha256=digest)
    assert saved.parent == cache_dir / "uci_har"
    _check_uci(load_uci_har(saved.parent))
    with pytest.raises(ValidationError, match="name"):
        download("mnist", cache_dir)
