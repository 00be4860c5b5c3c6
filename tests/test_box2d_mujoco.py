"""gymnasium's MuJoCo and Box2D envs (extras ``mujoco`` and ``box2d``, installed by the
dev extra): the agents train on them, checkpoints of them restore and go on (with new
episodes: these envs pickle only their constructor's arguments), a missing package names
its extra, and the MuJoCo preset is CleanRL's."""

import pickle

import gymnasium as gym
import numpy as np
import pytest

import agents
from agents import checkpoints, envs
from tfhparam import cli, train

agents.configure_threads()
TINY = {"num_envs": 2, "num_steps": 32, "hidden_size": 16}


@pytest.mark.parametrize(
    "algo, env_id, hparams",
    [
        ("ppo", "HalfCheetah-v5", {**TINY, "norm_obs": True, "norm_reward": True}),
        ("dqn", "LunarLander-v3", {"hidden_size": 16, "learning_starts": 64}),
    ],
)
def test_agents_train_on_them_and_their_checkpoints_go_on(algo, env_id, hparams, tmp_path):
    module = agents.load(algo)
    agent = module.make_agent(env_id, hparams, seed=1)
    assert agent.env_backend == "gymnasium"
    budget = 128 if algo != "dqn" else 1000
    history = list(module.train(agent, budget))
    assert history and all(np.isfinite(m["charts/SPS"]) for m in history)
    agent.save(str(tmp_path / "checkpoint"))
    restored = checkpoints.load_agent(str(tmp_path / "checkpoint"))
    for saved, loaded in zip(agent.variables, restored.variables):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    more = list(module.train(restored, 2 * budget))  # steps on from new episodes
    assert more[-1]["global_step"] == 2 * budget
    agent.close()
    restored.close()


def test_a_restored_runner_starts_new_episodes_from_its_own_seed():
    runner = envs.EnvRunner(envs.make_vec_env("LunarLander-v3", 2), seed=7)
    assert not envs.keeps_state_when_pickled(runner.env)
    first, second = pickle.loads(pickle.dumps(runner)), pickle.loads(pickle.dumps(runner))
    assert first.restarts == 1 and first.seed == 7
    np.testing.assert_array_equal(first.obs, second.obs)  # the same restart, the same start
    again = pickle.loads(pickle.dumps(first))
    assert again.restarts == 2 and not np.array_equal(again.obs, first.obs)
    seeds = {envs.restart_seed(7, k) for k in range(1, 50)}
    assert len(seeds) == 49 and all(2**28 <= s < 2**29 - 2**16 for s in seeds)
    cartpole = envs.EnvRunner(envs.make_vec_env("Acrobot-v1", 2), seed=7)
    assert envs.keeps_state_when_pickled(cartpole.env)  # classic control: exact episodes
    assert pickle.loads(pickle.dumps(cartpole)).restarts == 0


def test_a_restored_runner_keeps_its_envs_options():
    """EzPickle envs are rebuilt from the runner's env name: its options too."""
    name = "LunarLander-v3[continuous=true]"
    runner = envs.EnvRunner(envs.make_vec_env(name, 2), seed=7, name=name)
    assert isinstance(runner.env.single_action_space, gym.spaces.Box)
    restored = pickle.loads(pickle.dumps(runner))
    assert restored.name == name and restored.restarts == 1
    assert isinstance(restored.env.single_action_space, gym.spaces.Box)


def test_a_missing_package_names_the_extra_to_install(monkeypatch):
    def missing(env_id, **kwargs):
        raise gym.error.DependencyNotInstalled(
            'MuJoCo is not installed, run `pip install "mujoco"`'
        )

    monkeypatch.setattr(gym, "make", missing)
    with pytest.raises(cli.UsageError) as info:
        cli.check_env_id("HalfCheetah-v5")
    message = str(info.value)
    assert "HalfCheetah-v5 needs a package that is not installed" in message
    assert "pip install 'tfhparam[mujoco]'" in message and "\n" not in message


def test_the_mujoco_preset_is_cleanrls_continuous_ppo():
    _, hparams = train.parse(["--env", "HalfCheetah-v5", "--preset", "mujoco"])
    expected = {"num_envs": 1, "num_steps": 2048, "update_epochs": 10, "num_minibatches": 32}
    assert {k: hparams[k] for k in expected} == expected
    assert hparams["learning_rate"] == 3e-4 and hparams["norm_obs"] and hparams["norm_reward"]
