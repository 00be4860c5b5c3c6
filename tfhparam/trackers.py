"""Experiment trackers: every run of a sweep mirrored in MLflow or Weights & Biases.

A run (trial x env x seed) becomes a tracked run: its hparams as params; trial, env,
seed, sweep and status as tags; every number it logs over env steps; at its end its value,
its trial's score and other objectives. The sweep is the MLflow experiment (with a parent
run holding the sweep's files) or the W&B group. A rerun trial (a resume after an
interruption) replaces its earlier tracked runs: they are deleted (MLflow: soft-deleted,
hidden by ``mlflow ui``; W&B offline: the run's directory removed) before the new ones start.

A tracker that fails (a server down, a full disk) prints one warning and is dropped for
the rest of the process; TensorBoard and the results are written as ever. This module
imports no TensorFlow; each tracker imports its package when it is made.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import importlib.util
import logging
import math
import netrc
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

# name -> (the module it needs, the tfhparam extra that installs it, its options)
TRACKERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "mlflow": ("mlflow", "mlflow", ("uri",)),
    "wandb": ("wandb", "wandb", ("project", "entity", "mode")),
}
STATUSES = ("success", "failure", "pruned", "interrupted")


class TrackerError(ValueError):
    """A tracker that cannot be used: an unknown name or option, or its extra missing."""


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a tracker is told of a run as it starts.

    Attributes:
        key: ``TRIAL/ENV/seed_SEED``, the same for a rerun of the same run.
        trial, env, seed: where the run belongs.
        params: its hparams, resolved (defaults filled in).
    """

    key: str
    trial: str
    env: str
    seed: int
    params: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"trial_{self.trial}/{self.env}/seed_{self.seed}"


class Tracker(Protocol):
    """One tracking backend. Any method may raise: :class:`Trackers` then drops it."""

    name: str

    def begin(self) -> None:
        """The sweep starts (in the process that owns it, before any run)."""

    def start(self, run: RunInfo) -> None: ...

    def log(self, key: str, step: int, metrics: Mapping[str, float]) -> None: ...

    def end(self, key: str, status: str, final: Mapping[str, float]) -> None: ...

    def finish(self, files: Sequence[str]) -> None: ...


def check(specs: Mapping[str, Mapping[str, Any]]) -> None:
    """Raises TrackerError for an unknown tracker or option, or one whose extra is missing."""
    for name, options in specs.items():
        if name not in TRACKERS:
            raise TrackerError(f"unknown tracker {name!r}: one of {', '.join(TRACKERS)}")
        module, extra, known = TRACKERS[name]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TrackerError(
                f"tracker {name}: unknown option {unknown[0]!r}; known: {', '.join(known)}"
            )
        for option, value in options.items():
            if not isinstance(value, str) or not value:
                raise TrackerError(f"tracker {name}: {option} must be a text, got {value!r}")
        if name == "wandb" and options.get("mode", "offline") not in ("online", "offline"):
            raise TrackerError(f"tracker wandb: mode is online or offline, not {options['mode']!r}")
        if importlib.util.find_spec(module) is None:
            raise TrackerError(
                f"tracker {name} needs {module}, not installed: pip install 'tfhparam[{extra}]'"
            )


def make(specs: Mapping[str, Mapping[str, Any]], project_dir: str, sweep: str) -> list[Tracker]:
    """The trackers of ``specs`` (name -> options) for the sweep in ``project_dir``."""
    check(specs)
    made: list[Tracker] = []
    for name, options in specs.items():
        if name == "mlflow":
            made.append(MlflowTracker(project_dir, sweep, **options))
        else:
            made.append(WandbTracker(project_dir, sweep, **options))
    return made


def numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics`` (a tracker takes nothing else), as floats."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(float(value)):
                out[key] = float(value)
    return out


class Trackers:
    """Several trackers behind one set of calls; one that raises is warned about once and
    dropped, so a tracker never stops a sweep."""

    def __init__(self, trackers: Sequence[Tracker], warn: Callable[[str], None] | None = None):
        self.trackers = list(trackers)
        self.warn = warn or (lambda text: print(text, file=sys.stderr, flush=True))

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def _each(self, method: str, *args: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as error:  # noqa: BLE001 (any failure: drop the tracker)
                self.trackers.remove(tracker)
                reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                self.warn(
                    f"warning: the {tracker.name} tracker failed ({type(error).__name__}: "
                    f"{reason[:200]}); the sweep goes on without it (TensorBoard and the "
                    "results are unaffected)"
                )

    def begin(self) -> None:
        self._each("begin")

    def start(self, run: RunInfo) -> None:
        self._each("start", run)

    def log(self, key: str, step: int, metrics: Mapping[str, Any]) -> None:
        if not self.trackers:  # every iteration of every run: nothing to do without any
            return
        found = numbers(metrics)
        if found:
            self._each("log", key, step, found)

    def end(self, key: str, status: str, final: Mapping[str, Any]) -> None:
        self._each("end", key, status, numbers(final))

    def finish(self, files: Sequence[str]) -> None:
        self._each("finish", [f for f in files if os.path.exists(f)])


# -- MLflow ---------------------------------------------------------------------------------

MLFLOW_STATUS = {
    "success": "FINISHED",
    "failure": "FAILED",
    "pruned": "KILLED",
    "interrupted": "KILLED",
}
RUN_TAG = "tfhparam.run"  # the run's key: what a rerun looks for to replace
KIND_TAG = "tfhparam.kind"  # "sweep" on the parent run, "run" on the others


def mlflow_store(project_dir: str) -> str:
    """The local MLflow store of a sweep: SQLite in ``project_dir/mlflow.db``."""
    return "sqlite:///" + os.path.abspath(os.path.join(project_dir, "mlflow.db"))


def mlflow_key(name: str) -> str:
    """``name`` as an MLflow metric or param key (it allows letters, digits and
    ``_-. :/``): ``env_steps_to(475)`` becomes ``env_steps_to_475_``."""
    return re.sub(r"[^\w\-. :/]", "_", name)


class MlflowTracker:
    """Runs in an MLflow experiment named after the sweep, under one parent run.

    Args:
        project_dir: the sweep's directory.
        sweep: its name (the experiment's).
        uri: a tracking server (``http://host:5000``) or store URI; default the SQLite
            store :func:`mlflow_store` with artifacts in ``project_dir/mlartifacts``.
        flush_seconds: metrics are buffered and sent at most this often (and at a run's
            end): one request per run and flush, not one per iteration.
    """

    name = "mlflow"

    def __init__(
        self, project_dir: str, sweep: str, uri: str | None = None, flush_seconds: float = 10.0
    ):
        for variable, default in (
            ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),  # a server down fails in seconds
            ("MLFLOW_HTTP_REQUEST_TIMEOUT", "20"),
        ):
            os.environ.setdefault(variable, default)
        for logger in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..."
            logging.getLogger(logger).setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        self.project_dir, self.sweep = project_dir, sweep
        self.uri = uri or mlflow_store(project_dir)
        self.local = uri is None
        self.client = MlflowClient(tracking_uri=self.uri)
        self.flush_seconds = flush_seconds
        self._experiment: str | None = None
        self._parent: str | None = None
        self.runs: dict[str, str] = {}  # run key -> MLflow run id
        self.buffer: dict[str, list] = {}  # run key -> metrics not sent yet
        self.flushed = time.monotonic()

    def experiment_id(self) -> str:
        if self._experiment is None:
            found = self.client.get_experiment_by_name(self.sweep)
            if found is not None:
                self._experiment = found.experiment_id
            else:
                location = None
                if self.local:
                    artifacts = os.path.abspath(os.path.join(self.project_dir, "mlartifacts"))
                    location = "file://" + artifacts
                self._experiment = self.client.create_experiment(
                    self.sweep, artifact_location=location, tags={"tfhparam.sweep": self.sweep}
                )
        return self._experiment

    def _find(self, tag: str, value: str) -> list:
        text = value.replace("'", "\\'")
        return self.client.search_runs(
            [self.experiment_id()], filter_string=f"tags.`{tag}` = '{text}'"
        )

    def parent(self) -> str:
        """The sweep's parent run (made once; a resume finds it again)."""
        if self._parent is None:
            found = self._find(KIND_TAG, "sweep")
            if found:
                self._parent = found[0].info.run_id
            else:
                tags = {KIND_TAG: "sweep", "sweep": self.sweep}
                run = self.client.create_run(self.experiment_id(), tags=tags, run_name=self.sweep)
                self._parent = run.info.run_id
        return self._parent

    def begin(self) -> None:
        self.parent()  # before workers start runs under it

    def start(self, run: RunInfo) -> None:
        from mlflow.entities import Param

        for earlier in self._find(RUN_TAG, run.key):  # a rerun replaces its earlier run
            self.client.delete_run(earlier.info.run_id)
        tags = {
            RUN_TAG: run.key,
            KIND_TAG: "run",
            "mlflow.parentRunId": self.parent(),
            "sweep": self.sweep,
            "trial": run.trial,
            "env": run.env,
            "seed": str(run.seed),
            "status": "running",
        }
        created = self.client.create_run(self.experiment_id(), tags=tags, run_name=run.name)
        run_id = self.runs[run.key] = created.info.run_id
        params = [Param(mlflow_key(k), str(v)[:6000]) for k, v in sorted(run.params.items())]
        for i in range(0, len(params), 100):  # MLflow takes 100 params a request
            self.client.log_batch(run_id, params=params[i : i + 100])
        self.buffer[run.key] = []

    def log(self, key: str, step: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.buffer[key] += [Metric(mlflow_key(k), v, now, step) for k, v in metrics.items()]
        if time.monotonic() - self.flushed > self.flush_seconds:
            for each in list(self.buffer):
                self._flush(each)
            self.flushed = time.monotonic()

    def _flush(self, key: str) -> None:
        pending, self.buffer[key] = self.buffer[key], []
        for i in range(0, len(pending), 1000):  # MLflow takes 1000 metrics a request
            self.client.log_batch(self.runs[key], metrics=pending[i : i + 1000])

    def end(self, key: str, status: str, final: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        last = self.buffer[key][-1].step if self.buffer[key] else 0
        now = int(time.time() * 1000)
        self.buffer[key] += [Metric(mlflow_key(k), v, now, last) for k, v in final.items()]
        self._flush(key)
        run_id = self.runs.pop(key)
        del self.buffer[key]
        self.client.set_tag(run_id, "status", status)
        self.client.set_terminated(run_id, MLFLOW_STATUS[status])

    def finish(self, files: Sequence[str]) -> None:
        parent = self.parent()
        for path in files:
            if os.path.isdir(path):
                self.client.log_artifacts(parent, path, artifact_path=os.path.basename(path))
            else:
                self.client.log_artifact(parent, path)
        self.client.set_terminated(parent, "FINISHED")


# -- Weights & Biases -----------------------------------------------------------------------


def wandb_logged_in() -> bool:
    """Whether W&B has an API key here (``WANDB_API_KEY`` or ``wandb login``'s netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_run_id(sweep: str, key: str) -> str:
    """A run's W&B id, the same for a rerun (so it replaces the earlier one)."""
    return hashlib.sha1(f"{sweep}/{key}".encode()).hexdigest()[:16]


class WandbTracker:
    """Runs in a W&B project, grouped by sweep: offline (files under
    ``project_dir/wandb``, uploaded later by ``wandb sync``) unless W&B is logged in here.

    Args:
        project_dir: the sweep's directory.
        sweep: its name (the runs' group).
        project: the W&B project (default ``tfhparam``).
        entity: the W&B entity (default the user's).
        mode: ``online`` or ``offline`` (default: ``WANDB_MODE``, else online if logged in).
    """

    name = "wandb"

    def __init__(
        self,
        project_dir: str,
        sweep: str,
        project: str = "tfhparam",
        entity: str | None = None,
        mode: str | None = None,
    ):
        for variable in ("WANDB_SILENT", "WANDB_DISABLE_WEAVE"):  # no banners per run
            os.environ.setdefault(variable, "true")
        import wandb

        self.wandb = wandb
        self.project_dir, self.sweep = project_dir, sweep
        self.project, self.entity = project, entity
        mode = mode or os.environ.get("WANDB_MODE")
        if mode not in ("online", "offline"):
            mode = "online" if wandb_logged_in() else "offline"
        self.mode = mode
        self.runs: dict[str, Any] = {}

    def begin(self) -> None:
        pass

    def _init(self, run_id: str, **kwargs: Any):
        self._replace(run_id)
        return self.wandb.init(
            project=self.project,
            entity=self.entity,
            group=self.sweep,
            id=run_id,
            dir=self.project_dir,
            mode=self.mode,
            reinit="create_new",  # one W&B run per population member, open at once
            settings=self.wandb.Settings(silent=True, console="off"),
            **kwargs,
        )

    def _replace(self, run_id: str) -> None:
        """Removes a run of this id written before (a rerun replaces it)."""
        if self.mode == "offline":
            for path in glob.glob(os.path.join(self.project_dir, "wandb", f"*-{run_id}")):
                shutil.rmtree(path, ignore_errors=True)
            return
        try:
            api = self.wandb.Api()
            entity = self.entity or api.default_entity
            api.run(f"{entity}/{self.project}/{run_id}").delete()
        except Exception:  # noqa: BLE001 (no earlier run of this id: nothing to replace)
            pass

    def start(self, run: RunInfo) -> None:
        tracked = self._init(
            wandb_run_id(self.sweep, run.key),
            name=f"{self.sweep}/{run.name}",
            job_type="run",
            config={**run.params, "trial": run.trial, "env": run.env, "seed": run.seed},
            tags=[f"trial_{run.trial}", run.env, f"seed_{run.seed}"],
        )
        tracked.define_metric("global_step")
        tracked.define_metric("*", step_metric="global_step")
        tracked.summary["status"] = "running"
        self.runs[run.key] = tracked

    def log(self, key: str, step: int, metrics: Mapping[str, float]) -> None:
        self.runs[key].log({**metrics, "global_step": step})

    def end(self, key: str, status: str, final: Mapping[str, float]) -> None:
        tracked = self.runs.pop(key)
        tracked.summary.update({**final, "status": status})
        tracked.tags = (*tracked.tags, status)
        tracked.finish(exit_code=0 if status in ("success", "pruned") else 1)

    def finish(self, files: Sequence[str]) -> None:
        tracked = self._init(
            wandb_run_id(self.sweep, "sweep"), name=f"{self.sweep}/sweep", job_type="sweep"
        )
        name = re.sub(r"[^\w\-.]", "-", f"{self.sweep}-results")
        artifact = self.wandb.Artifact(name, type="sweep-results")
        for path in files:
            if os.path.isdir(path):
                artifact.add_dir(path, name=os.path.basename(path))
            else:
                artifact.add_file(path)
        tracked.log_artifact(artifact)
        tracked.finish()
