"""Ray: our agents as a Ray Tune trainable, our search spaces in Ray's terms, our HParams
layout from Ray trials, and Ray as the engine that runs a sweep's workers.

With Ray Tune driving (its schedulers and searchers, our agents)::

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from tfhparam import ray as tfray

    tuner = tune.Tuner(
        tfray.trainable("ppo", envs=["CartPole-v1"], total_timesteps=100_000),
        param_space=tfray.search_space("ppo"),
        tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=16,
                                    scheduler=ASHAScheduler(time_attr="timesteps_total")),
        run_config=tune.RunConfig(callbacks=[tfray.HParamsCallback("logs/ray_ppo", "ppo")]),
    )
    results = tuner.fit()

With our engine driving (``python -m tfhparam.sweep --backend ray``): the sweep's chief
serves its oracle as with ``--workers``, and its workers run as Ray tasks, on this machine
(an embedded Ray, started and stopped by the command) or on a cluster (``--ray-address``);
see :class:`RayWorker`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import agents
from agents.hparams import LogRealInterval, hp
from tfhparam import config, scoring, trackers
from tfhparam.tensorboard import RunWriter, write_hparams_config

STATE_FILE = "tfhparam_state.json"  # in each checkpoint: the runs' curves so far


# -- search spaces ----------------------------------------------------------------------


def to_ray(domain: hp.Domain):
    """One of our hparam domains as a Ray Tune search domain: a log interval as
    ``tune.loguniform``, an interval as ``tune.uniform`` (``tune.randint`` for integers,
    upper bound included), a value list as ``tune.choice``."""
    from ray import tune

    if isinstance(domain, hp.Discrete):
        return tune.choice(list(domain.values))
    if isinstance(domain, hp.IntInterval):
        return tune.randint(domain.min_value, domain.max_value + 1)
    if isinstance(domain, LogRealInterval):
        return tune.loguniform(domain.min_value, domain.max_value)
    return tune.uniform(domain.min_value, domain.max_value)


def domains(agent: str, space: Mapping[str, Any] | None = None) -> dict[str, hp.Domain]:
    """Our domains of a search space given as a sweep file's ``space`` (default: the
    agent's default search space, :data:`tfhparam.config.DEFAULT_SEARCH`)."""
    declared = agents.space(agent)
    found = {}
    for name, entry in (space if space is not None else config.DEFAULT_SEARCH[agent]).items():
        kind, value = config.parse_space_entry(declared, name, entry, f"space.{name}")
        if kind == "search":
            found[name] = value
    return found


def search_space(agent: str, space: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Ray Tune ``param_space`` of our hparams (log scales kept): the agent's default
    search space, or ``space`` in a sweep file's form (``{"learning_rate": {"min": 1e-4,
    "max": 1e-2, "log": True}, "num_minibatches": [2, 4]}``)."""
    return {name: to_ray(domain) for name, domain in domains(agent, space).items()}


# -- the trainable ------------------------------------------------------------------------


def trainable(
    agent: str = "ppo",
    envs: Sequence[str] = ("CartPole-v1",),
    seeds: int | Sequence[int] = 1,
    total_timesteps: int = 100_000,
    report_every: int = 10_000,
    fixed_hparams: Mapping[str, Any] | None = None,
    target_scores: Mapping[str, tuple[float, float]] | None = None,
    aggregate: str = "mean",
    last_n: int = 10,
    env_backend: str = "auto",
):
    """A Ray Tune function trainable that trains one trial of our agents: every env of
    ``envs`` with every seed (as one population per env), on the hparams of Ray's
    ``config`` (the others: ``fixed_hparams``, else the agent's defaults).

    Every ``report_every`` env steps (rounded to whole rollouts) it reports ``score`` (the
    trial's score so far, as a sweep computes it), ``timesteps_total`` and the runs' mean
    of each metric of their last iteration, with a checkpoint of every run; it continues
    from ``tune.get_checkpoint()``, so Ray's PBT, PB2, ASHA, HyperBand/BOHB and searchers
    work as with Ray's own trainables (PBT's exploit: another trial's checkpoint, this
    trial's new hparams). Learning-rate annealing spans ``total_timesteps`` throughout.

    Args:
        agent: ``ppo``, ``a2c`` or ``dqn``.
        envs, seeds, total_timesteps, target_scores, aggregate, last_n, env_backend: as
            :class:`tfhparam.tuner.RLTuner` takes them.
        report_every: env steps between reports (a Ray "iteration").
        fixed_hparams: values for hparams Ray does not search.
    """
    agents.space(agent)  # an unknown agent fails here, not in every Ray worker
    run_seeds = [int(s) for s in (range(seeds) if isinstance(seeds, int) else seeds)]
    settings = {
        "agent": agent,
        "envs": list(envs),
        "seeds": run_seeds,
        "total_timesteps": int(total_timesteps),
        "report_every": int(report_every),
        "fixed": dict(fixed_hparams or {}),
        "target_scores": {k: tuple(v) for k, v in (target_scores or {}).items()},
        "aggregate": aggregate,
        "last_n": int(last_n),
        "env_backend": env_backend,
    }

    def train_tfhparam(config: Mapping[str, Any]) -> None:
        _train_trial(settings, dict(config))

    train_tfhparam.__name__ = f"tfhparam_{agent}"
    return train_tfhparam


def _train_trial(settings: Mapping[str, Any], config: dict[str, Any]) -> None:
    """The trainable's body (see :func:`trainable`), in a Ray worker."""
    from ray import tune

    from tfhparam import tuner as engine

    agent, total = settings["agent"], settings["total_timesteps"]
    hparams = agents.space(agent).resolve({**settings["fixed"], **within_domains(agent, config)})
    unit = agents.unit_steps(agent, hparams)
    report_every = max(settings["report_every"] // unit, 1) * unit
    runs = [(env, seed) for env in settings["envs"] for seed in settings["seeds"]]
    curves: dict[str, dict[str, list[float]]] = {
        _run_name(env, seed): {"steps": [], "rewards": []} for env, seed in runs
    }
    work = tempfile.mkdtemp(prefix="tfhparam_ray_")
    restore_dir, done = None, 0
    try:
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:  # continue (a restart, or PBT's exploit of another trial)
            restore_dir = os.path.join(work, "restored")
            with checkpoint.as_directory() as directory:
                shutil.copytree(directory, restore_dir)
            with open(os.path.join(restore_dir, STATE_FILE)) as f:
                state = json.load(f)
            done, curves = int(state["steps"]), state["curves"]
        while done < total:
            budget = min(done + report_every, total)
            chunk = os.path.join(work, f"steps_{budget}")
            last: dict[str, dict[str, float]] = {}  # run -> its last iteration's numbers
            for env in settings["envs"]:
                specs = [
                    engine.RunSpec(
                        agent,
                        env,
                        hparams,
                        seed,
                        budget,
                        total,
                        os.path.join(chunk, _run_name(env, seed)),
                        os.path.join(restore_dir, _run_name(env, seed)) if restore_dir else None,
                        settings["env_backend"],
                    )
                    for seed in settings["seeds"]
                ]
                runner = engine.train_population  # (DQN: its runs side by side)
                if agent not in agents.POPULATION_AGENTS:
                    runner = engine.lockstep(engine.train_run)
                for entries in runner(specs, set()):
                    for spec, metrics in zip(specs, entries):
                        if metrics is None:
                            continue
                        if "error" in metrics:
                            raise RuntimeError(str(metrics["error"]))
                        name = _run_name(env, spec.seed)
                        if "rewards" in metrics:
                            curves[name]["steps"].append(int(metrics["global_step"]))
                            curves[name]["rewards"].append(float(metrics["rewards"]))
                        last[name] = trackers.numbers(metrics)
            done = budget
            with open(os.path.join(chunk, STATE_FILE), "w") as f:
                json.dump({"steps": done, "curves": curves}, f)
            names = {k for numbers in last.values() for k in numbers} - {"global_step"}
            metrics = {}
            for key in names:  # the mean over the runs that logged it
                values = [numbers[key] for numbers in last.values() if key in numbers]
                metrics[key] = sum(values) / len(values)
            score = _score(settings, curves)
            report = {**metrics, "score": score, "timesteps_total": done}
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(chunk))
            if restore_dir:
                shutil.rmtree(restore_dir, ignore_errors=True)
            restore_dir = chunk
    finally:
        shutil.rmtree(work, ignore_errors=True)


def within_domains(agent: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with numbers pulled into the agent's intervals (integers rounded): PBT
    and PB2 perturb a value by a factor (x0.8, x1.2) and may leave the interval they
    sampled it from. Values of value lists, and names that are not hparams, are kept."""
    declared, kept = agents.space(agent), dict(config)
    for name, value in config.items():
        if name not in declared.names or isinstance(value, bool):
            continue
        domain = declared[name].domain
        if isinstance(domain, hp.Discrete) or not isinstance(value, (int, float)):
            continue
        value = min(max(value, domain.min_value), domain.max_value)
        kept[name] = int(round(value)) if isinstance(domain, hp.IntInterval) else float(value)
    return kept


def _run_name(env: str, seed: int) -> str:
    return f"{env.replace('/', '_')}_seed_{seed}"


def _score(settings: Mapping[str, Any], curves: Mapping[str, Mapping[str, list]]) -> float:
    """The trial's score so far, from each run's last ``last_n`` rewards, normalized and
    aggregated over envs as a sweep does; NaN before any episode ended."""
    values: dict[str, list[float]] = {}
    for env in settings["envs"]:
        for seed in settings["seeds"]:
            rewards = curves[_run_name(env, seed)]["rewards"]
            values.setdefault(env, []).append(scoring.run_value(rewards, settings["last_n"]))
    if any(math.isnan(v) for found in values.values() for v in found):
        return math.nan
    return scoring.trial_score(values, settings["target_scores"], settings["aggregate"])


# -- the HParams tab from Ray trials ------------------------------------------------------

try:  # the callback needs Ray's base class; the rest of this module does not
    from ray.tune import Callback as _RayCallback
except ImportError:  # pragma: no cover - without the ray extra
    _RayCallback = object


class HParamsCallback(_RayCallback):
    """A Ray Tune callback that writes our TensorBoard HParams layout: the experiment's
    HParams columns (the searched hparams with their domains, the trial id) and one
    session a trial (``logdir/trial_ID``) with its hparams, every number it reports as a
    scalar over ``timesteps_total`` and its status at the end, so that the HParams tab
    looks as it does for our own sweeps.

    Args:
        logdir: where to write (``tensorboard --logdir LOGDIR``).
        agent: whose hparams are searched (their descriptions).
        space: the search space in a sweep file's form (default the agent's default).
    """

    def __init__(self, logdir: str, agent: str = "ppo", space: Mapping[str, Any] | None = None):
        self.logdir, self.agent = logdir, agent
        self.domains = domains(agent, space)
        self.writers: dict[str, RunWriter] = {}
        self.started = False

    def _begin(self) -> None:
        declared = agents.space(self.agent)
        columns = [hp.HParam(n, d, description=declared[n].help) for n, d in self.domains.items()]
        columns.append(hp.HParam("trial", description="Ray Tune trial id"))
        write_hparams_config(self.logdir, columns)
        self.started = True

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        if not self.started:
            self._begin()
        writer = self.writers.get(trial.trial_id)
        if writer is None:  # (a trial PBT restarts starts again: one session)
            writer = self.writers[trial.trial_id] = RunWriter(
                os.path.join(self.logdir, f"trial_{trial.trial_id}")
            )
            values = {k: v for k, v in trial.config.items() if k in self.domains}
            writer.session_start({**values, "trial": trial.trial_id}, group=trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        writer = self.writers.get(trial.trial_id)
        if writer is not None:
            step = int(result.get("timesteps_total") or result.get("training_iteration", 0))
            writer.scalars(step, result)
            writer.flush()

    def _end(self, trial, status: str) -> None:
        writer = self.writers.pop(trial.trial_id, None)
        if writer is not None:
            writer.session_end(status)
            writer.close()

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self._end(trial, "success")

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self._end(trial, "failure")


# -- Ray as the engine of a sweep's workers ---------------------------------------------

WORKER_VARIABLES = ("KERASTUNER_", "TF_", "GRPC_", "MLFLOW_", "WANDB_", "PYTHONPATH")


class RayError(ValueError):
    """Ray cannot be used as asked: no cluster at the address, the extra missing."""


def check_address(address: str, timeout: float = 5.0) -> None:
    """Raises RayError unless a Ray cluster's GCS answers at ``address`` (``HOST:PORT``;
    ``auto`` and ``ray://`` addresses are left to Ray)."""
    if address == "auto" or address.startswith("ray://"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RayError(f"--ray-address: expected HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise RayError(f"--ray-address: no Ray cluster answers at {address} ({error})") from None


def start(address: str | None) -> str:
    """Joins the Ray cluster at ``address``, or starts an embedded Ray on this machine's
    cores (stopped with this process). Returns the IP the chief serves its oracle on: one
    the cluster's nodes reach (this node's), loopback for an embedded Ray."""
    import ray

    if address:
        ray.init(address=address, logging_level="WARNING", log_to_driver=True)
        return ray.util.get_node_ip_address()
    ray.init(num_cpus=os.cpu_count() or 1, logging_level="WARNING", include_dashboard=False)
    return "127.0.0.1"


def cluster_cpus() -> int:
    import ray

    return max(int(ray.cluster_resources().get("CPU", 1)), 1)


def _run_worker(command: list[str], env: dict[str, str]) -> int:
    """A Ray task: a sweep worker process (``command``), ended with this task."""
    import subprocess

    from tfhparam import processes

    command = [sys.executable, *command[1:]]  # this node's Python
    preexec = processes._die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.run(command, env={**os.environ, **env}, preexec_fn=preexec).returncode


class RayWorker:
    """A sweep worker run as a Ray task, with the ``poll`` / ``terminate`` of a process
    (what :func:`tfhparam.parallel.serve` watches and restarts).

    Args:
        command: the worker's command line (``python -m tfhparam.sweep ... --workers 1``).
        tuner_id: its Keras Tuner id; ``address``: the chief's (host, port).
        cpus: the CPUs Ray reserves for it.
    """

    def __init__(self, command: list[str], tuner_id: str, address: tuple[str, int], cpus: int):
        import ray

        from tfhparam import processes

        env = {k: v for k, v in os.environ.items() if k.startswith(WORKER_VARIABLES)}
        env |= {
            processes.TUNER_ID: tuner_id,
            processes.ORACLE_IP: address[0],
            processes.ORACLE_PORT: str(address[1]),
        }
        task = ray.remote(num_cpus=cpus, max_retries=0)(_run_worker)
        self.ref = task.remote(list(command), env)
        self.code: int | None = None

    def poll(self) -> int | None:
        import ray

        if self.code is None:
            finished, _ = ray.wait([self.ref], timeout=0)
            if finished:
                try:
                    self.code = int(ray.get(finished[0]))
                except Exception:  # noqa: BLE001 (the task died: as a killed process)
                    self.code = -9
        return self.code

    def terminate(self) -> None:
        import ray

        if self.code is None:
            ray.cancel(self.ref, force=True)
