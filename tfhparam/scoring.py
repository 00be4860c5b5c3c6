"""Scores as CleanRL's Tuner computes them, as pure functions.

A run's value is the mean of its logged ``rewards`` over its last N iterations (or, with
``score_from: eval``, the mean return of its last evaluation: ``agents.evaluation``), or
with ``value: auc`` the area under that curve over the run's steps. With target
scores an env's value is normalized ``(x - low) / (high - low)`` (0 = ``low``, 1 = ``high``);
seeds are averaged per env, and envs aggregated by mean or median into the trial's score.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

AGGREGATES = ("mean", "median")
# Where a run's value comes from: its training episodes, or its evaluations.
SCORE_FROM = ("train", "eval")
# How a run's curve becomes its value: the mean of its last points, or the area under it.
VALUES = ("last_n", "auc")


def run_value(rewards: Sequence[float], last_n: int) -> float:
    """Mean of the last ``last_n`` logged rewards; NaN if the run logged none."""
    if last_n < 1:
        raise ValueError(f"last_n must be at least 1, got {last_n}")
    window = list(rewards)[-last_n:]
    return sum(window) / len(window) if window else math.nan


def auc(steps: Sequence[float], values: Sequence[float]) -> float:
    """The area under a learning curve divided by the env steps it spans: the step-weighted
    mean of ``values`` logged at ``steps`` (trapezoids between points), a measure of
    sample efficiency; one point gives its value, none NaN."""
    if len(steps) != len(values):
        raise ValueError(f"{len(steps)} steps for {len(values)} values")
    if not values:
        return math.nan
    if len(values) == 1 or steps[-1] == steps[0]:
        return sum(values) / len(values)
    area = sum(
        (steps[i + 1] - steps[i]) * (values[i] + values[i + 1]) / 2 for i in range(len(values) - 1)
    )
    return area / (steps[-1] - steps[0])


def normalize(value: float, low: float, high: float) -> float:
    """``(value - low) / (high - low)``."""
    if high == low:
        raise ValueError(f"target score range [{low}, {high}] is empty")
    return (value - low) / (high - low)


def trial_score(
    values: Mapping[str, Sequence[float]],
    target_scores: Mapping[str, tuple[float, float]] | None = None,
    aggregate: str = "mean",
) -> float:
    """The trial's score from each env's per-seed run values.

    Args:
        values: env id -> the run value of each seed.
        target_scores: env id -> (low, high); envs without one are not normalized.
        aggregate: how envs combine: ``mean`` or ``median``.

    Returns:
        The aggregate; NaN if any run value is NaN.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    per_env = []
    for env_id, seeds in values.items():
        env_value = sum(seeds) / len(seeds)
        if target_scores and env_id in target_scores:
            env_value = normalize(env_value, *target_scores[env_id])
        per_env.append(env_value)
    if not per_env or any(math.isnan(v) for v in per_env):
        return math.nan
    return statistics.fmean(per_env) if aggregate == "mean" else statistics.median(per_env)
