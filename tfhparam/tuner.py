"""The search engine: Keras Tuner oracles asking, :class:`RLTuner` training and telling.

``RLTuner`` is a ``keras_tuner`` tuner whose ``run_trial`` trains an agent on every env and
seed, logs one TensorBoard session per run, checkpoints each run, and returns the trial's
``score`` (see :mod:`tfhparam.scoring`). Any Keras Tuner oracle drives it; Hyperband
promotions continue from their parent's checkpoints.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras_tuner as kt
from keras_tuner.src import config as kt_config
from keras_tuner.src.engine import base_tuner

import agents
from tfhparam import config, oracles, scoring
from tfhparam.space import (
    Space,
    SpaceError,
    check_value,
    describe,
    from_keras_tuner,
    grid_values,
    hp,
    to_keras_tuner,
)
from tfhparam.tensorboard import RunWriter, write_hparams_config

OBJECTIVE = "score"
# With pruning, run_trial reports the final score itself (after its intermediate ones), and
# Keras Tuner warns that a metric reported from run_trial is a deprecated use.
warnings.filterwarnings("ignore", message="The use case of calling", category=DeprecationWarning)
# What the tuner trains (agent, envs, seeds, budget, fixed hparams, scoring), written by
# the chief at the start of a search; read by the report.
DEFINITION_FILE = "definition.json"
SESSION_HPARAMS = ("trial", "env")  # shown as columns besides the searched hparams
PRUNED_TAG = "pruned"  # a scalar of 1 in a pruned trial's runs


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of a trial: an agent on one env with one seed."""

    agent: str
    env_id: str
    hparams: Mapping[str, Any]
    seed: int
    total_timesteps: int
    anneal_timesteps: int
    save: str  # checkpoint directory written at the end
    restore: str | None = None  # checkpoint to continue from (Hyperband promotion, PBT)
    env_backend: str = "auto"  # auto: TensorFlow's classic-control envs; or gymnasium


Runner = Callable[[RunSpec], Iterator[Mapping[str, Any]]]


def train_run(spec: RunSpec) -> Iterator[Mapping[str, Any]]:
    """Trains a real agent for ``spec``, yielding its metrics; checkpoints at the end."""
    module = agents.load(spec.agent)
    agent = module.make_agent(spec.env_id, spec.hparams, seed=spec.seed,
                              env_backend=spec.env_backend)  # fmt: skip
    try:
        if spec.restore:
            agent.restore(spec.restore)
        yield from module.train(agent, spec.total_timesteps, spec.anneal_timesteps)
        agent.save(spec.save)
    finally:
        agent.close()


class GridOracle(kt.Oracle):
    """Grid search that survives a resume: trial ``i`` runs grid point ``i``.

    Points are visited in row-major order over the hparams (the last one varies fastest).
    The next point follows from the number of trials created, which the oracle's saved
    state already holds; Keras Tuner's own grid oracle keeps its cursor out of its state
    and fails on resume (keras-tuner issue 1055).

    Args:
        grid: hparam name -> the values to try.
        max_trials: at most this many points (default: the whole grid).
    """

    def __init__(self, grid: Mapping[str, Sequence[Any]], max_trials: int | None = None,
                 **kwargs):  # fmt: skip
        self.grid = {name: list(values) for name, values in grid.items()}
        self.size = math.prod(len(v) for v in self.grid.values())
        super().__init__(max_trials=min(max_trials or self.size, self.size), **kwargs)

    def point(self, index: int) -> dict[str, Any]:
        values = {}
        for name, options in reversed(list(self.grid.items())):
            index, i = divmod(index, len(options))
            values[name] = options[i]
        return dict(reversed(list(values.items())))

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        index = len(self.trials)
        if index >= self.max_trials:
            return {"status": "IDLE" if self.ongoing_trials else "STOPPED", "values": None}
        return {"status": "RUNNING", "values": self.point(index)}


def make_oracle(sweep) -> kt.Oracle:
    """The Keras Tuner oracle of a validated :class:`tfhparam.config.Sweep`."""
    common = dict(
        objective=score_objective(),
        seed=sweep.seed + 1,  # keras-tuner treats seed 0 as "no seed"
        hyperparameters=to_keras_tuner(sweep.space),
        max_consecutive_failed_trials=10**9,  # a failed trial never stops the sweep
    )
    oracle_class, names = {
        "grid": (GridOracle, ()),
        "random": (kt.oracles.RandomSearchOracle, ()),
        "bayesian": (kt.oracles.BayesianOptimizationOracle, ("num_initial_points",)),
        "tpe": (oracles.TPEOracle, ("num_initial_points",)),
        "hyperband": (oracles.HyperbandOracle, ("max_epochs", "factor", "hyperband_iterations")),
        "pbt": (oracles.PBTOracle,
                ("population_size", "generations", "quantile", "resample_probability")),
        "evolution": (oracles.EvolutionOracle, ("population_size", "generations",
                      "tournament_size", "mutation_probability", "elites")),
    }[sweep.strategy]  # fmt: skip
    options = sweep.options
    kwargs = {name: options[name] for name in names}
    if sweep.strategy in config.BY_TRIALS:
        kwargs["max_trials"] = sweep.trials
    if sweep.strategy == "grid":
        kwargs["grid"] = {n: grid_values(d, options["grid_points"]) for n, d in sweep.space.items()}
    if sweep.prune == "none":
        return oracle_class(**kwargs, **common)
    make = oracles.with_pruning(oracle_class, sweep.prune, warmup=options["prune_warmup"],
                                min_trials=options["prune_min_trials"],
                                factor=options["prune_factor"],
                                reports=options["prune_reports"])  # fmt: skip
    return make(**kwargs, **common)


def hyperband_schedule(max_epochs: int, factor: int) -> list[list[tuple[int, int]]]:
    """Hyperband's brackets as Keras Tuner runs them: per round, (trials, epochs)."""
    oracle = kt.oracles.HyperbandOracle(objective=kt.Objective(OBJECTIVE, "max"),
                                        max_epochs=max_epochs, factor=factor)  # fmt: skip
    brackets = []
    for bracket in reversed(range(oracle._get_num_brackets())):
        rounds = range(oracle._get_num_rounds(bracket))
        brackets.append([(oracle._get_size(bracket, r), oracle._get_epochs(bracket, r))
                         for r in rounds])  # fmt: skip
    return brackets


def check_domains(space: Space, domains: Mapping[str, hp.Domain]) -> None:
    """Raises SpaceError unless every searched domain lies inside the agent's own."""
    for name, domain in domains.items():
        param = space[name]  # an unknown name raises
        values = (domain.values if isinstance(domain, hp.Discrete)
                  else [domain.min_value, domain.max_value])  # fmt: skip
        for value in values:
            try:
                check_value(param, value)
            except SpaceError:
                raise SpaceError(
                    f"hyperparameters: {name} searches {value!r}, outside the agent's "
                    f"domain {describe(param.domain)}"
                ) from None


class TrialFailed(kt.errors.FailedTrialError):
    """A trial that raised or diverged: recorded as failed, the search goes on."""


class TrialPruned(Exception):
    """The pruner stopped a trial: its last intermediate score is its score."""

    def __init__(self, score: float, step: int, where: str):
        super().__init__(where)
        self.score, self.step, self.where = score, step, where


class _Reports:
    """A trial's intermediate scores, sent to a pruning oracle ``reports`` times a run.

    A report's value is what the trial's score would be if its runs ended now (finished
    runs' values plus the current run's value so far); its step counts reports over the
    trial's runs (run ``r``, report ``j``: step ``r * reports + j``), so trials are compared
    at the same point of the same env and seed.
    """

    def __init__(self, tuner: RLTuner, trial_id: str, reports: int):
        self.tuner, self.trial_id, self.reports = tuner, trial_id, reports
        self.run_index, self.sent = -1, 0

    def start_run(self) -> None:
        self.run_index, self.sent = self.run_index + 1, 0

    def tick(self, spec: RunSpec, step: int, start: int, rewards: list[float],
             run_values: Mapping[str, list[float]]) -> None:  # fmt: skip
        length = max(spec.total_timesteps - start, 1)
        due = min(int((step - start) * self.reports // length), self.reports)
        value = scoring.run_value(rewards, self.tuner.last_n)
        while self.sent < due and not math.isnan(value):
            self.sent += 1
            so_far = {env: list(v) for env, v in run_values.items()}
            so_far[spec.env_id] = [*so_far.get(spec.env_id, []), value]
            score = scoring.trial_score({e: v for e, v in so_far.items() if v},
                                        self.tuner.target_scores, self.tuner.aggregate)  # fmt: skip
            at = self.run_index * self.reports + self.sent
            answer = self.tuner.oracle.update_trial(self.trial_id, {OBJECTIVE: score}, step=at)
            if getattr(answer, "status", answer) == "STOPPED":
                raise TrialPruned(score, step, f"pruned at step {step} of {spec.env_id} seed "
                                               f"{spec.seed} (report {at})")  # fmt: skip


class RLTuner(base_tuner.BaseTuner):
    """A Keras Tuner tuner for RL agents: each trial trains on every env and seed.

    Args:
        oracle: any Keras Tuner oracle with objective ``kt.Objective("score", "max")``; if
            its space is empty, the agent's default search space is declared on it.
        agent: ``ppo``, ``a2c`` or ``dqn``.
        envs: gymnasium env ids.
        seeds: how many seeds per env (``seed * 1000 + k``), or the seed values.
        total_timesteps: env steps per run; with Hyperband, the longest run's budget (one
            Hyperband epoch is ``total_timesteps / max_epochs`` env steps).
        fixed_hparams: values for hparams that are not searched (else agent defaults).
        target_scores: env id -> (low, high) to normalize that env's value.
        aggregate: ``mean`` or ``median`` over envs.
        last_n: iterations whose ``rewards`` average into a run's value.
        seed: the sweep's seed (run seeds derive from it).
        directory, project_name: the sweep lives in ``directory/project_name``.
        overwrite: start over instead of resuming.
        runner: trains one run (default: the real agents); tests pass fake agents.
        verbose: print progress lines.
        env_backend: ``auto`` (TensorFlow's version of classic-control envs, the rollout in
            one graph), ``tf`` or ``gymnasium``.
    """

    def __init__(self, oracle: kt.Oracle, agent: str = "ppo",
                 envs: Sequence[str] = ("CartPole-v1",), seeds: int | Sequence[int] = 1,
                 total_timesteps: int = 100_000, fixed_hparams: Mapping[str, Any] | None = None,
                 target_scores: Mapping[str, tuple[float, float]] | None = None,
                 aggregate: str = "mean", last_n: int = 10, seed: int = 0,
                 directory: str = "logs", project_name: str = "sweep", overwrite: bool = False,
                 runner: Runner | None = None, verbose: bool = True,
                 env_backend: str = "auto"):  # fmt: skip
        self.agent = agent
        self.space: Space = agents.space(agent)
        self.envs = list(envs)
        self.run_seeds = (
            [seed * 1000 + k for k in range(seeds)] if isinstance(seeds, int) else list(seeds)
        )
        self.total_timesteps = int(total_timesteps)
        self.fixed = self.space.resolve(fixed_hparams) if fixed_hparams else {}
        self.fixed = {k: v for k, v in self.fixed.items() if k in (fixed_hparams or {})}
        self.target_scores = dict(target_scores or {})
        self.aggregate, self.last_n = aggregate, int(last_n)
        self.runner = runner or train_run
        if env_backend not in agents.ENV_BACKENDS:
            raise ValueError(f"env_backend {env_backend!r} is not one of {agents.ENV_BACKENDS}")
        self.env_backend = env_backend
        self.verbose = verbose
        self._progress = _Progress(self)
        self.local_oracle = oracle  # in a worker, self.oracle becomes a gRPC client of it
        super().__init__(oracle=oracle, hypermodel=None, directory=directory,
                         project_name=project_name, overwrite=overwrite)  # fmt: skip
        self.is_worker = self._is_worker()
        self.oracle.verbose = 0  # our progress lines replace Keras Tuner's display
        kt_config.DEBUG = False  # a failed trial's one-line reason, not its traceback
        check_domains(self.space, from_keras_tuner(self.oracle.get_space()))

    # -- Keras Tuner hooks --------------------------------------------------------------------

    def _populate_initial_space(self) -> None:
        if not self.oracle.get_space().space:
            domains = {}
            for name, entry in agents.search_space(self.agent).items():
                _, domains[name] = config.parse_space_entry(self.space, name, entry, name)
            self.oracle.update_space(to_keras_tuner(domains))

    def pre_create_trial(self) -> None:
        if self.is_worker and self._asked:  # don't spin on gRPC while Hyperband waits (IDLE)
            time.sleep(0.2)
        self._asked = True

    def on_search_begin(self) -> None:
        self._asked = False
        self._progress.begin()
        if self.is_worker:
            return
        definition = {"agent": self.agent, "envs": self.envs, "seeds": self.run_seeds,
                      "total_timesteps": self.total_timesteps, "fixed": self.fixed,
                      "target_scores": self.target_scores, "aggregate": self.aggregate,
                      "last_n": self.last_n, "env_backend": self.env_backend}  # fmt: skip
        _write_atomic(os.path.join(self.project_dir, DEFINITION_FILE),
                      json.dumps(definition, indent=1))  # fmt: skip
        marker = os.path.join(self.project_dir, "hparams_config.json")
        if not os.path.exists(marker):
            write_hparams_config(self.project_dir, self.session_hparams())
            with open(marker, "w") as f:
                json.dump({"written": time.time()}, f)

    def on_trial_begin(self, trial) -> None:
        self._progress.trial_begin(trial)

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)
        if not self.is_worker:  # the chief writes the table for all workers
            self.write_results()
        self._progress.trial_end(trial.trial_id)

    def on_search_end(self) -> None:
        if not self.is_worker:
            self.write_results()

    def record_failure(self, trial_id: str, reason: str) -> None:
        """Records a trial failed outside ``run_trial`` (e.g. its worker died)."""
        self._write_result(self.trial_dir(trial_id),
                           {"trial": trial_id, "status": "failed", "reason": reason})  # fmt: skip

    def trials(self) -> list:
        """A consistent copy of the oracle's trials (the chief's gRPC thread may add one)."""
        return _trials_snapshot(self.oracle)

    # -- what a trial does --------------------------------------------------------------------

    def session_hparams(self) -> list[hp.HParam]:
        """The HParams columns: searched hparams with their domains, trial and env."""
        searched = from_keras_tuner(self.oracle.get_space())
        return [
            *(hp.HParam(n, d, description=self.space[n].help) for n, d in searched.items()),
            hp.HParam("trial", description="trial id"),
            hp.HParam("env", hp.Discrete(self.envs), description="gymnasium env id"),
        ]

    def max_epochs(self) -> int:
        """Hyperband's ``max_epochs`` (1 for other oracles)."""
        return int(getattr(self.local_oracle, "max_epochs", 1))

    def hyperband_unit(self, hparams: Mapping[str, Any]) -> int:
        """Env steps in one Hyperband epoch: ``total_timesteps / max_epochs`` rounded down
        to whole units of training (rollouts of ``num_envs x num_steps`` for PPO and A2C,
        vector steps for DQN), so every increment is trained exactly."""
        rollout = agents.unit_steps(self.agent, hparams)
        return max(self.total_timesteps // self.max_epochs() // rollout, 1) * rollout

    def trial_dir(self, trial_id: str) -> str:
        return os.path.join(self.project_dir, f"trial_{trial_id}")

    def run_trial(self, trial, *args, **kwargs) -> dict[str, float]:
        values = dict(trial.hyperparameters.values)
        schedule = {k: values.pop(k) for k in list(values) if k.startswith("tuner/")}
        hparams = self.space.resolve({**self.fixed, **values})
        budget, anneal, parent, start = self.total_timesteps, self.total_timesteps, None, 0
        if "tuner/epochs" in schedule:  # Hyperband or PBT: a budget in epochs, maybe a parent
            budget = int(schedule["tuner/epochs"]) * self.hyperband_unit(hparams)
            anneal = self.max_epochs() * self.hyperband_unit(hparams)
            parent = schedule.get("tuner/trial_id")
            if parent is not None:
                start = int(schedule.get("tuner/initial_epoch", 0)) * self.hyperband_unit(hparams)

        trial_dir = self.trial_dir(trial.trial_id)
        for env_id in self.envs:  # a rerun after an interruption starts clean
            shutil.rmtree(os.path.join(trial_dir, env_id), ignore_errors=True)
        result = {"trial": trial.trial_id, "hparams": values, "budget": budget,
                  "parent": parent, "runs": []}  # fmt: skip
        if "tuner/member" in schedule:  # PBT
            result["member"] = int(schedule["tuner/member"])
            result["generation"] = int(schedule["tuner/initial_epoch"])
        reports = None
        if getattr(self.local_oracle, "pruner", None):
            reports = _Reports(self, trial.trial_id, self.local_oracle.prune_reports)
        writers: list[tuple[RunWriter, int]] = []
        run_values: dict[str, list[float]] = {env_id: [] for env_id in self.envs}
        try:
            for env_id in self.envs:
                for seed in self.run_seeds:
                    run_dir = os.path.join(trial_dir, env_id, f"seed_{seed}")
                    writer = RunWriter(run_dir)
                    writers.append((writer, 0))
                    writer.session_start({**values, "trial": trial.trial_id, "env": env_id},
                                         group=f"{trial.trial_id}/{env_id}")  # fmt: skip
                    restore = None
                    if parent is not None:
                        restore = os.path.join(self.trial_dir(parent), env_id, f"seed_{seed}",
                                               "checkpoint")  # fmt: skip
                        if not os.path.exists(restore):
                            raise TrialFailed(f"parent checkpoint missing: {restore}")
                    spec = RunSpec(self.agent, env_id, hparams, seed, budget, anneal,
                                   os.path.join(run_dir, "checkpoint"), restore,
                                   self.env_backend)  # fmt: skip
                    if reports:
                        reports.start_run()
                    run = self._run(spec, writer, start, reports, run_values)
                    writers[-1] = (writer, run["steps"])
                    run_values[env_id].append(run["value"])
                    result["runs"].append(run)
            score = scoring.trial_score(run_values, self.target_scores, self.aggregate)
        except TrialPruned as pruned:
            writers[-1] = (writers[-1][0], pruned.step)
            for writer, steps in writers:
                writer.scalars(steps, {OBJECTIVE: pruned.score, PRUNED_TAG: 1.0})
                writer.session_end("unknown")
                writer.close()
            outcome = {"status": oracles.PRUNED, "score": pruned.score, "reason": pruned.where}
            self._write_result(trial_dir, {**result, **outcome})
            self.oracle.update_trial(trial.trial_id, {OBJECTIVE: pruned.score},
                                     step=oracles.FINAL_STEP)  # fmt: skip
            return {OBJECTIVE: pruned.score}
        except Exception as error:
            reason = _one_line(error)
            for writer, _ in writers:
                writer.session_end("failure")
                writer.close()
            self._write_result(trial_dir, {**result, "status": "failed", "reason": reason})
            raise TrialFailed(reason) from error
        except BaseException:  # Ctrl-C: leave the session unfinished; a resume redoes it
            for writer, _ in writers:
                writer.close()
            raise
        for writer, steps in writers:
            writer.scalars(steps, {OBJECTIVE: score})  # last, so the HParams tab shows it
            writer.session_end("success")
            writer.close()
        if "member" in result:
            self._log_member(result["member"], values, start, budget, score)
        self._write_result(trial_dir, {**result, "status": "completed", "score": score})
        if reports:  # the final score, after the intermediate ones
            self.oracle.update_trial(trial.trial_id, {OBJECTIVE: score}, step=oracles.FINAL_STEP)
        return {OBJECTIVE: score}

    def _log_member(self, member: int, values: Mapping[str, Any], start: int, end: int,
                    score: float) -> None:  # fmt: skip
        """PBT: a member's hparams over env steps, and its score after each interval, as
        scalars of the TensorBoard run ``pbt/member_M``."""
        writer = RunWriter(os.path.join(self.project_dir, "pbt", f"member_{member}"))
        numbers = {f"hparams/{k}": v for k, v in values.items()}
        writer.scalars(start, numbers)
        writer.scalars(end, {**numbers, OBJECTIVE: score})
        writer.close()

    def _run(self, spec: RunSpec, writer: RunWriter, start: int = 0,
             reports: _Reports | None = None,
             run_values: Mapping[str, list[float]] | None = None) -> dict[str, Any]:  # fmt: skip
        rewards: list[float] = []
        metrics: Mapping[str, Any] = {}
        for metrics in self.runner(spec):
            step = int(metrics["global_step"])
            writer.scalars(step, metrics)
            for key, value in metrics.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise TrialFailed(f"diverged: {key} is {value} at step {step} "
                                      f"({spec.env_id}, seed {spec.seed})")  # fmt: skip
            if "rewards" in metrics:
                rewards.append(float(metrics["rewards"]))
            self._progress.tick(spec, step, rewards)
            if reports:
                reports.tick(spec, step, start, rewards, run_values or {})
        value = scoring.run_value(rewards, self.last_n)
        if math.isnan(value):
            raise TrialFailed(f"no episode finished ({spec.env_id}, seed {spec.seed})")
        return {
            "env": spec.env_id,
            "seed": spec.seed,
            "value": value,
            "steps": int(metrics.get("global_step", 0)),
            "explained_variance": metrics.get("explained_variance"),
            "episode_length": metrics.get("episode_length"),
        }

    @staticmethod
    def _write_result(trial_dir: str, result: Mapping[str, Any]) -> None:
        os.makedirs(trial_dir, exist_ok=True)
        _write_atomic(os.path.join(trial_dir, "result.json"), json.dumps(result, indent=1))

    # -- results ------------------------------------------------------------------------------

    def results(self) -> list[dict[str, Any]]:
        """One row per trial, best first: rank, trial, score, status, hparams, reason."""
        return collect_results(self.project_dir, self.trials())

    def write_results(self) -> None:
        write_results(self.project_dir, self.results())


@kt.synchronized
def _trials_snapshot(oracle) -> list:
    return list(oracle.trials.values())


def collect_results(project_dir: str, trials) -> list[dict[str, Any]]:
    rows = []
    for trial in trials:
        path = os.path.join(project_dir, f"trial_{trial.trial_id}", "result.json")
        saved = {}
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
        status = {"COMPLETED": "completed", "FAILED": "failed", "INVALID": "failed"}.get(
            trial.status, "running"
        )
        if status == "completed" and saved.get("status") in (oracles.PRUNED, "failed"):
            status = saved["status"]  # a pruned trial, or one Hyperband ranked last
        values = {k: v for k, v in trial.hyperparameters.values.items()
                  if not k.startswith("tuner/")}  # fmt: skip
        rows.append({
            "trial": trial.trial_id,
            "score": trial.score if status in ("completed", oracles.PRUNED) else None,
            "status": status,
            "steps": saved.get("budget"),
            "parent": saved.get("parent"),
            "reason": saved.get("reason", "") if status in ("failed", oracles.PRUNED) else "",
            "hparams": values,
        })  # fmt: skip
        if "member" in saved:  # PBT
            rows[-1]["member"], rows[-1]["generation"] = saved["member"], saved["generation"]
    order = {"completed": 0, oracles.PRUNED: 1, "failed": 2, "running": 3}
    rows.sort(key=lambda r: (order[r["status"]], -(r["score"] or 0.0), r["trial"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank if row["status"] == "completed" else None
    return rows


def write_results(project_dir: str, rows: list[dict[str, Any]]) -> None:
    """Writes ``results.json`` (list of rows) and ``results.csv`` (hparams as columns)."""
    _write_atomic(os.path.join(project_dir, "results.json"), json.dumps(rows, indent=1))
    names = sorted({k for row in rows for k in row["hparams"]})
    header = ["rank", "trial", "score", "status", "steps", *names, "reason"]
    tmp = os.path.join(project_dir, "results.csv.tmp")
    with open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for row in rows:
            out.writerow([row["rank"], row["trial"], row["score"], row["status"], row["steps"],
                          *(row["hparams"].get(n) for n in names), row["reason"]])  # fmt: skip
    os.replace(tmp, os.path.join(project_dir, "results.csv"))


def format_table(rows: list[dict[str, Any]], limit: int | None = None) -> str:
    """A plain-text results table (rank, trial, score, status, hparams)."""
    names = sorted({k for row in rows for k in row["hparams"]})
    header = ["rank", "trial", "score", "status", *names]
    lines = [header]
    for row in rows[:limit]:
        score = "" if row["score"] is None else f"{row['score']:.4g}"
        cells = [str(row["rank"] or "-"), row["trial"], score, row["status"]]
        cells += [_fmt(row["hparams"].get(n)) for n in names]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    failed = [r for r in rows[:limit] if r["status"] == "failed" and r["reason"]]
    text += [f"trial {r['trial']} failed: {r['reason']}" for r in failed]
    return "\n".join(text)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(error, TrialFailed):
        return first
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class _Progress:
    """Progress lines: trials done/total, running trial, best score, elapsed and ETA."""

    def __init__(self, tuner: RLTuner, every: float = 5.0):
        self.tuner, self.every = tuner, every
        self.start = self.last = time.time()
        self.done_at_start = 0

    def _print(self, text: str) -> None:
        if self.tuner.verbose:
            prefix = f"[{self.tuner.tuner_id}] " if self.tuner.is_worker else ""
            print(prefix + text, flush=True, file=sys.stdout)

    def total(self) -> int | None:
        oracle = self.tuner.local_oracle
        if isinstance(oracle, kt.oracles.HyperbandOracle):
            brackets = hyperband_schedule(oracle.max_epochs, oracle.factor)
            per_iteration = sum(size for rounds in brackets for size, _ in rounds)
            return per_iteration * int(oracle.hyperband_iterations)
        return oracle.max_trials

    def done(self, trials) -> int:
        return sum(t.status in ("COMPLETED", "FAILED") for t in trials)

    def summary(self) -> str:
        if self.tuner.is_worker:  # a worker sees only its own trials
            return f"elapsed {_duration(time.time() - self.start)}"
        trials = self.tuner.trials()
        done, total = self.done(trials), self.total()
        best = [t for t in trials if t.status == "COMPLETED"]
        best_text = "none yet"
        if best:
            top = max(best, key=lambda t: t.score)
            best_text = f"{top.score:.4g} (trial {top.trial_id})"
        elapsed = time.time() - self.start
        eta = ""
        finished_here = done - self.done_at_start
        if total and finished_here > 0 and done < total:
            eta = f", ETA {_duration(elapsed / finished_here * (total - done))}"
        return (f"done {done}/{total or '?'} | best {best_text} | "
                f"elapsed {_duration(elapsed)}{eta}")  # fmt: skip

    def begin(self) -> None:
        self.start = time.time()
        if self.tuner.is_worker:
            return
        self.done_at_start = self.done(self.tuner.trials())
        if self.done_at_start:
            self._print(f"resuming {self.tuner.project_dir}: {self.summary()}")

    def trial_begin(self, trial) -> None:
        values = {k: v for k, v in trial.hyperparameters.values.items()
                  if not k.startswith("tuner/")}  # fmt: skip
        text = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        self._print(f"[trial {trial.trial_id}] running: {text}")

    def tick(self, spec: RunSpec, step: int, rewards: list[float]) -> None:
        now = time.time()
        if now - self.last < self.every:
            return
        self.last = now
        recent = f"{rewards[-1]:.1f}" if rewards else "n/a"
        self._print(f"  {spec.env_id} seed {spec.seed}: step {step}/{spec.total_timesteps}, "
                    f"return {recent} | {self.summary()}")  # fmt: skip

    def trial_end(self, trial_id: str) -> None:
        path = os.path.join(self.tuner.trial_dir(trial_id), "result.json")
        with open(path) as f:
            result = json.load(f)
        if result["status"] == "completed":
            outcome = f"score {result['score']:.4g}"
        elif result["status"] == oracles.PRUNED:
            outcome = f"{result['reason']}: score {result['score']:.4g}"
        else:
            outcome = f"failed: {result.get('reason', '')}"
        self._print(f"[trial {trial_id}] {outcome} | {self.summary()}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def score_objective() -> kt.Objective:
    """The objective every tfhparam oracle maximizes."""
    return kt.Objective(OBJECTIVE, "max")


class RandomSearch(RLTuner):
    """``RLTuner`` with Keras Tuner's random search (the ``kt.RandomSearch`` of RL agents).

    Args:
        max_trials: trials to run.
        seed: the oracle's seed.
        hyperparameters: a ``kt.HyperParameters`` that replaces the agent's default search
            space (e.g. ``hp.Float("learning_rate", 1e-5, 1e-2, sampling="log")``).
        **kwargs: :class:`RLTuner`'s arguments (agent, envs, seeds, total_timesteps, ...).
    """

    def __init__(self, max_trials: int = 10, seed: int | None = None, hyperparameters=None,
                 **kwargs):  # fmt: skip
        oracle = kt.oracles.RandomSearchOracle(
            objective=score_objective(), max_trials=max_trials, seed=seed,
            hyperparameters=hyperparameters, max_consecutive_failed_trials=10**9)  # fmt: skip
        super().__init__(oracle, **kwargs)


class Hyperband(RLTuner):
    """``RLTuner`` with Keras Tuner's Hyperband; one epoch is total_timesteps / max_epochs.

    Args:
        max_epochs: the longest trial's budget in Hyperband epochs.
        factor: 1/factor of a round goes on to the next.
        hyperband_iterations: times the whole schedule runs.
        seed, hyperparameters, **kwargs: as :class:`RandomSearch`.
    """

    def __init__(self, max_epochs: int = 27, factor: int = 3, hyperband_iterations: int = 1,
                 seed: int | None = None, hyperparameters=None, **kwargs):  # fmt: skip
        oracle = oracles.HyperbandOracle(
            objective=score_objective(), max_epochs=max_epochs, factor=factor,
            hyperband_iterations=hyperband_iterations, seed=seed,
            hyperparameters=hyperparameters, max_consecutive_failed_trials=10**9)  # fmt: skip
        super().__init__(oracle, **kwargs)


class BayesianOptimization(RLTuner):
    """``RLTuner`` with Keras Tuner's Gaussian-process Bayesian optimization.

    Args:
        max_trials: trials to run.
        num_initial_points: random trials before the GP proposes (default 3 x hparams).
        seed, hyperparameters, **kwargs: as :class:`RandomSearch`.
    """

    def __init__(self, max_trials: int = 10, num_initial_points: int | None = None,
                 seed: int | None = None, hyperparameters=None, **kwargs):  # fmt: skip
        oracle = kt.oracles.BayesianOptimizationOracle(
            objective=score_objective(), max_trials=max_trials,
            num_initial_points=num_initial_points, seed=seed,
            hyperparameters=hyperparameters, max_consecutive_failed_trials=10**9)  # fmt: skip
        super().__init__(oracle, **kwargs)


class GridSearch(RLTuner):
    """``RLTuner`` over every combination of ``grid`` (resumable, unlike Keras Tuner's).

    Args:
        grid: hparam name -> values to try.
        max_trials: at most this many points (default: all).
        **kwargs: :class:`RLTuner`'s arguments.
    """

    def __init__(self, grid: Mapping[str, Sequence[Any]], max_trials: int | None = None,
                 **kwargs):  # fmt: skip
        hps = to_keras_tuner({name: hp.Discrete(list(v)) for name, v in grid.items()})
        oracle = GridOracle(
            grid,
            max_trials=max_trials,
            objective=score_objective(),
            hyperparameters=hps,
            max_consecutive_failed_trials=10**9,
        )
        super().__init__(oracle, **kwargs)


__all__ = [
    "BayesianOptimization",
    "GridOracle",
    "GridSearch",
    "Hyperband",
    "RLTuner",
    "RandomSearch",
    "RunSpec",
    "make_oracle",
    "train_run",
]
