"""GPR noise model: recovers a known curve, ships a reproducible default table, samples."""

import numpy as np
import pytest

from crossbar import CrossbarError, GPRNoiseModel
from crossbar.gpr import (
    default_table_path,
    make_wan2022_synthetic_table,
    read_table_csv,
    write_table_csv,
)
from crossbar.noise import wan2022_sigma_uS


def _mean(t):
    return t + 0.5 * np.sin(t / 6.0)


def _std(t):
    return 0.3 + 0.05 * t


def test_recovers_a_known_synthetic_noise_curve():
    rng = np.random.default_rng(0)
    targets = np.repeat(np.linspace(1, 40, 20), 400)
    measured = _mean(targets) + _std(targets) * rng.standard_normal(targets.size)
    model = GPRNoiseModel().fit(targets, measured)
    grid = np.linspace(2, 39, 30)  # between the fitted targets
    mu, sd = model.predict(grid)
    # standard errors at 400 samples per level: mean 0.05*std, std 3.5 % relative
    np.testing.assert_allclose(mu, _mean(grid), atol=0.1)
    np.testing.assert_allclose(sd, _std(grid), rtol=0.08)


def test_binned_fit_for_non_repeating_targets():
    rng = np.random.default_rng(1)
    targets = rng.uniform(1, 40, 8000)
    measured = _mean(targets) + _std(targets) * rng.standard_normal(targets.size)
    model = GPRNoiseModel(n_bins=20).fit(targets, measured)
    grid = np.linspace(5, 35, 10)
    mu, sd = model.predict(grid)
    np.testing.assert_allclose(mu, _mean(grid), atol=0.15)
    np.testing.assert_allclose(sd, _std(grid), rtol=0.12)


def test_samples_have_the_predicted_moments():
    rng = np.random.default_rng(2)
    model = GPRNoiseModel.from_csv()
    target = np.full(100_000, 20.0)
    draws = model.sample(target, rng)
    mu, sd = model.predict(np.array([20.0]))
    assert abs(draws.mean() - mu[0]) < 5 * sd[0] / np.sqrt(draws.size)
    assert abs(draws.std() / sd[0] - 1) < 5 / np.sqrt(2 * draws.size)


def test_default_table_is_reproducible_and_follows_the_published_fit(tmp_path):
    shipped = read_table_csv(default_table_path())
    regenerated = make_wan2022_synthetic_table()
    np.testing.assert_allclose(shipped, regenerated, atol=5e-7)
    path = tmp_path / "t.csv"
    write_table_csv(path, regenerated)
    np.testing.assert_array_equal(read_table_csv(path), shipped)
    model = GPRNoiseModel.from_csv()
    g = np.linspace(6, 40, 8)
    _, sd = model.predict(g)
    np.testing.assert_allclose(sd, wan2022_sigma_uS(g), rtol=0.25)


def test_errors(tmp_path):
    with pytest.raises(CrossbarError, match="fit"):
        GPRNoiseModel().predict(np.ones(2))
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(CrossbarError, match="target_uS"):
        GPRNoiseModel.from_csv(bad)
    with pytest.raises(CrossbarError, match="groups"):
        GPRNoiseModel().fit(np.ones(10), np.arange(10.0))
    with pytest.raises(CrossbarError, match="measured"):
        GPRNoiseModel().fit(np.ones(10), np.ones(9))
    with pytest.raises(CrossbarError, match="could not be read"):
        GPRNoiseModel.from_csv(tmp_path / "missing.csv")
