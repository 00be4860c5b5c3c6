"""Scores: CleanRL Tuner semantics. No TensorFlow."""

import math

import pytest

from tfhparam.scoring import auc, normalize, run_value, trial_score


def test_run_value_is_the_mean_of_the_last_n_logged_rewards():
    assert run_value([1, 2, 3, 4, 5], last_n=2) == 4.5
    assert run_value([7], last_n=10) == 7
    assert math.isnan(run_value([], last_n=3))
    with pytest.raises(ValueError):
        run_value([1], last_n=0)


def test_normalized_scores_average_seeds_then_aggregate_envs():
    values = {"CartPole-v1": [250.0, 450.0], "Acrobot-v1": [-100.0, -300.0]}
    targets = {"CartPole-v1": (0.0, 500.0), "Acrobot-v1": (-500.0, 0.0)}
    # CartPole: 350 -> 0.7; Acrobot: -200 -> 0.6
    assert trial_score(values, targets, "mean") == pytest.approx(0.65)
    three = {**values, "Pendulum-v1": [-1000.0]}
    targets3 = {**targets, "Pendulum-v1": (-1500.0, 0.0)}  # -1000 -> 1/3
    assert trial_score(three, targets3, "median") == pytest.approx(0.6)
    assert normalize(5.0, 0.0, 10.0) == 0.5


def test_unnormalized_envs_and_missing_values():
    assert trial_score({"CartPole-v1": [100.0, 200.0]}) == 150.0
    assert math.isnan(trial_score({"CartPole-v1": [float("nan"), 1.0]}))
    with pytest.raises(ValueError):
        trial_score({"CartPole-v1": [1.0]}, aggregate="max")


def test_auc_is_the_step_weighted_mean_of_the_curve():
    assert auc([0, 10], [0.0, 10.0]) == 5.0  # a straight line: its midpoint
    # 10 steps at mean 1.5, then 30 steps at mean 3.0: (15 + 90) / 40
    assert auc([0, 10, 40], [1.0, 2.0, 4.0]) == pytest.approx(105 / 40)
    assert auc([5], [7.0]) == 7.0
    assert math.isnan(auc([], []))
    with pytest.raises(ValueError, match="2 steps for 1 values"):
        auc([1, 2], [1.0])
