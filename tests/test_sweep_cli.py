"""``python -m tfhparam.sweep`` as a process: exit codes, results, resume after kill -9, the
sweep directory's lock."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tfhparam import results
from tfhparam import sweep as sweep_cli

SWEEP = [sys.executable, "-m", "tfhparam.sweep"]


def run(*args, cwd=None, timeout=300):
    return subprocess.run([*SWEEP, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strategy", "annealing"], "unknown strategy 'annealing'"),
        (["--env", "NoSuchEnv-v3"], "unknown env id 'NoSuchEnv-v3'"),
        (["--set", "learning_rate=3"], "learning_rate=3.0 is outside its domain"),
        (["--total-timesteps", "-5"], "--total-timesteps must be positive"),
        (["--trials", "0"], "--trials must be positive"),
        (["--agent", "sac"], "unknown agent 'sac'"),
        (["--agent", "dqn", "--env", "Pendulum-v1"], "Pendulum-v1: dqn needs Discrete actions"),
        (["--env", "CartPole-v1[x=1]"], "unexpected keyword argument 'x'"),
        (["--env", "LunarLander-v3", "--env-backend", "tf"], "LunarLander-v3 has no TensorFlow"),
        (["--results"], "--results needs --name"),
        (["--name", "nothing_here", "--results"], "no sweep results in"),
        (["--population", "0"], "--population must be a positive number or auto, got '0'"),
        (["--population", "many"], "--population must be a positive number or auto"),
        (["--inter-op-threads", "-1"], "--inter-op-threads must be 0 or more, got -1"),
        (["--backend", "spark"], "--backend: unknown backend 'spark'; choose local or ray"),
        (["--ray-address", "10.0.0.1:6379"], "--ray-address needs --backend ray"),
        (["--backend", "ray", "--ray-address", "here"], "--ray-address: expected HOST:PORT"),
        (["--backend", "ray", "--ray-address", "127.0.0.1:9"], "no Ray cluster answers at"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    out = run(*args, "--logdir", str(tmp_path))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert os.listdir(tmp_path) == []  # nothing written


def test_malformed_sweep_file_names_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("agent: ppo\nspace:\n  learning_rate: {min: 1.0e-9, max: 1.0e-3}\n")
    out = run("--config", str(path), "--logdir", str(tmp_path / "logs"))
    assert out.returncode == 2
    assert "space.learning_rate.min: 1e-09 is outside the agent's domain" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"agent: ppo\nname: caf\xe9\n", "not UTF-8 text (byte 20)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text"),
        (b"\x1f\x8b\x08\x00", "not UTF-8 text"),
        (None, "is a directory, not a sweep file"),
    ],
    ids=["latin-1", "png", "gzip", "directory"],
)
def test_a_sweep_file_that_is_not_text_exits_2_with_one_line(content, message, tmp_path):
    path = tmp_path / "sweep.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    out = run("--config", str(path), "--logdir", str(tmp_path / "logs"))
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()


def test_a_damaged_sweep_definition_exits_2_and_is_kept(tmp_path):
    project = tmp_path / "logs" / "d"
    project.mkdir(parents=True)
    (project / "sweep.json").write_bytes(b"\xff\xfe{ not json")
    out = run("--name", "d", "--logdir", str(tmp_path / "logs"), "--trials", "1")
    assert out.returncode == 2 and "is not a sweep definition (damaged?)" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert (project / "sweep.json").read_bytes() == b"\xff\xfe{ not json"


@pytest.mark.parametrize(
    "agent, envs, population, sharing, expected",
    [
        ("ppo", [], "auto", 1, (1, 4)),  # a population's XLA program: ops split over the cores
        ("a2c", [], 3, 2, (1, 2)),  # a worker's share of the cores
        ("ppo", [], 1, 1, (1, 1)),  # one run at a time: tiny ops, each inline
        ("dqn", [], "auto", 1, (1, 1)),  # DQN never trains as a population
        ("ppo", ["LunarLander-v3"], "auto", 1, (1, 1)),  # NumPy every step: small ops
        ("ppo", ["CartPole-v1", "LunarLander-v3"], "auto", 1, (1, 1)),  # not all in graph
    ],
)
def test_threads_follow_the_mode_and_the_cores(
    agent, envs, population, sharing, expected, monkeypatch
):
    monkeypatch.setattr(sweep_cli.os, "cpu_count", lambda: 4)
    sweep = sweep_cli.config.build({}, {"agent": agent, **({"envs": envs} if envs else {})})
    args = sweep_cli.build_parser().parse_args([])
    assert sweep_cli.threads(args, sweep, population, sharing) == expected
    args = sweep_cli.build_parser().parse_args(["--inter-op-threads", "3"])
    assert sweep_cli.threads(args, sweep, population, sharing) == (3, expected[1])


def test_best_command_is_a_runnable_train_command():
    sweep = sweep_cli.config.build({}, {"set": ["gamma=0.98"]})
    row = results.Row(
        "0", 1.0, "completed", 2048, hparams={"learning_rate": 0.001, "norm_adv": True}
    )
    command = results.best_command(sweep.to_json(), row)
    assert command == (
        "python -m tfhparam.train --agent ppo --env CartPole-v1 "
        "--total-timesteps 2048 --gamma 0.98 --learning-rate 0.001 "
        "--norm-adv True"
    )
    from tfhparam import train

    _, hparams = train.parse(command.split()[3:])
    assert hparams["gamma"] == 0.98 and hparams["norm_adv"] is True


def events_per_run(project):
    return {
        run_dir: len(glob.glob(os.path.join(run_dir, "events.out.tfevents.*")))
        for run_dir in glob.glob(os.path.join(project, "trial_*", "*", "seed_*"))
    }


@pytest.mark.slow
def test_kill_9_mid_batch_then_rerun_finishes_exactly_the_asked_trials(tmp_path):
    """Four trials in batches of two: the kill -9 lands inside the second batch, after the
    first finished; the rerun keeps the finished trials and redoes the killed batch. Also
    the lock between two real processes: while the first sweep runs, the same command (and
    with --overwrite) exits 2 naming it and touches nothing; after its kill -9 the rerun
    takes the lock over. Tracked in MLflow: the killed batch's runs are replaced, not
    doubled."""
    logdir = str(tmp_path / "logs")
    args = [
        "--strategy",
        "random",
        "--trials",
        "4",
        "--total-timesteps",
        "16384",
        "--env-backend",  # gymnasium's CartPole: a batch trains for seconds, the kill lands
        "gymnasium",  # inside it (the in-graph env trains it in under one)
        "--set",
        "num_envs=2",
        "--set",
        "num_steps=64",
        "--set",
        "hidden_size=16",
        "--name",
        "killed",
        "--logdir",
        logdir,
        "--seed",
        "7",
        "--workers",
        "1",
        "--population",
        "2",
        "--tracker",
        "mlflow",
    ]
    project = os.path.join(logdir, "killed")
    process = subprocess.Popen(
        [*SWEEP, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    result_0 = os.path.join(project, "trial_0", "result.json")
    inside = os.path.join(project, "trial_3", "CartPole-v1")  # the second batch: 2 and 3
    deadline = time.time() + 240
    while time.time() < deadline and not os.path.exists(inside):
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the trial
    process.send_signal(signal.SIGSTOP)  # the lock: frozen, the sweep still holds it
    before = snapshot(project)
    for extra in ([], ["--overwrite"]):
        second = run(*args, *extra)
        assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr
        line = second.stderr.strip().splitlines()[-1]
        assert line.startswith("python -m tfhparam.sweep: error: sweep directory")
        assert f"in use by pid {process.pid} on {socket.gethostname()} since " in line
        assert snapshot(project) == before  # nothing removed, nothing written
    process.send_signal(signal.SIGKILL)  # kill -9: the kernel drops the lock; taken over below
    process.wait()
    assert os.path.exists(result_0), "the first batch should have finished before the kill"
    with open(result_0) as f:
        first_score = json.load(f)["score"]
    for trial in ("2", "3"):
        path = os.path.join(project, f"trial_{trial}", "result.json")
        assert not os.path.exists(path), "the second batch should have been killed mid-way"

    out = run(*args)
    assert out.returncode == 0, out.stderr
    with open(os.path.join(project, "results.json")) as f:
        rows = json.load(f)
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2", "3"]
    assert all(r["status"] == "completed" for r in rows)
    assert next(r for r in rows if r["trial"] == "0")["score"] == first_score
    assert set(events_per_run(project).values()) == {1}  # no duplicate session
    assert "best configuration:" in out.stdout
    check_mlflow_after_the_kill(project, rows)

    changed = run(*[a if a != "random" else "grid" for a in args])
    assert changed.returncode == 2 and "different strategy" in changed.stderr
    with open(os.path.join(project, "results.json")) as f:
        assert json.load(f) == rows  # nothing overwritten
    shown = run("--name", "killed", "--logdir", logdir, "--results")
    assert shown.returncode == 0 and "completed" in shown.stdout


def check_mlflow_after_the_kill(project, rows):
    """One finished MLflow run per run of the sweep, with the trial's score; the runs the
    kill left running were deleted by the rerun; the results attached to the sweep's run."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    from tfhparam import trackers

    client = MlflowClient(tracking_uri=trackers.mlflow_store(project))
    experiment = client.get_experiment_by_name("killed").experiment_id
    found = client.search_runs([experiment])
    runs = {r.data.tags[trackers.RUN_TAG]: r for r in found if trackers.RUN_TAG in r.data.tags}
    assert sorted(runs) == [f"{t}/CartPole-v1/seed_7000" for t in "0123"]
    assert len(found) == len(runs) + 1  # and the sweep's run
    scores = {r["trial"]: r["score"] for r in rows}
    for key, run in runs.items():
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "success"
        assert run.data.metrics["score"] == pytest.approx(scores[key.split("/")[0]])
        history = client.get_metric_history(run.info.run_id, "global_step")
        assert [m.step for m in history] == list(range(128, 16385, 128))  # every iteration
    deleted = client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY)
    assert sorted(r.data.tags[trackers.RUN_TAG] for r in deleted) == [
        "2/CartPole-v1/seed_7000",
        "3/CartPole-v1/seed_7000",
    ]
    assert all(r.info.status == "RUNNING" for r in deleted)  # as the kill left them
    (parent,) = [r for r in found if r.data.tags[trackers.KIND_TAG] == "sweep"]
    assert {"results.csv", "results.json"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)
    }


def snapshot(directory):
    """Every file under ``directory`` with its size and modification time."""
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            found[path] = (os.path.getsize(path), os.stat(path).st_mtime_ns)
    return found


def test_a_sweep_directory_from_before_the_registry_still_resumes(tmp_path):
    """Sweep files could once set other strategies' options (ignored); their sweep.json
    still matches the same sweep without them. An option the strategy reads must match."""
    sweep = sweep_cli.config.build({"strategy": "random", "trials": 3})
    old = sweep.to_json()
    old["options"] = {**old["options"], "population_size": 12, "grid_points": 5}
    (tmp_path / "sweep.json").write_text(json.dumps(old))
    sweep_cli.check_directory(str(tmp_path), sweep)  # no error: resumes
    grid = sweep_cli.config.build({"strategy": "grid", "trials": 3})
    old = grid.to_json()
    old["options"] = {**old["options"], "grid_points": 5}
    (tmp_path / "sweep.json").write_text(json.dumps(old))
    with pytest.raises(sweep_cli.UsageError, match="exists with a different options"):
        sweep_cli.check_directory(str(tmp_path), grid)


def test_a_sweep_written_before_evaluation_existed_still_resumes(tmp_path):
    sweep = sweep_cli.config.build({}, {})
    old = sweep.to_json()
    for name in sweep_cli.config.ADDED_FIELDS:
        del old[name]
    results.write_definition(str(tmp_path), "sweep", json.loads(json.dumps(old)))
    sweep_cli.check_directory(str(tmp_path), sweep)  # the defaults: resumes
    evaluated = sweep_cli.config.build({}, {"score_from": "eval"})
    with pytest.raises(sweep_cli.UsageError, match="different score_from"):
        sweep_cli.check_directory(str(tmp_path), evaluated)
