"""Image observations (extras ``atari`` and ``minatar``, installed by the dev extra): Atari's
preprocessing frame by frame against gymnasium's own wrappers, episodic lives and whole-game
logging, CNN members equal to their lone runs, checkpoints, the CNN choice and its errors,
human-normalized targets, a missing extra, and a MinAtar sweep end to end."""

import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import agents
from agents import checkpoints, dqn, envs, games, ppo
from agents.population import Population, train
from tfhparam import atari_scores, cli, config

agents.configure_threads()
MINATAR = "MinAtar/Breakout-v1"
TINY_CNN = {
    "num_envs": 2,
    "num_steps": 16,
    "num_minibatches": 2,
    "update_epochs": 2,
    "conv_channels": 8,
    "dense_units": 64,
}


def reference_atari(env_id: str) -> gym.Env:
    """Gymnasium's own AtariPreprocessing and FrameStackObservation, nothing else."""
    env = gym.make(env_id, frameskip=1)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
    return gym.wrappers.FrameStackObservation(env, 4)


def test_atari_evaluation_frames_are_gymnasiums_preprocessing_frame_by_frame():
    """MsPacman has no FIRE: an evaluation env is exactly gymnasium's two wrappers, with
    the stack's axis last."""
    ours, theirs = games.make("ALE/MsPacman-v5", training=False), reference_atari("ALE/MsPacman-v5")
    assert ours.observation_space.shape == (84, 84, 4) and ours.observation_space.dtype == np.uint8
    obs, _ = ours.reset(seed=3)
    expected, _ = theirs.reset(seed=3)
    np.testing.assert_array_equal(obs, np.moveaxis(expected, 0, -1))
    actions = np.random.default_rng(0).integers(0, ours.action_space.n, 300)
    for action in actions:
        obs, reward, terminated, truncated, _ = ours.step(action)
        expected, their_reward, their_terminated, their_truncated, _ = theirs.step(action)
        np.testing.assert_array_equal(obs, np.moveaxis(expected, 0, -1))
        assert (reward, terminated, truncated) == (their_reward, their_terminated, their_truncated)


def test_fire_reset_presses_fire_then_up_after_each_reset():
    ours, theirs = games.make("ALE/Breakout-v5", training=False), reference_atari("ALE/Breakout-v5")
    obs, _ = ours.reset(seed=5)
    theirs.reset(seed=5)
    for action in (1, 2):
        expected, *_ = theirs.step(action)
    # the stack starts from the frame after FIRE and UP (theirs holds the frames before)
    np.testing.assert_array_equal(obs[..., -1], expected[-1])
    np.testing.assert_array_equal(obs, np.repeat(expected[-1][..., None], 4, axis=-1))


def play_until(env, condition, seed=0, limit=20_000):
    """Random actions until ``condition(reward, terminated, truncated, info)``."""
    rng = np.random.default_rng(seed)
    for _ in range(limit):
        out = env.step(int(rng.integers(env.action_space.n)))
        if condition(*out[1:]):
            return out
    raise AssertionError("condition never met")


def test_training_envs_end_an_episode_a_life_and_log_whole_games_unclipped():
    env = games.make("ALE/Breakout-v5", training=True)
    env.reset(seed=1)
    ale = env.unwrapped.ale
    assert ale.lives() == 5
    _, _, terminated, _, info = play_until(env, lambda r, term, trunc, info: term)
    assert ale.lives() == 4 and "game_return" not in info  # a life lost, the game goes on
    env.reset()
    assert ale.lives() == 4  # the same game continues

    clipped = []

    def ended(reward, terminated, truncated, info):
        clipped.append(reward)
        if terminated:
            env.reset()
        return "game_return" in info

    out = play_until(env, ended)
    raw_total = out[-1]["game_return"]
    assert set(clipped) <= {0.0, 1.0} and raw_total >= sum(clipped) > 0
    assert out[-1]["game_length"] > 0


def test_a_runner_logs_atari_games_not_lives():
    runner = envs.EnvRunner(envs.make_vec_env("ALE/Breakout-v5", 1), seed=2, whole_games=True)
    column = {name: i for i, name in enumerate(envs.COLUMNS)}
    rng = np.random.default_rng(0)
    lives_lost = games_ended = 0
    while not games_ended:
        obs, info = runner.step(rng.integers(0, 4, 1))
        assert obs.dtype == np.uint8 and obs.shape == (1, 84, 84, 4)
        lives_lost += int(info[0, column["terminations"]])
        if info[0, column["episode_ends"]]:
            games_ended += 1
            assert (
                info[0, column["episode_returns"]] >= 0 and info[0, column["episode_lengths"]] > 0
            )
    assert lives_lost == 5  # five lives, five learner episodes, one logged game
    runner.close()


def test_minatar_observations_are_uint8_images():
    env = envs.make_vec_env(MINATAR, 2)
    assert env.single_observation_space.shape == (10, 10, 4)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8 and set(np.unique(obs)) <= {0, 1}
    env.close()


def test_the_cnn_follows_the_image_size_and_refuses_what_it_cannot_take():
    assert agents.cnn_layout([4]) is None
    assert agents.cnn_layout([84, 84, 4]) == "nature"
    assert agents.cnn_layout([10, 10, 4]) == "minatar"
    with pytest.raises(ValueError, match="too small"):
        agents.cnn_layout([2, 9, 3])
    with pytest.raises(ValueError, match="channels last"):
        agents.cnn_layout([84, 84])
    floats = gym.spaces.Box(0, 1, (10, 10, 3), np.float32)
    assert "must be uint8" in agents.space_problem(floats, gym.spaces.Discrete(2))
    tiny = gym.spaces.Box(0, 255, (2, 2, 1), np.uint8)
    assert "too small" in agents.space_problem(tiny, gym.spaces.Discrete(2))


def weights(agent):
    return [v.numpy() for v in agent.network.trainable_variables]


@pytest.mark.parametrize("shared", [True, False])
def test_cnn_members_match_lone_agents_of_the_same_seed(shared):
    """P = 2 CNN members against lone runs of their seeds: the per-member convolutions and
    batched dense layers give each member the numbers of P = 1 (same tolerances as MLP
    members)."""
    members = [
        {**TINY_CNN, "shared_network": shared, "learning_rate": 1e-3},
        {**TINY_CNN, "shared_network": shared, "learning_rate": 3e-4, "ent_coef": 0.0},
    ]
    seeds = [4, 5]
    group = Population("ppo", MINATAR, members, seeds)
    budget = 3 * TINY_CNN["num_envs"] * TINY_CNN["num_steps"]
    group_metrics = list(train(group, budget))
    for p in range(2):
        lone = ppo.make_agent(MINATAR, members[p], seeds[p])
        lone_metrics = list(ppo.train(lone, budget))
        for alone, member in zip(lone_metrics, (step[p] for step in group_metrics)):
            for key in ("losses/loss", "losses/entropy", "explained_variance"):
                assert member[key] == pytest.approx(alone[key], rel=2e-3, abs=2e-4), key
        for m, w in zip(weights(group), weights(lone)):
            np.testing.assert_allclose(m[p], w[0], rtol=2e-3, atol=2e-4)
        lone.close()
    names = {v.name.split(":")[0].split("/")[0] for v in group.network.trainable_variables}
    assert ("torso" in names) == shared and ("actor_torso" in names) != shared
    group.close()


def test_a_cnn_checkpoint_continues_exactly(tmp_path):
    hparams = {**TINY_CNN, "shared_network": True}
    budget = 2 * TINY_CNN["num_envs"] * TINY_CNN["num_steps"]
    straight = ppo.make_agent(MINATAR, hparams, seed=9)
    list(ppo.train(straight, budget))
    straight.save(str(tmp_path / "half"))
    list(ppo.train(straight, 2 * budget))
    restored = checkpoints.load_agent(str(tmp_path / "half"))
    list(ppo.train(restored, 2 * budget))
    for a, b in zip(weights(straight), weights(restored)):
        np.testing.assert_array_equal(a, b)
    straight.close()
    restored.close()


def test_dqn_learns_from_images_stored_as_bytes(tmp_path):
    hparams = {"learning_starts": 100, "buffer_size": 500, "batch_size": 16, "conv_channels": 8}
    agent = dqn.make_agent(MINATAR, {**hparams, "dense_units": 64}, seed=1)
    history = list(dqn.train(agent, 1000))
    assert agent.buffer.observations.dtype.name == "uint8"
    assert np.isfinite(history[-1]["losses/td_loss"])
    agent.save(str(tmp_path / "dqn"))
    restored = checkpoints.load_agent(str(tmp_path / "dqn"))
    np.testing.assert_array_equal(restored.buffer.observations.numpy(), agent.buffer.observations)
    agent.close()
    restored.close()


def test_norm_obs_is_refused_for_images():
    with pytest.raises(ValueError, match="norm_obs is for vector observations"):
        ppo.make_agent(MINATAR, {**TINY_CNN, "norm_obs": True})


def test_human_targets_are_the_games_random_and_human_scores():
    assert len(atari_scores.SCORES) == 57
    assert atari_scores.human_target("ALE/Breakout-v5") == (1.7, 30.5)
    sweep = config.build(
        {"agent": "ppo", "envs": {"ALE/Pong-v5": {"target_score": "human"}}},
        {"target_scores": ["ALE/Pong-v5=human"]},
    )
    assert sweep.target_scores == {"ALE/Pong-v5": (-20.7, 14.6)}
    for data, flags in (
        ({"agent": "ppo", "envs": {"CartPole-v1": {"target_score": "human"}}}, {}),
        ({"agent": "ppo", "envs": ["CartPole-v1"]}, {"target_scores": ["CartPole-v1=human"]}),
    ):
        with pytest.raises(config.SweepError, match="57 Atari games.*CartPole-v1 is not one"):
            config.build(data, flags)


def test_a_missing_atari_package_names_the_extra(tmp_path):
    """With ``ale_py`` unimportable (a module that raises ImportError first on the path),
    an ALE id names the extra; ``tfhparam.train`` says so in one line, exit 2."""
    (tmp_path / "ale_py.py").write_text("raise ImportError('no ale_py here')\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(tmp_path)
    code = "from tfhparam import cli; cli.check_env_id('ALE/Breakout-v5')"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "needs the atari extra: pip install 'tfhparam[atari]'" in done.stderr
    args = ["-m", "tfhparam.train", "--agent", "ppo", "--env", "ALE/Breakout-v5"]
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "python -m tfhparam.train: error: ALE/Breakout-v5 needs the atari extra: "
        "pip install 'tfhparam[atari]'"
    ]
    with pytest.raises(cli.UsageError, match="unknown env id 'ALE/NoSuchGame-v5'"):
        cli.check_env_id("ALE/NoSuchGame-v5")  # here ale_py is installed


def test_a_minatar_sweep_trains_its_trials_as_one_population(tmp_path):
    """...on an env whose name carries an option (no sticky actions): the option reaches
    the runs, their directories and the results."""
    env = MINATAR + "[sticky_action_prob=0.0]"
    args = [
        "-m",
        "tfhparam.sweep",
        "--agent",
        "ppo",
        "--strategy",
        "random",
        "--env",
        env,
        "--trials",
        "2",
        "--total-timesteps",
        "64",
        "--logdir",
        str(tmp_path),
        "--name",
        "minatar",
    ]
    for name, value in {**TINY_CNN, "shared_network": "true"}.items():
        args += ["--set", f"{name}={value}"]
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "minatar" / "results.json", encoding="utf-8") as f:
        results = json.load(f)
    rows = results["trials"] if isinstance(results, dict) else results
    assert len(rows) == 2
    runs = list((tmp_path / "minatar").glob("trial_*/MinAtar/*/seed_*/checkpoint"))
    assert len(runs) == 2 and all(
        run.parent.parent.name == "Breakout-v1[sticky_action_prob=0.0]" for run in runs
    )
    meta = json.loads((runs[0] / "meta.json").read_text())
    assert meta["env_id"] == env


def test_a_minatar_episode_renders_to_a_gif(tmp_path):
    from PIL import Image

    from tfhparam.evaluate import render_gif

    agent = ppo.make_agent(MINATAR, TINY_CNN, seed=1)
    frames = render_gif(agent, 0, True, str(tmp_path / "episode.gif"))
    with Image.open(tmp_path / "episode.gif") as gif:
        assert frames > 1 and gif.n_frames > 1
    agent.close()
