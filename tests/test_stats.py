"""The statistics of tfhparam.stats against figures worked out by hand."""

import numpy as np
import pytest
import scipy.stats

from tfhparam import stats


def test_iqm_drops_the_lowest_and_highest_quarter():
    assert stats.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert stats.iqm([1, 2, 3, 100]) == pytest.approx(2.5)  # the outlier is cut
    assert stats.iqm([5.0]) == 5.0 and stats.iqm([1, 3]) == 2.0  # nothing to cut
    x = np.random.default_rng(0).normal(size=37)
    assert stats.iqm(x) == pytest.approx(scipy.stats.trim_mean(x, 0.25))


def test_aggregates_weigh_envs_as_documented():
    by_env = [[0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]  # env means 0.5 and 1.0
    assert stats.aggregate(by_env, "mean") == pytest.approx(0.75)
    assert stats.aggregate(by_env, "median") == pytest.approx(0.75)
    assert stats.aggregate(by_env, "iqm") == pytest.approx(1.0)  # pooled 0,1,1,1,1,1: cut 0 and 1
    with pytest.raises(ValueError, match="unknown aggregate 'best'"):
        stats.aggregate(by_env, "best")


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_runs():
    rng = np.random.default_rng(1)
    few, many = [rng.normal(10, 2, 5)], [rng.normal(10, 2, 200)]
    for name in stats.AGGREGATES:
        low, high = stats.interval(few, name)
        assert low <= stats.aggregate(few, name) <= high
        low_many, high_many = stats.interval(many, name)
        assert high_many - low_many < (high - low) and low_many < 10 < high_many
    assert stats.interval([[3.0, 3.0, 3.0]]) == (3.0, 3.0)  # no spread, no width
    assert stats.interval([[1.0]], "mean") == (1.0, 1.0)  # one run: allowed, degenerate
    assert stats.interval(few, seed=5) == stats.interval(few, seed=5)  # seeded
    with pytest.raises(ValueError, match="at least one run"):
        stats.interval([[1.0], []])
    with pytest.raises(ValueError, match="confidence"):
        stats.interval(few, confidence=1.5)


def test_the_bootstrap_is_stratified_each_env_keeps_its_runs():
    # env A scores 0, env B scores 1: resampling within envs keeps the mean at 0.5 exactly
    by_env = [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    assert stats.interval(by_env, "mean") == (0.5, 0.5)


def test_probability_of_improvement_counts_pairs_and_ties():
    assert stats.probability_of_improvement([[3, 4]], [[1, 2]]) == 1.0
    assert stats.probability_of_improvement([[1, 2]], [[3, 4]]) == 0.0
    assert stats.probability_of_improvement([[1, 3]], [[2]]) == 0.5
    assert stats.probability_of_improvement([[2, 2]], [[2]]) == 0.5  # ties count half
    # averaged over envs: 1.0 on the first, 0.0 on the second
    assert stats.probability_of_improvement([[5], [0]], [[1], [9]]) == 0.5
    low, high = stats.improvement_interval([[3, 4, 5]], [[1, 2, 6]])
    assert 0.0 <= low <= stats.probability_of_improvement([[3, 4, 5]], [[1, 2, 6]]) <= high <= 1
    with pytest.raises(ValueError, match="same envs"):
        stats.probability_of_improvement([[1]], [[1], [2]])


def test_summary_names_each_figure_and_its_interval():
    out = stats.summary([[1.0, 2.0, 3.0, 4.0]])
    assert out["runs"] == 4 and out["mean"] == 2.5 and out["iqm"] == 2.5
    assert out["iqm_low"] <= 2.5 <= out["iqm_high"]
