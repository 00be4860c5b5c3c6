"""A sweep's results, in one place: the trial row, how rows are collected from a sweep
directory, ranked, written (``results.json``, ``results.csv``), shown (text table, report
cells) with one number format, and the best trial's command. No TensorFlow, no Keras Tuner.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tfhparam import objectives as objectives_module
from tfhparam import pareto

PRUNED = "pruned"  # a trial stopped early by a pruner (tfhparam.oracles)
TEST_COLUMNS = ("test_score", "test_iqm", "test_low", "test_high")  # with a test phase
STATUS_ORDER = {"completed": 0, PRUNED: 1, "failed": 2, "running": 3}  # how rows rank
# A sweep directory's one definition file: {"sweep": the sweep command's definition
# (config.Sweep.to_json(), checked on resume), "tuner": what the tuner trains (agent, envs,
# run seeds, budget, fixed hparams, scoring)}. Directories written before it held two
# files, the command's sweep.json (flat) and the tuner's definition.json; both still read.
DEFINITION_FILE = "sweep.json"
OLD_TUNER_FILE = "definition.json"


@dataclasses.dataclass
class Row:
    """One trial of a sweep.

    ``row["score"]`` reads like ``row.score`` (the JSON form's keys), so code written for
    rows read from ``results.json`` works on both.
    """

    trial: str
    score: float | None
    status: str  # completed, pruned, failed or running
    steps: int | None = None  # env steps it trained (its budget)
    parent: str | None = None  # the trial whose checkpoint it continued
    reason: str = ""  # why it failed or was pruned
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    rank: int | None = None  # among completed trials, 1 = best
    member: int | None = None  # PBT: its member ...
    generation: int | None = None  # ... and generation
    # The test phase (tfhparam.heldout): the score on held-out seeds, the IQM of its runs
    # and the IQM's 95% interval; None for a trial it did not test.
    test_score: float | None = None
    test_iqm: float | None = None
    test_low: float | None = None
    test_high: float | None = None
    # A sweep's objectives besides score (tfhparam.objectives), by name, and with several
    # objectives the trial's Pareto front (1: not dominated); None outside the fronts.
    objectives: dict[str, float] = dataclasses.field(default_factory=dict)
    front: int | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def to_json(self) -> dict[str, Any]:
        data = {
            "trial": self.trial,
            "score": self.score,
            "status": self.status,
            "steps": self.steps,
            "parent": self.parent,
            "reason": self.reason,
            "hparams": dict(self.hparams),
            "rank": self.rank,
        }
        if self.member is not None:
            data["member"], data["generation"] = self.member, self.generation
        if self.objectives:
            data["objectives"] = dict(self.objectives)
        if self.front is not None:
            data["front"] = self.front
        if self.test_score is not None:
            data.update(
                test_score=self.test_score,
                test_iqm=self.test_iqm,
                test_low=self.test_low,
                test_high=self.test_high,
            )
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


def number(value: Any) -> str:
    """The one number format of tables, reports and progress lines (4 significant digits)."""
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


Objectives = Sequence[objectives_module.Objective]


def objective_value(row: Row, objective: objectives_module.Objective) -> float | None:
    """A row's value of ``objective`` (None: it has none, or NaN)."""
    if objective.kind == "score":
        value = row.score
    elif objective.kind == "test_score":
        value = row.test_score
    else:
        value = row.objectives.get(objective.name)
    return None if value is None or math.isnan(value) else float(value)


def ranked(rows: Iterable[Row], objectives: Objectives = ()) -> list[Row]:
    """Rows best first (completed, then pruned, failed, running), ranks set.

    With the one objective ``score`` (the default), completed rows with a test score come
    first, by it (the test phase chooses the best), the others by score. With another
    single objective, by its value in its direction. With several, by Pareto front (front 1
    first, ``front`` set), then by crowding distance within a front
    (:func:`tfhparam.pareto.rank`); completed rows that lack a value come after the fronts.
    """
    rows = list(rows)
    for row in rows:
        row.front = None
    if [o.kind for o in objectives] in ([], ["score"]):

        def order(r: Row) -> tuple:
            tested = r.test_score is not None
            return (
                STATUS_ORDER[r.status],
                not tested,
                -(r.test_score or 0.0),
                -(r.score or 0.0),
                r.trial,
            )

        rows = sorted(rows, key=order)
    else:
        completed = sorted((r for r in rows if r.status == "completed"), key=lambda r: r.trial)
        points = [[objective_value(r, o) for o in objectives] for r in completed]
        whole = [k for k, p in enumerate(points) if None not in p]
        directions = [o.direction for o in objectives]
        order = pareto.rank([points[k] for k in whole], directions)
        if len(objectives) > 1:  # (one objective: its order alone, no fronts)
            fronts = pareto.non_dominated_sort([points[k] for k in whole], directions)
            for number_, front in enumerate(fronts, 1):
                for k in front:
                    completed[whole[k]].front = number_
        best = [completed[whole[k]] for k in order]
        best += [r for k, r in enumerate(completed) if k not in whole]
        rest = sorted(
            (r for r in rows if r.status != "completed"),
            key=lambda r: (STATUS_ORDER[r.status], -(r.score or 0.0), r.trial),
        )
        rows = best + rest
    for position, row in enumerate(rows, 1):
        row.rank = position if row.status == "completed" else None
    return rows


def objective_points(
    rows: Iterable[Row], objectives: Objectives
) -> tuple[list[Row], list[list[float]]]:
    """The completed rows that have a value of every objective, in trial order, and those
    values."""
    kept, points = [], []
    for row in sorted(rows, key=lambda r: r.trial):
        point = [objective_value(row, o) for o in objectives]
        if row.status == "completed" and None not in point:
            kept.append(row)
            points.append(point)
    return kept, points


def front(rows: Iterable[Row]) -> list[Row]:
    """The rows of Pareto front 1, in their order."""
    return [r for r in rows if r.front == 1]


def sweep_objectives(project_dir: str) -> tuple[objectives_module.Objective, ...]:
    """The objectives a sweep directory's definition records (``score`` for a sweep
    written before there were others)."""
    definition = read_definition(project_dir) or {}
    return objectives_module.parse_all(definition.get("objectives") or [])


class ResultsError(ValueError):
    """A results or definition file that cannot be read (damaged, not UTF-8 JSON)."""


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:  # ValueError: bad JSON or not UTF-8
        raise ResultsError(f"cannot read {path}: {str(error).splitlines()[0]}") from None


def collect(project_dir: str, trials: Iterable[Any], objectives: Objectives = ()) -> list[Row]:
    """The rows of Keras Tuner trials (``trial_id``, ``status``, ``score``,
    ``hyperparameters``) and what each trial wrote in ``trial_ID/result.json``; ranked by
    ``objectives``."""
    rows = []
    for trial in trials:
        path = os.path.join(project_dir, f"trial_{trial.trial_id}", "result.json")
        saved = _read_json(path) if os.path.exists(path) else {}
        status = {"COMPLETED": "completed", "FAILED": "failed", "INVALID": "failed"}.get(
            trial.status, "running"
        )
        if status == "completed" and saved.get("status") in (PRUNED, "failed"):
            status = saved["status"]  # a pruned trial, or one Hyperband ranked last
        score = trial.score  # the oracle's; with several objectives, Keras Tuner's sum
        if trial.metrics.exists("score"):
            score = trial.metrics.get_last_value("score")
        rows.append(
            Row(
                trial=trial.trial_id,
                score=score if status in ("completed", PRUNED) else None,
                status=status,
                steps=saved.get("budget"),
                parent=saved.get("parent"),
                reason=saved.get("reason", "") if status in ("failed", PRUNED) else "",
                hparams={
                    k: v
                    for k, v in trial.hyperparameters.values.items()
                    if not k.startswith("tuner/")
                },
                member=saved.get("member"),
                generation=saved.get("generation"),
                objectives=dict(saved.get("objectives") or {}) if status == "completed" else {},
            )
        )
    return ranked(with_tests(project_dir, rows), objectives)


def with_tests(project_dir: str, rows: list[Row]) -> list[Row]:
    """``rows`` with the test scores the last test phase wrote (``test/trial_ID/result.json``
    under the settings of ``test/settings.json``: results of an earlier phase with other
    settings are not mixed in)."""
    for row in rows:
        row.test_score = row.test_iqm = row.test_low = row.test_high = None
    settings_path = os.path.join(project_dir, "test", "settings.json")
    if not os.path.exists(settings_path):
        return rows
    settings = _read_json(settings_path)
    for row in rows:
        path = os.path.join(project_dir, "test", f"trial_{row.trial}", "result.json")
        saved = _read_json(path) if os.path.exists(path) else {}
        if not isinstance(saved, dict) or saved.get("settings") != settings:
            continue
        if saved.get("status") == "completed":
            row.test_score, row.test_iqm = saved.get("test_score"), saved.get("iqm")
            row.test_low, row.test_high = saved.get("iqm_low"), saved.get("iqm_high")
    return rows


def write_atomic(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file: never half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write(project_dir: str, rows: list[Row]) -> None:
    """Writes ``results.json`` (the rows) and ``results.csv`` (hparams as columns)."""
    write_atomic(
        os.path.join(project_dir, "results.json"),
        json.dumps([r.to_json() for r in rows], indent=1),
    )
    names = sorted({k for row in rows for k in row.hparams})
    tests = TEST_COLUMNS if any(row.test_score is not None for row in rows) else ()
    others = objective_names(rows)
    fronted = ["front"] if any(row.front is not None for row in rows) else []
    tmp = os.path.join(project_dir, "results.csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(
            ["rank", "trial", "score", *fronted, *others, *tests, "status", "steps", *names]
            + ["reason"]
        )
        for row in rows:
            out.writerow(
                [row.rank, row.trial, row.score]
                + ([row.front] if fronted else [])
                + [row.objectives.get(name) for name in others]
                + [row[name] for name in tests]
                + [row.status, row.steps]
                + [row.hparams.get(n) for n in names]
                + [row.reason]
            )
    os.replace(tmp, os.path.join(project_dir, "results.csv"))


def write_progress(path: str, progress: Sequence[Mapping[str, float]]) -> None:
    """A run's ``progress.csv``: one row an iteration, ``global_step`` first and every
    other number it logged after it, in the order first seen (blank where an iteration did
    not log one: ``rewards`` before the first episode ends, evaluations between them)."""
    columns = ["global_step"]
    for row in progress:
        columns += [key for key in row if key not in columns]
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(columns)
        for row in progress:
            out.writerow([row.get(key, "") for key in columns])
    os.replace(tmp, path)


def load(project_dir: str):
    """A sweep's trials as a pandas DataFrame, best first (Ray Tune's
    ``results.dataframe()`` habit): ``trial``, ``rank``, ``score``, ``status``, ``steps``,
    ``front`` and each objective, the test phase's columns where it ran, ``config/NAME``
    for each hparam, ``reason``, and ``logdir`` (the trial's directory: its runs are
    ``logdir/ENV/seed_S``, each with ``progress.csv`` and its TensorBoard events).

    Raises:
        ResultsError: no readable ``results.json`` in ``project_dir``.
        ImportError: pandas is not installed (the ``report`` extra has it).
    """
    import pandas

    rows = read(project_dir)
    records = []
    for row in rows:
        record: dict[str, Any] = {
            "trial": row.trial,
            "rank": row.rank,
            "score": row.score,
            "status": row.status,
            "steps": row.steps,
            "front": row.front,
            **row.objectives,
        }
        if row.test_score is not None:
            record.update({name: row[name] for name in TEST_COLUMNS})
        record.update({f"config/{k}": v for k, v in row.hparams.items()})
        record["reason"] = row.reason
        record["logdir"] = os.path.join(project_dir, f"trial_{row.trial}")
        records.append(record)
    return pandas.DataFrame.from_records(records)


def read(project_dir: str) -> list[Row]:
    """The rows of ``results.json`` (every version of it: unknown keys are ignored).

    Raises:
        ResultsError: the file is missing, damaged or not a list of rows.
    """
    path = os.path.join(project_dir, "results.json")
    data = _read_json(path)
    try:
        return [Row.from_json(entry) for entry in data]
    except (TypeError, AttributeError):
        raise ResultsError(f"cannot read {path}: not a list of result rows") from None


def objective_names(rows: Iterable[Row]) -> list[str]:
    """The objectives besides score that ``rows`` hold, in the order first seen."""
    names: list[str] = []
    for row in rows:
        names += [name for name in row.objectives if name not in names]
    return names


def cells(
    rows: Iterable[Row], names: list[str], steps_and_reason: bool = True
) -> tuple[list[str], list[list[str]]]:
    """A table's header and body as strings: rank, trial, score (test score and its IQM
    interval, when the test phase ran), status (steps), the hparams ``names`` (reason),
    every number in :func:`number`'s format."""
    rows = list(rows)
    tested = any(row.test_score is not None for row in rows)
    others = objective_names(rows)
    fronted = any(row.front is not None for row in rows)
    header = ["rank", "trial", "score", *(["front"] if fronted else []), *others]
    header += [*(["test", "test IQM 95% CI"] if tested else []), "status"]
    header += ["steps", *names, "reason"] if steps_and_reason else names
    body = []
    for row in rows:
        line = [number(row.rank) or "-", row.trial, number(row.score)]
        if fronted:
            line.append(number(row.front))
        line += [number(row.objectives.get(name)) for name in others]
        if tested:
            interval = ""
            if row.test_score is not None:
                interval = f"{number(row.test_low)} to {number(row.test_high)}"
            line += [number(row.test_score), interval]
        line.append(row.status)
        values = [number(row.hparams.get(n)) for n in names]
        line += [number(row.steps), *values, row.reason] if steps_and_reason else values
        body.append(line)
    return header, body


def text_table(rows: list[Row], limit: int | None = None) -> str:
    """A plain-text table (rank, trial, score, status, hparams) with failures' reasons."""
    shown = rows[:limit]
    header, body = cells(shown, sorted({k for row in rows for k in row.hparams}), False)
    lines = [header, *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    text += [f"trial {r.trial} failed: {r.reason}" for r in shown if r.status == "failed"]
    return "\n".join(text)


def _definition(project_dir: str) -> dict[str, Any]:
    """The definition file as ``{"sweep": ..., "tuner": ...}`` (either may be missing),
    from the one file or the old pair."""
    parts: dict[str, Any] = {}
    path = os.path.join(project_dir, DEFINITION_FILE)
    if os.path.exists(path):
        data = _read_json(path)
        if not isinstance(data, dict):
            raise ResultsError(f"cannot read {path}: not a sweep definition")
        parts = dict(data) if {"sweep", "tuner"} & set(data) else {"sweep": data}  # old: flat
    old = os.path.join(project_dir, OLD_TUNER_FILE)
    if "tuner" not in parts and os.path.exists(old):
        data = _read_json(old)
        if not isinstance(data, dict):
            raise ResultsError(f"cannot read {old}: not a sweep definition")
        parts["tuner"] = data
    return parts


def write_definition(project_dir: str, part: str, definition: Mapping[str, Any]) -> None:
    """Records ``part`` (``sweep``: the sweep command's definition; ``tuner``: what the
    tuner trains) in the definition file, keeping the other part."""
    parts = _definition(project_dir)
    parts[part] = dict(definition)
    write_atomic(os.path.join(project_dir, DEFINITION_FILE), json.dumps(parts, indent=1))


def sweep_definition(project_dir: str) -> dict[str, Any] | None:
    """The sweep command's definition recorded in ``project_dir`` (what a resume must
    match), or None.

    Raises:
        ResultsError: the definition file is damaged.
    """
    return _definition(project_dir).get("sweep")


def read_definition(project_dir: str) -> dict[str, Any] | None:
    """What the sweep in ``project_dir`` trains: the tuner's part (seeds a list of run
    seeds) over the sweep command's (strategy, options, seeds a count). None without
    either.

    Raises:
        ResultsError: a definition file is damaged.
    """
    parts = _definition(project_dir)
    merged = {**parts.get("sweep", {}), **parts.get("tuner", {})}
    return merged or None


def best_command(definition: Mapping[str, Any], row: Row) -> str:
    """A trial as a ready-to-run ``python -m tfhparam.train`` command (its first env, its
    budget, the sweep's evaluation, fixed hparams and its own)."""
    steps = row.get("steps") or definition["total_timesteps"]
    words = [
        "python",
        "-m",
        "tfhparam.train",
        "--agent",
        definition["agent"],
        "--env",
        definition["envs"][0],
        "--total-timesteps",
        str(steps),
    ]
    if definition.get("env_backend", "auto") != "auto":
        words += ["--env-backend", definition["env_backend"]]
    if definition.get("eval_every"):
        words += ["--eval-every", str(definition["eval_every"])]
    if definition.get("eval_every") or definition.get("score_from") == "eval":
        words += ["--eval-episodes", str(definition.get("eval_episodes", 10))]
    for name, value in {**definition["fixed"], **row["hparams"]}.items():
        words += [
            f"--{name.replace('_', '-')}",
            repr(value) if isinstance(value, float) else str(value),
        ]
    return shlex.join(words)
