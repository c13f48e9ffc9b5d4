"""SpikingClassifier: learning, determinism, streaming, bad input."""

import numpy as np
import pytest
from helpers import toy_task

from snn_dfa.errors import ConfigError, NotFittedError, ValidationError
from snn_dfa.rules.estimator import SpikingClassifier


def clf(**kw):
    kw.setdefault("model", "mlp")
    kw.setdefault("model_params", {"hidden": (16,), "readout": "mean_membrane"})
    kw.setdefault("epochs", 8)
    kw.setdefault("batch_size", 16)
    kw.setdefault("lr", 5e-3)
    return SpikingClassifier(**kw)


def test_fit_learns_and_scores():
    X, y = toy_task()
    model = clf().fit(X, y)
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    Xt, yt = toy_task(seed=1)
    assert model.score(Xt, yt) > 0.9
    proba = model.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(Xt)) <= {0, 1}


def test_same_seed_identical_weights_different_seed_not():
    X, y = toy_task()
    a = clf(seed=7).fit(X, y).network_.get_params()
    b = clf(seed=7).fit(X, y).network_.get_params()
    c = clf(seed=8).fit(X, y).network_.get_params()
    for la, lb in zip(a, b):
        for k in la:
            np.testing.assert_array_equal(la[k], lb[k])
    assert not np.array_equal(a[0]["weight"], c[0]["weight"])


def test_sfcn_trains_on_har_shaped_windows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    t = np.arange(64)
    X = rng.normal(0, 0.3, (96, 64, 4)).astype(np.float32)
    X[:, :, 0] += np.sin(2 * np.pi * (y[:, None] + 1) * t / 32)  # class = frequency
    model = SpikingClassifier(model="sfcn", model_params={"channels": (8, 16)}, epochs=6,
                              batch_size=16, lr=3e-3, seed=0).fit(X, y)
    assert model.score(X, y) > 0.8


def test_partial_fit_streams_and_string_labels():
    X, y = toy_task()
    labels = np.array(["sit", "walk"])[y]
    model = clf()
    with pytest.raises(ValidationError, match="classes"):
        model.partial_fit(X[:1], labels[:1])
    for i in range(0, 240, 4):
        model.partial_fit(X[i:i + 4], labels[i:i + 4], classes=["sit", "walk"])
    assert len(model.loss_curve_) == 60
    assert model.score(*toy_task(seed=2)[:1], np.array(["sit", "walk"])[toy_task(seed=2)[1]]) > 0.8


def test_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted"):
        clf().predict(np.zeros((1, 5, 3)))


@pytest.mark.parametrize(
    "X, y, fragment",
    [
        (np.zeros((4, 5)), np.zeros(4), "expected 3 dimensions"),
        (np.full((4, 5, 3), np.nan), np.zeros(4), "NaN"),
        (np.zeros((4, 5, 3)), np.zeros(3), r"y: expected shape \(4,\)"),
        (np.zeros((4, 5, 3)), np.zeros(4), "at least 2 classes"),
        (np.array([[["a"]]]), np.zeros(1), "numeric"),
    ],
)
def test_bad_fit_input(X, y, fragment):
    with pytest.raises(ValidationError, match=fragment):
        clf().fit(X, y)


def test_bad_settings_and_shapes_after_fit():
    X, y = toy_task(n=32)
    with pytest.raises(ValidationError, match="optimizer='rmsprop'"):
        clf(optimizer="rmsprop").fit(X, y)
    with pytest.raises(ValidationError, match="lr=-1"):
        clf(lr=-1).fit(X, y)
    with pytest.raises(ConfigError, match="did you mean 'hidden'"):
        clf(model_params={"hiden": (3,)}).fit(X, y)
    with pytest.raises(ValidationError, match="model='resnet'"):
        clf(model="resnet").fit(X, y)
    model = clf(epochs=1).fit(X, y)
    with pytest.raises(ValidationError, match=r"expected windows of shape \(N, 24, 3\)"):
        model.predict(np.zeros((2, 24, 4)))
    with pytest.raises(ValidationError, match="label 5"):
        model.partial_fit(X[:2], np.array([0, 5]))
