"""Parallel trials as real processes: local workers, Keras Tuner's chief/worker mode on
loopback, and a worker killed mid-trial."""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from test_tensorboard_live import METRICS, free_port, session_groups

SWEEP = [sys.executable, "-m", "tfhparam.sweep"]
TINY = [
    "--strategy",
    "random",
    "--trials",
    "4",
    "--total-timesteps",
    "4096",
    "--set",
    "num_envs=2",
    "--set",
    "num_steps=64",
    "--set",
    "hidden_size=16",
    "--seed",
    "3",
    "--population",  # two trials a worker, trained as one population
    "2",
]


def results(project):
    with open(os.path.join(project, "results.json")) as f:
        return json.load(f)


def started_trials(output):
    return re.findall(r"\[trial (\d+)\] running", output)


def one_session_per_run(project):
    runs = glob.glob(os.path.join(project, "trial_*", "*", "seed_*"))
    return runs and all(
        len(glob.glob(os.path.join(run, "events.out.tfevents.*"))) == 1 for run in runs
    )


@pytest.mark.slow
def test_two_local_workers_give_the_same_trials_as_one(tmp_path):
    """The trials one process would run (their hparams depend on the oracle alone, so the
    reference trains fake agents in this process) are the trials two workers ran."""
    from fakes import FakeRunner

    from tfhparam import sweep as sweep_cli
    from tfhparam.tuner import RLTuner

    args = sweep_cli.build_parser().parse_args([*TINY, "--name", "one"])
    one = RLTuner.from_sweep(
        sweep_cli.resolve(args), str(tmp_path), runner=FakeRunner(), verbose=False, population=2
    )
    one.search()
    two = subprocess.run(
        [*SWEEP, *TINY, "--name", "two", "--logdir", str(tmp_path), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr
    assert sorted(started_trials(two.stdout)) == ["0", "1", "2", "3"]
    assert {
        re.search(r"\[(tuner\d)\]", line).group(1)
        for line in two.stdout.splitlines()
        if "running" in line
    } == {"tuner0", "tuner1"}
    rows_one, rows_two = results(tmp_path / "one"), results(tmp_path / "two")
    by_trial = lambda rows: {r["trial"]: r["hparams"] for r in rows}  # noqa: E731
    assert by_trial(rows_one) == by_trial(rows_two)
    assert all(r["status"] == "completed" for r in rows_two)
    assert one_session_per_run(tmp_path / "two")


@pytest.mark.slow
def test_chief_and_two_workers_started_by_hand_on_loopback(tmp_path):
    port, logdir = free_port(), str(tmp_path / "shared")
    args = [*TINY, "--name", "dist", "--logdir", logdir]

    def start(tuner_id):
        env = {
            **os.environ,
            "KERASTUNER_TUNER_ID": tuner_id,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
        }
        return subprocess.Popen(
            [*SWEEP, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    chief = start("chief")
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(logdir, "dist", "oracle.json")):
        assert time.time() < deadline and chief.poll() is None, chief.stdout.read()
        time.sleep(0.2)
    workers = [start("tuner0"), start("tuner1")]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    chief_out = chief.communicate(timeout=120)[0]
    assert chief.returncode == 0 and all(w.returncode == 0 for w in workers), chief_out
    started = [t for out in outputs for t in started_trials(out)]
    assert sorted(started) == ["0", "1", "2", "3"]  # every trial ran exactly once
    assert all(started_trials(out) for out in outputs)  # both workers worked
    project = os.path.join(logdir, "dist")
    rows = results(project)
    assert len(rows) == 4 and all(r["status"] == "completed" for r in rows)
    assert one_session_per_run(project)

    tb_port = free_port()
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    server = subprocess.Popen(
        [tensorboard, "--logdir", project, "--host", "127.0.0.1", "--port", str(tb_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        groups, deadline = [], time.time() + 90
        while len(groups) < 4 and time.time() < deadline:
            time.sleep(1)
            try:
                groups = session_groups(tb_port)
            except OSError:
                continue
        assert sorted(g["name"] for g in groups) == [f"{r}/CartPole-v1" for r in "0123"]
        for group in groups:
            tags = {m["name"]["tag"] for m in group["metricValues"]}
            assert tags == set(METRICS) - {"pruned"}  # no trial was pruned
    finally:
        server.terminate()
        server.wait(timeout=30)


def children(pid):
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.split("/")[2]))
    return found


@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_replaced_and_its_trial_retried(tmp_path):
    args = [
        *TINY,
        "--total-timesteps",
        "16384",
        "--name",
        "dying",
        "--logdir",
        str(tmp_path),
        "--workers",
        "2",
    ]
    chief = subprocess.Popen(
        [*SWEEP, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    project = tmp_path / "dying"
    deadline = time.time() + 120
    # both workers training (each its batch of two): whichever dies, it dies mid-trial (a
    # worker still starting up when the first batch begins would die between trials)
    while len(glob.glob(str(project / "trial_*" / "CartPole-v1"))) < 4:
        assert time.time() < deadline and chief.poll() is None
        time.sleep(0.1)
    time.sleep(0.5)
    victims = children(chief.pid)
    assert len(victims) == 2
    os.kill(victims[0], signal.SIGKILL)
    output = chief.communicate(timeout=300)[0]
    assert chief.returncode == 0, output
    assert "died (exit -9); retrying the trial" in output
    rows = results(project)
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2", "3"]
    assert all(r["status"] == "completed" for r in rows), (rows, output)
    assert one_session_per_run(project)


@pytest.mark.slow
def test_kill_9_of_the_chief_takes_its_workers_down_and_a_rerun_completes(tmp_path):
    args = [
        *TINY,
        "--total-timesteps",
        "16384",
        "--name",
        "chiefdies",
        "--logdir",
        str(tmp_path),
        "--workers",
        "2",
    ]
    chief = subprocess.Popen([*SWEEP, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    project = tmp_path / "chiefdies"
    deadline = time.time() + 120
    while not glob.glob(str(project / "trial_*" / "CartPole-v1")):
        assert time.time() < deadline and chief.poll() is None
        time.sleep(0.1)
    workers = children(chief.pid)
    chief.send_signal(signal.SIGKILL)
    chief.wait()
    time.sleep(1.0)
    assert workers and not any(
        os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"
        for pid in workers
    )  # no orphan keeps writing
    rerun = subprocess.run([*SWEEP, *args], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = results(project)
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2", "3"]
    assert all(r["status"] == "completed" for r in rows)
    assert one_session_per_run(project)
