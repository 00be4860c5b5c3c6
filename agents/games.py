"""Image-observation games: Atari (ale-py's ``ALE/*`` ids) and MinAtar (``MinAtar/*``).

Both are optional extras (``.[atari]``, ``.[minatar]``); :func:`register` makes their ids
known to gymnasium on first use and names the extra when its package is missing. This
module imports no TensorFlow.

Atari ids get the standard preprocessing of Mnih et al. 2015 as CleanRL's
``ppo_atari.py`` applies it, in this order:

1. gymnasium's ``AtariPreprocessing``: up to 30 no-op actions after a reset, frame skip 4
   with the max over the last two frames, 84x84 grayscale (the env is made with
   ``frameskip=1`` for it; v5's sticky actions, probability 0.25, stay on);
2. :class:`GameStats`: the real game's return (unclipped) and length (agent steps) in the
   ``info`` of the step that ends a game;
3. training only, :class:`EpisodicLife`: a lost life ends the episode for the learner,
   while the game goes on;
4. :class:`FireReset`: press FIRE after every reset in games that need it;
5. training only, the sign of each reward (reward clipping);
6. gymnasium's ``FrameStackObservation`` of the last 4 frames, channels last: ``[84, 84, 4]``
   uint8.

Evaluation envs (``training=False``) skip 3 and 5: an episode is a whole game and its
return is the game's score. MinAtar ids are the ``minatar`` package's gymnasium envs, their
``bool`` observations ``[10, 10, C]`` given as uint8.

Each step is switchable through the env name's options (``agents.env_names``):
:data:`ATARI_OPTIONS` holds the preprocessing's, with their defaults; every other option
goes to ``gym.make`` (ALE v5's ``repeat_action_probability`` (sticky actions, 0.25),
``full_action_space``, ``mode``, ``difficulty``; MinAtar's ``sticky_action_prob``, ...):
``ALE/Breakout-v5[repeat_action_probability=0,terminal_on_life_loss=false]``.
"""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np

from agents import env_names

# Env-id prefixes of the game families, and the extra of tfhparam that installs each.
FAMILY_EXTRAS = {"ALE/": "atari", "MinAtar/": "minatar"}
_FAMILY_MODULES = {"ALE/": "ale_py", "MinAtar/": "minatar.gym"}
# The preprocessing of Atari ids and its defaults (CleanRL's ppo_atari.py), each an option
# of the env name: no-op actions after a reset (at most), frames an action repeats (max over
# the last two), the square side frames are resized to, a lost life ending the learner's
# episode, FIRE pressed after a reset in games that need it, rewards clipped to their sign,
# and frames stacked. Lives and reward clipping apply to training envs only.
ATARI_OPTIONS = {
    "noop_max": 30,
    "frame_skip": 4,
    "screen_size": 84,
    "terminal_on_life_loss": True,
    "fire_reset": True,
    "clip_rewards": True,
    "frame_stack": 4,
}


class MissingExtra(gym.error.Error):
    """An env id of a family whose package is not installed."""


def family(env_id: str) -> str | None:
    """``ALE/`` or ``MinAtar/`` for an id of those families, else None."""
    return next((prefix for prefix in FAMILY_EXTRAS if env_id.startswith(prefix)), None)


def is_atari(env_id: str) -> bool:
    return family(env_id) == "ALE/"


def register(env_id: str) -> None:
    """Makes gymnasium know the ids of ``env_id``'s family (nothing for other ids).

    Raises:
        MissingExtra: the family's package is not installed (the message names the extra).
    """
    prefix = family(env_id)
    if prefix is None or any(name.startswith(prefix) for name in gym.registry):
        return
    try:
        module = importlib.import_module(_FAMILY_MODULES[prefix])
    except ImportError:
        raise MissingExtra(
            f"{env_id} needs the {FAMILY_EXTRAS[prefix]} extra: "
            f"pip install 'tfhparam[{FAMILY_EXTRAS[prefix]}]'"
        ) from None
    if prefix == "ALE/":
        gym.register_envs(module)
    else:
        module.register_envs()


def make(name: str, training: bool = True, **kwargs) -> gym.Env:
    """One copy of the env ``name`` (an id with options, ``agents.env_names``):
    preprocessed (see the module docstring) for Atari and MinAtar ids, else plain
    ``gym.make``; the name's options and ``kwargs`` go to ``gym.make`` (``render_mode``:
    the preprocessed env renders the game's own frames).

    Raises:
        MissingExtra: the family's package is not installed.
        gym.error.Error: an unknown id, or options the env does not take (one line).
    """
    env_id, options = env_names.split(name)
    register(env_id)
    prefix = family(env_id)
    if prefix == "ALE/":
        return _make_atari(name, env_id, training, **options, **kwargs)
    env = _make(name, env_id, **options, **kwargs)
    if prefix == "MinAtar/":
        space = env.observation_space
        as_bytes = gym.spaces.Box(0, 1, space.shape, np.uint8)
        env = gym.wrappers.TransformObservation(env, _as_bytes, as_bytes)
    return env


def _make_atari(name: str, env_id: str, training: bool, **options) -> gym.Env:
    """An ALE game with the standard preprocessing (:data:`ATARI_OPTIONS` override its
    steps; the other ``options`` go to ``gym.make``); ``training`` adds episodic lives and
    reward clipping where they are on. ``name``: the env's name, for messages."""
    steps = {**ATARI_OPTIONS, **{k: options.pop(k) for k in list(options) if k in ATARI_OPTIONS}}
    _check_atari_options(name, steps, options)
    env = _make(name, env_id, frameskip=1, **options)
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=steps["noop_max"],
        frame_skip=steps["frame_skip"],
        screen_size=steps["screen_size"],
    )
    env = GameStats(env)
    if training and steps["terminal_on_life_loss"]:
        env = EpisodicLife(env)
    if steps["fire_reset"] and env.unwrapped.get_action_meanings()[1:2] == ["FIRE"]:
        env = FireReset(env)
    if training and steps["clip_rewards"]:
        env = gym.wrappers.TransformReward(env, _sign)
    env = gym.wrappers.FrameStackObservation(env, steps["frame_stack"])
    shape = (steps["screen_size"], steps["screen_size"], steps["frame_stack"])
    channels_last = gym.spaces.Box(0, 255, shape, np.uint8)
    return gym.wrappers.TransformObservation(env, _channels_last, channels_last)


def _check_atari_options(name: str, steps: dict, others: dict) -> None:
    if "frameskip" in others:
        raise gym.error.Error(f"{name}: frames are skipped by the preprocessing: use frame_skip")
    for key in ("terminal_on_life_loss", "fire_reset", "clip_rewards"):
        if not isinstance(steps[key], bool):
            raise gym.error.Error(f"{name}: {key} must be true or false, got {steps[key]!r}")
    for key, low in (("noop_max", 0), ("frame_skip", 1), ("screen_size", 1), ("frame_stack", 1)):
        value = steps[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise gym.error.Error(f"{name}: {key} must be a whole number >= {low}, got {value!r}")


def _make(name: str, env_id: str, **kwargs) -> gym.Env:
    """``gym.make``, with an option the env does not take (or a bad value) as one line."""
    try:
        return gym.make(env_id, **kwargs)
    except (TypeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        reason = reason.split(" was raised from the environment creator")[0]  # gymnasium's
        raise gym.error.Error(f"{name}: {reason}") from None


# Module-level functions, not lambdas: a checkpoint pickles the envs that hold them.
def _as_bytes(obs: np.ndarray) -> np.ndarray:
    return obs.astype(np.uint8)


def _sign(reward: float) -> float:
    return float(np.sign(reward))


def _channels_last(obs) -> np.ndarray:
    return np.moveaxis(np.asarray(obs), 0, -1)


class GameStats(gym.Wrapper):
    """Adds ``game_return`` (unclipped) and ``game_length`` (steps) to the info of the step
    that ends a game (terminated or truncated by the game itself)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.game_return, self.game_length = 0.0, 0

    def reset(self, **kwargs):
        self.game_return, self.game_length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_return += float(reward)
        self.game_length += 1
        if terminated or truncated:
            info = {**info, "game_return": self.game_return, "game_length": self.game_length}
        return obs, reward, terminated, truncated, info


class EpisodicLife(gym.Wrapper):
    """A lost life terminates the episode; the next reset continues the same game (one
    no-op step) unless the game is over (Mnih et al. 2015)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives, self.game_over = 0, True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op itself ended the game
                obs, info = self.env.reset(**kwargs)
        self.game_over = False
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info


class FireReset(gym.Wrapper):
    """Presses FIRE (then UP) after a reset, for games that stand still until then."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info
