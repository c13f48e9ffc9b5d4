"""The adaptation study: tuning on training subjects only, per-rule step sizes, and the
study's sweep end to end in a tiny mode."""

import numpy as np
import pytest

from snn_dfa.app.config import config_from_dict
from snn_dfa.app.experiment import prepare_data
from snn_dfa.errors import ConfigError, ValidationError


def test_tuning_split_adapts_to_training_subjects_left_out_of_pretraining():
    from snn_dfa.data import load_hapt, subject_split

    train, _ = subject_split(load_hapt(basic_only=False))
    config = config_from_dict({"data": {"split": "tuning", "adapt_subjects": [1, 3]}})
    x, y, subjects, _ = prepare_data(config)
    kept = ~np.isin(train.subject, [1, 3]) & (train.y >= 0)
    assert len(y) == int(kept.sum())
    np.testing.assert_array_equal(y, train.y[kept])
    assert [s.subject for s in subjects] == [1, 3]
    assert all(len(s.y_test) > 0 and len(s.y_adapt) > 0 for s in subjects)
    with pytest.raises(ValidationError, match="subject 2 is not a training subject"):
        prepare_data(config_from_dict({"data": {"split": "tuning", "adapt_subjects": [2]}}))
    with pytest.raises(ValidationError, match="subject 1 is not a held-out"):
        prepare_data(config_from_dict({"data": {"adapt_subjects": [1]}}))


def test_step_size_per_rule_overrides_the_shared_one():
    adapt = config_from_dict({"adapt": {"lr": 1e-4, "lr_by_rule": {"dfa": 3e-3}}}).adapt
    assert adapt.lr_for("dfa") == 3e-3 and adapt.lr_for("bptt") == 1e-4


@pytest.mark.parametrize("adapt, fragment", [
    ({"lr_by_rule": {"dfb": 1e-3}}, "adapt.lr_by_rule='dfb'"),
    ({"lr_by_rule": {"dfa": -1.0}}, "adapt.lr_by_rule.dfa=-1.0"),
    ({"lr_by_rule": {"dfa": "x"}}, "adapt.lr_by_rule.dfa='x': expected float"),
    ({"lr_by_rule": 0.1}, "adapt.lr_by_rule=0.1: expected a table"),
])
def test_bad_step_sizes_name_the_key(adapt, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"adapt": adapt})
    assert fragment in str(info.value)


def test_bad_split_is_named():
    with pytest.raises(ConfigError, match="data.split='train'"):
        config_from_dict({"data": {"split": "train"}})
