"""``python -m tfhparam.report logs/NAME``: a sweep's figures and one page, from its files.

Reads only what a sweep writes: ``results.json`` (the table), ``sweep.json`` (what
was trained), Keras Tuner's ``oracle.json`` (the searched domains) and ``trial.json``
files (trials not yet in the table), and the runs' TensorBoard event files (learning
curves). So it works on a sweep that is still running, and needs no TensorFlow.

Writes into ``logs/NAME/report/``: ``learning_curves.png``, ``score_vs_hparams.png``,
``parallel_coordinates.png``, ``importance.png`` (and for PBT, ``pbt_schedule.png``),
``report.md`` and ``report.html``.
Plotting needs matplotlib (``pip install 'tfhparam[report]'``); the importance model is
scikit-learn's random forest (installed with keras-tuner's Bayesian extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import html
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfhparam import pareto, results
from tfhparam.cli import Parser, UsageError, fail
from tfhparam.tensorboard import read_scalars

PROG = "python -m tfhparam.report"
FIGURES = {
    "learning_curves": "Learning curves of the best trials",
    "score_vs_hparams": "Score against each hyperparameter",
    "parallel_coordinates": "All trials in parallel coordinates",
    "importance": "Hyperparameter importance",
}
MIN_TRIALS_FOR_IMPORTANCE = 4
STATUS_STYLE = {"failed": ("x", "tab:red"), "pruned": ("v", "tab:gray")}


class ReportError(Exception):
    """A directory that is no sweep, or a sweep with nothing to report yet."""


@dataclasses.dataclass(frozen=True)
class Domain:
    """A searched hyperparameter as the oracle declared it.

    ``kind`` is ``log``, ``real``, ``int`` or ``choice`` (then ``values`` lists them).
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple = ()

    def position(self, value: Any) -> float:
        """Where ``value`` sits on this hparam's axis, in [0, 1] (log scale if ``log``)."""
        if self.kind == "choice":
            index = self.values.index(value) if value in self.values else 0
            return index / max(len(self.values) - 1, 1)
        low, high, x = float(self.low), float(self.high), float(value)
        if self.kind == "log":
            low, high, x = math.log10(low), math.log10(high), math.log10(x)
        return (x - low) / (high - low) if high > low else 0.5

    @property
    def categorical(self) -> bool:
        """A choice among values that are not all numbers (plotted at their index)."""
        return self.kind == "choice" and not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values
        )

    def numeric(self, value: Any) -> float:
        """A number for regression: log10 on log scales, the index of a choice."""
        if self.kind == "choice":
            return float(self.values.index(value)) if value in self.values else -1.0
        return math.log10(value) if self.kind == "log" else float(value)


@dataclasses.dataclass
class Sweep:
    """What a sweep directory holds: its rows (best first), domains and definition."""

    directory: str
    rows: list[results.Row]
    domains: dict[str, Domain]
    definition: dict[str, Any] | None

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.directory))

    def count(self, status: str) -> int:
        return sum(row["status"] == status for row in self.rows)


# ---------------------------------------------------------------------------------------
# Reading a sweep
# ---------------------------------------------------------------------------------------


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ReportError(f"cannot read {path}: {error}") from None


def _domains(oracle: dict[str, Any]) -> dict[str, Domain]:
    domains = {}
    for entry in oracle.get("hyperparameters", {}).get("space", []):
        config, kind = entry["config"], entry["class_name"]
        name = config["name"]
        if name.startswith("tuner/"):
            continue
        if kind in ("Choice", "Boolean", "Fixed"):
            values = config.get("values") or (
                [False, True] if kind == "Boolean" else [config.get("value")]
            )
            domains[name] = Domain(name, "choice", values=tuple(values))
        elif kind in ("Float", "Int"):
            log = config.get("sampling") == "log"
            domains[name] = Domain(
                name,
                "log" if log else ("int" if kind == "Int" else "real"),
                config["min_value"],
                config["max_value"],
            )
    return domains


def load(directory: str) -> Sweep:
    """Reads a sweep directory (finished or still running).

    Raises:
        ReportError: not a directory, or no sweep in it.
    """
    if not os.path.isdir(directory):
        raise ReportError(f"{directory}: no such directory")
    results_file = os.path.join(directory, "results.json")
    oracle = os.path.join(directory, "oracle.json")
    if not os.path.exists(results_file) and not os.path.exists(oracle):
        raise ReportError(
            f"{directory} is not a sweep directory (no results.json or oracle.json); "
            "give the sweep's own directory, e.g. logs/ppo_random"
        )
    try:
        rows = results.read(directory) if os.path.exists(results_file) else []
        definition = results.read_definition(directory)
    except results.ResultsError as error:
        raise ReportError(str(error)) from None
    domains = _domains(_read_json(oracle)) if os.path.exists(oracle) else {}
    known = {row["trial"] for row in rows}
    for trial_file in sorted(glob.glob(os.path.join(directory, "trial_*", "trial.json"))):
        trial = _read_json(trial_file)
        if trial["trial_id"] in known:
            continue  # started after results.json was last written: still running
        values = trial["hyperparameters"]["values"]
        rows.append(
            results.Row(
                trial=trial["trial_id"],
                score=None,
                status="running",
                hparams={k: v for k, v in values.items() if not k.startswith("tuner/")},
            )
        )
    for row in rows:  # trials listed before the oracle declared them still get an axis
        for name in row["hparams"]:
            if name not in domains:
                domains[name] = _guess_domain(name, [r["hparams"].get(name) for r in rows])
    return Sweep(directory, rows, domains, definition)


def _guess_domain(name: str, values: list[Any]) -> Domain:
    present = [v for v in values if v is not None]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        low, high = min(present), max(present)
        return Domain(name, "real", low, high if high > low else low + 1)
    return Domain(name, "choice", values=tuple(dict.fromkeys(present)))


def trial_curves(sweep: Sweep, trial: str) -> dict[str, list[np.ndarray]]:
    """``env -> [(steps, rewards) per seed]`` of a trial, prefixed with its parents' runs.

    A Hyperband promotion restores its parent's checkpoint and logs only the steps it
    trains; the curve it continues is its parent's (and so on up the chain).
    """
    parents = {row["trial"]: row.get("parent") for row in sweep.rows}
    curves: dict[str, list[np.ndarray]] = {}
    own_dir = os.path.join(sweep.directory, f"trial_{trial}")
    for run_dir in sorted(glob.glob(os.path.join(own_dir, "*", "seed_*"))):
        env, seed = run_dir.split(os.sep)[-2:]
        points = read_scalars(run_dir, ["rewards"])["rewards"]
        parent = parents.get(trial)
        while parent is not None:
            first = points[0][0] if points else math.inf
            parent_dir = os.path.join(sweep.directory, f"trial_{parent}", env, seed)
            earlier = [p for p in read_scalars(parent_dir, ["rewards"])["rewards"] if p[0] < first]
            points = earlier + points
            parent = parents.get(parent)
        if points:
            curves.setdefault(env, []).append(np.array(points, dtype=float).T)
    return curves


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "the report needs matplotlib: pip install 'tfhparam[report]' "
            "(or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _completed(sweep: Sweep) -> list[dict[str, Any]]:
    return [row for row in sweep.rows if row["status"] == "completed" and row["score"] is not None]


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start."""
    out, last, norm = np.empty(len(values)), 0.0, 0.0
    for i, value in enumerate(values):
        last, norm = weight * last + (1.0 - weight) * value, weight * norm + (1.0 - weight)
        out[i] = last / norm
    return out


def plot_learning_curves(sweep: Sweep, path: str, top_k: int, smoothing: float = 0.8) -> list[str]:
    """Mean return across seeds (line) and their range (band) of the top-k trials, one
    panel per env, each seed smoothed as TensorBoard does; running trials fill in while
    fewer than k have completed."""
    plt = _pyplot()
    chosen = _completed(sweep)[:top_k]
    chosen += [row for row in sweep.rows if row["status"] == "running"][: top_k - len(chosen)]
    curves = {row["trial"]: trial_curves(sweep, row["trial"]) for row in chosen}
    envs = sorted({env for per_env in curves.values() for env in per_env})
    if not envs:
        envs = list((sweep.definition or {}).get("envs", [])) or ["(no runs logged yet)"]
    fig, axes = plt.subplots(1, len(envs), figsize=(max(6 * len(envs), 8), 4.2), squeeze=False)
    colors = plt.get_cmap("tab10")
    for panel, env in zip(axes[0], envs):
        for i, row in enumerate(chosen):
            runs = curves[row["trial"]].get(env, [])
            if not runs:
                continue
            steps = np.unique(np.concatenate([run[0] for run in runs]))
            seeds = np.array(
                [
                    np.where(
                        (steps >= run[0][0]) & (steps <= run[0][-1]),
                        np.interp(steps, run[0], smooth(run[1], smoothing)),
                        np.nan,
                    )
                    for run in runs
                ]
            )
            mean = np.nanmean(seeds, axis=0)
            label = f"trial {row['trial']}" + (
                f" (score {results.number(row['score'])})"
                if row["score"] is not None
                else " (running)"
            )
            panel.plot(steps, mean, color=colors(i % 10), label=label, linewidth=1.2)
            if len(runs) > 1:
                panel.fill_between(
                    steps,
                    np.nanmin(seeds, axis=0),
                    np.nanmax(seeds, axis=0),
                    color=colors(i % 10),
                    alpha=0.2,
                    linewidth=0,
                )
        panel.set_title(env)
        panel.set_xlabel("env steps")
        panel.set_ylabel("episode return")
        panel.grid(alpha=0.3)
        if panel.get_legend_handles_labels()[0]:
            panel.legend(fontsize=8)
    fig.suptitle(
        f"{sweep.name}: top {len(chosen)} trials (line: mean over seeds; band: range; "
        f"smoothing {smoothing:g})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [row["trial"] for row in chosen]


def _axis_values(domain: Domain, values: list[Any]) -> list[float]:
    if domain.categorical:
        return [float(domain.values.index(v)) if v in domain.values else -1.0 for v in values]
    return [float(v) for v in values]


def plot_score_vs_hparams(sweep: Sweep, path: str) -> None:
    """One panel per searched hparam: completed trials' scores; failed and pruned trials
    marked under the lowest score. Log axes for log-scale hparams."""
    plt = _pyplot()
    names = list(sweep.domains)
    columns = min(len(names), 3) or 1
    rows_n = max(math.ceil(len(names) / columns), 1)
    fig, axes = plt.subplots(rows_n, columns, figsize=(4.5 * columns, 3.4 * rows_n), squeeze=False)
    done = _completed(sweep)
    scores = [row["score"] for row in done]
    span = (max(scores) - min(scores)) if len(scores) > 1 else 1.0
    floor = (min(scores) if scores else 0.0) - 0.08 * (span or 1.0)
    for panel, name in zip(axes.flat, names):
        domain = sweep.domains[name]
        with_value = [row for row in done if name in row["hparams"]]
        x = _axis_values(domain, [row["hparams"][name] for row in with_value])
        panel.scatter(
            x,
            [row["score"] for row in with_value],
            c=[row["score"] for row in with_value],
            cmap="viridis",
            edgecolors="black",
            linewidths=0.4,
            zorder=3,
        )
        for status, (marker, color) in STATUS_STYLE.items():
            others = [r for r in sweep.rows if r["status"] == status and name in r["hparams"]]
            if others:
                panel.scatter(
                    _axis_values(domain, [row["hparams"][name] for row in others]),
                    [floor] * len(others),
                    marker=marker,
                    color=color,
                    label=status,
                    zorder=3,
                )
        if domain.kind == "log":
            panel.set_xscale("log")
        if domain.categorical:
            panel.set_xticks(range(len(domain.values)), [str(v) for v in domain.values])
        panel.set_xlabel(name + (" (log)" if domain.kind == "log" else ""))
        panel.set_ylabel("score")
        panel.grid(alpha=0.3)
        if panel.get_legend_handles_labels()[0]:
            panel.legend(fontsize=8)
    for panel in list(axes.flat)[len(names) :]:
        panel.axis("off")
    fig.suptitle(
        f"{sweep.name}: score against each hyperparameter "
        f"({len(done)} completed, {sweep.count('failed')} failed, "
        f"{sweep.count('pruned')} pruned)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_parallel_coordinates(sweep: Sweep, path: str) -> None:
    """Every trial as a line across the hparam axes and the score, coloured by score;
    failed and pruned trials dashed grey (they have no score)."""
    plt = _pyplot()
    names = list(sweep.domains)
    done = _completed(sweep)
    scores = [row["score"] for row in done]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(max(1.6 * (len(names) + 1), 6), 4.5))
    xs = list(range(len(names) + 1))
    for row in sorted(sweep.rows, key=lambda r: (r["score"] is not None, r["score"] or 0.0)):
        ys = [
            sweep.domains[n].position(row["hparams"][n]) if n in row["hparams"] else np.nan
            for n in names
        ]
        if row["status"] == "completed" and row["score"] is not None:
            rel = (row["score"] - low) / (high - low) if high > low else 0.5
            ax.plot(xs, [*ys, rel], color=cmap(rel), linewidth=1.4, alpha=0.9)
        elif row["status"] in STATUS_STYLE:
            ax.plot(xs[:-1], ys, color="gray", linestyle="--", linewidth=0.9, alpha=0.7)
    for i, name in enumerate(names):
        domain = sweep.domains[name]
        ax.axvline(i, color="black", linewidth=0.8)
        if domain.kind == "choice":
            for value in domain.values:
                ax.text(i + 0.03, domain.position(value), str(value), fontsize=7, va="center")
        else:
            ax.text(i + 0.03, 0.0, results.number(domain.low), fontsize=7, va="bottom")
            ax.text(i + 0.03, 1.0, results.number(domain.high), fontsize=7, va="top")
    ax.axvline(len(names), color="black", linewidth=0.8)
    ax.text(len(names) + 0.03, 0.0, results.number(low), fontsize=7, va="bottom")
    ax.text(len(names) + 0.03, 1.0, results.number(high), fontsize=7, va="top")
    ax.set_xticks(
        xs,
        [*(n + (" (log)" if sweep.domains[n].kind == "log" else "") for n in names), "score"],
        rotation=20,
    )
    ax.set_yticks([])
    ax.set_xlim(-0.1, len(names) + 0.4)
    ax.set_ylim(-0.05, 1.05)
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(low, high))
    fig.colorbar(mappable, ax=ax, label="score")
    ax.set_title(
        f"{sweep.name}: {len(done)} completed trials coloured by score (dashed: failed or pruned)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pbt_members(sweep: Sweep) -> dict[int, list[dict[str, Any]]]:
    """PBT: each member's intervals in order (empty for other strategies)."""
    members: dict[int, list[dict[str, Any]]] = {}
    for row in sweep.rows:
        if row.get("member") is not None and row["steps"]:
            members.setdefault(int(row["member"]), []).append(row)
    for rows in members.values():
        rows.sort(key=lambda r: r["generation"])
    return members


def plot_pbt_schedule(sweep: Sweep, path: str) -> None:
    """PBT: each member's hyperparameters (and score) over env steps, one panel per
    numeric hparam; a dot marks an interval that began by copying another member."""
    plt = _pyplot()
    members = pbt_members(sweep)
    member_of = {row["trial"]: m for m, rows in members.items() for row in rows}
    names = [n for n in sweep.domains if sweep.domains[n].kind != "choice"]
    panels = [*names, "score"]
    columns = min(len(panels), 3)
    rows_n = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows_n, columns, figsize=(4.8 * columns, 3.2 * rows_n), squeeze=False)
    colors = plt.get_cmap("tab10")
    for panel, name in zip(axes.flat, panels):
        for member, rows in sorted(members.items()):
            xs, ys, copied = [], [], []
            for row in rows:
                start = row["steps"] * row["generation"] / (row["generation"] + 1)
                value = row["score"] if name == "score" else row["hparams"].get(name)
                if value is None:
                    continue
                xs += [start, row["steps"]]
                ys += [value, value]
                if row.get("parent") is not None and member_of.get(row["parent"]) != member:
                    copied.append((start, value))
            color = colors(member % 10)
            panel.plot(xs, ys, color=color, linewidth=1.2, label=f"member {member}")
            if copied:
                panel.scatter(*zip(*copied), color=color, s=18, zorder=3)
        if name != "score" and sweep.domains[name].kind == "log":
            panel.set_yscale("log")
        panel.set_title(name, fontsize=10)
        panel.set_xlabel("env steps")
        panel.grid(alpha=0.3)
    spare = list(axes.flat)[len(panels) :]
    for panel in spare:
        panel.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    (spare[0] if spare else fig).legend(
        handles, labels, loc="center" if spare else "lower right", fontsize=8, ncol=2
    )
    fig.suptitle(
        f"{sweep.name}: PBT schedules (dots: exploit, copied from another member)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def importance(sweep: Sweep) -> dict[str, float] | None:
    """Random-forest importance of each varied hparam for the score (scikit-learn's mean
    decrease in impurity, summing to 1), or None with fewer than 4 completed trials."""
    done = _completed(sweep)
    names = [n for n in sweep.domains if len({json.dumps(r["hparams"].get(n)) for r in done}) > 1]
    if len(done) < MIN_TRIALS_FOR_IMPORTANCE or not names:
        return None
    from sklearn.ensemble import RandomForestRegressor

    features = np.array(
        [
            [
                sweep.domains[n].numeric(r["hparams"].get(n, sweep.domains[n].low or 0))
                for n in names
            ]
            for r in done
        ]
    )
    forest = RandomForestRegressor(n_estimators=300, random_state=0, min_samples_leaf=1)
    forest.fit(features, np.array([r["score"] for r in done]))
    ranked = sorted(zip(names, forest.feature_importances_), key=lambda kv: -kv[1])
    return {name: float(value) for name, value in ranked}


def plot_importance(sweep: Sweep, values: dict[str, float] | None, path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.45 * max(len(values or {}), 3) + 1.2))
    if values:
        names = list(values)[::-1]
        ax.barh(names, [values[n] for n in names], color="tab:blue")
        ax.set_xlabel("importance (random forest, mean decrease in impurity)")
    else:
        ax.text(
            0.5,
            0.5,
            f"needs {MIN_TRIALS_FOR_IMPORTANCE} completed trials and a varied hparam",
            ha="center",
            va="center",
        )
        ax.axis("off")
    ax.set_title(f"{sweep.name}: what the score depends on ({len(_completed(sweep))} trials)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _tested(sweep: Sweep) -> list[results.Row]:
    """Rows with a test score (the test phase, ``tfhparam.heldout``), best test first."""
    rows = [row for row in sweep.rows if row.test_score is not None]
    return sorted(rows, key=lambda row: -row.test_score)


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho of two score lists (average ranks for ties); NaN under 3 points or
    when either list is constant."""
    from scipy.stats import rankdata

    if len(x) < 3:
        return math.nan
    ranks = [rankdata(v) for v in (x, y)]
    if min(np.std(r) for r in ranks) == 0:
        return math.nan
    return float(np.corrcoef(*ranks)[0, 1])


def improvement_table(sweep: Sweep) -> tuple[list[str], list[list[str]]] | None:
    """The test-best configuration against each other tested one: the probability that a
    run of the best beats a run of the other on the same env (test runs, normalized as the
    score is) with its 95% stratified bootstrap interval (:mod:`tfhparam.stats`)."""
    from tfhparam import heldout, stats

    tested = _tested(sweep)
    targets = {
        k: tuple(v) for k, v in ((sweep.definition or {}).get("target_scores") or {}).items()
    }

    def by_env(row: results.Row) -> list[list[float]] | None:
        saved = heldout.read_result(sweep.directory, row.trial) or {}
        values: dict[str, list[float]] = {}
        for run in saved.get("runs", []):
            value = run["value"]
            if run["env"] in targets:
                low, high = targets[run["env"]]
                value = (value - low) / (high - low)
            values.setdefault(run["env"], []).append(value)
        return [values[env] for env in sorted(values)] if values else None

    if len(tested) < 2 or by_env(tested[0]) is None:
        return None
    best = by_env(tested[0])
    body = []
    for row in tested[1:]:
        other = by_env(row)
        if other is None or len(other) != len(best):
            continue
        low, high = stats.improvement_interval(best, other)
        chance = stats.probability_of_improvement(best, other)
        body.append(
            [row.trial, results.number(row.test_score), f"{chance:.2f} [{low:.2f}, {high:.2f}]"]
        )
    header = ["trial", "test score", f"P(trial {tested[0].trial} beats it) [95% CI]"]
    return (header, body) if body else None


def plot_test_scores(sweep: Sweep, path: str) -> None:
    """Left: each tested configuration's test score with the IQM's 95% interval, beside
    its tuning score. Right: tuning against test score, the diagonal drawn."""
    plt = _pyplot()
    rows = _tested(sweep)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    positions = np.arange(len(rows))
    tests = np.array([row.test_score for row in rows])
    lows = np.array([row.test_low for row in rows])
    highs = np.array([row.test_high for row in rows])
    iqms = np.array([row.test_iqm for row in rows])
    left.errorbar(
        positions,
        iqms,
        yerr=[iqms - lows, highs - iqms],
        fmt="o",
        color="tab:blue",
        capsize=4,
        label="test IQM, 95% CI",
    )
    left.scatter(positions, tests, marker="s", color="tab:green", label="test score", zorder=3)
    left.scatter(
        positions, [row.score for row in rows], marker="x", color="tab:orange", label="tuning score"
    )
    left.set_xticks(positions, [f"trial {row.trial}" for row in rows], rotation=30)
    left.set_ylabel("score")
    left.set_title("Held-out seeds: the tested configurations")
    left.legend(fontsize=8)
    tuning = [row.score for row in rows]
    right.scatter(tuning, tests, color="tab:blue")
    for row in rows:
        right.annotate(row.trial, (row.score, row.test_score), fontsize=8)
    bounds = [min(tuning + list(tests)), max(tuning + list(tests))]
    right.plot(bounds, bounds, color="gray", linestyle="--", linewidth=1, label="test = tuning")
    rho = rank_correlation(tuning, list(tests))
    rho_text = "n/a" if math.isnan(rho) else f"{rho:+.2f}"
    right.set_title(f"Tuning against test score (Spearman {rho_text})")
    right.set_xlabel("tuning score (the search's seeds)")
    right.set_ylabel("test score (held-out seeds)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# The page: one list of blocks, rendered as Markdown and as HTML
# ---------------------------------------------------------------------------------------


def front_points(sweep: Sweep) -> tuple[list, list[results.Row], list[list[float]]]:
    """A sweep of several objectives: its objectives, and its completed rows that have a
    value of each (in trial order) with those values; ``([], [], [])`` otherwise."""
    found = results.sweep_objectives(sweep.directory)
    if len(found) < 2:
        return [], [], []
    rows, points = results.objective_points(sweep.rows, found)
    return list(found), rows, points


def plot_pareto_front(sweep: Sweep, path: str) -> None:
    """The trials in objective space with front 1 marked (two objectives: one scatter, the
    front joined; more: every pair), and the hypervolume of the trials so far."""
    plt = _pyplot()
    found, rows, points = front_points(sweep)
    directions = [o.direction for o in found]
    pairs = [(i, j) for i in range(len(found)) for j in range(i + 1, len(found))]
    fig, axes = plt.subplots(1, len(pairs) + 1, figsize=(4.6 * (len(pairs) + 1), 4.2))
    on_front = {r.trial for r in rows if r.front == 1}
    for axis, (i, j) in zip(axes, pairs):
        xs, ys = [p[i] for p in points], [p[j] for p in points]
        front = [(x, y) for x, y, r in zip(xs, ys, rows) if r.trial in on_front]
        axis.scatter(xs, ys, color="tab:gray", alpha=0.6, label="trials")
        if front:
            if len(pairs) == 1:
                front.sort()
                axis.plot(*zip(*front), color="tab:blue", linewidth=1)
            axis.scatter(*zip(*front), color="tab:blue", zorder=3, label="front 1")
        for x, y, row in zip(xs, ys, rows):
            if row.trial in on_front:
                axis.annotate(row.trial, (x, y), fontsize=8)
        axis.set_xlabel(str(found[i]))
        axis.set_ylabel(str(found[j]))
        axis.legend(fontsize=8)
    volumes = pareto.hypervolume_curve(points, directions)
    axes[-1].plot(range(1, len(volumes) + 1), volumes, marker="o", color="tab:blue")
    axes[-1].set_xlabel("completed trials (in trial order)")
    axes[-1].set_ylabel("hypervolume")
    axes[-1].set_title("Hypervolume of the trials so far")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def results_table(sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    return results.cells(sweep.rows, list(sweep.domains))


def blocks(
    sweep: Sweep, images: dict[str, str], importances: dict[str, float] | None, top: list[str]
) -> list[tuple[str, Any]]:
    """The page's content as ``(kind, data)`` blocks: heading, text, code, table, image."""
    d = sweep.definition or {}
    done = _completed(sweep)
    out: list[tuple[str, Any]] = [("title", f"Sweep report: {sweep.name}")]
    facts = [f"Generated {time.strftime('%Y-%m-%d %H:%M')} from `{sweep.directory}`."]
    if d:
        facts.append(
            f"Agent `{d.get('agent')}` on {', '.join(d.get('envs', []))}; "
            f"seeds per env: {_seed_count(d.get('seeds'))}; up to "
            f"{d.get('total_timesteps')} env steps per trial."
        )
    facts.append(
        f"Trials: {len(sweep.rows)} ({len(done)} completed, "
        f"{sweep.count('failed')} failed, {sweep.count('pruned')} pruned, "
        f"{sweep.count('running')} running)."
    )
    out.append(("text", " ".join(facts)))
    out.append(("heading", "Best configuration"))
    if done:
        best = done[0]
        values = ", ".join(f"`{k}={results.number(v)}`" for k, v in best["hparams"].items())
        out.append(
            ("text", f"Trial {best['trial']}, score {results.number(best['score'])}: {values}.")
        )
        if d.get("agent") and d.get("envs"):
            out.append(("code", results.best_command(d, best)))
    else:
        out.append(("text", "No trial has completed yet."))
    out.append(("heading", "Results"))
    out.append(("table", results_table(sweep)))
    out.append(("heading", FIGURES["learning_curves"]))
    curves_text = (
        f"Trials {', '.join(top) or 'none'}: mean episode return over seeds (each "
        "smoothed as TensorBoard does), with the range across seeds as a band; a "
        "Hyperband promotion's curve starts with its parent's."
    )
    out.append(("text", curves_text))
    out.append(("image", images["learning_curves"]))
    out.append(("heading", FIGURES["score_vs_hparams"]))
    out.append(("image", images["score_vs_hparams"]))
    out.append(("heading", FIGURES["parallel_coordinates"]))
    out.append(("image", images["parallel_coordinates"]))
    out.append(("heading", FIGURES["importance"]))
    if importances:
        out.append(
            (
                "text",
                "A random forest (scikit-learn, 300 trees) fitted to the completed "
                "trials' scores; importance is its mean decrease in impurity "
                "(log10 for log-scale hparams, the index for choices).",
            )
        )
        out.append(
            ("table", (["hparam", "importance"], [[n, f"{v:.3f}"] for n, v in importances.items()]))
        )
    else:
        out.append(
            (
                "text",
                f"Not computed: it needs {MIN_TRIALS_FOR_IMPORTANCE} completed "
                "trials and a hyperparameter that varies among them.",
            )
        )
    out.append(("image", images["importance"]))
    if "test_scores" in images:
        tested = _tested(sweep)
        rho = rank_correlation([r.score for r in tested], [r.test_score for r in tested])
        out.append(("heading", "Held-out seeds"))
        out.append(
            (
                "text",
                f"The test phase trained the top {len(tested)} configurations again on seeds "
                "no trial used and evaluated them (deterministic policy); the best is chosen "
                "by test score. Intervals: stratified bootstrap, 95%, of the IQM of the test "
                "runs. Rank correlation of tuning and test scores (Spearman): "
                f"{'n/a' if math.isnan(rho) else f'{rho:+.2f}'}.",
            )
        )
        out.append(("image", images["test_scores"]))
        table = improvement_table(sweep)
        if table:
            out.append(
                (
                    "text",
                    f"The probability that a test run of trial {tested[0].trial} (the best by "
                    "test score) scores above a test run of another tested configuration on "
                    "the same env (ties count half; Agarwal et al. 2021), with its "
                    "stratified bootstrap interval:",
                )
            )
            out.append(("table", table))
    if "pareto_front" in images:
        found, rows, points = front_points(sweep)
        volumes = pareto.hypervolume_curve(points, [o.direction for o in found])
        front = results.front(sweep.rows)
        out.append(("heading", "Pareto front"))
        out.append(
            (
                "text",
                f"Objectives: {', '.join(f'`{o}`' for o in found)}. {len(front)} of "
                f"{len(rows)} completed trials are on the front (no other trial is at "
                "least as good in every objective and better in one); the results table "
                "ranks front 1 first, then by crowding distance (NSGA-II). Hypervolume of "
                f"all trials: {results.number(volumes[-1] if volumes else None)} (reference: "
                "each objective's worst value, a tenth of its range further).",
            )
        )
        if d.get("agent") and d.get("envs"):
            for row in front:
                out.append(("code", results.best_command(d, row)))
        out.append(("image", images["pareto_front"]))
    if "pbt_schedule" in images:
        out.append(("heading", "PBT schedules"))
        out.append(
            (
                "text",
                "Each member's hyperparameters and score over env steps; a dot "
                "marks an interval that began by copying a better member's "
                "weights and hyperparameters (exploit) and perturbing them "
                "(explore). Rows of the results table are intervals.",
            )
        )
        out.append(("image", images["pbt_schedule"]))
    return out


def _seed_count(seeds: Any) -> str:
    return str(len(seeds)) if isinstance(seeds, list) else str(seeds)


def to_markdown(content: list[tuple[str, Any]]) -> str:
    lines: list[str] = []
    for kind, data in content:
        if kind == "title":
            lines += [f"# {data}", ""]
        elif kind == "heading":
            lines += [f"## {data}", ""]
        elif kind == "text":
            lines += [data, ""]
        elif kind == "code":
            lines += ["```", data, "```", ""]
        elif kind == "image":
            lines += [f"![{data}]({data})", ""]
        elif kind == "table":
            header, body = data
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + " --- |" * len(header))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
            lines.append("")
    return "\n".join(lines)


def to_html(content: list[tuple[str, Any]]) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        "<meta charset='utf-8'>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}img{max-width:100%}"
        "pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}</style>",
    ]
    for kind, data in content:
        if kind == "title":
            parts += [f"<title>{e(data)}</title>", f"<h1>{e(data)}</h1>"]
        elif kind == "heading":
            parts.append(f"<h2>{e(data)}</h2>")
        elif kind == "text":
            text = e(data)
            while text.count("`") >= 2:  # `code` spans
                text = text.replace("`", "<code>", 1).replace("`", "</code>", 1)
            parts.append(f"<p>{text}</p>")
        elif kind == "code":
            parts.append(f"<pre>{e(data)}</pre>")
        elif kind == "image":
            parts.append(f"<p><img src='{e(data)}' alt='{e(data)}'></p>")
        elif kind == "table":
            header, body = data
            parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in body]
            parts.append("</table>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------


def write_report(
    directory: str, output: str | None = None, top_k: int = 5, smoothing: float = 0.8
) -> dict[str, str]:
    """Writes the figures, ``report.md`` and ``report.html``; returns their paths.

    Raises:
        ReportError: no sweep in ``directory``.
        UsageError: matplotlib is missing.
    """
    sweep = load(directory)
    output = output or os.path.join(directory, "report")
    _pyplot()  # fail before writing anything
    os.makedirs(output, exist_ok=True)
    images = {name: f"{name}.png" for name in FIGURES}
    paths = {name: os.path.join(output, file) for name, file in images.items()}
    top = plot_learning_curves(sweep, paths["learning_curves"], top_k, smoothing)
    plot_score_vs_hparams(sweep, paths["score_vs_hparams"])
    plot_parallel_coordinates(sweep, paths["parallel_coordinates"])
    importances = importance(sweep)
    plot_importance(sweep, importances, paths["importance"])
    if _tested(sweep):
        images["test_scores"] = "test_scores.png"
        paths["test_scores"] = os.path.join(output, images["test_scores"])
        plot_test_scores(sweep, paths["test_scores"])
    if front_points(sweep)[1]:
        images["pareto_front"] = "pareto_front.png"
        paths["pareto_front"] = os.path.join(output, images["pareto_front"])
        plot_pareto_front(sweep, paths["pareto_front"])
    if pbt_members(sweep):
        images["pbt_schedule"] = "pbt_schedule.png"
        paths["pbt_schedule"] = os.path.join(output, images["pbt_schedule"])
        plot_pbt_schedule(sweep, paths["pbt_schedule"])
    content = blocks(sweep, images, importances, top)
    for name, render in (("report.md", to_markdown), ("report.html", to_html)):
        paths[name] = os.path.join(output, name)
        with open(paths[name] + ".tmp", "w", encoding="utf-8") as f:
            f.write(render(content))
        os.replace(paths[name] + ".tmp", paths[name])
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Figures and a page for a sweep (finished or not).")
    parser.add_argument("directory", help="the sweep's directory, e.g. logs/ppo_random")
    parser.add_argument("--top-k", type=int, default=5, help="trials in the learning curves")
    parser.add_argument("--output", help="where to write (default DIRECTORY/report)")
    parser.add_argument(
        "--smoothing", type=float, default=0.8, help="curve smoothing in [0, 1) (default 0.8)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        if args.top_k < 1:
            raise UsageError(f"--top-k must be positive, got {args.top_k}")
        if not 0.0 <= args.smoothing < 1.0:
            raise UsageError(f"--smoothing must be in [0, 1), got {args.smoothing}")
        paths = write_report(args.directory, args.output, args.top_k, args.smoothing)
    except (ReportError, UsageError) as error:
        fail(str(error), prog=PROG)
    print(f"report: {paths['report.md']} and {paths['report.html']}")
    for path in paths.values():
        if path.endswith(".png"):
            print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
