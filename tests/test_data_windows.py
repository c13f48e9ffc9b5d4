"""Preprocessing (UCI-HAR filters), windowing, the label rule, normalisation and splits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from snn_dfa.data import (
    UCI_HAR_TEST_SUBJECTS,
    UNLABELLED,
    HarWindows,
    Normalizer,
    UciHarFilterParams,
    adaptation_split,
    subject_split,
    subject_stream,
    ucihar_channels,
)
from snn_dfa.data.windows import cut_windows, window_labels, window_starts
from snn_dfa.errors import NotFittedError, ValidationError

FS = 50.0


def _gain(sos: np.ndarray, f_hz: float) -> float:
    _, h = scipy.signal.sosfreqz(sos, worN=[f_hz], fs=FS)
    return float(np.abs(h[0]))


@pytest.mark.parametrize("which, corner_hz", [("noise", 20.0), ("gravity", 0.3)])
def test_butterworth_designs_have_their_corner_and_order(which, corner_hz):
    params = UciHarFilterParams()
    sos = getattr(params, f"{which}_sos")()
    # 3rd order: two second-order sections, one with a zero second-order coefficient.
    assert sos.shape == (2, 6)
    assert _gain(sos, corner_hz) == pytest.approx(1 / np.sqrt(2), rel=1e-6)
    assert _gain(sos, 0.0) == pytest.approx(1.0, rel=1e-9)
    # Butterworth magnitude: 1 / sqrt(1 + (f/fc)^(2n)) with the bilinear pre-warp.
    for f in (corner_hz / 4, corner_hz * 0.9):
        warp = np.tan(np.pi * f / FS) / np.tan(np.pi * corner_hz / FS)
        assert _gain(sos, f) == pytest.approx(1 / np.sqrt(1 + warp**6), rel=1e-6)


def _tone(f_hz: float, n: int, amp: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f_hz * np.arange(n) / FS)


def test_zero_phase_chain_separates_gravity_and_attenuates_noise():
    n = 5000
    gravity = np.array([0.2, -0.5, 0.8])
    motion = _tone(2.0, n, 0.3)          # 2 Hz walking-band motion
    hiss = _tone(24.0, n, 0.1)           # above the 20 Hz noise corner
    acc = gravity + (motion + hiss)[:, None]
    gyro = np.stack([_tone(1.0, n), _tone(5.0, n), _tone(24.0, n)], axis=1)
    out = ucihar_channels(acc, gyro, UciHarFilterParams(median_kernel=1))
    assert out.shape == (n, 9) and out.dtype == np.float32
    mid = slice(1000, 4000)  # away from the edge transients of the 0.3 Hz filter
    params = UciHarFilterParams()

    def sq(f_hz: float, which: str) -> float:
        return _gain(getattr(params, f"{which}_sos")(), f_hz) ** 2

    # Forward-backward filtering squares the magnitude and keeps the phase.
    expected_total = motion * sq(2.0, "noise") + hiss * sq(24.0, "noise")
    np.testing.assert_allclose(out[mid, 6] - gravity[0], expected_total[mid], atol=2e-3)
    np.testing.assert_allclose(out[mid, 0], expected_total[mid] * (1 - sq(2.0, "gravity")),
                               atol=2e-3)
    np.testing.assert_allclose(out[mid, 6:9] - out[mid, 0:3], np.broadcast_to(gravity, (3000, 3)),
                               atol=2e-3)
    np.testing.assert_allclose(out[mid, 3], _tone(1.0, n)[mid] * sq(1.0, "noise"), atol=1e-4)
    np.testing.assert_allclose(out[mid, 5], _tone(24.0, n)[mid] * sq(24.0, "noise"), atol=1e-4)
    assert sq(24.0, "noise") < 0.2


def test_median_filter_removes_a_one_sample_spike():
    n = 400
    acc = np.zeros((n, 3)) + [0.0, 0.0, 1.0]
    acc[200, 0] = 50.0
    out = ucihar_channels(acc, np.zeros((n, 3)))
    np.testing.assert_allclose(out[:, 6:9], np.broadcast_to([0, 0, 1], (n, 3)), atol=1e-6)


def test_ucihar_channels_rejects_bad_input():
    with pytest.raises(ValidationError, match="acc_g"):
        ucihar_channels(np.zeros((100, 2)), np.zeros((100, 3)))
    with pytest.raises(ValidationError, match="gyro_rad_s"):
        ucihar_channels(np.zeros((100, 3)), np.zeros((99, 3)))
    with pytest.raises(ValidationError, match="samples"):
        ucihar_channels(np.zeros((10, 3)), np.zeros((10, 3)))
    with pytest.raises(ValidationError, match="median_kernel"):
        UciHarFilterParams(median_kernel=4)
    with pytest.raises(ValidationError, match="noise_cutoff_hz"):
        UciHarFilterParams(noise_cutoff_hz=25.0)


def test_window_starts_and_cut_windows():
    np.testing.assert_array_equal(window_starts(300, 128, 64), [0, 64, 128])
    assert window_starts(127, 128, 64).size == 0
    assert window_starts(128, 128, 64).tolist() == [0]
    signals = np.arange(20, dtype=np.float32).reshape(10, 2)
    w = cut_windows(signals, np.array([0, 3]), 4)
    assert w.shape == (2, 4, 2)
    np.testing.assert_array_equal(w[1], signals[3:7])
    with pytest.raises(ValidationError, match="starts"):
        cut_windows(signals, np.array([8]), 4)


def test_window_label_rule_is_all_samples_agree():
    label_map = np.array([UNLABELLED, 0, 1, UNLABELLED])  # source label 3 is not a class
    labels = np.array([1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 0, 0, 0, 0])
    starts = np.array([0, 1, 5, 8, 12])
    y = window_labels(labels, starts, 3, label_map)
    np.testing.assert_array_equal(y, [0, 0, 1, UNLABELLED, UNLABELLED])
    y = window_labels(labels, np.array([3]), 3, label_map)  # straddles 1 -> 2
    assert y.tolist() == [UNLABELLED]
    with pytest.raises(ValidationError, match="sample_labels"):
        window_labels(np.array([0, 4, 4]), np.array([0]), 3, label_map)


def _toy_windows(n_per_subject: int = 6, subjects=(1, 2, 3, 4)) -> HarWindows:
    rng = np.random.default_rng(0)
    rows = []
    for s in subjects:
        for k in range(n_per_subject):
            rows.append((s, k % 2, n_per_subject - k))  # recording, start descending
    subject = np.array([r[0] for r in rows], dtype=np.int64)
    X = (rng.normal(size=(len(rows), 8, 2)) + subject[:, None, None] * 10).astype(np.float32)
    return HarWindows(
        X=X,
        y=np.array([k % 3 - (k == 5) for k in range(len(rows))], dtype=np.int64) % 3,
        subject=subject,
        recording=np.array([r[1] for r in rows], dtype=np.int64),
        start_index=np.array([r[2] for r in rows], dtype=np.int64) * 4,
        channel_names=("a", "b"),
        class_names=("c0", "c1", "c2"),
        sample_rate_hz=FS,
        name="toy",
    )


def test_normalizer_uses_training_statistics_only():
    windows = _toy_windows(subjects=(1, 2, 3, 4, 5))
    train, test = subject_split(windows, test_subjects=(4, 5))
    norm = Normalizer().fit(train)
    np.testing.assert_allclose(norm.mean_, train.X.reshape(-1, 2).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(norm.std_, train.X.reshape(-1, 2).std(axis=0), rtol=1e-6)
    # No leakage: changing every test-subject window leaves the statistics unchanged.
    in_test = np.isin(windows.subject, [4, 5])[:, None, None]
    poisoned = HarWindows(**{**windows.__dict__, "X": np.where(in_test, windows.X * 1000 + 7,
                                                                   windows.X)})
    train2, test2 = subject_split(poisoned, test_subjects=(4, 5))
    assert not np.allclose(test2.X, test.X)
    np.testing.assert_array_equal(Normalizer().fit(train2).mean_, norm.mean_)
    np.testing.assert_array_equal(Normalizer().fit(train2).std_, norm.std_)
    z = norm.transform(train).X.reshape(-1, 2)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-5)
    assert norm.transform(test.X).dtype == np.float32
    # Test subjects sit at offsets 40 and 50: far from zero after training-only scaling.
    assert norm.transform(test).X.mean() > 1.0


def test_normalizer_errors_and_constant_channel():
    with pytest.raises(NotFittedError):
        Normalizer().transform(np.zeros((1, 2, 2)))
    X = np.zeros((3, 4, 2), dtype=np.float32)
    X[..., 1] = np.arange(4)
    norm = Normalizer().fit(X)
    assert norm.std_[0] == 1.0
    with pytest.raises(ValidationError, match="channels"):
        norm.transform(np.zeros((1, 4, 3)))


def test_subject_split_sizes_and_membership():
    windows = _toy_windows(subjects=(1, 2, 3, 4))
    train, test = subject_split(windows, test_subjects=[2, 4])
    assert len(train) + len(test) == len(windows)
    assert set(train.subject) == {1, 3} and set(test.subject) == {2, 4}
    with pytest.raises(ValidationError, match="subject"):
        subject_split(windows, test_subjects=[9])
    with pytest.raises(ValidationError, match="no training subject"):
        subject_split(windows, test_subjects=[1, 2, 3, 4])
    assert UCI_HAR_TEST_SUBJECTS == (2, 4, 9, 10, 12, 13, 18, 20, 24)


def test_subject_stream_is_in_recording_order():
    windows = _toy_windows()
    stream = subject_stream(windows, 3)
    assert set(stream.subject) == {3} and len(stream) == 6
    keys = list(zip(stream.recording, stream.start_index, strict=True))
    assert keys == sorted(keys)
    with pytest.raises(ValidationError, match="subject"):
        subject_stream(windows, 99)


def test_adaptation_split():
    windows = _toy_windows()
    pretrain, stream = adaptation_split(windows, 2)
    assert set(pretrain.subject) == {1, 3, 4} and set(stream.subject) == {2}
    pretrain, stream = adaptation_split(windows, 2, pretrain_subjects=[1])
    assert set(pretrain.subject) == {1}
    with pytest.raises(ValidationError, match="must not contain"):
        adaptation_split(windows, 2, pretrain_subjects=[1, 2])


def test_har_windows_validates_fields():
    w = _toy_windows()
    with pytest.raises(ValidationError, match="X"):
        HarWindows(**{**w.__dict__, "X": w.X.astype(np.float64)})
    with pytest.raises(ValidationError, match="subject"):
        HarWindows(**{**w.__dict__, "subject": w.subject[:-1]})
    with pytest.raises(ValidationError, match="y"):
        HarWindows(**{**w.__dict__, "y": w.y + 5})
    with pytest.raises(ValidationError, match="mask"):
        w.subset(np.ones(3, dtype=bool))
