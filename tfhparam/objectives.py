"""What a sweep optimizes: one objective or several, each computed from what its runs log.

An objective is written ``NAME[:max|min]`` (``--objective``, ``objectives:`` in a sweep
file); without a direction it takes its natural one:

- ``score`` (max): today's score, the trial's aggregate of its runs' values
  (:mod:`tfhparam.scoring`);
- ``test_score`` (max): the score on held-out seeds of the test phase
  (:mod:`tfhparam.heldout`); measured after the search, on the configurations it tests, so
  the search steers by ``score`` (the same quantity on the tuning seeds) in its place and
  the results rank the tested trials by it;
- ``auc`` (max): the area under each run's learning curve over its steps (normalized like
  the score), aggregated like the score: sample efficiency;
- ``seed_std`` (min): each env's standard deviation of its (normalized) run values over
  seeds, aggregated over envs: robustness across seeds (needs 2 seeds or more);
- ``env_steps_to(T)`` (min): env steps until a run's value (the score's running value: the
  mean of its last ``last_n`` rewards, or its last evaluation; normalized where the env has
  a target score) first reaches ``T``; a run that never does counts its whole budget;
  averaged over seeds and aggregated over envs;
- ``wall_seconds`` (min): the trial's share of the wall-clock time of the computations its
  runs trained in (a population's time split evenly between its members);
- ``parameters`` (min): the trainable parameters of a run's networks (averaged over envs).

Pure functions, no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from tfhparam import scoring

DIRECTIONS = ("max", "min")
NATURAL = {
    "score": "max",
    "test_score": "max",
    "auc": "max",
    "seed_std": "min",
    "env_steps_to": "min",
    "wall_seconds": "min",
    "parameters": "min",
}
KINDS = tuple(NATURAL)
DESCRIPTIONS = {
    "score": "the trial's score",
    "test_score": "the score on held-out seeds (the test phase)",
    "auc": "area under the learning curve over env steps (normalized like the score)",
    "seed_std": "standard deviation of the run values over seeds",
    "env_steps_to": "env steps until a run's value first reaches the threshold",
    "wall_seconds": "the trial's share of the wall-clock training time",
    "parameters": "trainable parameters of a run's networks",
}
WRITTEN = "score, test_score, auc, seed_std, env_steps_to(THRESHOLD), wall_seconds, parameters"
_STEPS_TO = re.compile(r"^env_steps_to\((?P<threshold>[^()]+)\)$")


@dataclasses.dataclass(frozen=True)
class Objective:
    """One objective of a sweep.

    Attributes:
        name: as written, without its direction (``env_steps_to(475)``): the metric's name
            in TensorBoard, the oracle and the results.
        direction: ``max`` or ``min``.
        kind: one of :data:`KINDS`.
        threshold: ``env_steps_to``'s threshold, else None.
    """

    name: str
    direction: str
    kind: str
    threshold: float | None = None

    def __str__(self) -> str:
        return f"{self.name}:{self.direction}"

    @property
    def searched_as(self) -> str:
        """The metric the search is told for it: ``score`` for ``test_score`` (measured only
        after the search), else its own name."""
        return "score" if self.kind == "test_score" else self.name


SCORE = Objective("score", "max", "score")


def parse(text: str) -> Objective:
    """An objective from ``NAME[:max|min]``.

    Raises:
        ValueError: an unknown name or direction, or a threshold that is not a number.
    """
    if not isinstance(text, str):
        raise ValueError(f"an objective is written NAME[:max|min], got {text!r}")
    name, _, direction = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "")
    name = name.strip()
    direction = direction.strip()
    threshold = None
    match = _STEPS_TO.match(name)
    if match:
        kind = "env_steps_to"
        try:
            threshold = float(match["threshold"])
        except ValueError:
            raise ValueError(
                f"env_steps_to needs a number, got env_steps_to({match['threshold']})"
            ) from None
        if not math.isfinite(threshold):
            raise ValueError(f"env_steps_to needs a finite number, got {match['threshold']}")
        name = f"env_steps_to({threshold:g})"
    elif name in NATURAL and name != "env_steps_to":
        kind = name
    else:
        raise ValueError(f"unknown objective {name!r}; choose from {WRITTEN}")
    if direction and direction not in DIRECTIONS:
        raise ValueError(f"objective {name}: direction must be max or min, got {direction!r}")
    return Objective(name, direction or NATURAL[kind], kind, threshold)


def parse_all(texts: Sequence[str]) -> tuple[Objective, ...]:
    """Objectives from their texts (none: ``score``).

    Raises:
        ValueError: a bad objective, or one named twice.
    """
    found = tuple(parse(text) for text in texts) or (SCORE,)
    names = [o.searched_as for o in found]
    for name in names:
        if names.count(name) > 1:
            twice = [str(o) for o in found if o.searched_as == name]
            raise ValueError(f"objectives {' and '.join(twice)} measure the same thing")
    return found


# ---------------------------------------------------------------------------------------
# A run's inputs, as its result keeps them
# ---------------------------------------------------------------------------------------


def running_values(values: Sequence[float], last_n: int) -> list[float]:
    """At each logged point, the mean of the last ``last_n`` values up to it."""
    if last_n < 1:
        raise ValueError(f"last_n must be at least 1, got {last_n}")
    return [statistics.fmean(values[max(0, k + 1 - last_n) : k + 1]) for k in range(len(values))]


def first_reach(steps: Sequence[int], values: Sequence[float], threshold: float) -> int | None:
    """The first of ``steps`` whose value is at least ``threshold``; None if none is."""
    for step, value in zip(steps, values):
        if value >= threshold:
            return int(step)
    return None


# ---------------------------------------------------------------------------------------
# A trial's value of each objective
# ---------------------------------------------------------------------------------------


def _normalized(env_id: str, value: float, targets: Mapping[str, Sequence[float]]) -> float:
    if targets and env_id in targets:
        return scoring.normalize(value, *targets[env_id])
    return value


def _aggregate(per_env: Sequence[float], aggregate: str) -> float:
    if not per_env or any(math.isnan(v) for v in per_env):
        return math.nan
    return statistics.fmean(per_env) if aggregate == "mean" else statistics.median(per_env)


def _by_env(runs: Sequence[Mapping[str, Any]], key) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for run in runs:
        value = key(run)
        out.setdefault(run["env"], []).append(math.nan if value is None else float(value))
    return out


def trial_value(
    objective: Objective,
    runs: Sequence[Mapping[str, Any]],
    score: float,
    target_scores: Mapping[str, Sequence[float]] | None = None,
    aggregate: str = "mean",
) -> float:
    """A completed trial's value of ``objective`` from its runs (the ``runs`` of its
    ``result.json``: ``env``, ``value``, ``steps`` and, as recorded, ``auc``,
    ``reached`` (threshold -> step or None), ``wall_seconds``, ``parameters``).

    Returns:
        The value; NaN where the runs lack what it needs; ``score`` for ``score`` (and for
        ``test_score``, whose held-out value the test phase adds later).
    """
    targets = target_scores or {}
    if objective.kind in ("score", "test_score"):
        return score
    if objective.kind == "auc":
        values = _by_env(runs, lambda r: r.get("auc"))
        return scoring.trial_score(values, targets, aggregate)
    if objective.kind == "seed_std":
        per_env = []
        for env_id, seeds in _by_env(runs, lambda r: r.get("value")).items():
            normalized = [_normalized(env_id, v, targets) for v in seeds]
            per_env.append(statistics.pstdev(normalized) if len(normalized) > 1 else math.nan)
        return _aggregate(per_env, aggregate)
    if objective.kind == "env_steps_to":
        key = f"{objective.threshold:g}"

        def steps(run: Mapping[str, Any]) -> float | None:
            reached = run.get("reached") or {}
            if key not in reached:
                return None
            return reached[key] if reached[key] is not None else run.get("steps")

        per_env = [statistics.fmean(v) for v in _by_env(runs, steps).values()]
        return _aggregate(per_env, aggregate)
    if objective.kind == "wall_seconds":
        shares = [r.get("wall_seconds") for r in runs]
        return math.nan if not shares or None in shares else float(sum(shares))
    if objective.kind == "parameters":
        sizes = _by_env(runs, lambda r: r.get("parameters"))
        return _aggregate([statistics.fmean(v) for v in sizes.values()], "mean")
    raise ValueError(f"unknown objective kind {objective.kind!r}")


def trial_values(
    objectives: Sequence[Objective],
    runs: Sequence[Mapping[str, Any]],
    score: float,
    target_scores: Mapping[str, Sequence[float]] | None = None,
    aggregate: str = "mean",
) -> dict[str, float]:
    """:func:`trial_value` of each objective, by name."""
    return {o.name: trial_value(o, runs, score, target_scores, aggregate) for o in objectives}
