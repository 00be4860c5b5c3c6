"""Evaluation episodes: an agent plays N episodes on env seeds of their own, learning nothing.

An :class:`Evaluator` holds envs apart from the agent's training envs: ``episodes`` copies
a member, one episode each, all members and copies stepped at once. Every evaluation
reseeds them from the member's seed and the evaluation's number
(:func:`evaluation_seeds`), so evaluation ``k`` of the same weights plays the same
episodes, and the episodes of evaluation ``k`` are other than those of ``k + 1`` and than
any training episode. With our TensorFlow envs the episodes are one XLA program; with
gymnasium's, a graph stepping NumPy.

Nothing of the agent changes: its weights, its observation normalizer (read, never
updated), its counters, its random streams and its training envs stay as they were, so a
run evaluated every N steps trains bit for bit as one never evaluated.

The policy is the deterministic one by default (``greedy``: the most probable action, the
Gaussian mean; DQN's greedy action); ``greedy=False`` samples (the Gaussian or the
softmax, with noise from a stream of the evaluation's own; DQN epsilon-greedy with
``agents.dqn.EVAL_EPSILON``, as CleanRL's DQN evaluates).

    evaluator = Evaluator(agent, episodes=10)
    result = evaluator(round_=0)
    print(result.returns.mean(axis=1))  # one mean a member
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import tensorflow as tf

from agents import env_names, games, tf_envs
from agents.common import graph_control_flow, program
from agents.envs import COLUMNS, derived_seed, make_runner

# Evaluation env seeds lie in [EVAL_SEED_START, 2**31 - 2**16): training seeds lie below
# (a gymnasium vector env of N copies seeded s seeds its copies s .. s + N - 1).
EVAL_SEED_START = 2**30
_EVAL_TAG = 0x6576616C  # "eval": keeps these seeds apart from any other derived seed
# The longest evaluation episode of an env without a time limit.
DEFAULT_MAX_STEPS = 100_000
_COLUMN = {name: i for i, name in enumerate(COLUMNS)}


def evaluation_seeds(seeds: Sequence[int], round_: int) -> list[int]:
    """One env seed a member for evaluation ``round_``: a hash of (seed, round), at or above
    :data:`EVAL_SEED_START`, so no training env of a seed below it plays these episodes."""
    return [derived_seed(s, round_, _EVAL_TAG, EVAL_SEED_START) for s in seeds]


def episode_limit(env_id: str) -> int:
    """Steps an evaluation episode may take: the env's time limit (plus the first step;
    a ``max_episode_steps`` option of the env's name wins), else :data:`DEFAULT_MAX_STEPS`."""
    if env_id in tf_envs.SPECS:
        return tf_envs.SPECS[env_id].max_episode_steps + 1
    base, options = env_names.split(env_id)
    games.register(base)
    limit = options.get("max_episode_steps", gym.spec(base).max_episode_steps)
    return int(limit) + 1 if limit else DEFAULT_MAX_STEPS


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One evaluation: ``returns`` and ``lengths`` ``[P, E]`` (member, episode), and
    ``complete`` ``[P, E]``: False for an episode cut at :func:`episode_limit` (its return
    is what it had earned by then)."""

    returns: np.ndarray
    lengths: np.ndarray
    complete: np.ndarray

    def summary(self, member: int = 0) -> dict[str, Any]:
        """Mean, std (population), min and max of a member's returns, its mean length, and
        the episode count."""
        returns = [float(x) for x in self.returns[member]]
        return {
            "episodes": len(returns),
            "mean": statistics.fmean(returns),
            "std": statistics.pstdev(returns),
            "min": min(returns),
            "max": max(returns),
            "episode_length": statistics.fmean(float(x) for x in self.lengths[member]),
            "complete": int(self.complete[member].sum()),
        }


class Evaluator:
    """Evaluates every member of an agent (a population, a lone agent, a DQN agent).

    Args:
        agent: has ``env_id``, ``env_backend``, ``seeds`` (one a member) and
            ``act(obs, greedy, keys, step)`` (``[P, E, D]`` observations to ``[P, E, ...]``
            actions, learning nothing).
        episodes: episodes a member plays each evaluation.
        max_steps: the longest episode (default :func:`episode_limit`).

    Raises:
        ValueError: ``episodes`` below 1.
    """

    def __init__(self, agent: Any, episodes: int = 10, max_steps: int | None = None):
        if int(episodes) < 1:
            raise ValueError(f"episodes must be at least 1, got {episodes}")
        self.agent, self.episodes = agent, int(episodes)
        self.max_steps = int(max_steps or episode_limit(agent.env_id))
        seeds = evaluation_seeds(agent.seeds, 0)
        # training=False: Atari's evaluation episodes are whole games with real rewards
        self.runner, _, _ = make_runner(
            agent.env_id, self.episodes, seeds, agent.env_backend, training=False
        )
        self._play = program(self._episodes, jit_compile=self.runner.in_graph)

    def __call__(self, round_: int | Sequence[int] = 0, greedy: bool = True) -> Evaluation:
        """Evaluation ``round_`` (one for all members, or one a member) of every member's
        current weights."""
        rounds = [round_] * len(self.agent.seeds) if isinstance(round_, int) else round_
        seeds = [evaluation_seeds([s], r)[0] for s, r in zip(self.agent.seeds, rounds, strict=True)]
        self.runner.reseed(seeds)
        out = self._play(bool(greedy), tf.constant(seeds, tf.int64))
        returns, lengths, complete = (x.numpy() for x in out)
        return Evaluation(returns.astype(np.float64), lengths.astype(np.int64), complete)

    @graph_control_flow
    def _episodes(self, greedy: bool, keys: tf.Tensor):
        """Steps every copy until each has ended one episode (or ``max_steps``)."""
        shape = [len(self.agent.seeds), self.episodes]
        returns, lengths = tf.zeros(shape, tf.float64), tf.zeros(shape, tf.int64)
        ended = tf.zeros(shape, tf.bool)
        obs = self.runner.observe()
        step = tf.constant(0, tf.int64)
        while step < self.max_steps and not tf.reduce_all(ended):
            action = self.agent.act(obs, greedy, keys, step)
            obs, info = self.runner.step(action)
            playing = ~ended & (info[..., _COLUMN["masks"]] > 0)
            reward = tf.cast(info[..., _COLUMN["rewards"]], tf.float64)
            returns += tf.where(playing, reward, tf.zeros_like(reward))
            lengths += tf.cast(playing, tf.int64)
            done = tf.maximum(info[..., _COLUMN["terminations"]], info[..., _COLUMN["truncations"]])
            ended |= playing & (done > 0)
            step += 1
        return returns, lengths, ended

    def close(self) -> None:
        self.runner.close()
