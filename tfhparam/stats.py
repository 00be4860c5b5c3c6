"""Statistics over runs that a reviewer accepts, as pure functions (NumPy only).

Agarwal et al. (NeurIPS 2021, "Deep RL at the Edge of the Statistical Precipice"): report
the interquartile mean (IQM: the mean of the middle 50% of all runs' scores, robust to
outlier runs and still efficient with few), with stratified bootstrap confidence
intervals (resampling runs within each env, so every env keeps its weight), and the
probability that one configuration beats another. Their ``rliable`` package computes the
same; these are the few functions we need, written over NumPy so that an env with a single
run (which ``scipy.stats.bootstrap`` refuses: it wants two or more observations a sample)
is handled like any other, and nothing beyond NumPy is imported.

Scores come as ``by_env``: one sequence of run scores (one a seed) an env; envs may have
different numbers of runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

AGGREGATES = ("mean", "median", "iqm")


def iqm(scores: Sequence[float] | np.ndarray, axis: int = -1) -> np.ndarray | float:
    """The interquartile mean: the mean of ``scores`` with the lowest and highest
    ``floor(n / 4)`` removed (``scipy.stats.trim_mean(scores, 0.25)``)."""
    x = np.sort(np.asarray(scores, np.float64), axis=axis)
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.take(x, range(cut, n - cut), axis=axis).mean(axis=axis)


def aggregate(by_env: Sequence[Sequence[float]], name: str = "iqm") -> float:
    """One figure for a set of runs over envs: ``mean`` (of the env means), ``median`` (of
    the env means) or ``iqm`` (over all runs pooled, rliable's way)."""
    return float(_aggregator(name)([np.asarray(s, np.float64)[None] for s in by_env])[0])


def _aggregator(name: str) -> Callable[[list[np.ndarray]], np.ndarray]:
    """``name``'s statistic over strata given as ``[R, n_s]`` arrays: ``[R]`` values."""
    if name == "mean":
        return lambda strata: np.mean([s.mean(axis=1) for s in strata], axis=0)
    if name == "median":
        return lambda strata: np.median([s.mean(axis=1) for s in strata], axis=0)
    if name == "iqm":
        return lambda strata: iqm(np.concatenate(strata, axis=1), axis=1)
    raise ValueError(f"unknown aggregate {name!r}; choose from {', '.join(AGGREGATES)}")


def _resample(by_env: Sequence[Sequence[float]], resamples: int, rng: np.random.Generator):
    """Each env's runs drawn with replacement, on their own: ``[R, n_s]`` an env."""
    strata = []
    for scores in by_env:
        x = np.asarray(scores, np.float64)
        if x.size == 0:
            raise ValueError("every env needs at least one run")
        strata.append(x[rng.integers(0, x.size, size=(resamples, x.size))])
    return strata


def interval(
    by_env: Sequence[Sequence[float]],
    name: str = "iqm",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """The stratified bootstrap percentile interval of :func:`aggregate` ``name``.

    Raises:
        ValueError: an unknown aggregate, an env without runs, or ``confidence`` outside
            (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    statistic = _aggregator(name)
    values = statistic(_resample(by_env, resamples, np.random.default_rng(seed)))
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def _beats(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 between ``[R, n]`` and ``[R, m]`` samples: ``[R]``."""
    greater = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
    ties = (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
    return greater + 0.5 * ties


def probability_of_improvement(
    x_by_env: Sequence[Sequence[float]], y_by_env: Sequence[Sequence[float]]
) -> float:
    """The probability that a run of X scores above a run of Y on the same env (ties count
    half; Mann-Whitney's U over n x m), averaged over envs."""
    if len(x_by_env) != len(y_by_env):
        raise ValueError("X and Y need scores on the same envs")
    pairs = [
        _beats(np.asarray(x, np.float64)[None], np.asarray(y, np.float64)[None])[0]
        for x, y in zip(x_by_env, y_by_env)
    ]
    return float(np.mean(pairs))


def improvement_interval(
    x_by_env: Sequence[Sequence[float]],
    y_by_env: Sequence[Sequence[float]],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """The stratified bootstrap interval of :func:`probability_of_improvement` (X's and
    Y's runs resampled on their own, env by env)."""
    if len(x_by_env) != len(y_by_env):
        raise ValueError("X and Y need scores on the same envs")
    rng = np.random.default_rng(seed)
    xs, ys = _resample(x_by_env, resamples, rng), _resample(y_by_env, resamples, rng)
    values = np.mean([_beats(x, y) for x, y in zip(xs, ys)], axis=0)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def summary(by_env: Sequence[Sequence[float]], seed: int = 0) -> dict[str, float]:
    """Mean, IQM, median (of env means) and their 95% intervals, plus the run count."""
    out: dict[str, float] = {"runs": float(sum(len(s) for s in by_env))}
    for name in AGGREGATES:
        out[name] = aggregate(by_env, name)
        out[f"{name}_low"], out[f"{name}_high"] = interval(by_env, name, seed=seed)
    return out
