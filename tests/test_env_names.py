"""Env names with options (``ALE/Breakout-v5[full_action_space=true]``): parsing, the one
canonical spelling, the options reaching the env (gymnasium's keywords and Atari's
preprocessing steps), sweep files, and bad names as one-line errors. No TensorFlow."""

import gymnasium as gym
import numpy as np
import pytest

from agents import env_names, games
from agents.env_names import EnvNameError
from tfhparam import atari_scores, cli, config


@pytest.mark.parametrize(
    "name, expected",
    [
        ("CartPole-v1", ("CartPole-v1", {})),
        (
            "ALE/Breakout-v5[full_action_space=true, repeat_action_probability=0.0]",
            ("ALE/Breakout-v5", {"full_action_space": True, "repeat_action_probability": 0.0}),
        ),
        (
            "X-v0[a=1,b=-2.5,c=none,d=False,e=text]",
            ("X-v0", {"a": 1, "b": -2.5, "c": None, "d": False, "e": "text"}),
        ),
    ],
)
def test_split_reads_ids_and_typed_options(name, expected):
    assert env_names.split(name) == expected


@pytest.mark.parametrize(
    "name, problem",
    [
        ("ALE/Breakout-v5[full_action_space=true", "one pair of brackets at the end"),
        ("ALE/Breakout-v5[a=1][b=2]", "one pair of brackets at the end"),
        ("[a=1]", "one pair of brackets at the end"),
        ("CartPole-v1[]", "empty options"),
        ("CartPole-v1[a]", "'a' is not key=value"),
        ("CartPole-v1[1a=2]", "'1a=2' is not key=value"),
        ("CartPole-v1[a=1,a=2]", "option 'a' given twice"),
        ("", "expected a gymnasium id"),
    ],
)
def test_malformed_names_say_what_is_wrong(name, problem):
    with pytest.raises(EnvNameError, match=problem.replace("[", r"\[")):
        env_names.split(name)


def test_canonical_sorts_options_and_spells_values_one_way():
    assert env_names.canonical("A-v0[z=True, a=0.25 ,m=NONE]") == "A-v0[a=0.25,m=none,z=true]"
    assert env_names.canonical("CartPole-v1") == "CartPole-v1"
    for name in ("A-v0[a=0.25,m=none,z=true]", "A-v0[n=3,x=1e-05,s=abc]"):
        assert env_names.canonical(env_names.canonical(name)) == env_names.canonical(name)
        assert env_names.split(env_names.canonical(name)) == env_names.split(name)
    # an int and a float stay what they were: 0 and 0.0 are two spellings of two values
    assert env_names.split("A-v0[p=0]")[1]["p"] == 0 and isinstance(
        env_names.split("A-v0[p=0.0]")[1]["p"], float
    )


@pytest.mark.parametrize("value", [[1], float("nan"), "a,b", "x=y", "12", "true", ""])
def test_values_that_cannot_stand_in_a_name_are_refused(value):
    with pytest.raises(EnvNameError):
        env_names.join("A-v0", {"option": value})


def test_gymnasium_keywords_reach_the_env():
    env = games.make("CartPole-v1[sutton_barto_reward=true]")
    env.reset(seed=0)
    _, reward, *_ = env.step(0)
    assert reward == 0.0  # Sutton and Barto's reward: 0 a step, -1 at the end
    plain = games.make("CartPole-v1")
    plain.reset(seed=0)
    assert plain.step(0)[1] == 1.0


def test_an_option_the_env_does_not_take_is_one_line_naming_it():
    with pytest.raises(gym.error.Error) as error:
        games.make("CartPole-v1[wind=3]")
    assert str(error.value).startswith("CartPole-v1[wind=3]: ")
    assert "'wind'" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(cli.UsageError, match=r"unexpected keyword argument 'wind'"):
        cli.check_env_id("CartPole-v1[wind=3]", "ppo")
    with pytest.raises(cli.UsageError, match="one pair of brackets"):
        cli.check_env_id("CartPole-v1[wind=3", "ppo")
    with pytest.raises(cli.UsageError, match="not a finite number"):
        cli.check_env_id("CartPole-v1[sutton_barto_reward=nan]", "ppo")


def test_check_env_id_returns_the_canonical_name():
    name = "CartPole-v1[sutton_barto_reward=True]"
    assert cli.check_env_id(name, "ppo") == "CartPole-v1[sutton_barto_reward=true]"


def test_atari_preprocessing_steps_are_options():
    env = games.make("ALE/Breakout-v5[frame_stack=2,screen_size=42]", training=False)
    assert env.observation_space.shape == (42, 42, 2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (42, 42, 2) and obs.dtype == np.uint8
    full = games.make("ALE/Breakout-v5[full_action_space=true]")
    assert full.action_space.n == 18 and games.make("ALE/Breakout-v5").action_space.n == 4
    sticky = games.make("ALE/Breakout-v5[repeat_action_probability=0.0]")
    ale = sticky.unwrapped.ale
    assert ale.getFloat("repeat_action_probability") == 0.0
    assert games.make("ALE/Breakout-v5").unwrapped.ale.getFloat("repeat_action_probability") == 0.25


def test_atari_lives_and_reward_clipping_can_be_turned_off():
    env = games.make("ALE/Breakout-v5[terminal_on_life_loss=false,clip_rewards=false]")
    env.reset(seed=1)
    ale = env.unwrapped.ale
    rng = np.random.default_rng(0)
    rewards = []
    while ale.lives() == 5:
        _, reward, terminated, _, _ = env.step(int(rng.integers(4)))
        rewards.append(reward)
        assert not terminated or ale.lives() == 0
    _, reward, terminated, _, _ = env.step(0)
    assert not terminated  # a life lost ends nothing
    wrappers = []
    while hasattr(env, "env"):
        wrappers.append(type(env).__name__)
        env = env.env
    assert "EpisodicLife" not in wrappers and "TransformReward" not in wrappers


@pytest.mark.parametrize(
    "name, problem",
    [
        ("ALE/Breakout-v5[frameskip=2]", "use frame_skip"),
        ("ALE/Breakout-v5[frame_stack=0]", "frame_stack must be a whole number >= 1"),
        ("ALE/Breakout-v5[fire_reset=1]", "fire_reset must be true or false"),
        ("ALE/Breakout-v5[screen_size=8.5]", "screen_size must be a whole number"),
    ],
)
def test_bad_atari_options_are_refused(name, problem):
    with pytest.raises(gym.error.Error, match=problem):
        games.make(name)


def test_sweep_files_join_options_to_names_and_keep_human_targets():
    sweep = config.build(
        {
            "envs": {
                "ALE/Pong-v5": {
                    "target_score": "human",
                    "options": {"repeat_action_probability": 0.0, "full_action_space": True},
                },
                "CartPole-v1[sutton_barto_reward=True]": {"target_score": [-1, 0]},
            }
        },
        {},
    )
    pong = "ALE/Pong-v5[full_action_space=true,repeat_action_probability=0.0]"
    assert sweep.envs == [pong, "CartPole-v1[sutton_barto_reward=true]"]
    assert sweep.target_scores[pong] == atari_scores.SCORES["Pong"]
    flags = {"envs": [pong], "target_scores": [f"{pong}=human"]}
    assert config.build({}, flags).target_scores == {pong: atari_scores.SCORES["Pong"]}


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"envs": {"CartPole-v1": {"options": [1]}}}, "envs.CartPole-v1.options: a mapping"),
        ({"envs": {"CartPole-v1": {"wind": 1}}}, "expected {target_score"),
        (
            {"envs": {"CartPole-v1[a=1]": {"options": {"a": 2}}}},
            "given in the name and in options",
        ),
        ({"envs": ["CartPole-v1[a=1]", "CartPole-v1[a = 1]"]}, "names an env twice"),
        ({"envs": ["CartPole-v1[a=1"]}, "envs.CartPole-v1\\[a=1: env name"),
        ({"envs": {"CartPole-v1": {"options": {"x": "a,b"}}}}, "option value 'a,b'"),
    ],
)
def test_bad_env_entries_in_sweep_files_name_the_field(data, problem):
    with pytest.raises(config.SweepError, match=problem):
        config.build(data, {})
