"""Ray Tune driving our agents: a real local Ray (2 CPUs) runs a grid search with ASHA
and a random search with PBT through :func:`tfhparam.ray.trainable`, checkpoints
continued; our HParams layout written from its trials; our search spaces in Ray's terms;
``--backend ray`` killed and resumed. Slow: Ray starts, and its workers import TensorFlow."""

import glob
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'tfhparam[ray]')")

from tfhparam import ray as tfray  # noqa: E402
from tfhparam.tensorboard import read_scalars  # noqa: E402

FIXED = {"hidden_size": 16, "num_envs": 4, "num_steps": 64}  # 256 env steps a rollout
LR_SPACE = {"learning_rate": {"min": 1e-4, "max": 1e-2, "log": True}}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def fit(tmp_path, name, trainable, param_space, **tune_config):
    from ray import tune

    callback = tfray.HParamsCallback(str(tmp_path / "tb" / name), "ppo", LR_SPACE)
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        # reuse_actors: a trial (or PBT's restart of one) reuses a worker that has imported
        # TensorFlow and compiled the agent already
        tune_config=tune.TuneConfig(metric="score", mode="max", reuse_actors=True, **tune_config),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path / "ray"), name=name, verbose=0, callbacks=[callback]
        ),
    )
    return tuner.fit()


def hparams_sessions(logdir):
    """The HParams plugin's records in ``logdir``: the experiment's columns, and each
    trial's session start (hparams) and end (status)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2

    def records(directory):
        for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
            for event in EventFileLoader(path).Load():
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "hparams":
                        content = value.metadata.plugin_data.content
                        yield plugin_data_pb2.HParamsPluginData.FromString(content)

    (experiment,) = [r.experiment for r in records(logdir) if r.HasField("experiment")]
    sessions = {}
    for directory in glob.glob(os.path.join(logdir, "trial_*")):
        found = list(records(directory))
        (start,) = [r.session_start_info for r in found if r.HasField("session_start_info")]
        ends = [r.session_end_info.status for r in found if r.HasField("session_end_info")]
        hparams = {k: v.number_value or v.string_value for k, v in start.hparams.items()}
        sessions[os.path.basename(directory)] = (hparams, ends)
    return [h.name for h in experiment.hparam_infos], sessions


def test_search_space_keeps_log_scales_and_value_lists():
    from ray.tune.search.sample import Categorical, Float, Integer, LogUniform

    space = tfray.search_space("ppo")
    assert isinstance(space["learning_rate"], Float)
    assert isinstance(space["learning_rate"].get_sampler(), LogUniform)
    assert (space["learning_rate"].lower, space["learning_rate"].upper) == (1e-4, 3e-3)
    assert isinstance(space["num_minibatches"], Categorical)
    assert space["num_minibatches"].categories == [2, 4, 8]
    assert not isinstance(space["ent_coef"].get_sampler(), LogUniform)
    ints = tfray.search_space("ppo", {"update_epochs": {"min": 2, "max": 8}})
    assert isinstance(ints["update_epochs"], Integer) and ints["update_epochs"].upper == 9
    assert tfray.search_space("ppo", {"gamma": 0.99}) == {}  # a fixed value is not searched
    with pytest.raises(Exception, match="learning_rate"):
        tfray.search_space("ppo", {"learning_rate": {"min": 5.0, "max": 9.0}})


def test_perturbed_values_are_pulled_into_the_agents_domains():
    perturbed = {"learning_rate": 0.0117, "update_epochs": 24.6, "gamma": 0.9, "other": 7}
    assert tfray.within_domains("ppo", perturbed) == {
        "learning_rate": 0.01,  # the top of PPO's learning_rate domain
        "update_epochs": 20,
        "gamma": 0.9,
        "other": 7,
    }
    assert tfray.within_domains("ppo", {"num_minibatches": 3}) == {"num_minibatches": 3}


@pytest.mark.slow
def test_asha_stops_the_worse_trials_early_and_pbt_continues_from_checkpoints(local_ray, tmp_path):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    train = tfray.trainable("ppo", total_timesteps=3072, report_every=1024, fixed_hparams=FIXED)
    asha = ASHAScheduler(
        time_attr="timesteps_total", max_t=3072, grace_period=1024, reduction_factor=2
    )
    # one trial at a time, the best first: ASHA stops the worse ones at their first rung
    # (every trial's first rollout is the same, seed 0; the learning rate makes the rest)
    grid = {"learning_rate": tune.grid_search([3e-3, 2e-3, 1e-5, 2e-5])}
    results = fit(tmp_path, "asha", train, grid, scheduler=asha, max_concurrent_trials=1)
    assert not results.errors
    steps = {r.config["learning_rate"]: r.metrics["timesteps_total"] for r in results}
    assert steps[3e-3] == 3072 and steps[1e-5] == steps[2e-5] == 1024, steps
    for result in results:  # a report every 1024 steps, each with a checkpoint of every run
        metrics = result.metrics
        assert metrics["training_iteration"] == metrics["timesteps_total"] // 1024
        assert math.isfinite(metrics["score"]) and metrics["score"] > 0
        assert "losses/value_loss" in metrics and "rewards" in metrics
        with result.checkpoint.as_directory() as directory:
            with open(os.path.join(directory, tfray.STATE_FILE)) as f:
                assert json.load(f)["steps"] == metrics["timesteps_total"]
            assert os.path.isdir(os.path.join(directory, "CartPole-v1_seed_0"))
    columns, sessions = hparams_sessions(str(tmp_path / "tb" / "asha"))
    assert columns == ["learning_rate", "trial"]
    assert sorted(h["learning_rate"] for h, _ in sessions.values()) == sorted(
        r.config["learning_rate"] for r in results
    )
    assert all(ends == [1] for _, ends in sessions.values())  # STATUS_SUCCESS

    pbt = PopulationBasedTraining(
        time_attr="timesteps_total",
        perturbation_interval=1024,
        quantile_fraction=0.5,  # the worse half clones the better half's checkpoints
        hyperparam_mutations={"learning_rate": tune.loguniform(1e-4, 1e-2)},
    )
    space = tfray.search_space("ppo", LR_SPACE)
    results = fit(tmp_path, "pbt", train, space, num_samples=4, scheduler=pbt)
    assert not results.errors
    assert sorted(r.metrics["timesteps_total"] for r in results) == [3072] * 4
    with open(tmp_path / "ray" / "pbt" / "pbt_global.txt") as f:
        exploits = [json.loads(line) for line in f if line.strip()]
    assert exploits  # some trial took another's checkpoint
    # ... and went on from the steps that checkpoint holds (the callback's record of each
    # trial's reports): a trial that started over would report 1024 steps again
    for directory in glob.glob(str(tmp_path / "tb" / "pbt" / "trial_*")):
        steps = [step for step, _ in read_scalars(directory, ["score"])["score"]]
        assert steps[0] == 1024 and min(steps[1:]) >= 2048 and steps[-1] == 3072, steps
    _, sessions = hparams_sessions(str(tmp_path / "tb" / "pbt"))
    assert len(sessions) == 4


def test_backend_ray_without_the_extra_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    from tfhparam import sweep as sweep_cli

    real = sweep_cli.importlib.util.find_spec
    monkeypatch.setattr(
        sweep_cli.importlib.util, "find_spec", lambda name: None if name == "ray" else real(name)
    )
    with pytest.raises(SystemExit) as exited:
        sweep_cli.main(["--backend", "ray", "--logdir", str(tmp_path)])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "python -m tfhparam.sweep: error: --backend ray needs Ray, not installed: "
        "pip install 'tfhparam[ray]'"
    ]
    assert os.listdir(tmp_path) == []


SWEEP_ARGS = [
    "--strategy",
    "random",
    "--trials",
    "4",
    "--total-timesteps",
    "4096",
    "--population",  # a trial at a time: results come one by one, the kill lands between
    "1",
    "--set",
    "hidden_size=16",
    "--name",
    "on_ray",
    "--quiet",
]


@pytest.mark.slow
def test_backend_ray_resumes_after_kill_9_with_the_default_backends_results(tmp_path):
    """The chief serves its oracle, Ray runs its workers (an embedded Ray of this
    machine); killed -9 after its first trial, the rerun finishes the sweep, and every
    trial scores as the default backend scores it."""
    logdir = str(tmp_path / "ray")
    command = [sys.executable, "-m", "tfhparam.sweep", *SWEEP_ARGS, "--logdir", logdir]
    # its own session: Ray's processes never share this test's process group
    process = subprocess.Popen(
        [*command, "--backend", "ray"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    project = os.path.join(logdir, "on_ray")
    first = os.path.join(project, "trial_0", "result.json")
    deadline = time.time() + 300
    while time.time() < deadline and not os.path.exists(first):
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = glob.glob(os.path.join(project, "trial_*", "result.json"))
    assert 1 <= len(done) < 4, "the kill should land mid-sweep"

    out = subprocess.run(
        [*command, "--backend", "ray"],
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )
    assert out.returncode == 0, out.stderr
    assert "2 workers on Ray" in out.stdout
    with open(os.path.join(project, "results.json")) as f:
        on_ray = {r["trial"]: (r["status"], r["score"]) for r in json.load(f)}
    assert os.path.exists(os.path.join(project, "hparams_config.json"))

    reference = subprocess.run(
        [*command[:-1], str(tmp_path / "local"), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert reference.returncode == 0, reference.stderr
    with open(tmp_path / "local" / "on_ray" / "results.json") as f:
        local = {r["trial"]: (r["status"], r["score"]) for r in json.load(f)}
    assert on_ray == local and len(local) == 4
