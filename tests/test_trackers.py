"""Trackers: every run of a sweep in a real local MLflow store and in W&B's offline files,
read back as their users would (MlflowClient; the run files), a rerun replacing its runs,
a tracker that fails warning once (fake agents: no training)."""

import json
import os
import socket

import pytest
from fakes import FakeRunner
from wandb_files import offline_runs

from tfhparam import config, trackers
from tfhparam import sweep as sweep_cli

RUN_KEYS = {f"{t}/CartPole-v1/seed_{s}" for t in ("0", "1", "2") for s in (0, 1)}


def make_tuner(tmp_path, runner, tracked, **fields):
    from tfhparam.tuner import RLTuner

    data = {"total_timesteps": 4000, "last_n": 2, "name": "tracked", "strategy": "grid"}
    data |= {"space": {"learning_rate": [1e-4, 1e-3, 1e-2]}, "seeds": 2, **fields}
    sweep = config.build(data)
    return RLTuner.from_sweep(
        sweep, str(tmp_path), runner=runner, verbose=False, population=1, trackers=tracked
    )


def interrupted_then_resumed(tmp_path, tracked, **fields):
    """A grid sweep of 3 trials x 2 seeds, interrupted as its third run starts (trial 1,
    seed 0), then resumed: the interrupted trial reruns."""
    with pytest.raises(KeyboardInterrupt):
        make_tuner(tmp_path, FakeRunner(interrupt_on_call=2), tracked, **fields).search()
    tuner = make_tuner(tmp_path, FakeRunner(), tracked, **fields)
    tuner.search()
    return tuner


def trial_results(project):
    found = {}
    for trial in ("0", "1", "2"):
        with open(os.path.join(project, f"trial_{trial}", "result.json")) as f:
            found[trial] = json.load(f)
    return found


# ---------------------------------------------------------------------------------------
# Names, options, extras; a failing tracker
# ---------------------------------------------------------------------------------------


def test_unknown_trackers_options_and_missing_extras_are_refused(monkeypatch):
    with pytest.raises(trackers.TrackerError, match="unknown tracker 'nope': one of mlflow"):
        trackers.check({"nope": {}})
    with pytest.raises(trackers.TrackerError, match="unknown option 'url'; known: uri"):
        trackers.check({"mlflow": {"url": "http://x"}})
    with pytest.raises(trackers.TrackerError, match="mode is online or offline"):
        trackers.check({"wandb": {"mode": "sometimes"}})
    real = trackers.importlib.util.find_spec
    monkeypatch.setattr(
        trackers.importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name)
    )
    with pytest.raises(trackers.TrackerError, match=r"pip install 'tfhparam\[mlflow\]'"):
        trackers.check({"mlflow": {}})
    trackers.check({"wandb": {"project": "p"}})


def test_sweep_files_and_flags_name_trackers():
    assert config.build({}).trackers == {}
    built = config.build({"trackers": {"mlflow": {"uri": "http://h:5000"}, "wandb": None}})
    assert built.trackers == {"mlflow": {"uri": "http://h:5000"}, "wandb": {}}
    # --tracker replaces the file's list and keeps its options; --mlflow-uri adds mlflow
    flagged = config.build({"trackers": {"mlflow": {"uri": "u"}}}, {"trackers": ["mlflow"]})
    assert flagged.trackers == {"mlflow": {"uri": "u"}}
    assert config.build({"trackers": "wandb"}, {"mlflow_uri": "v"}).trackers == {
        "wandb": {},
        "mlflow": {"uri": "v"},
    }
    assert "trackers" not in config.build({"trackers": ["mlflow"]}).to_json()  # resumable
    with pytest.raises(config.SweepError, match="trackers: a list of names, or a mapping"):
        config.build({"trackers": 3})
    with pytest.raises(config.SweepError, match="--tracker: unknown tracker 'nope'"):
        config.build({}, {"trackers": ["nope"]})


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tracker", "nope"], "--tracker: unknown tracker 'nope': one of mlflow, wandb"),
        (["--tracker", "mlflow"], "tracker mlflow needs mlflow, not installed: pip install"),
    ],
)
def test_bad_trackers_exit_2_with_one_line(args, message, tmp_path, monkeypatch, capsys):
    real = trackers.importlib.util.find_spec
    monkeypatch.setattr(
        trackers.importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name)
    )
    with pytest.raises(SystemExit) as exited:
        sweep_cli.main([*args, "--logdir", str(tmp_path)])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert os.listdir(tmp_path) == []


class Recording:
    name = "recording"

    def __init__(self):
        self.calls = []

    def begin(self):
        self.calls.append("begin")

    def start(self, run):
        self.calls.append(("start", run.key))

    def log(self, key, step, metrics):
        self.calls.append(("log", key, step, dict(metrics)))

    def end(self, key, status, final):
        self.calls.append(("end", key, status))

    def finish(self, files):
        self.calls.append(("finish", list(files)))


class Broken(Recording):
    name = "broken"

    def log(self, key, step, metrics):
        raise ConnectionError("server down\nsecond line")


def test_a_failing_tracker_warns_once_and_the_others_go_on(tmp_path):
    warnings, recording = [], Recording()
    fanout = trackers.Trackers([Broken(), recording], warn=warnings.append)
    run = trackers.RunInfo("0/E/seed_0", "0", "E", 0, {"lr": 0.1})
    fanout.start(run)
    for step in (1, 2):
        fanout.log(run.key, step, {"rewards": 1.5, "ok": True, "bad": float("nan"), "s": "x"})
    fanout.end(run.key, "success", {"score": 2.0})
    fanout.finish([str(tmp_path / "missing.csv")])
    assert warnings == [
        "warning: the broken tracker failed (ConnectionError: server down); the sweep goes "
        "on without it (TensorBoard and the results are unaffected)"
    ]
    assert recording.calls == [
        ("start", "0/E/seed_0"),
        ("log", "0/E/seed_0", 1, {"rewards": 1.5}),  # numbers only: no bools, NaN or texts
        ("log", "0/E/seed_0", 2, {"rewards": 1.5}),
        ("end", "0/E/seed_0", "success"),
        ("finish", []),  # files that do not exist are not attached
    ]
    assert [t.name for t in fanout.trackers] == ["recording"]


def test_metric_names_become_mlflow_keys():
    assert trackers.mlflow_key("env_steps_to(475)") == "env_steps_to_475_"
    assert trackers.mlflow_key("eval/return") == "eval/return"
    assert trackers.mlflow_store("logs/s").endswith("/logs/s/mlflow.db")
    assert trackers.mlflow_store("logs/s").startswith("sqlite:////")


# ---------------------------------------------------------------------------------------
# MLflow: a real local store, read back with MlflowClient
# ---------------------------------------------------------------------------------------


def test_mlflow_tracks_every_run_and_a_rerun_replaces_the_interrupted_one(tmp_path):
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    interrupted_then_resumed(tmp_path, ["mlflow"])
    project = str(tmp_path / "tracked")
    client = MlflowClient(tracking_uri=trackers.mlflow_store(project))
    experiment = client.get_experiment_by_name("tracked")
    assert experiment.artifact_location == "file://" + os.path.join(project, "mlartifacts")
    found = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in found if r.data.tags[trackers.KIND_TAG] == "sweep"]
    runs = {r.data.tags[trackers.RUN_TAG]: r for r in found if r is not parent}
    assert len(runs) == len(found) - 1 == 6 and set(runs) == RUN_KEYS  # no run twice

    results_by_trial = trial_results(project)
    for key, run in runs.items():
        trial, env, seed = key.split("/")
        result = results_by_trial[trial]
        tags = run.data.tags
        assert run.info.run_name == f"trial_{trial}/{env}/{seed}"
        assert run.info.status == "FINISHED" and tags["status"] == "success"
        assert (tags["trial"], tags["env"], "seed_" + tags["seed"]) == (trial, env, seed)
        assert tags["sweep"] == "tracked" and tags["mlflow.parentRunId"] == parent.info.run_id
        assert float(run.data.params["learning_rate"]) == result["hparams"]["learning_rate"]
        assert run.data.params["num_envs"] == "4"  # every hparam, defaults too
        history = client.get_metric_history(run.info.run_id, "rewards")
        assert [m.step for m in history] == list(range(512, 4001, 512))  # every iteration
        (run_result,) = [r for r in result["runs"] if f"seed_{r['seed']}" == seed]
        assert run.data.metrics["value"] == pytest.approx(run_result["value"])
        assert run.data.metrics["score"] == pytest.approx(result["score"])

    deleted = client.search_runs([experiment.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    # trial 1 was interrupted at its first run: that run, marked interrupted, was replaced
    assert [r.data.tags[trackers.RUN_TAG] for r in deleted] == ["1/CartPole-v1/seed_0"]
    assert deleted[0].info.status == "KILLED" and deleted[0].data.tags["status"] == "interrupted"

    assert parent.info.status == "FINISHED"
    attached = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results.csv", "results.json", "report"} <= attached
    with open(client.download_artifacts(parent.info.run_id, "results.csv", str(tmp_path))) as f:
        with open(os.path.join(project, "results.csv")) as g:
            assert f.read() == g.read()
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.html" in report


def test_mlflow_marks_the_runs_of_failed_trials(tmp_path):
    from mlflow.tracking import MlflowClient

    space = {"learning_rate": {"min": 1e-4, "max": 1e-2, "log": True}}
    fields = {"strategy": "random", "trials": 6, "seed": 1, "space": space}
    make_tuner(tmp_path, FakeRunner(diverge_below=1e-3), ["mlflow"], **fields).search()
    project = str(tmp_path / "tracked")
    client = MlflowClient(tracking_uri=trackers.mlflow_store(project))
    experiment = client.get_experiment_by_name("tracked")
    statuses = {}
    for run in client.search_runs([experiment.experiment_id]):
        if run.data.tags[trackers.KIND_TAG] == "run":
            statuses.setdefault(run.data.tags["trial"], set()).add(
                (run.info.status, run.data.tags["status"])
            )
    for trial, result in trial_results_of(project).items():
        expected = ("FINISHED", "success") if result["status"] == "completed" else None
        expected = expected or ("FAILED", "failure")
        assert expected in statuses[trial], (trial, statuses[trial])
    assert {s for found in statuses.values() for s in found} == {
        ("FINISHED", "success"),
        ("FAILED", "failure"),
    }


def trial_results_of(project):
    found = {}
    for name in os.listdir(project):
        if name.startswith("trial_"):
            with open(os.path.join(project, name, "result.json")) as f:
                found[name[6:]] = json.load(f)
    return found


def test_a_tracking_server_that_is_down_warns_once_and_the_sweep_completes(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tracked = {"mlflow": {"uri": f"http://127.0.0.1:{port}"}}
    tuner = make_tuner(tmp_path, FakeRunner(), tracked)
    tuner.search()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "tracker" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: the mlflow tracker failed")
    assert [r["status"] for r in tuner.results()] == ["completed"] * 3


@pytest.mark.slow
def test_mlflow_tracks_to_a_tracking_server(tmp_path):
    """``uri``: a real ``mlflow server`` on loopback takes the runs and the artifacts."""
    import subprocess
    import sys
    import time

    from mlflow.tracking import MlflowClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", "1"),
            *("--backend-store-uri", f"sqlite:///{tmp_path}/server.db"),
            *("--artifacts-destination", str(tmp_path / "server_artifacts")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        client = MlflowClient(tracking_uri=uri)
        deadline = time.time() + 120
        while True:
            try:
                client.search_experiments()
                break
            except Exception:
                assert time.time() < deadline and server.poll() is None, "no MLflow server"
                time.sleep(0.5)
        tuner = make_tuner(tmp_path / "logs", FakeRunner(), {"mlflow": {"uri": uri}})
        tuner.search()
        experiment = client.get_experiment_by_name("tracked")
        found = client.search_runs([experiment.experiment_id])
        runs = {r.data.tags[trackers.RUN_TAG] for r in found if trackers.RUN_TAG in r.data.tags}
        assert runs == RUN_KEYS and len(found) == 7
        (parent,) = [r for r in found if r.data.tags[trackers.KIND_TAG] == "sweep"]
        assert "results.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}
        assert not (tmp_path / "logs" / "tracked" / "mlflow.db").exists()  # all on the server
    finally:
        server.terminate()
        server.wait(timeout=30)


# ---------------------------------------------------------------------------------------
# W&B: offline runs, read back from their run files
# ---------------------------------------------------------------------------------------


def test_wandb_writes_offline_runs_and_a_rerun_replaces_the_interrupted_one(tmp_path, monkeypatch):
    for variable in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # not logged in: offline
    interrupted_then_resumed(tmp_path, {"wandb": {"project": "rl"}})
    project = str(tmp_path / "tracked")
    runs = offline_runs(project)  # asserts that no run id is written twice
    sweep_id = trackers.wandb_run_id("tracked", "sweep")
    sweep_run = runs.pop(sweep_id)
    assert sweep_run.job_type == "sweep" and sweep_run.artifacts == ["tracked-results"]
    by_key = {trackers.wandb_run_id("tracked", key): key for key in RUN_KEYS}
    assert set(runs) == set(by_key)

    results_by_trial = trial_results(project)
    for run_id, run in runs.items():
        trial, env, seed = by_key[run_id].split("/")
        result = results_by_trial[trial]
        assert run.name == f"tracked/trial_{trial}/{env}/{seed}"
        assert run.group == "tracked" and run.job_type == "run"
        assert run.tags == [f"trial_{trial}", env, seed, "success"]
        assert run.config["learning_rate"] == result["hparams"]["learning_rate"]
        assert (run.config["trial"], run.config["env"]) == (trial, env)
        assert f"seed_{run.config['seed']}" == seed and run.config["num_envs"] == 4
        steps = [row["global_step"] for row in run.history]
        assert steps == list(range(512, 4001, 512)) and "rewards" in run.history[0]
        assert run.summary["status"] == "success"
        assert run.summary["score"] == pytest.approx(result["score"])
        assert run.exit_code == 0
