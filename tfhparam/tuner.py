"""The search engine: Keras Tuner oracles asking, :class:`RLTuner` training and telling.

``RLTuner`` is a ``keras_tuner`` tuner whose ``run_trial`` trains an agent on every env and
seed, logs one TensorBoard session per run, checkpoints each run, and returns the trial's
``score`` (see :mod:`tfhparam.scoring`) and its other objectives (:mod:`tfhparam.objectives`).
Any Keras Tuner oracle drives it; Hyperband promotions continue from their parent's
checkpoints.
"""

from __future__ import annotations

import dataclasses
import importlib.util
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

import agents
from agents.hparams import Space, SpaceError, hp, is_log
from tfhparam import (
    config,
    kt_internals,
    lock,
    objectives,
    oracles,
    pareto,
    processes,
    results,
    scoring,
    strategies,
    trackers,
)
from tfhparam.space import from_keras_tuner, to_keras_tuner
from tfhparam.tensorboard import RunWriter, write_hparams_config
from tfhparam.trackers import Tracker

OBJECTIVE = "score"
# With pruning, run_trial reports the final score itself (after its intermediate ones), and
# Keras Tuner warns that a metric reported from run_trial is a deprecated use.
warnings.filterwarnings("ignore", message="The use case of calling", category=DeprecationWarning)
SESSION_HPARAMS = ("trial", "env")  # shown as columns besides the searched hparams
PRUNED_TAG = "pruned"  # a scalar of 1 in a pruned trial's runs
# A run's end (trackers.STATUSES) as its TensorBoard session's status.
SESSION_STATUS = {"success": "success", "failure": "failure", "pruned": "unknown"}


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
    eval_every: int = 0  # env steps between evaluations (0: only at the end, if any)
    eval_episodes: int = 0  # episodes an evaluation plays; 0: no evaluation


Runner = Callable[[RunSpec], Iterator[Mapping[str, Any]]]
# Trains runs together: given specs and the set of member indices the caller has stopped
# (the runner stops updating them and saves no checkpoint for them), yields after every
# iteration one entry a member: its metrics, or None once it no longer trains.
PopulationRunner = Callable[[Sequence[RunSpec], set], Iterator[list[Mapping[str, Any] | None]]]


def train_run(spec: RunSpec) -> Iterator[Mapping[str, Any]]:
    """Trains a real agent for ``spec``, yielding its metrics; checkpoints at the end.

    PPO and A2C run as a population of one (:func:`train_population`), so a process that
    trains runs one at a time compiles each shape once too.
    """
    if spec.agent in agents.POPULATION_AGENTS:
        for members in train_population([spec], set()):
            if members[0] is not None:
                yield members[0]
        return
    module = agents.load(spec.agent)
    agent = module.make_agent(
        spec.env_id, spec.hparams, seed=spec.seed, env_backend=spec.env_backend
    )
    evaluator = None
    try:
        if spec.restore:
            agent.restore(spec.restore)
        if spec.eval_episodes:
            from agents.evaluation import Evaluator

            evaluator = Evaluator(agent, spec.eval_episodes)
        yield from module.train(
            agent,
            spec.total_timesteps,
            spec.anneal_timesteps,
            evaluator=evaluator,
            eval_every=spec.eval_every or None,
        )
        agent.save(spec.save)
    finally:
        agent.close()
        if evaluator is not None:
            evaluator.close()


# Populations kept for reuse, by shape: a new batch of the same shape resets one in place
# and runs its compiled program again (no tracing, no XLA compilation). Their evaluators
# (by shape and episode count) likewise.
_POPULATIONS: dict[tuple, Any] = {}
_EVALUATORS: dict[tuple, Any] = {}
_KEEP_POPULATIONS = 4


def train_population(specs: Sequence[RunSpec], stopped: set) -> Iterator[list]:
    """Trains runs of one env, agent and shape as one population (``agents.population``).

    Members restore their own checkpoints (Hyperband promotions, PBT) and each writes its
    own at the end, in the lone agent's format. A member whose checkpoint cannot be
    restored reports the ``error`` in its first entry and does not train. A population of
    this shape trained earlier in the process is reset and reused.
    """
    from agents import population

    first = specs[0]
    hparams, seeds = [s.hparams for s in specs], [s.seed for s in specs]
    key = population.shape_key(first.agent, first.env_id, first.env_backend, hparams)
    if key in _POPULATIONS:
        group = _POPULATIONS.pop(key)
        group.reset(hparams, seeds)
    else:
        group = population.Population(first.agent, first.env_id, hparams, seeds, first.env_backend)
    finished = False
    try:
        errors = {}
        for member, spec in enumerate(specs):
            if spec.restore:
                try:
                    group.restore(spec.restore, member)
                except (ValueError, OSError) as error:
                    errors[member] = f"restoring {spec.restore}: {error}"
                    group.stop(member)
        if errors:
            yield [{"error": errors[p]} if p in errors else None for p in range(len(specs))]
        evaluator = None
        if first.eval_episodes:
            evaluator = _EVALUATORS.get((key, first.eval_episodes))
            if evaluator is None or evaluator.agent is not group:
                from agents.evaluation import Evaluator

                evaluator = Evaluator(group, first.eval_episodes)
                _EVALUATORS[(key, first.eval_episodes)] = evaluator
        runs = population.train(
            group,
            first.total_timesteps,
            first.anneal_timesteps,
            evaluator=evaluator,
            eval_every=first.eval_every or None,
        )
        for members in runs:
            yield members
            for member in stopped:
                group.stop(member)
        active = group.active.numpy()
        group.save_members(
            {m: spec.save for m, spec in enumerate(specs) if active[m] and m not in stopped}
        )
        finished = True
    finally:
        if finished:  # kept for the next batch of its shape
            _POPULATIONS[key] = group
            while len(_POPULATIONS) > _KEEP_POPULATIONS:
                _POPULATIONS.pop(next(iter(_POPULATIONS))).close()
        else:
            group.close()
        for evaluator_key in [
            k for k, e in _EVALUATORS.items() if e.agent is not _POPULATIONS.get(k[0])
        ]:
            _EVALUATORS.pop(evaluator_key).close()


def lockstep(runner: Runner) -> PopulationRunner:
    """A population runner that steps single runs side by side (fake agents in tests, and
    agents without a population path): same interface, no batching."""

    def run(specs: Sequence[RunSpec], stopped: set) -> Iterator[list]:
        runs = [iter(runner(spec)) for spec in specs]
        live = set(range(len(runs)))
        try:
            while live:
                entries: list[Mapping[str, Any] | None] = [None] * len(runs)
                for member in sorted(live):
                    if member in stopped:
                        runs[member].close()  # ends it without its checkpoint
                        live.discard(member)
                        continue
                    try:
                        entries[member] = next(runs[member])
                    except StopIteration:
                        live.discard(member)
                if any(entry is not None for entry in entries):
                    yield entries
        finally:
            for member in live:
                runs[member].close()

    return run


def model_batch_limit(oracle: kt.Oracle, count: int) -> int:
    """At most ``count`` trials a batch, and no more than the oracle's strategy hands out
    at once (``Strategy.at_once``: fewer for a model-based one, so that its model sees
    results before it proposes most trials)."""
    strategy = strategies.for_oracle(oracle)
    if strategy is None or not strategy.by_trials:
        return count
    return max(1, min(count, strategy.at_once(strategies.oracle_reader(oracle))))


def make_oracle(sweep) -> kt.Oracle:
    """The Keras Tuner oracle of a validated :class:`tfhparam.config.Sweep`, from its
    strategy's record (:mod:`tfhparam.strategies`)."""
    strategy = strategies.STRATEGIES[sweep.strategy]
    options = sweep.options
    kwargs = {name: options[name] for name in strategy.options}
    if strategy.by_trials:
        kwargs["max_trials"] = sweep.trials
    kwargs.update(strategy.extra(sweep))
    kwargs.update(
        objective=kt_objective(sweep.objectives),
        seed=sweep.seed + 1,  # keras-tuner treats seed 0 as "no seed"
        hyperparameters=to_keras_tuner(sweep.space),
        max_consecutive_failed_trials=strategies.NEVER_STOP_ON_FAILURES,
    )
    oracle_class = strategy.oracle_class()
    if sweep.prune == "none":
        return oracle_class(**kwargs)
    pruning = {name.removeprefix("prune_"): options[name] for name in strategies.PRUNING_OPTIONS}
    return oracles.with_pruning(oracle_class, sweep.prune, **pruning)(**kwargs)


def hyperband_schedule(max_epochs: int, factor: int) -> list[list[tuple[int, int]]]:
    """Hyperband's brackets as Keras Tuner runs them: per round, (trials, epochs)."""
    oracle = kt.oracles.HyperbandOracle(
        objective=kt.Objective(OBJECTIVE, "max"), max_epochs=max_epochs, factor=factor
    )
    return kt_internals.hyperband_rounds(oracle)


def check_domains(space: Space, domains: Mapping[str, hp.Domain]) -> None:
    """Raises SpaceError unless every searched domain lies inside the agent's own: the
    sweep files' check (:func:`tfhparam.config.parse_space_entry`) on each domain."""
    for name, domain in domains.items():
        if isinstance(domain, hp.Discrete):
            entry: Any = list(domain.values)
        else:
            entry = {"min": domain.min_value, "max": domain.max_value}
            if not isinstance(domain, hp.IntInterval):
                entry["log"] = is_log(domain)
        try:
            config.parse_space_entry(space, name, entry, f"hyperparameters.{name}")
        except config.SweepError as error:
            raise SpaceError(str(error)) from None


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
        self.sent: dict[int, int] = {}  # run index -> reports sent

    def tick(
        self,
        spec: RunSpec,
        run_index: int,
        step: int,
        start: int,
        value: float,
        run_values: Mapping[str, list[float]],
    ) -> None:
        """Sends the reports due at ``step``; ``value`` is the run's value so far (NaN:
        none yet)."""
        length = max(spec.total_timesteps - start, 1)
        due = min(int((step - start) * self.reports // length), self.reports)
        while self.sent.get(run_index, 0) < due and not math.isnan(value):
            self.sent[run_index] = self.sent.get(run_index, 0) + 1
            so_far = {env: list(v) for env, v in run_values.items()}
            so_far[spec.env_id] = [*so_far.get(spec.env_id, []), value]
            score = scoring.trial_score(
                {e: v for e, v in so_far.items() if v},
                self.tuner.target_scores,
                self.tuner.aggregate,
            )
            at = run_index * self.reports + self.sent[run_index]
            answer = self.tuner.oracle.update_trial(self.trial_id, {OBJECTIVE: score}, step=at)
            if getattr(answer, "status", answer) == "STOPPED":
                raise TrialPruned(
                    score,
                    step,
                    f"pruned at step {step} of {spec.env_id} seed {spec.seed} (report {at})",
                )


@dataclasses.dataclass
class _TrialState:
    """A trial while its runs train: what run_trial works out at the start, and the runs."""

    trial: Any
    values: dict[str, Any]  # the searched hparams (no tuner/ entries)
    hparams: dict[str, Any]  # resolved: searched, fixed and defaults
    budget: int
    anneal: int
    parent: str | None
    start: int
    result: dict[str, Any]  # what result.json will hold
    reports: _Reports | None
    logs: list[_RunLog] = dataclasses.field(default_factory=list)
    run_values: dict[str, list[float]] = dataclasses.field(default_factory=dict)


class _RunLog:
    """One run's TensorBoard session and metrics, fed an iteration's metrics at a time."""

    def __init__(
        self, tuner: RLTuner, state: _TrialState, spec: RunSpec, run_dir: str, run_index: int
    ):
        self.tuner, self.state, self.spec, self.run_dir = tuner, state, spec, run_dir
        self.run_index = run_index
        self.writer: RunWriter | None = None  # opened by start(), when the run trains
        self.rewards: list[float] = []
        self.reward_steps: list[int] = []  # where each of rewards was logged
        self.evals: list[float] = []  # eval/return of each evaluation
        self.eval_steps: list[int] = []
        self.metrics: Mapping[str, Any] = {}
        self.last_step = 0
        self.wall_seconds: float | None = None  # its share of its population's time
        self.progress: list[dict[str, float]] = []  # every iteration's numbers: progress.csv

    @property
    def key(self) -> str:
        """The run's name among its sweep's runs (the trackers'): ``TRIAL/ENV/seed_S``."""
        return f"{self.state.trial.trial_id}/{self.spec.env_id}/seed_{self.spec.seed}"

    def start(self) -> None:
        """Opens the run's TensorBoard session and tracked runs (as it starts to train: a
        run that never trains, its trial having failed first, leaves no session)."""
        trial_id, env_id = self.state.trial.trial_id, self.spec.env_id
        self.writer = RunWriter(self.run_dir)
        self.writer.session_start(
            {**self.state.values, "trial": trial_id, "env": env_id}, group=f"{trial_id}/{env_id}"
        )
        self.state.logs.append(self)
        info = trackers.RunInfo(self.key, trial_id, env_id, self.spec.seed, self.spec.hparams)
        self.tuner.tracking.start(info)

    def feed(self, metrics: Mapping[str, Any]) -> None:
        """Logs one iteration's metrics.

        Raises:
            TrialFailed: the run reported an error or a non-finite figure (divergence).
            TrialPruned: the pruner stopped the trial.
        """
        spec = self.spec
        if "error" in metrics:
            raise TrialFailed(str(metrics["error"]))
        step = self.last_step = int(metrics["global_step"])
        self.metrics = metrics
        self.writer.scalars(step, metrics)
        self.tuner.tracking.log(self.key, step, metrics)
        self.progress.append(
            {
                k: v
                for k, v in metrics.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
        )
        for key, value in metrics.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise TrialFailed(
                    f"diverged: {key} is {value} at step {step} ({spec.env_id}, seed {spec.seed})"
                )
        if "rewards" in metrics:
            self.rewards.append(float(metrics["rewards"]))
            self.reward_steps.append(step)
        if "eval/return" in metrics:
            self.evals.append(float(metrics["eval/return"]))
            self.eval_steps.append(step)
        self.tuner._progress.tick(spec, step, self.rewards)
        if self.state.reports:
            self.state.reports.tick(
                spec, self.run_index, step, self.state.start, self.value(), self.state.run_values
            )

    def curve(self) -> tuple[list[int], list[float], int]:
        """The points a run's value comes from (training rewards, or evaluations with
        ``score_from`` eval) and how many of the last of them average into it."""
        if self.tuner.score_from == "eval":
            return self.eval_steps, self.evals, 1
        return self.reward_steps, self.rewards, self.tuner.last_n

    def value(self) -> float:
        """The run's value so far (NaN: none yet): the mean of its last ``last_n`` logged
        ``rewards``, or with ``score_from`` eval its last evaluation's mean return; with
        ``value`` auc the area under that curve instead."""
        steps, values, last_n = self.curve()
        if self.tuner.value == "auc":
            return scoring.auc(steps, values)
        return scoring.run_value(values, last_n)

    def reached(self) -> dict[str, int | None]:
        """For each ``env_steps_to`` threshold of the sweep, the first step at which the
        run's running value (normalized as its score is) reached it, or None."""
        thresholds = [o.threshold for o in self.tuner.objectives if o.kind == "env_steps_to"]
        if not thresholds:
            return {}
        steps, values, last_n = self.curve()
        running = objectives.running_values(values, last_n)
        target = self.tuner.target_scores.get(self.spec.env_id)
        if target:
            running = [scoring.normalize(v, *target) for v in running]
        return {f"{t:g}": objectives.first_reach(steps, running, t) for t in thresholds}

    def close(self, status: str, last: Mapping[str, float] | None = None) -> None:
        """Ends the run with ``status`` (``trackers.STATUSES``; ``interrupted`` leaves its
        TensorBoard session unfinished, for a resume to redo), after ``last`` scalars at its
        last step; writes its ``progress.csv`` (a row an iteration, env step first, every
        number it logged) and ends its tracked runs with their final values."""
        if last:
            self.writer.scalars(self.last_step, last)
        if status != "interrupted":
            self.writer.session_end(SESSION_STATUS[status])
        self.writer.close()
        results.write_progress(os.path.join(self.run_dir, "progress.csv"), self.progress)
        self.tuner.tracking.end(self.key, status, {**(last or {}), "value": self.value()})

    def finish(self) -> None:
        """Adds the finished run's value to its trial.

        Raises:
            TrialFailed: no episode ended in the run.
        """
        spec, state = self.spec, self.state
        value = self.value()
        if math.isnan(value):
            what = "no evaluation ran" if self.tuner.score_from == "eval" else "no episode finished"
            raise TrialFailed(f"{what} ({spec.env_id}, seed {spec.seed})")
        state.run_values[spec.env_id].append(value)
        state.result["runs"].append(
            {
                "env": spec.env_id,
                "seed": spec.seed,
                "value": value,
                "steps": int(self.metrics.get("global_step", 0)),
                "explained_variance": self.metrics.get("explained_variance"),
                "episode_length": self.metrics.get("episode_length"),
                "eval_return": self.evals[-1] if self.evals else None,
                "auc": scoring.auc(*self.curve()[:2]),
                "reached": self.reached(),
                "wall_seconds": self.wall_seconds,
                "parameters": self.metrics.get("charts/parameters"),
            }
        )


class RLTuner(kt_internals.BaseTuner):
    """A Keras Tuner tuner for RL agents: each trial trains on every env and seed.

    Args:
        oracle: any Keras Tuner oracle with objective ``kt.Objective("score", "max")`` (or
            the metrics of ``objectives``); if its space is empty, the agent's default
            search space is declared on it.
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
        population: how many runs train together as one population (``agents.population``;
            PPO and A2C): the tuner asks the oracle for up to ``population // seeds``
            trials at a time and trains, env by env, the runs that share their
            shape-changing hparams together. ``auto`` picks it from cores and memory (1
            for DQN, and for a custom ``runner`` without ``population_runner``); 1 trains
            one run at a time.
        population_runner: trains runs together (default: real populations, or
            :func:`lockstep` over a custom ``runner``).
        eval_every: env steps between a run's evaluations (``agents.evaluation``: episodes
            on env seeds of their own, the deterministic policy), logged as
            ``eval/return``; 0: none, or only the final one with ``score_from`` eval.
        eval_episodes: episodes an evaluation plays.
        score_from: ``train`` (a run's value from its training episodes' ``rewards``) or
            ``eval`` (its last evaluation's mean return; every run is evaluated at its end).
        tested: a test phase (:mod:`tfhparam.heldout`) follows the search: the HParams
            tab gets its ``test_score`` column.
        value: ``last_n`` (a run's value is the mean of its curve's last points) or
            ``auc`` (the area under its curve over its steps: sample efficiency).
        objectives: what the search optimizes (:mod:`tfhparam.objectives`: ``Objective``
            records or ``NAME[:max|min]`` texts); default: what the oracle's objective
            names (``score``). Each is logged, recorded and returned to the oracle.
        trackers: where every run is also tracked (:mod:`tfhparam.trackers`): names
            (``mlflow``, ``wandb``), a mapping of name -> options (``{"mlflow": {"uri":
            ...}}``), or Tracker objects. Runs started in a process are tracked by it, so
            each worker of a parallel sweep tracks its own.
    """

    def __init__(
        self,
        oracle: kt.Oracle,
        agent: str = "ppo",
        envs: Sequence[str] = ("CartPole-v1",),
        seeds: int | Sequence[int] = 1,
        total_timesteps: int = 100_000,
        fixed_hparams: Mapping[str, Any] | None = None,
        target_scores: Mapping[str, tuple[float, float]] | None = None,
        aggregate: str = "mean",
        last_n: int = 10,
        seed: int = 0,
        directory: str = "logs",
        project_name: str = "sweep",
        overwrite: bool = False,
        runner: Runner | None = None,
        verbose: bool = True,
        env_backend: str = "auto",
        population: int | str = "auto",
        population_runner: PopulationRunner | None = None,
        eval_every: int = 0,
        eval_episodes: int = 10,
        score_from: str = "train",
        tested: bool = False,
        value: str = "last_n",
        objectives: Sequence[objectives.Objective | str] | None = None,
        trackers: Mapping[str, Mapping[str, str]] | Sequence[str | Tracker] = (),
    ):
        if score_from not in scoring.SCORE_FROM:
            raise ValueError(f"score_from must be one of {scoring.SCORE_FROM}, not {score_from!r}")
        if int(eval_every) < 0 or int(eval_episodes) < 1:
            raise ValueError("eval_every must be 0 or more and eval_episodes 1 or more")
        self.eval_every, self.eval_episodes = int(eval_every), int(eval_episodes)
        if value not in scoring.VALUES:
            raise ValueError(f"value must be one of {scoring.VALUES}, not {value!r}")
        self.score_from, self.tested, self.value = score_from, bool(tested), value
        self.objectives = _objectives(oracle, objectives)
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
        if population == "auto":
            custom = runner is not None and population_runner is None
            population = 1 if custom else processes.auto_population(agent)
        if isinstance(population, bool) or not isinstance(population, int) or population < 1:
            raise ValueError(
                f"population must be 'auto' or a whole number >= 1, not {population!r}"
            )
        self.population = population
        if population_runner is None:
            batched = runner is None and agent in agents.POPULATION_AGENTS
            population_runner = train_population if batched else lockstep(self.runner)
        self.population_runner = population_runner
        self._batch_outcomes: dict[str, Any] = {}  # trial id -> result or error, see search
        if env_backend not in agents.ENV_BACKENDS:
            raise ValueError(f"env_backend {env_backend!r} is not one of {agents.ENV_BACKENDS}")
        self.env_backend = env_backend
        self.verbose = verbose
        self._progress = _Progress(self)
        self.local_oracle = oracle  # in a worker, self.oracle becomes a gRPC client of it
        if processes.role() != "worker":  # workers work under their chief's lock
            project_dir = os.path.join(directory, project_name)
            lock.acquire(project_dir)  # before anything in it is reloaded or removed
            if overwrite:
                lock.clear(project_dir)  # (Keras Tuner's overwrite would remove the lock too)
        super().__init__(
            oracle=oracle,
            hypermodel=None,
            directory=directory,
            project_name=project_name,
        )
        self.is_worker = self._is_worker()
        self.oracle.verbose = 0  # our progress lines replace Keras Tuner's display
        kt_internals.quiet_failures()  # a failed trial's one-line reason, not its traceback
        check_domains(self.space, from_keras_tuner(self.oracle.get_space()))
        self.tracking = _trackers(trackers, self.project_dir, project_name)

    @classmethod
    def from_sweep(cls, sweep: config.Sweep, directory: str, **kwargs: Any) -> RLTuner:
        """The tuner of a validated :class:`tfhparam.config.Sweep` (its oracle, agent, envs,
        seeds, budget, fixed hparams and scoring), in ``directory/sweep.name``; ``kwargs``
        are :class:`RLTuner`'s other arguments (population, runner, verbose, ...)."""
        return cls(
            make_oracle(sweep),
            agent=sweep.agent,
            envs=sweep.envs,
            seeds=sweep.run_seeds(),
            total_timesteps=sweep.total_timesteps,
            fixed_hparams=sweep.fixed,
            target_scores=sweep.target_scores,
            aggregate=sweep.aggregate,
            last_n=sweep.last_n,
            seed=sweep.seed,
            env_backend=sweep.env_backend,
            eval_every=sweep.eval_every,
            eval_episodes=sweep.eval_episodes,
            score_from=sweep.score_from,
            tested=sweep.test["seeds"] > 0,
            value=sweep.value,
            objectives=sweep.objectives,
            trackers=kwargs.pop("trackers", sweep.trackers),
            directory=directory,
            project_name=sweep.name,
            **kwargs,
        )

    # -- Keras Tuner hooks --------------------------------------------------------------------

    def search(self, *fit_args, **fit_kwargs) -> None:
        """Runs the search: trials are asked in batches and trained by :meth:`_run_batch`
        (with ``population`` 1, batches of one trial whose runs train one at a time: the
        same path). A chief of parallel workers only serves its oracle.

        The sweep directory is locked (:mod:`tfhparam.lock`) from the tuner's construction
        until the search ends.

        Raises:
            tfhparam.lock.LockedError: another process runs a sweep in this directory.
        """
        if self.is_worker:
            return self._search(*fit_args, **fit_kwargs)
        lock.acquire(self.project_dir)
        try:
            self._search(*fit_args, **fit_kwargs)
        finally:
            lock.release(self.project_dir)

    def _search(self, *fit_args, **fit_kwargs) -> None:
        if kt_internals.is_chief_oracle():  # Keras Tuner's chief serves its oracle
            return super().search(*fit_args, **fit_kwargs)
        per_population = max(1, self.population // len(self.run_seeds))  # one: its seeds
        batch_trials = model_batch_limit(self.local_oracle, per_population)
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trials, stop = self._ask(batch_trials)
            if trials:
                for trial in trials:
                    self.on_trial_begin(trial)
                self._run_batch(trials)
                for trial in trials:  # tells the oracle through run_trial, as Keras Tuner does
                    self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
                    self.on_trial_end(trial)
            elif stop:
                break
            else:  # IDLE: the oracle waits for trials elsewhere (other workers)
                time.sleep(0.2)
        self.on_search_end()

    def _ask(self, count: int) -> tuple[list, bool]:
        """Up to ``count`` new trials, and whether the oracle said the search is over.

        Each slot asks under its own tuner id (Keras Tuner hands an id's running trial
        back to it, which is how a restarted worker gets its batch back). Asking stops at
        the first IDLE answer; after a STOPPED answer every other slot asks too, so that
        the oracle forgets all of this tuner's ids (a chief waits for them to go)."""
        trials, stopped = [], False
        for slot in range(count):
            tuner_id = self.tuner_id if slot == 0 else f"{self.tuner_id}-{slot}"
            trial = self.oracle.create_trial(tuner_id)
            if trial.status == kt_internals.TrialStatus.STOPPED:
                stopped = True
            elif trial.status == kt_internals.TrialStatus.IDLE:
                if not stopped:
                    break
            else:
                trials.append(trial)
        return trials, stopped and not trials

    def _populate_initial_space(self) -> None:
        if not self.oracle.get_space().space:
            domains = {}
            for name, entry in config.DEFAULT_SEARCH[self.agent].items():
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
        definition = {
            "agent": self.agent,
            "envs": self.envs,
            "seeds": self.run_seeds,
            "total_timesteps": self.total_timesteps,
            "fixed": self.fixed,
            "target_scores": self.target_scores,
            "aggregate": self.aggregate,
            "last_n": self.last_n,
            "env_backend": self.env_backend,
            "eval_every": self.eval_every,
            "eval_episodes": self.eval_episodes,
            "score_from": self.score_from,
            "value": self.value,
            "objectives": [str(o) for o in self.objectives],
        }
        results.write_definition(self.project_dir, "tuner", definition)
        self.tracking.begin()
        marker = os.path.join(self.project_dir, "hparams_config.json")
        if not os.path.exists(marker):
            evaluated = bool(self.eval_every) or self.score_from == "eval"
            extra = [
                (o.name, f"objective ({o.direction}): {objectives.DESCRIPTIONS[o.kind]}")
                for o in self.objectives
                if o.kind not in ("score", "test_score")
            ]
            write_hparams_config(
                self.project_dir, self.session_hparams(), evaluated, self.tested, extra
            )
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
            if len(self.objectives) > 1:
                self._log_front()
            self.finish_tracking()

    def finish_tracking(self) -> None:
        """Attaches the sweep's results (``results.csv``, ``results.json``) and its
        report to the trackers' sweep run, drawing the report first where matplotlib is
        installed. Called at the search's end; call it again after a test phase to attach
        its results."""
        if not self.tracking:
            return
        names = ("results.csv", "results.json")
        files = [os.path.join(self.project_dir, name) for name in names]
        if importlib.util.find_spec("matplotlib") is not None:
            from tfhparam import report

            try:
                report.write_report(self.project_dir)
                files.append(os.path.join(self.project_dir, "report"))
            except Exception as error:  # noqa: BLE001 (the report is extra: warn, go on)
                print(f"warning: no report for the trackers: {_one_line(error)}", file=sys.stderr)
        self.tracking.finish(files)

    def _log_front(self) -> None:
        """Several objectives: the TensorBoard run ``pareto`` gets the hypervolume of the
        completed trials so far (step k: the first k, in trial order) and the front's
        size, and each front trial's objective values as ``front/NAME`` at its trial
        number."""
        rows, points = results.objective_points(self.results(), self.objectives)
        directions = [o.direction for o in self.objectives]
        writer = RunWriter(os.path.join(self.project_dir, "pareto"))
        for k, volume in enumerate(pareto.hypervolume_curve(points, directions), 1):
            writer.scalars(k, {"pareto/hypervolume": volume})
        on_front = [r for r in rows if r.front == 1]
        writer.scalars(len(rows), {"pareto/front_size": float(len(on_front))})
        for row, point in zip(rows, points):
            if row.front == 1 and row.trial.isdigit():
                values = {f"front/{o.name}": v for o, v in zip(self.objectives, point)}
                writer.scalars(int(row.trial), values)
        writer.close()

    def record_failure(self, trial_id: str, reason: str) -> None:
        """Records a trial failed outside ``run_trial`` (e.g. its worker died)."""
        self._write_result(
            self.trial_dir(trial_id), {"trial": trial_id, "status": "failed", "reason": reason}
        )

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
        """Budget units of a full trial: Hyperband's ``max_epochs``, PBT's ``generations``
        (the strategy's ``unit``), 1 for other oracles."""
        strategy = strategies.for_oracle(self.local_oracle)
        if strategy is None or strategy.unit is None:
            return 1
        return int(getattr(self.local_oracle, strategy.unit))

    def hyperband_unit(self, hparams: Mapping[str, Any]) -> int:
        """Env steps in one Hyperband epoch: ``total_timesteps / max_epochs`` rounded down
        to whole units of training (rollouts of ``num_envs x num_steps`` for PPO and A2C,
        vector steps for DQN), so every increment is trained exactly."""
        rollout = agents.unit_steps(self.agent, hparams)
        return max(self.total_timesteps // self.max_epochs() // rollout, 1) * rollout

    def trial_dir(self, trial_id: str) -> str:
        return os.path.join(self.project_dir, f"trial_{trial_id}")

    def run_trial(self, trial, *args, **kwargs) -> dict[str, float]:
        """Hands Keras Tuner the outcome of a trial :meth:`_run_batch` trained (Keras
        Tuner's ``_try_run_and_update_trial`` then tells the oracle, as for any tuner)."""
        outcome = self._batch_outcomes.pop(trial.trial_id)
        if isinstance(outcome, BaseException):
            raise outcome
        objective = self.oracle.objective
        if hasattr(objective, "objectives"):  # Keras Tuner's MultiObjective wants its sum too
            outcome = {**outcome, objective.name: objective.get_value(outcome)}
        return outcome

    def _run_batch(self, trials: list) -> None:
        """Trains a batch of trials, env by env, as populations (of one, with
        ``population`` 1); keeps each outcome for :meth:`run_trial` to hand to Keras Tuner.
        Every trial runs through here: failure, pruning and interruption are handled once.

        Runs (trial, seed) of one env that share their shape-changing hparams, budget and
        start train together, ``population`` at most at a time; a trial that fails or is
        pruned stops its runs alone; one whose runs all finished goes on to the next env.
        """
        states, outcomes = [], {}
        for trial in trials:
            states.append(self._begin(trial))
        try:
            for env_id in self.envs:
                logs = []
                for state in states:
                    if state.trial.trial_id in outcomes:
                        continue
                    try:
                        logs += [self._open_run(state, env_id, seed) for seed in self.run_seeds]
                    except TrialFailed as error:
                        outcomes[state.trial.trial_id] = self._outcome(state, error)
                for group in self._groups(logs):
                    self._train_group(group, outcomes)
            for state in states:
                if state.trial.trial_id not in outcomes:
                    outcomes[state.trial.trial_id] = self._outcome(state)
        except BaseException:  # Ctrl-C: leave sessions unfinished; a resume redoes them
            for state in states:
                if state.trial.trial_id not in outcomes:
                    for log in state.logs:
                        log.close("interrupted")
            raise
        self._batch_outcomes.update(outcomes)

    def _groups(self, logs: list[_RunLog]) -> list[list[_RunLog]]:
        """Runs that can train together, in chunks of at most ``population``."""
        by_key: dict[tuple, list[_RunLog]] = {}
        for log in logs:
            spec = log.spec
            shape = tuple(str(spec.hparams.get(k)) for k in agents.POPULATION_KEY_HPARAMS)
            key = (shape, spec.total_timesteps, spec.anneal_timesteps, log.state.start)
            by_key.setdefault(key, []).append(log)
        size = self.population
        return [
            group[i : i + size] for group in by_key.values() for i in range(0, len(group), size)
        ]

    def _train_group(self, group: list[_RunLog], outcomes: dict[str, Any]) -> None:
        """Trains one population; records the outcome of each trial that failed or was
        pruned in it (the others have their runs' values added)."""
        group = [log for log in group if log.state.trial.trial_id not in outcomes]
        if not group:  # its trials ended in an earlier population (their other seeds)
            return
        for log in group:
            log.start()
        began = time.perf_counter()
        stopped: set[int] = set()
        ended: dict[str, BaseException] = {}

        def end_trial(state: _TrialState, error: BaseException) -> None:
            ended[state.trial.trial_id] = error
            stopped.update(m for m, log in enumerate(group) if log.state is state)

        try:
            for entries in self.population_runner([log.spec for log in group], stopped):
                for member, metrics in enumerate(entries):
                    log = group[member]
                    if metrics is None or member in stopped:
                        continue
                    try:
                        log.feed(metrics)
                    except (TrialFailed, TrialPruned) as error:
                        end_trial(log.state, error)
        except Exception as error:  # the population itself failed: all its trials with it
            for log in group:
                if log.state.trial.trial_id not in ended:
                    end_trial(log.state, error)
        share = (time.perf_counter() - began) / len(group)
        for log in group:
            log.wall_seconds = share
        for log in group:
            if log.state.trial.trial_id not in ended:
                try:
                    log.finish()
                except TrialFailed as error:
                    end_trial(log.state, error)
        for log in group:
            trial_id = log.state.trial.trial_id
            if trial_id in ended and trial_id not in outcomes:
                outcomes[trial_id] = self._outcome(log.state, ended[trial_id])

    def _outcome(self, state: _TrialState, error: BaseException | None = None):
        """:meth:`_end`'s result, or the TrialFailed it raised (kept for run_trial)."""
        try:
            return self._end(state, error)
        except TrialFailed as failed:
            return failed

    def _begin(self, trial) -> _TrialState:
        """A trial's hparams, budget and parent (Hyperband, PBT); clears a partial rerun."""
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
        result = {
            "trial": trial.trial_id,
            "hparams": values,
            "budget": budget,
            "parent": parent,
            "runs": [],
        }
        if "tuner/member" in schedule:  # PBT
            result["member"] = int(schedule["tuner/member"])
            result["generation"] = int(schedule["tuner/initial_epoch"])
        reports = None
        if getattr(self.local_oracle, "pruner", None):
            reports = _Reports(self, trial.trial_id, self.local_oracle.prune_reports)
        return _TrialState(
            trial,
            values,
            hparams,
            budget,
            anneal,
            parent,
            start,
            result,
            reports,
            run_values={env_id: [] for env_id in self.envs},
        )

    def _open_run(self, state: _TrialState, env_id: str, seed: int) -> _RunLog:
        """Plans one (env, seed) run of a trial (its session opens when it trains).

        Raises:
            TrialFailed: the parent's checkpoint for this run is missing.
        """
        trial_id = state.trial.trial_id
        run_dir = os.path.join(self.trial_dir(trial_id), env_id, f"seed_{seed}")
        run_index = self.envs.index(env_id) * len(self.run_seeds) + self.run_seeds.index(seed)
        spec = RunSpec(
            self.agent,
            env_id,
            state.hparams,
            seed,
            state.budget,
            state.anneal,
            os.path.join(run_dir, "checkpoint"),
            None,
            self.env_backend,
            self.eval_every,
            self.eval_episodes if self.eval_every or self.score_from == "eval" else 0,
        )
        log = _RunLog(self, state, spec, run_dir, run_index)
        if state.parent is not None:
            restore = os.path.join(
                self.trial_dir(state.parent), env_id, f"seed_{seed}", "checkpoint"
            )
            if not os.path.exists(restore):
                raise TrialFailed(f"parent checkpoint missing: {restore}")
            log.spec = dataclasses.replace(spec, restore=restore)
        return log

    def _end(self, state: _TrialState, error: BaseException | None = None) -> dict[str, float]:
        """Closes a trial's sessions and writes its result: completed, pruned or failed.

        Returns:
            ``{"score": ...}`` of a completed or pruned trial.

        Raises:
            TrialFailed: ``error`` is any other exception (the trial failed with it).
        """
        trial_id, result = state.trial.trial_id, state.result
        trial_dir = self.trial_dir(trial_id)
        if isinstance(error, TrialPruned):
            for log in state.logs:
                log.close("pruned", {OBJECTIVE: error.score, PRUNED_TAG: 1.0})
            outcome = {"status": results.PRUNED, "score": error.score, "reason": error.where}
            self._write_result(trial_dir, {**result, **outcome})
            self.oracle.update_trial(trial_id, {OBJECTIVE: error.score}, step=oracles.FINAL_STEP)
            return {OBJECTIVE: error.score}
        if error is not None:
            reason = _one_line(error)
            for log in state.logs:
                log.close("failure")
            self._write_result(trial_dir, {**result, "status": "failed", "reason": reason})
            raise TrialFailed(reason) from error
        score = scoring.trial_score(state.run_values, self.target_scores, self.aggregate)
        others = {
            o.name: objectives.trial_value(
                o, result["runs"], score, self.target_scores, self.aggregate
            )
            for o in self.objectives
            if o.kind not in ("score", "test_score")
        }
        for log in state.logs:  # the score last: the HParams tab shows a tag's last value
            log.close("success", {**others, OBJECTIVE: score})
        if "member" in result:
            self._log_member(result["member"], state.values, state.start, state.budget, score)
        outcome = {"status": "completed", "score": score}
        if others:
            outcome["objectives"] = others
        self._write_result(trial_dir, {**result, **outcome})
        if state.reports:  # the final score, after the intermediate ones
            self.oracle.update_trial(trial_id, {OBJECTIVE: score}, step=oracles.FINAL_STEP)
        return {OBJECTIVE: score, **others}

    def _log_member(
        self, member: int, values: Mapping[str, Any], start: int, end: int, score: float
    ) -> None:
        """PBT: a member's hparams over env steps, and its score after each interval, as
        scalars of the TensorBoard run ``pbt/member_M``."""
        writer = RunWriter(os.path.join(self.project_dir, "pbt", f"member_{member}"))
        numbers = {f"hparams/{k}": v for k, v in values.items()}
        writer.scalars(start, numbers)
        writer.scalars(end, {**numbers, OBJECTIVE: score})
        writer.close()

    @staticmethod
    def _write_result(trial_dir: str, result: Mapping[str, Any]) -> None:
        os.makedirs(trial_dir, exist_ok=True)
        results.write_atomic(os.path.join(trial_dir, "result.json"), json.dumps(result, indent=1))

    # -- results ------------------------------------------------------------------------------

    def results(self) -> list[results.Row]:
        """One row per trial, best first (:class:`tfhparam.results.Row`)."""
        return results.collect(self.project_dir, self.trials(), self.objectives)

    def write_results(self) -> None:
        results.write(self.project_dir, self.results())


@kt.synchronized
def _trials_snapshot(oracle) -> list:
    return list(oracle.trials.values())


def _trackers(
    given: Mapping[str, Mapping[str, str]] | Sequence[str | Tracker], project_dir: str, sweep: str
) -> trackers.Trackers:
    """RLTuner's ``trackers``: names (``mlflow``, ``wandb``), names with options, or
    ready :class:`tfhparam.trackers.Tracker` objects."""
    if isinstance(given, Mapping):
        return trackers.Trackers(trackers.make(given, project_dir, sweep))
    made = [t for t in given if not isinstance(t, str)]
    named = {t: {} for t in given if isinstance(t, str)}
    return trackers.Trackers(made + trackers.make(named, project_dir, sweep))


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(error, TrialFailed):
        return first
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


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
        strategy = strategies.for_oracle(oracle)
        if strategy is None:
            return oracle.max_trials
        return strategy.total(strategies.oracle_reader(oracle))

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
            best_text = f"{results.number(top.score)} (trial {top.trial_id})"
        elapsed = time.time() - self.start
        eta = ""
        finished_here = done - self.done_at_start
        if total and finished_here > 0 and done < total:
            eta = f", ETA {_duration(elapsed / finished_here * (total - done))}"
        return f"done {done}/{total or '?'} | best {best_text} | elapsed {_duration(elapsed)}{eta}"

    def begin(self) -> None:
        self.start = time.time()
        if self.tuner.is_worker:
            return
        self.done_at_start = self.done(self.tuner.trials())
        if self.done_at_start:
            self._print(f"resuming {self.tuner.project_dir}: {self.summary()}")

    def trial_begin(self, trial) -> None:
        values = {
            k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")
        }
        text = ", ".join(f"{k}={results.number(v)}" for k, v in values.items())
        self._print(f"[trial {trial.trial_id}] running: {text}")

    def tick(self, spec: RunSpec, step: int, rewards: list[float]) -> None:
        now = time.time()
        if now - self.last < self.every:
            return
        self.last = now
        recent = f"{rewards[-1]:.1f}" if rewards else "n/a"
        self._print(
            f"  {spec.env_id} seed {spec.seed}: step {step}/{spec.total_timesteps}, "
            f"return {recent} | {self.summary()}"
        )

    def trial_end(self, trial_id: str) -> None:
        path = os.path.join(self.tuner.trial_dir(trial_id), "result.json")
        with open(path) as f:
            result = json.load(f)
        if result["status"] == "completed":
            outcome = f"score {results.number(result['score'])}"
        elif result["status"] == results.PRUNED:
            outcome = f"{result['reason']}: score {results.number(result['score'])}"
        else:
            outcome = f"failed: {result.get('reason', '')}"
        self._print(f"[trial {trial_id}] {outcome} | {self.summary()}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def score_objective() -> kt.Objective:
    """The objective of a sweep of ``score`` (the default)."""
    return kt.Objective(OBJECTIVE, "max")


def kt_objective(found: Sequence[objectives.Objective]) -> kt.Objective | list[kt.Objective]:
    """The Keras Tuner objective of a sweep's objectives: one, or a list (Keras Tuner's
    ``MultiObjective``; the Pareto-ranking oracles read each of its parts)."""
    parts = [kt.Objective(o.searched_as, o.direction) for o in found]
    return parts[0] if len(parts) == 1 else parts


def _objectives(
    oracle: kt.Oracle, given: Sequence[objectives.Objective | str] | None
) -> tuple[objectives.Objective, ...]:
    """The tuner's objectives: ``given``, else the oracle's; they must name the oracle's
    metrics."""
    told = oracles.objective_list(oracle.objective)
    if given is None:
        given = [f"{o.name}:{o.direction}" for o in told]
    found = tuple(o if isinstance(o, objectives.Objective) else objectives.parse(o) for o in given)
    if sorted(o.searched_as for o in found) != sorted(o.name for o in told):
        raise ValueError(
            f"objectives {[str(o) for o in found]} do not match the oracle's objective "
            f"{[o.name for o in told]}"
        )
    return found


def _oracle(strategy: str, **options) -> kt.Oracle:
    """The oracle of ``strategy``'s record with these options (a convenience tuner's)."""
    return strategies.STRATEGIES[strategy].oracle_class()(
        objective=score_objective(),
        max_consecutive_failed_trials=strategies.NEVER_STOP_ON_FAILURES,
        **options,
    )


class RandomSearch(RLTuner):
    """``RLTuner`` with Keras Tuner's random search (the ``kt.RandomSearch`` of RL agents).

    Args:
        max_trials: trials to run.
        seed: the oracle's seed.
        hyperparameters: a ``kt.HyperParameters`` that replaces the agent's default search
            space (e.g. ``hp.Float("learning_rate", 1e-5, 1e-2, sampling="log")``).
        **kwargs: :class:`RLTuner`'s arguments (agent, envs, seeds, total_timesteps, ...).
    """

    def __init__(
        self, max_trials: int = 10, seed: int | None = None, hyperparameters=None, **kwargs
    ):
        oracle = _oracle(
            "random", max_trials=max_trials, seed=seed, hyperparameters=hyperparameters
        )
        super().__init__(oracle, **kwargs)


class Hyperband(RLTuner):
    """``RLTuner`` with Keras Tuner's Hyperband; one epoch is total_timesteps / max_epochs.

    Args:
        max_epochs: the longest trial's budget in Hyperband epochs.
        factor: 1/factor of a round goes on to the next.
        hyperband_iterations: times the whole schedule runs.
        seed, hyperparameters, **kwargs: as :class:`RandomSearch`.
    """

    def __init__(
        self,
        max_epochs: int = 27,
        factor: int = 3,
        hyperband_iterations: int = 1,
        seed: int | None = None,
        hyperparameters=None,
        **kwargs,
    ):
        options = dict(max_epochs=max_epochs, factor=factor, seed=seed)
        options.update(hyperband_iterations=hyperband_iterations, hyperparameters=hyperparameters)
        super().__init__(_oracle("hyperband", **options), **kwargs)


class BayesianOptimization(RLTuner):
    """``RLTuner`` with Keras Tuner's Gaussian-process Bayesian optimization.

    Args:
        max_trials: trials to run.
        num_initial_points: random trials before the GP proposes (default 3 x hparams).
        seed, hyperparameters, **kwargs: as :class:`RandomSearch`.
    """

    def __init__(
        self,
        max_trials: int = 10,
        num_initial_points: int | None = None,
        seed: int | None = None,
        hyperparameters=None,
        **kwargs,
    ):
        options = dict(max_trials=max_trials, num_initial_points=num_initial_points, seed=seed)
        super().__init__(_oracle("bayesian", **options, hyperparameters=hyperparameters), **kwargs)


class GridSearch(RLTuner):
    """``RLTuner`` over every combination of ``grid`` (resumable, unlike Keras Tuner's).

    Args:
        grid: hparam name -> values to try.
        max_trials: at most this many points (default: all).
        **kwargs: :class:`RLTuner`'s arguments.
    """

    def __init__(self, grid: Mapping[str, Sequence[Any]], max_trials: int | None = None, **kwargs):
        hps = to_keras_tuner({name: hp.Discrete(list(v)) for name, v in grid.items()})
        super().__init__(
            _oracle("grid", grid=grid, max_trials=max_trials, hyperparameters=hps), **kwargs
        )


__all__ = [
    "BayesianOptimization",
    "GridSearch",
    "Hyperband",
    "RLTuner",
    "RandomSearch",
    "RunSpec",
    "make_oracle",
    "train_run",
]
