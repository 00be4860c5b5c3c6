"""The test phase: the search's best configurations trained again on seeds no trial used,
then evaluated.

A search ranks configurations by their scores on its own seeds, so the best of many is
also the luckiest on those seeds; Eimer et al. (ICML 2023) recommend tuning and testing on
disjoint seeds. After the search, the top ``top`` completed configurations (by tuning
score) are each trained again, for the sweep's full budget, on ``seeds`` test seeds
(:func:`test_seeds`: disjoint from every tuning seed), all seeds of an env as one
population where the agent trains as populations, and each run is evaluated at its end:
``episodes`` episodes on evaluation env seeds (``agents.evaluation``, the deterministic
policy). A run's test value is its evaluation's mean return; a configuration's test
score is the sweep's score over them (normalized and aggregated as the tuning score is),
with the IQM of its runs' (normalized) values and a 95% stratified bootstrap interval
(:mod:`tfhparam.stats`).

Files, under the sweep directory: ``test/settings.json`` (the last phase's seeds and
episodes: the results show only test results of these), ``test/trial_ID/ENV/seed_S/`` (the run's
TensorBoard session, grouped ``test/ID/ENV``, and its checkpoint) and
``test/trial_ID/result.json``.
A configuration whose result was written under the same settings is not trained again, so
after a ``kill -9`` a rerun redoes only the configuration that was training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import agents
from tfhparam import lock, objectives, results, scoring, stats

TEST_DIR = "test"
# Test seeds lie in [TEST_SEED_START, 2 * TEST_SEED_START): tuning seeds (seed * 1000 + k)
# lie below for any sweep seed under 536,870, and evaluation env seeds above.
TEST_SEED_START = 2**29


@dataclasses.dataclass(frozen=True)
class TestSettings:
    """How many test seeds, configurations and evaluation episodes."""

    seeds: int = 0  # 0: no test phase
    top: int = 3
    episodes: int = 10

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def test_seeds(sweep_seed: int, count: int) -> list[int]:
    """The test seeds of a sweep: ``TEST_SEED_START + sweep_seed * 1000 + k``.

    Raises:
        ValueError: a sweep seed so large that they would leave their range.
    """
    if sweep_seed * 1000 + count >= TEST_SEED_START:
        raise ValueError(f"sweep seed {sweep_seed} is too large for test seeds of its own")
    return [TEST_SEED_START + sweep_seed * 1000 + k for k in range(count)]


def result_path(project_dir: str, trial: str) -> str:
    return os.path.join(project_dir, TEST_DIR, f"trial_{trial}", "result.json")


def read_result(project_dir: str, trial: str) -> dict[str, Any] | None:
    """A configuration's test result, or None if it has none (or a damaged one)."""
    path = result_path(project_dir, trial)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def chosen_rows(
    rows: Sequence[results.Row], top: int, found: Sequence[objectives.Objective] = ()
) -> list[results.Row]:
    """The ``top`` completed rows in the results' order on the tuning seeds alone: by
    tuning score (ties by trial id), or by the objectives ``found`` (several: their Pareto
    order; ``test_score`` counting as its stand-in ``score``); one a configuration: a
    Hyperband trial and its promotion share their hparams, and only the better is taken."""
    done = [r for r in rows if r.status == "completed" and r.score is not None]
    tuning = [objectives.SCORE if o.kind == "test_score" else o for o in found]
    by_trial = {r.trial: r for r in done}
    copies = [dataclasses.replace(r, test_score=None) for r in done]  # (ranked sets fronts)
    order = [by_trial[r.trial] for r in results.ranked(copies, tuning)]
    chosen, seen = [], set()
    for row in order:
        key = json.dumps(row.hparams, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            chosen.append(row)
    return chosen[:top]


def run(
    project_dir: str,
    settings: TestSettings,
    population_runner: Callable | None = None,
    verbose: bool = True,
) -> list[dict[str, Any]]:
    """Runs the test phase of the sweep in ``project_dir``; rewrites its results with the
    test scores. Returns the test results of the chosen configurations.

    Args:
        project_dir: a sweep directory with its definition and ``results.json``.
        settings: seeds, top and episodes (``seeds`` >= 1).
        population_runner: trains runs of one env together (``tfhparam.tuner``'s
            ``PopulationRunner``); default: the real agents, as populations where they can.
        verbose: a line a configuration.

    The sweep directory is locked (:mod:`tfhparam.lock`) while the phase runs.

    Raises:
        results.ResultsError: no readable sweep there.
        tfhparam.lock.LockedError: another process runs a sweep or test phase there.
        ValueError: settings out of their domain.
    """
    lock.acquire(project_dir)
    try:
        return _run(project_dir, settings, population_runner, verbose)
    finally:
        lock.release(project_dir)


def _run(project_dir, settings, population_runner, verbose) -> list[dict[str, Any]]:
    if settings.seeds < 1 or settings.top < 1 or settings.episodes < 1:
        raise ValueError(f"test seeds, top and episodes must be at least 1, got {settings}")
    definition = results.read_definition(project_dir)
    if not definition or "agent" not in definition:
        raise results.ResultsError(f"no sweep definition in {project_dir}")
    rows = results.read(project_dir)
    seeds = test_seeds(int(definition.get("seed", 0)), settings.seeds)
    tuning = set(definition.get("seeds") or [])
    if tuning & set(seeds):  # only a hand-made RLTuner seed list can reach this range
        raise ValueError(f"tuning seeds {sorted(tuning & set(seeds))} are test seeds too")
    if population_runner is None:
        population_runner = _real_runner(definition["agent"])
    # what a configuration's result depends on (not ``top``: a larger top keeps the rest)
    wanted = {"seeds": settings.seeds, "episodes": settings.episodes, "test_seeds": seeds}
    os.makedirs(os.path.join(project_dir, TEST_DIR), exist_ok=True)
    results.write_atomic(os.path.join(project_dir, TEST_DIR, "settings.json"), json.dumps(wanted))
    out = []
    found = results.sweep_objectives(project_dir)
    for row in chosen_rows(rows, settings.top, found):
        previous = read_result(project_dir, row.trial)
        if previous and previous.get("settings") == wanted:
            out.append(previous)
            continue
        result = _test(project_dir, definition, row, seeds, settings, population_runner)
        result["settings"] = wanted
        path = result_path(project_dir, row.trial)
        results.write_atomic(path, json.dumps(result, indent=1))
        out.append(result)
        if verbose:
            outcome = (
                f"test score {results.number(result['test_score'])} (IQM "
                f"{results.number(result['iqm'])}, 95% CI {results.number(result['iqm_low'])}"
                f" to {results.number(result['iqm_high'])})"
                if result["status"] == "completed"
                else f"failed: {result['reason']}"
            )
            print(
                f"[test] trial {row.trial} (tuning score {results.number(row.score)}): {outcome}",
                flush=True,
            )
    results.write(project_dir, results.ranked(results.with_tests(project_dir, rows), found))
    return out


def _real_runner(agent: str) -> Callable:
    from tfhparam import tuner

    if agent in agents.POPULATION_AGENTS:
        return tuner.train_population
    return tuner.lockstep(tuner.train_run)


def _test(project_dir, definition, row, seeds, settings, population_runner) -> dict[str, Any]:
    """Trains and evaluates one configuration on the test seeds, env by env."""
    from tfhparam.tensorboard import RunWriter
    from tfhparam.tuner import RunSpec

    space = agents.space(definition["agent"])
    hparams = space.resolve({**definition.get("fixed", {}), **row.hparams})
    total = int(definition["total_timesteps"])
    targets = {k: tuple(v) for k, v in (definition.get("target_scores") or {}).items()}
    trial_dir = os.path.join(project_dir, TEST_DIR, f"trial_{row.trial}")
    shutil.rmtree(trial_dir, ignore_errors=True)  # a rerun starts clean
    values: dict[str, list[float]] = {}
    runs: list[dict[str, Any]] = []
    sessions: list[tuple[Any, int]] = []  # (writer, last step) of every run
    error = None
    for env_id in definition["envs"]:
        specs, writers = [], []
        for seed in seeds:
            run_dir = os.path.join(trial_dir, env_id, f"seed_{seed}")
            specs.append(
                RunSpec(
                    definition["agent"],
                    env_id,
                    hparams,
                    seed,
                    total,
                    total,
                    os.path.join(run_dir, "checkpoint"),
                    None,
                    definition.get("env_backend", "auto"),
                    eval_episodes=settings.episodes,
                )
            )
            writer = RunWriter(run_dir)
            session = {**row.hparams, "trial": row.trial, "env": env_id}
            writer.session_start(session, group=f"{TEST_DIR}/{row.trial}/{env_id}")
            writers.append(writer)
        finals: list[Mapping[str, Any] | None] = [None] * len(specs)
        try:
            for entries in population_runner(specs, set()):
                for member, metrics in enumerate(entries):
                    if metrics is None:
                        continue
                    if "error" in metrics:
                        raise RuntimeError(metrics["error"])
                    writers[member].scalars(int(metrics["global_step"]), metrics)
                    if "eval/return" in metrics:
                        finals[member] = metrics
        except Exception as failure:  # the configuration fails its test; the phase goes on
            error = str(failure).strip().splitlines()[0] if str(failure).strip() else "failed"
        for spec, final, writer in zip(specs, finals, writers):
            if error is None and final is None:
                error = f"no evaluation ran ({env_id}, seed {spec.seed})"
            if final is not None:
                value = float(final["eval/return"])
                values.setdefault(env_id, []).append(value)
                returns = final.get("eval/returns", [value])
                runs.append(
                    {
                        "env": env_id,
                        "seed": spec.seed,
                        "value": value,
                        "returns": [float(x) for x in returns],
                        "steps": int(final["global_step"]),
                    }
                )
            sessions.append((writer, int(final["global_step"]) if final else 0))
        if error:
            break
    if error:
        for writer, _ in sessions:
            writer.session_end("failure")
            writer.close()
        return {"trial": row.trial, "status": "failed", "reason": error, "test_score": None}
    score = scoring.trial_score(values, targets, definition.get("aggregate", "mean"))
    for writer, step in sessions:  # last: the HParams tab shows it
        writer.scalars(step, {"test_score": score})
        writer.session_end("success")
        writer.close()
    normalized = [
        [scoring.normalize(v, *targets[env]) if env in targets else v for v in env_values]
        for env, env_values in values.items()
    ]
    low, high = stats.interval(normalized, "iqm")
    return {
        "trial": row.trial,
        "status": "completed",
        "tuning_score": row.score,
        "test_score": score,
        "iqm": stats.aggregate(normalized, "iqm"),
        "iqm_low": low,
        "iqm_high": high,
        "runs": runs,
    }
