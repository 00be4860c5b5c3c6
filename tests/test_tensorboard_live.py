"""A real TensorBoard process shows every trial, hparam and metric in its HParams data."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from fakes import FakeRunner
from test_tuner import make_tuner

METRICS = ["rewards", "explained_variance", "episode_length", "score", "pruned"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, route, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/data/plugin/hparams/{route}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def session_groups(port, hparam_names=()):
    """All session groups, with every given hparam and metric, whatever their status."""
    col_params = [{"hparam": name, "includeInResult": True} for name in hparam_names]
    col_params += [
        {"metric": {"tag": tag, "group": ""}, "includeInResult": True} for tag in METRICS
    ]
    return post(
        port,
        "session_groups",
        {
            "experimentName": "",
            "colParams": col_params,
            "startIndex": 0,
            "sliceSize": 100,
            "allowedStatuses": [
                "STATUS_UNKNOWN",
                "STATUS_SUCCESS",
                "STATUS_FAILURE",
                "STATUS_RUNNING",
            ],
            "aggregationType": "AGGREGATION_AVG",
        },
    ).get("sessionGroups", [])


@pytest.mark.slow
def test_hparams_plugin_serves_every_trial_hparam_and_metric(tmp_path):
    _, tuner = make_tuner(
        tmp_path,
        FakeRunner(diverge_below=3e-4),
        strategy="random",
        trials=4,
        seeds=2,
        seed=3,
        envs=["CartPole-v1", "Acrobot-v1"],
    )
    tuner.search()
    rows = tuner.results()
    assert {r["status"] for r in rows} == {"completed", "failed"}
    port = free_port()
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    server = subprocess.Popen(
        [
            tensorboard,
            "--logdir",
            str(tmp_path / "s"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        experiment = {}
        deadline = time.time() + 90
        while time.time() < deadline and not experiment.get("metricInfos"):
            time.sleep(1)
            try:
                experiment = post(port, "experiment", {"experimentName": ""})
            except OSError:
                continue
        hparam_names = {h["name"] for h in experiment["hparamInfos"]}
        assert hparam_names == set(tuner.oracle.get_space().values) | {"trial", "env"}
        assert {m["name"]["tag"] for m in experiment["metricInfos"]} == set(METRICS)

        groups = session_groups(port, hparam_names)
        # One group per (trial, env) that ran, holding its seeds; a failed trial stops at
        # its first failing run.
        completed = [r for r in rows if r["status"] == "completed"]
        names = {g["name"] for g in groups}
        assert {
            f"{r['trial']}/{env}" for r in completed for env in ("CartPole-v1", "Acrobot-v1")
        } <= names
        assert {name.split("/")[0] for name in names} == {r["trial"] for r in rows}
        for group in groups:
            trial_id, env = group["name"].split("/")
            row = next(r for r in rows if r["trial"] == trial_id)
            assert len(group["sessions"]) == (2 if row["status"] == "completed" else 1)
            assert group["hparams"]["env"] == env and group["hparams"]["trial"] == trial_id
            assert group["hparams"]["learning_rate"] == pytest.approx(
                row["hparams"]["learning_rate"]
            )
            statuses = {s["status"] for s in group["sessions"]}
            tags = {m["name"]["tag"] for m in group["metricValues"]}
            if row["status"] == "completed":
                assert statuses == {"STATUS_SUCCESS"}
                assert tags == set(METRICS) - {"pruned"}  # logged by pruned trials only
                score = next(
                    m["value"] for m in group["metricValues"] if m["name"]["tag"] == "score"
                )
                assert score == pytest.approx(row["score"], rel=1e-5)
            else:
                assert statuses == {"STATUS_FAILURE"}
    finally:
        server.terminate()
        server.wait(timeout=30)
