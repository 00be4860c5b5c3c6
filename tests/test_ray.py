"""Ray Tune driving our agents: a real local Ray (2 CPUs) runs a grid search, ASHA and PBT
through :func:`tfhparam.ray.trainable`, checkpoints continued; our HParams layout written
from its trials; our search spaces in Ray's terms. Slow: Ray starts, and its workers
import TensorFlow."""

import glob
import json
import math
import os

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
def test_a_grid_search_trains_each_trial_and_writes_the_hparams_tab(local_ray, tmp_path):
    from ray import tune

    train = tfray.trainable("ppo", total_timesteps=2048, report_every=1024, fixed_hparams=FIXED)
    grid = {"learning_rate": tune.grid_search([3e-4, 3e-3])}
    results = fit(tmp_path, "grid", train, grid)
    assert not results.errors
    frame = results.get_dataframe()
    assert sorted(frame["config/learning_rate"]) == [3e-4, 3e-3]
    assert list(frame["timesteps_total"]) == [2048, 2048]
    assert all(math.isfinite(s) and s > 0 for s in frame["score"])
    assert "losses/value_loss" in frame.columns and "rewards" in frame.columns
    for result in results:  # two reports a trial, each with a checkpoint of every run
        assert result.metrics["training_iteration"] == 2
        with result.checkpoint.as_directory() as directory:
            assert os.path.exists(os.path.join(directory, tfray.STATE_FILE))
            assert os.path.isdir(os.path.join(directory, "CartPole-v1_seed_0"))

    columns, sessions = hparams_sessions(str(tmp_path / "tb" / "grid"))
    assert columns == ["learning_rate", "trial"]
    assert sorted(h["learning_rate"] for h, _ in sessions.values()) == [3e-4, 3e-3]
    assert all(ends == [1] for _, ends in sessions.values())  # STATUS_SUCCESS


@pytest.mark.slow
def test_asha_stops_trials_early_and_pbt_continues_from_checkpoints(local_ray, tmp_path):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    train = tfray.trainable("ppo", total_timesteps=3072, report_every=1024, fixed_hparams=FIXED)
    space = tfray.search_space("ppo", LR_SPACE)
    asha = ASHAScheduler(
        time_attr="timesteps_total", max_t=3072, grace_period=1024, reduction_factor=2
    )
    results = fit(tmp_path, "asha", train, space, num_samples=4, scheduler=asha)
    steps = sorted(r.metrics["timesteps_total"] for r in results)
    assert len(steps) == 4 and steps[0] < 3072 and steps[-1] == 3072  # some stopped early

    pbt = PopulationBasedTraining(
        time_attr="timesteps_total",
        perturbation_interval=1024,
        quantile_fraction=0.5,  # the worse half clones the better half's checkpoints
        hyperparam_mutations={"learning_rate": tune.loguniform(1e-4, 1e-2)},
    )
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
