"""Intervals and paired comparisons (snn_dfa.stats): closed forms, coverage by simulation,
and bad input."""

import numpy as np
import pytest
from scipy import stats as sps

from snn_dfa.errors import ValidationError
from snn_dfa.stats import bootstrap_interval, paired_comparison, t_interval


def test_constant_table_has_a_point_interval():
    iv = bootstrap_interval(np.full((9, 5), 0.8))
    assert iv.mean == iv.low == iv.high == pytest.approx(0.8, abs=1e-15)
    assert (iv.n_subjects, iv.n_seeds) == (9, 5)


def test_interval_is_deterministic_given_the_seed():
    v = np.random.default_rng(1).normal(size=(9, 5))
    assert bootstrap_interval(v, seed=3) == bootstrap_interval(v, seed=3)


def test_one_seed_bootstrap_matches_the_normal_interval_of_a_mean():
    # with one seed per subject the hierarchical bootstrap is the ordinary one; for a large
    # sample its percentile interval approaches mean +- 1.96 s / sqrt(n) (s with ddof=0)
    v = np.random.default_rng(2).normal(size=400)
    iv = bootstrap_interval(v, n_boot=20_000)
    half = 1.959964 * v.std() / np.sqrt(v.size)
    assert iv.low == pytest.approx(v.mean() - half, abs=0.1 * half)
    assert iv.high == pytest.approx(v.mean() + half, abs=0.1 * half)


def test_hierarchical_interval_covers_the_true_mean_about_95_percent():
    # subject effects (sd 0.05) plus seed noise (sd 0.02), 9 subjects x 5 seeds, as the study.
    # The percentile bootstrap of 9 clusters is known to under-cover somewhat; over 300
    # simulated studies the coverage must lie in [0.85, 0.99] (a 95 % interval; the binomial
    # sd of the observed coverage is 0.013 at p = 0.95).
    rng = np.random.default_rng(5)
    hits = 0
    for k in range(300):
        v = 0.8 + rng.normal(0, 0.05, size=(9, 1)) + rng.normal(0, 0.02, size=(9, 5))
        iv = bootstrap_interval(v, n_boot=1000, seed=k)
        hits += iv.low <= 0.8 <= iv.high
    assert 0.85 <= hits / 300 <= 0.99


def test_paired_comparison_sees_what_an_unpaired_one_cannot():
    rng = np.random.default_rng(7)
    subject = rng.normal(0, 0.10, size=(9, 1))  # large spread shared by both rules
    a = 0.80 + subject + rng.normal(0, 0.005, size=(9, 5))
    b = a - 0.01 + rng.normal(0, 0.005, size=(9, 5))  # a better by one point
    cmp = paired_comparison(a, b, ("dfa", "bp"))
    assert cmp.verdict == "dfa > bp" and cmp.difference.low > 0
    ia, ib = bootstrap_interval(a), bootstrap_interval(b)
    assert ia.low < ib.high  # unpaired intervals overlap
    same = paired_comparison(a, a + rng.normal(0, 0.01, size=a.shape), ("x", "y"))
    assert same.verdict == "no difference shown"
    assert paired_comparison(b, a, ("bp", "dfa")).verdict == "bp < dfa"


def test_t_interval_is_the_student_formula():
    v = np.array([0.81, 0.84, 0.79, 0.86, 0.83])
    iv = t_interval(v)
    half = sps.t.ppf(0.975, 4) * v.std(ddof=1) / np.sqrt(5)
    assert (iv.low, iv.high) == pytest.approx((v.mean() - half, v.mean() + half), rel=1e-12)
    assert iv.format(100) == f"{100 * v.mean():.1f} [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"


@pytest.mark.parametrize("call, fragment", [
    (lambda: bootstrap_interval([]), "non-empty table"),
    (lambda: bootstrap_interval([[0.5, np.nan]]), "finite"),
    (lambda: bootstrap_interval(np.zeros((2, 2, 2))), "[subjects, seeds]"),
    (lambda: bootstrap_interval([1.0, 2.0], level=1.5), "level=1.5"),
    (lambda: bootstrap_interval([1.0, 2.0], n_boot=10), "n_boot=10"),
    (lambda: paired_comparison(np.zeros((3, 2)), np.zeros((3, 3)), ("a", "b")), "same"),
    (lambda: t_interval([1.0]), "at least 2"),
])
def test_bad_input_is_named(call, fragment):
    with pytest.raises(ValidationError, match=None) as info:
        call()
    assert fragment in str(info.value)
