"""Envs as the agents see them: P members x N copies, stepped from inside a TensorFlow graph.

A run's envs are a *runner* with one interface whatever the backend:

- ``observe() -> obs [P, N, *shape]`` and ``step(action [P, N, ...]) -> (obs, info [P, N, C])``,
  both callable inside a ``tf.function``; ``info`` holds the :data:`COLUMNS`; observations
  are float32 vectors ``[D]`` or uint8 images ``[H, W, C]`` (Atari, MinAtar:
  ``agents.games``);
- ``in_graph``: True when the env is TensorFlow ops (the whole iteration can be compiled
  by XLA), False when it is NumPy called through ``tf.numpy_function``;
- ``member_state(p)`` / ``load_member_state(p, state)``: what a member's checkpoint holds
  of its envs beyond its variables (the pickled gymnasium envs), and ``reseed(seeds)``.

:class:`TFEnvRunner` runs our TensorFlow classic-control envs (``agents.tf_envs``): its
state is variables with a leading member axis, so checkpoints hold it like any other.
:class:`GymEnvRunner` runs one gymnasium vector env a member, seeded with its seed.

Episode boundaries: gymnasium 1.x vector envs autoreset on the *next* step. The step after
an episode ends is a dummy (its action is ignored, its reward is 0) whose observation is
that episode's final observation. Runners report it with ``masks = 0``: its value
V(final obs) is what a truncated episode bootstraps from, and the mask keeps it out of
every loss and statistic (see ``common.gae``).

What is logged as an episode (``episode_ends``, ``episode_returns``, ``episode_lengths``)
is the learner's episode, except for Atari, where a learner's episode is a life and its
rewards are clipped: there it is the whole game, unclipped (``games.GameStats``).
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import tensorflow as tf

import agents
from agents import env_names, games, tf_envs

# Columns of the per-step info a runner returns; the episode's return and length are set
# where ``episode_ends`` is 1.
COLUMNS = (
    "rewards",
    "terminations",
    "truncations",
    "masks",
    "episode_returns",
    "episode_lengths",
    "episode_ends",
)


class EnvError(ValueError):
    """An env id that gymnasium does not know, or spaces the agents do not support."""


def make_vec_env(name: str, num_envs: int, training: bool = True) -> gym.vector.VectorEnv:
    """A vector env with next-step autoreset: gymnasium's native one where it exists and
    the name has no options (``agents.env_names``). Atari and MinAtar ids are preprocessed
    (``agents.games``); ``training=False`` gives Atari's evaluation envs (whole games, real
    rewards).

    Raises:
        EnvError: a malformed name, unknown env id, a game family whose extra is missing,
            options the env does not take, or observation or action spaces the agents
            cannot handle.
    """
    try:
        env_id, options = env_names.split(name)
        games.register(env_id)
    except (env_names.EnvNameError, games.MissingExtra) as error:
        raise EnvError(str(error)) from None
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as error:
        raise EnvError(f"unknown env id {env_id!r}: {error}") from None
    agents.route_mujoco_warnings(env_id)
    if spec.vector_entry_point is not None and not options and games.family(env_id) is None:
        env = gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point")
    else:
        # partial(games.make) rather than make_vec's closures, so the env can be pickled.
        try:
            env = gym.vector.SyncVectorEnv(
                [functools.partial(games.make, name, training) for _ in range(num_envs)],
                autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
            )
        except gym.error.Error as error:
            raise EnvError(str(error)) from None
    mode = env.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    if mode != gym.vector.AutoresetMode.NEXT_STEP:
        problem = f"vector env autoreset mode {mode} is not next-step"
    else:
        problem = agents.space_problem(env.single_observation_space, env.single_action_space)
    if problem:
        env.close()
        raise EnvError(f"{env_id}: {problem}")
    return env


def keeps_state_when_pickled(env: gym.vector.VectorEnv) -> bool:
    """Whether pickling ``env`` keeps its episodes: not for gymnasium's ``EzPickle`` envs
    (MuJoCo, Box2D), which pickle their constructor's arguments only."""
    copies = getattr(env, "envs", [env])
    return not any(isinstance(copy.unwrapped, gym.utils.EzPickle) for copy in copies)


def derived_seed(seed: int, count: int, tag: int, start: int) -> int:
    """An env seed derived from a run's ``seed`` and a ``count`` (a hash, ``tag`` keeping
    each use apart) in ``[start, 2 * start - 2**16)``: room for a vector env's copies
    (seeded s .. s + N - 1) below the next range."""
    hashed = np.random.SeedSequence([int(seed) % 2**63, int(count), tag])
    return start + int(hashed.generate_state(1)[0]) % (start - 2**16)


def restart_seed(seed: int, restarts: int) -> int:
    """The env seed of a restored run's ``restarts``-th new start (envs whose state a
    checkpoint cannot hold): in [2**28, 2**29), below test seeds and evaluation seeds,
    above the seeds runs are given."""
    return derived_seed(seed, restarts, 0x72657374, 2**28)


def env_spaces(env_id: str) -> tuple[gym.Space, gym.Space]:
    """``(observation space, action space)`` of one copy of ``env_id`` (checked)."""
    env = make_vec_env(env_id, 1)
    spaces = env.single_observation_space, env.single_action_space
    env.close()
    return spaces


def choose_backend(env_id: str, env_backend: str) -> str:
    """``tf`` or ``gymnasium`` for ``env_id``: ``auto`` takes TensorFlow's where it exists.

    Raises:
        EnvError: an unknown backend, or ``tf`` for an env without a TensorFlow version.
    """
    problem = agents.backend_problem(env_id, env_backend)
    if problem:
        raise EnvError(problem)
    return "tf" if agents.runs_in_graph(env_id, env_backend) else "gymnasium"


class EnvRunner:
    """One gymnasium vector env plus its episode bookkeeping, in NumPy (picklable).

    A checkpoint pickles it. Envs that pickle their whole state (classic control) continue
    their episodes exactly. Gymnasium's ``EzPickle`` envs (MuJoCo, Box2D) pickle only their
    constructor's arguments, so an unpickled copy would resume mid-episode from a state it
    does not have (Box2D's then fails on its first step); for those the runner pickles its
    env id, seed and a restart count instead, and an unpickled runner starts new episodes
    from :func:`restart_seed` (the weights and everything else of the run continue
    exactly).
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        seed: int,
        restarts: int = 0,
        whole_games: bool = False,
        name: str | None = None,
    ):
        self.env = env
        self.name = name  # the env's name with its options (agents.env_names), if given
        self.restarts = int(restarts)
        # Atari: log the games the copies' infos report (games.GameStats), not the episodes
        self.whole_games = bool(whole_games)
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Fresh episodes in every copy from ``seed``, as a new env would start them."""
        self.seed = int(seed)
        self.obs, _ = self.env.reset(seed=self.seed)
        self.returns = np.zeros(self.env.num_envs)
        self.lengths = np.zeros(self.env.num_envs)
        self.prev_done = np.zeros(self.env.num_envs, bool)

    def __getstate__(self) -> dict:
        if keeps_state_when_pickled(self.env):
            return self.__dict__
        return {
            # older checkpoints' runners have no name: their envs had no options
            "env_id": getattr(self, "name", None) or self.env.envs[0].spec.id,
            "num_envs": self.env.num_envs,
            "seed": self.seed,
            "restarts": self.restarts,
        }

    def __setstate__(self, state: dict) -> None:
        if "env" in state:
            self.__dict__.update(state)
            return
        env = make_vec_env(state["env_id"], state["num_envs"])
        restarts = state["restarts"] + 1
        whole_games = games.is_atari(state["env_id"])
        seed = restart_seed(state["seed"], restarts)
        self.__init__(env, seed, restarts, whole_games, state["env_id"])
        self.seed = state["seed"]  # the run's own, for the next restart

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steps every copy: ``(obs [N, *shape], info [N, C] float32)``."""
        obs, reward, terminated, truncated, infos = self.env.step(action)
        valid = ~self.prev_done  # False on the dummy step after an episode ended
        self.returns += reward * valid
        self.lengths += valid
        done = terminated | truncated
        if getattr(self, "whole_games", False):
            ends = infos.get("_game_return", np.zeros_like(done))
            returns = np.where(ends, infos.get("game_return", 0.0), 0.0)
            lengths = np.where(ends, infos.get("game_length", 0), 0)
        else:
            ends = done
            returns, lengths = np.where(done, self.returns, 0.0), np.where(done, self.lengths, 0.0)
        columns = [reward, terminated, truncated, valid, returns, lengths, ends]
        info = np.stack(columns, axis=-1).astype(np.float32)
        self.returns[done], self.lengths[done], self.prev_done = 0.0, 0.0, done
        self.obs = obs
        return obs, info

    def close(self) -> None:
        self.env.close()


class GymEnvRunner:
    """P gymnasium vector envs of N copies (member p's seeded with its seed), one runner.

    ``obs_space`` is one copy's: float32 vectors or uint8 images come out of it.
    ``training=False`` makes Atari's evaluation envs (see :func:`make_vec_env`).
    """

    in_graph = False

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        seeds: Sequence[int],
        obs_space: gym.spaces.Box,
        training: bool = True,
    ):
        self.env_id, self.num_envs = env_id, int(num_envs)
        self.obs_shape = tuple(obs_space.shape)
        image = len(self.obs_shape) == 3
        self.obs_dtype = (np.uint8, tf.uint8) if image else (np.float32, tf.float32)
        self.runners = [
            EnvRunner(
                make_vec_env(env_id, self.num_envs, training), s, 0, games.is_atari(env_id), env_id
            )
            for s in seeds
        ]

    def reseed(self, seeds: Sequence[int]) -> None:
        """Fresh episodes for every member from ``seeds`` (a reused population's new runs,
        an evaluation's episodes)."""
        for runner, seed in zip(self.runners, seeds, strict=True):
            runner.reset(seed)

    def _observe(self) -> np.ndarray:
        return np.stack([np.asarray(r.obs, self.obs_dtype[0]) for r in self.runners])

    def _step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outs = [r.step(a) for r, a in zip(self.runners, action)]
        obs = np.stack([np.asarray(o, self.obs_dtype[0]) for o, _ in outs])
        return obs, np.stack([i for _, i in outs])

    def observe(self) -> tf.Tensor:
        obs = tf.numpy_function(self._observe, [], self.obs_dtype[1], stateful=True)
        obs.set_shape([len(self.runners), self.num_envs, *self.obs_shape])
        return obs

    def step(self, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        obs, info = tf.numpy_function(
            self._step, [action], [self.obs_dtype[1], tf.float32], stateful=True
        )
        obs.set_shape([len(self.runners), self.num_envs, *self.obs_shape])
        info.set_shape([len(self.runners), self.num_envs, len(COLUMNS)])
        return obs, info

    def member_state(self, member: int) -> bytes:
        return pickle.dumps(self.runners[member])

    def load_member_state(self, member: int, state: bytes | None) -> None:
        if state is None:
            raise ValueError("the checkpoint holds no gymnasium envs (env.pkl)")
        self.runners[member].close()
        self.runners[member] = pickle.loads(state)

    def close(self) -> None:
        for runner in self.runners:
            runner.close()


class TFEnvRunner(tf.Module):
    """:class:`GymEnvRunner`'s twin for the TensorFlow classic-control envs: the same
    columns, computed in the graph, its state in ``[P, N]`` variables."""

    in_graph = True

    def __init__(self, env_id: str, num_envs: int, seeds: Sequence[int]):
        super().__init__(name="tf_env_runner")
        self.env = tf_envs.TFVectorEnv(env_id, num_envs, seeds)
        shape = [self.env.members, self.env.copies]
        self.returns = tf.Variable(tf.zeros(shape), trainable=False, name="env/returns")
        self.lengths = tf.Variable(tf.zeros(shape), trainable=False, name="env/lengths")

    def reseed(self, seeds: Sequence[int]) -> None:
        self.env.reseed(seeds)
        self.returns.assign(tf.zeros_like(self.returns))
        self.lengths.assign(tf.zeros_like(self.lengths))

    def observe(self) -> tf.Tensor:
        return self.env.observe()

    def step(self, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        obs, reward, terminated, truncated, valid = self.env.step(action)
        valid = tf.cast(valid, tf.float32)
        returns, lengths = self.returns + reward * valid, self.lengths + valid
        done = terminated | truncated
        zero = tf.zeros_like(returns)
        info = tf.stack(
            [
                reward,
                tf.cast(terminated, tf.float32),
                tf.cast(truncated, tf.float32),
                valid,
                tf.where(done, returns, zero),
                tf.where(done, lengths, zero),
                tf.cast(done, tf.float32),
            ],
            axis=-1,
        )
        self.returns.assign(tf.where(done, zero, returns))
        self.lengths.assign(tf.where(done, zero, lengths))
        return obs, info

    def member_state(self, member: int) -> None:
        return None  # all of it is in the variables

    def load_member_state(self, member: int, state) -> None:
        pass

    def close(self) -> None:
        pass


def make_runner(
    env_id: str, num_envs: int, seeds: Sequence[int], env_backend: str, training: bool = True
):
    """The runner of P members (one seed each) and the spaces of one env copy:
    ``(runner, obs_space, act_space)``. ``env_backend`` is ``tf`` or ``gymnasium``;
    ``training=False`` for evaluation envs (whole Atari games, real rewards)."""
    obs_space, act_space = env_spaces(env_id)
    if env_backend == "tf":
        return TFEnvRunner(env_id, num_envs, seeds), obs_space, act_space
    runner = GymEnvRunner(env_id, num_envs, seeds, obs_space, training)
    return runner, obs_space, act_space
