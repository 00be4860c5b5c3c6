"""Deep Q-Network (Mnih et al. 2015), pure TensorFlow, CleanRL's recipe.

Read top to bottom: the pure math (exploration schedule, TD target, loss), the replay
buffer, the agent (whose :meth:`DQNAgent.run` plays, stores and learns for many env steps
inside one ``tf.function``), and :func:`train`, the loop that yields metrics.

Counting: ``learning_starts`` and the exploration schedule use env steps (``global_step``,
summed over envs); ``train_frequency`` and ``target_network_frequency`` count vector steps
(one ``env.step`` call, ``num_envs`` transitions). With ``num_envs = 1`` (the default) both
are CleanRL's ``global_step``.

    agent = make_agent("CartPole-v1", {"learning_rate": 1e-3}, seed=1)
    for metrics in train(agent, total_timesteps=100_000):
        print(metrics["global_step"], metrics.get("rewards"))
"""

from __future__ import annotations

import time
import types
from collections.abc import Iterator, Mapping
from typing import Any

import gymnasium as gym
import tensorflow as tf

from agents import spaces
from agents.common import MLP, Adam, explained_variance
from agents.rollout import (
    EnvError,
    EnvRunner,
    choose_backend,
    env_observe,
    env_step,
    episodes,
    make_runner,
    restore_checkpoint,
    save_checkpoint,
)

SPACE = spaces.DQN
# Env steps between metrics: one "iteration" of train() (rounded to whole vector steps).
LOG_EVERY = 1000
STAT_NAMES = ("td_loss", "q_values", "explained_variance")
_COLUMN = {name: i for i, name in enumerate(EnvRunner.COLUMNS)}


# ---------------------------------------------------------------------------------------
# The math
# ---------------------------------------------------------------------------------------


def linear_schedule(start: tf.Tensor, end: tf.Tensor, duration: tf.Tensor, t: tf.Tensor):
    """``start`` at ``t = 0``, linearly to ``end`` at ``t = duration``, then ``end``.

    A zero ``duration`` gives ``end`` from the start.
    """
    frac = tf.where(duration > 0, tf.minimum(t / tf.maximum(duration, 1e-9), 1.0), 1.0)
    return start + frac * (end - start)


def td_target(
    rewards: tf.Tensor,
    terminations: tf.Tensor,
    next_q_target: tf.Tensor,
    gamma: tf.Tensor | float,
    next_q_online: tf.Tensor | None = None,
) -> tf.Tensor:
    """One-step TD targets ``r + gamma * (1 - terminated) * Q_target(s', a')``.

    ``a'`` maximizes ``next_q_target`` (DQN) or, when ``next_q_online`` is given,
    ``next_q_online`` (double DQN). A truncated transition bootstraps: its ``s'`` is the
    real final observation and the episode did not end for the task, only for the clock.

    Args:
        rewards, terminations: ``[B]``; terminations as 0/1 floats.
        next_q_target: ``[B, A]`` target-network Q-values of the next observations.
        gamma: discount.
        next_q_online: ``[B, A]`` online-network Q-values of the next observations.
    """
    chooser = next_q_target if next_q_online is None else next_q_online
    next_action = tf.argmax(chooser, axis=-1, output_type=tf.int32)
    next_value = tf.gather(next_q_target, next_action, axis=1, batch_dims=1)
    return rewards + gamma * (1.0 - terminations) * next_value


def td_loss(q: tf.Tensor, target: tf.Tensor, kind: str) -> tf.Tensor:
    """Mean squared TD error, or Huber with delta 1 (SB3's smooth L1)."""
    error = q - tf.stop_gradient(target)
    if kind == "mse":
        return tf.reduce_mean(tf.square(error))
    if kind == "huber":
        absolute = tf.abs(error)
        return tf.reduce_mean(tf.where(absolute <= 1.0, 0.5 * tf.square(error), absolute - 0.5))
    raise ValueError(f"unknown loss {kind!r}")


# ---------------------------------------------------------------------------------------
# Replay buffer
# ---------------------------------------------------------------------------------------


class ReplayBuffer(tf.Module):
    """A ring of the last ``capacity`` transitions, held in one variable (so checkpointed).

    A row is ``[obs, next_obs, action, reward, termination]``: one matrix makes an append
    one scatter, and a sample one gather. Actions are stored as floats (exact for any
    Discrete space under 2**24 actions).

    Args:
        capacity: rows; once full, each new row overwrites the oldest.
        obs_dim: observation size.
    """

    def __init__(self, capacity: int, obs_dim: int, name: str = "replay_buffer"):
        super().__init__(name=name)
        self.capacity, self.obs_dim = int(capacity), int(obs_dim)
        self.rows = tf.Variable(tf.zeros([capacity, 2 * obs_dim + 3]), trainable=False)
        self.position = tf.Variable(0, dtype=tf.int64, trainable=False)  # next row written
        self.size = tf.Variable(0, dtype=tf.int64, trainable=False)  # rows written so far

    def add(self, obs, actions, rewards, next_obs, terminations, mask) -> None:
        """Appends the transitions (``[N, ...]`` each) whose ``mask`` is 1; drops the rest."""
        rows = tf.concat([obs, next_obs, tf.cast(actions, tf.float32)[:, None],
                          rewards[:, None], terminations[:, None]], axis=1)  # fmt: skip
        rows = tf.boolean_mask(rows, mask > 0)
        count = tf.shape(rows, out_type=tf.int64)[0]
        index = (self.position + tf.range(count)) % self.capacity
        self.rows.scatter_nd_update(index[:, None], rows)
        self.position.assign((self.position + count) % self.capacity)
        self.size.assign(tf.minimum(self.size + count, self.capacity))

    def sample(self, rng: tf.random.Generator, batch_size: int) -> dict[str, tf.Tensor]:
        """``batch_size`` rows drawn uniformly with replacement from the rows written."""
        index = rng.uniform([batch_size], 0, tf.maximum(self.size, 1), dtype=tf.int64)
        return self.unpack(tf.gather(self.rows, index))

    def unpack(self, rows: tf.Tensor) -> dict[str, tf.Tensor]:
        """Splits ``[B, 2 * obs_dim + 3]`` rows into named ``[B, ...]`` tensors."""
        d = self.obs_dim
        return {
            "obs": rows[:, :d],
            "next_obs": rows[:, d : 2 * d],
            "actions": tf.cast(rows[:, 2 * d], tf.int32),
            "rewards": rows[:, 2 * d + 1],
            "terminations": rows[:, 2 * d + 2],
        }


# ---------------------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------------------


class DQNAgent(tf.Module):
    """Env, Q-network, target network, optimizer, replay buffer, RNG and counters.

    Args:
        env_id: gymnasium id of an env with Discrete actions.
        hparams: resolved hyperparameters (every name of :data:`SPACE`).
        seed: seeds the networks, exploration, sampling and the envs.
        env_backend: ``auto`` (TensorFlow's env where there is one), ``tf`` or ``gymnasium``.

    Raises:
        EnvError: unknown env, or actions that are not Discrete.
    """

    def __init__(self, env_id: str, hparams: Mapping[str, Any], seed: int,
                 env_backend: str = "auto"):  # fmt: skip
        super().__init__(name="dqn")
        self.env_id, self.seed = env_id, int(seed)
        self.hparams = types.MappingProxyType(dict(hparams))
        self.num_envs = int(hparams["num_envs"])
        self.env_backend = choose_backend(env_id, env_backend)
        runner, obs_space, act_space = make_runner(env_id, self.num_envs, self.seed,
                                                   self.env_backend)  # fmt: skip
        if not isinstance(act_space, gym.spaces.Discrete):
            runner.close()
            raise EnvError(
                f"{env_id}: DQN needs Discrete actions, got {act_space}; "
                "use ppo or a2c for continuous control"
            )
        self.runner = runner
        self.obs_dim = obs_space.shape[0]
        self.num_actions = int(act_space.n)

        self.rng = tf.random.Generator.from_seed(self.seed)
        sizes = [self.obs_dim, *[int(hparams["hidden_size"])] * int(hparams["num_layers"]),
                 self.num_actions]  # fmt: skip
        activation = hparams["activation"]
        self.q_network = MLP(sizes, activation, 1.0, self.rng, name="q_network")
        self.target_network = MLP(sizes, activation, 1.0, self.rng, name="target_network")
        for target, online in zip(self._target_pairs(), self._online_pairs()):
            target.assign(online)
        # PyTorch's Adam epsilon, as CleanRL's dqn.py (PPO and A2C use 1e-5, as theirs do).
        self.optimizer = Adam(self.q_network.trainable_variables, eps=1e-8)
        self.buffer = ReplayBuffer(int(hparams["buffer_size"]), self.obs_dim)
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)  # env steps
        self.vector_step = tf.Variable(0, dtype=tf.int64, trainable=False)  # env.step calls
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.gradient_steps = tf.Variable(0, dtype=tf.int64, trainable=False)

    def _online_pairs(self) -> list[tf.Variable]:
        return [*self.q_network.weights, *self.q_network.biases]

    def _target_pairs(self) -> list[tf.Variable]:
        return [*self.target_network.weights, *self.target_network.biases]

    def tensor_hparams(self, horizon: int) -> dict[str, tf.Tensor]:
        """The hparams :meth:`run` reads, as tensors: one trace serves all values.

        ``horizon`` is the run length in env steps over which exploration is scheduled.
        """
        h = self.hparams
        floats = ("learning_rate", "gamma", "tau", "start_e", "end_e", "max_grad_norm")
        ints = ("learning_starts", "train_frequency", "target_network_frequency",
                "gradient_steps")  # fmt: skip
        hp = {name: tf.constant(float(h[name]), tf.float32) for name in floats}
        hp.update({name: tf.constant(int(h[name]), tf.int64) for name in ints})
        hp["exploration_steps"] = tf.constant(h["exploration_fraction"] * horizon, tf.float32)
        return hp

    @tf.function
    def run(self, vector_steps: tf.Tensor, hp: Mapping[str, tf.Tensor]):
        """Plays ``vector_steps`` env steps epsilon-greedily, storing and learning as it goes.

        Returns:
            ``(info, stats, updates, epsilon)``: the env runner's ``[T, N, C]`` per-step
            columns, the mean of each of :data:`STAT_NAMES` over this call's gradient
            steps, how many gradient steps ran, and the last epsilon.
        """
        n = self.num_envs
        info_ta = tf.TensorArray(tf.float32, size=tf.cast(vector_steps, tf.int32))
        totals = {name: tf.constant(0.0) for name in STAT_NAMES}
        updates = tf.constant(0.0)
        epsilon = tf.constant(0.0)
        obs = env_observe(self.runner, n, self.obs_dim)
        for t in tf.range(tf.cast(vector_steps, tf.int32)):
            epsilon = linear_schedule(hp["start_e"], hp["end_e"], hp["exploration_steps"],
                                      tf.cast(self.global_step, tf.float32))  # fmt: skip
            greedy = tf.argmax(self.q_network(obs), axis=-1, output_type=tf.int32)
            coin, pick = tf.unstack(self.rng.uniform([2, n]))  # one draw for both choices
            random_actions = tf.cast(pick * self.num_actions, tf.int32)  # uniform over actions
            action = tf.where(coin < epsilon, random_actions, greedy)
            next_obs, info = env_step(self.runner, action, n, self.obs_dim)
            # The dummy step after an episode ended (mask 0) is no transition: dropped.
            rewards, terminations, masks = (info[:, _COLUMN[name]] for name in
                                            ("rewards", "terminations", "masks"))  # fmt: skip
            self.buffer.add(obs, action, rewards, next_obs, terminations, masks)
            self.global_step.assign_add(n)
            self.vector_step.assign_add(1)

            learning = self.global_step > hp["learning_starts"]
            if learning and self.vector_step % hp["train_frequency"] == 0:
                for _ in tf.range(hp["gradient_steps"]):
                    stats = self._gradient_step(hp)
                    totals = {name: totals[name] + stats[name] for name in STAT_NAMES}
                    updates += 1.0
            if learning and self.vector_step % hp["target_network_frequency"] == 0:
                for target, online in zip(self._target_pairs(), self._online_pairs()):
                    target.assign(hp["tau"] * online + (1.0 - hp["tau"]) * target)
            info_ta = info_ta.write(t, info)
            obs = next_obs

        stats = {name: totals[name] / tf.maximum(updates, 1.0) for name in STAT_NAMES}
        return info_ta.stack(), stats, updates, epsilon

    def _gradient_step(self, hp: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        batch = self.buffer.sample(self.rng, int(self.hparams["batch_size"]))
        next_q_online = None
        if self.hparams["double_dqn"]:
            next_q_online = self.q_network(batch["next_obs"])
        target = td_target(batch["rewards"], batch["terminations"],
                           self.target_network(batch["next_obs"]), hp["gamma"],
                           next_q_online)  # fmt: skip
        variables = self.q_network.trainable_variables
        with tf.GradientTape() as tape:
            q_all = self.q_network(batch["obs"])
            q = tf.gather(q_all, batch["actions"], axis=1, batch_dims=1)
            loss = td_loss(q, target, self.hparams["loss"])
        grads = tape.gradient(loss, variables)
        grads, _ = tf.clip_by_global_norm(grads, hp["max_grad_norm"])
        self.optimizer.apply(grads, variables, hp["learning_rate"])
        self.gradient_steps.assign_add(1)
        return {
            "td_loss": loss,
            "q_values": tf.reduce_mean(q),
            "explained_variance": explained_variance(q, target, tf.ones_like(q)),
        }

    def save(self, directory: str) -> None:
        """Writes networks, optimizer, replay buffer, RNG, counters and env state."""
        save_checkpoint(self, directory)

    def restore(self, directory: str) -> None:
        """Loads a checkpoint of :meth:`save` (structural hparams must match, see
        :func:`agents.rollout.restore_checkpoint`)."""
        restore_checkpoint(self, directory)

    def close(self) -> None:
        self.runner.close()


def make_agent(env_id: str, hparams: Mapping[str, Any] | None = None, seed: int = 0,
               env_backend: str = "auto") -> DQNAgent:  # fmt: skip
    """Builds a DQN agent; ``hparams`` override the defaults of :data:`SPACE` (checked)."""
    return DQNAgent(env_id, SPACE.resolve(hparams), seed, env_backend)


def train(
    agent: DQNAgent, total_timesteps: int, anneal_timesteps: int | None = None
) -> Iterator[dict[str, Any]]:
    """Trains until ``total_timesteps`` env steps, yielding metrics every ~1,000 env steps.

    Continues from the agent's counters, so a restored agent picks up where it stopped.
    Epsilon falls over ``exploration_fraction`` of ``anneal_timesteps`` (default
    ``total_timesteps``): Hyperband passes its maximum budget, so a trial continued rung by
    rung explores as one trained straight through.
    """
    total_vector_steps = total_timesteps // agent.num_envs
    if total_vector_steps < 1:
        raise ValueError(f"total_timesteps={total_timesteps} is less than one vector step "
                         f"(num_envs = {agent.num_envs})")  # fmt: skip
    hp = agent.tensor_hparams(anneal_timesteps or total_timesteps)
    chunk = max(LOG_EVERY // agent.num_envs, 1)
    start_time, start_step = time.perf_counter(), int(agent.global_step.numpy())

    while (done := int(agent.vector_step.numpy())) < total_vector_steps:
        steps = min(chunk - done % chunk, total_vector_steps - done)  # chunks end at k*chunk
        info, stats, updates, epsilon = agent.run(tf.constant(steps, tf.int64), hp)
        agent.iteration.assign_add(1)

        columns = dict(zip(EnvRunner.COLUMNS, tf.unstack(info, axis=-1)))
        columns["dones"] = tf.maximum(columns["terminations"], columns["truncations"])
        returns, lengths = episodes(columns)
        global_step = int(agent.global_step.numpy())
        metrics: dict[str, Any] = {
            "global_step": global_step,
            "iteration": int(agent.iteration.numpy()),
            "charts/learning_rate": float(agent.hparams["learning_rate"]),
            "charts/epsilon": float(epsilon),
            "charts/SPS": (global_step - start_step) / max(time.perf_counter() - start_time, 1e-9),
            "episode_returns": returns,
        }
        if float(updates) > 0:  # no statistics before learning starts
            metrics["explained_variance"] = float(stats["explained_variance"])
            metrics["losses/td_loss"] = float(stats["td_loss"])
            metrics["losses/q_values"] = float(stats["q_values"])
        if len(returns):
            metrics["rewards"] = float(returns.mean())
            metrics["episode_length"] = float(lengths.mean())
        yield metrics
