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
"""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np

# Env-id prefixes of the game families, and the extra of tfhparam that installs each.
FAMILY_EXTRAS = {"ALE/": "atari", "MinAtar/": "minatar"}
_FAMILY_MODULES = {"ALE/": "ale_py", "MinAtar/": "minatar.gym"}
FRAME_STACK = 4
SCREEN_SIZE = 84


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


def make(env_id: str, training: bool = True, **kwargs) -> gym.Env:
    """One copy of ``env_id``: preprocessed (see the module docstring) for Atari and
    MinAtar ids, else plain ``gym.make``; ``kwargs`` go to ``gym.make`` (``render_mode``:
    the preprocessed env renders the game's own frames)."""
    register(env_id)
    prefix = family(env_id)
    if prefix == "ALE/":
        return make_atari(env_id, training, **kwargs)
    env = gym.make(env_id, **kwargs)
    if prefix == "MinAtar/":
        space = env.observation_space
        as_bytes = gym.spaces.Box(0, 1, space.shape, np.uint8)
        env = gym.wrappers.TransformObservation(env, _as_bytes, as_bytes)
    return env


def make_atari(env_id: str, training: bool = True, **kwargs) -> gym.Env:
    """An ALE game with the standard preprocessing; ``training`` adds episodic lives and
    reward clipping."""
    env = gym.make(env_id, frameskip=1, **kwargs)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=SCREEN_SIZE)
    env = GameStats(env)
    if training:
        env = EpisodicLife(env)
    if env.unwrapped.get_action_meanings()[1:2] == ["FIRE"]:
        env = FireReset(env)
    if training:
        env = gym.wrappers.TransformReward(env, _sign)
    env = gym.wrappers.FrameStackObservation(env, FRAME_STACK)
    shape = (SCREEN_SIZE, SCREEN_SIZE, FRAME_STACK)
    channels_last = gym.spaces.Box(0, 255, shape, np.uint8)
    return gym.wrappers.TransformObservation(env, _channels_last, channels_last)


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
