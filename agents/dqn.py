"""Deep Q-Network (Mnih et al. 2015), pure TensorFlow, CleanRL's recipe.

Read top to bottom: the pure math (exploration schedule, TD target, loss), the replay
buffer, the agent (whose :meth:`DQNAgent.run` plays, stores and learns for many env steps
inside one ``tf.function``, compiled by XLA when the env is in the graph), and
:func:`train`, the loop that yields metrics.

Counting: ``learning_starts`` and the exploration schedule use env steps (``global_step``,
summed over envs); ``train_frequency`` and ``target_network_frequency`` count vector steps
(one ``env.step`` call, ``num_envs`` transitions). With ``num_envs = 1`` (the default) both
are CleanRL's ``global_step``.

    agent = make_agent("CartPole-v1", {"learning_rate": 1e-3}, seed=1)
    for metrics in train(agent, total_timesteps=100_000):
        print(metrics["global_step"], metrics.get("rewards"))
"""

from __future__ import annotations

import functools
import time
import types
from collections.abc import Iterator, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import tensorflow as tf

import agents
from agents import checkpoints, spaces
from agents.common import (
    CNN,
    MLP,
    Adam,
    counter_uniform,
    explained_variance,
    graph_control_flow,
    program,
)
from agents.envs import COLUMNS, EnvError, choose_backend, env_spaces, make_runner

SPACE = spaces.DQN
EVAL_EPSILON = 0.05  # exploration when evaluating the stochastic policy (CleanRL's)
# Env steps between metrics: one "iteration" of train() (rounded to whole vector steps).
LOG_EVERY = 1000
STAT_NAMES = ("td_loss", "q_values", "explained_variance")
_COLUMN = {name: i for i, name in enumerate(COLUMNS)}


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
    """A ring of the last ``capacity`` transitions, held in two variables (so checkpointed).

    ``observations[i]`` holds row i's ``(obs, next_obs)`` in the observations' own dtype
    (float32 vectors, uint8 images), ``rows[i]`` its ``[action, reward, termination]``
    (actions as floats: exact for any Discrete space under 2**24 actions): an append is
    two scatters, a sample two gathers. A transition costs ``2 * obs_bytes + 12`` bytes:
    44 on CartPole (440 KB for the default 10,000), 812 on MinAtar Breakout
    (``[10, 10, 4]``: 81 MB for 100,000), 56,460 on preprocessed Atari (``[84, 84, 4]``:
    565 MB for the default 10,000, 5.6 GB for the ``atari`` preset's 100,000).

    Args:
        capacity: rows; once full, each new row overwrites the oldest.
        obs_shape: one observation's shape.
        obs_dtype: its dtype.
    """

    def __init__(self, capacity: int, obs_shape, obs_dtype=tf.float32, name="replay_buffer"):
        super().__init__(name=name)
        self.capacity, self.obs_shape = int(capacity), tuple(int(n) for n in obs_shape)
        # one spare row past the ring: where masked transitions are written and forgotten
        self.observations = tf.Variable(
            tf.zeros([capacity + 1, 2, *self.obs_shape], obs_dtype),
            trainable=False,
            name="buffer/observations",
        )
        self.rows = tf.Variable(tf.zeros([capacity + 1, 3]), trainable=False, name="buffer/rows")
        self.position = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="buffer/position"
        )  # next row written
        self.size = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="buffer/size"
        )  # rows written so far

    def add(self, obs, actions, rewards, next_obs, terminations, mask) -> None:
        """Appends the transitions (``[N, ...]`` each) whose ``mask`` is 1; drops the rest.

        Fixed shapes throughout (no boolean mask), so it compiles under XLA.
        """
        rows = tf.stack([tf.cast(actions, tf.float32), rewards, terminations], axis=1)
        keep = mask > 0
        offsets = tf.cumsum(tf.cast(keep, tf.int64)) - 1
        index = tf.where(keep, (self.position + offsets) % self.capacity, self.capacity)
        count = tf.reduce_sum(tf.cast(keep, tf.int64))
        self.observations.scatter_nd_update(index[:, None], tf.stack([obs, next_obs], axis=1))
        self.rows.scatter_nd_update(index[:, None], rows)
        self.position.assign((self.position + count) % self.capacity)
        self.size.assign(tf.minimum(self.size + count, self.capacity))

    def sample(self, uniform: tf.Tensor) -> dict[str, tf.Tensor]:
        """Rows drawn uniformly with replacement from those written; ``uniform`` ``[B]``
        float64 draws in [0, 1) say which."""
        size = tf.maximum(self.size, 1)
        index = tf.minimum(tf.cast(uniform * tf.cast(size, tf.float64), tf.int64), size - 1)
        return self.unpack(tf.gather(self.observations, index), tf.gather(self.rows, index))

    def unpack(self, observations: tf.Tensor, rows: tf.Tensor) -> dict[str, tf.Tensor]:
        """Named ``[B, ...]`` tensors of ``[B, 2, *obs_shape]`` observations and ``[B, 3]``
        rows."""
        return {
            "obs": observations[:, 0],
            "next_obs": observations[:, 1],
            "actions": tf.cast(rows[:, 0], tf.int32),
            "rewards": rows[:, 1],
            "terminations": rows[:, 2],
        }

    @staticmethod
    def split_old_rows(arrays: dict[str, np.ndarray]) -> None:
        """Converts a checkpoint of the one-matrix buffer (rows ``[obs, next_obs, action,
        reward, termination]``, before 2026-12-02) to this layout, in place."""
        rows = arrays.get("buffer/rows")
        if "buffer/observations" in arrays or rows is None:
            return
        d = (rows.shape[1] - 3) // 2
        arrays["buffer/observations"] = np.stack([rows[:, :d], rows[:, d : 2 * d]], axis=1)
        arrays["buffer/rows"] = rows[:, 2 * d :]


# ---------------------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------------------


class DQNAgent(tf.Module):
    """Env, Q-network, target network, optimizer, replay buffer, random streams, counters.

    The networks are the on-policy agents' stacked MLPs with one member. Random numbers
    are counter-based (``common.counter_uniform``, keyed by the seed): exploration draws
    at (vector step, stream 0), replay sampling at (gradient step, stream 1), so a
    checkpoint's counters continue the streams exactly. With our TensorFlow envs,
    :meth:`run` (play, store, learn, for a chunk of env steps) is one XLA program.

    Args:
        env_id: gymnasium id of an env with Discrete actions.
        hparams: resolved hyperparameters (every name of :data:`SPACE`).
        seed: seeds the networks, exploration, sampling and the envs.
        env_backend: ``auto`` (TensorFlow's env where there is one), ``tf`` or ``gymnasium``.

    Raises:
        EnvError: unknown env, or actions that are not Discrete.
    """

    def __init__(
        self, env_id: str, hparams: Mapping[str, Any], seed: int, env_backend: str = "auto"
    ):
        super().__init__(name="dqn")
        self.env_id, self.seed = env_id, int(seed)
        self.hparams = types.MappingProxyType(dict(hparams))
        self.num_envs = int(hparams["num_envs"])
        self.env_backend = choose_backend(env_id, env_backend)
        obs_space, act_space = env_spaces(env_id)
        if not isinstance(act_space, gym.spaces.Discrete):
            raise EnvError(
                f"{env_id}: DQN needs Discrete actions, got {act_space}; "
                "use ppo or a2c for continuous control"
            )
        self.runner, _, _ = make_runner(env_id, self.num_envs, [self.seed], self.env_backend)
        self.num_actions = int(act_space.n)

        rng = np.random.default_rng(self.seed)
        self.q_network = q_network(obs_space, self.num_actions, hparams, rng, "q_network")
        self.target_network = q_network(obs_space, self.num_actions, hparams, rng, "target_network")
        for target, online in zip(self.target_network.variables, self.q_network.variables):
            target.assign(online)
        # PyTorch's Adam epsilon, as CleanRL's dqn.py (PPO and A2C use 1e-5, as theirs do).
        self.optimizer = Adam(self.q_network.trainable_variables, eps=1e-8)
        self.parameters = sum(int(np.prod(v.shape)) for v in self.q_network.trainable_variables)
        image = agents.cnn_layout(obs_space.shape) is not None
        self.buffer = ReplayBuffer(
            int(hparams["buffer_size"]), obs_space.shape, tf.uint8 if image else tf.float32
        )
        self.rng_key = tf.constant([self.seed], tf.int64)
        counter = functools.partial(tf.Variable, 0, dtype=tf.int64, trainable=False)
        self.global_step = counter(name="global_step")  # env steps
        self.vector_step = counter(name="vector_step")  # env.step calls
        self.iteration = counter(name="iteration")
        self.gradient_steps = counter(name="gradient_steps")
        self.chunk = max(LOG_EVERY // self.num_envs, 1)  # vector steps a run() at most
        self.run = program(self._run, jit_compile=self.runner.in_graph)

    def tensor_hparams(self, horizon: int) -> dict[str, tf.Tensor]:
        """The hparams :meth:`run` reads, as tensors: one program serves all values.

        ``horizon`` is the run length in env steps over which exploration is scheduled.
        """
        h = self.hparams
        floats = ("learning_rate", "gamma", "tau", "start_e", "end_e", "max_grad_norm")
        ints = ("learning_starts", "train_frequency", "target_network_frequency", "gradient_steps")
        hp = {name: tf.constant(float(h[name]), tf.float32) for name in floats}
        hp.update({name: tf.constant(int(h[name]), tf.int64) for name in ints})
        hp["exploration_steps"] = tf.constant(h["exploration_fraction"] * horizon, tf.float32)
        return hp

    @property
    def seeds(self) -> tuple[int]:
        """One seed a member: a DQN agent is one."""
        return (self.seed,)

    def act(self, obs: tf.Tensor, greedy: bool, keys: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """Greedy actions for ``[1, E, D]`` observations, learning nothing; epsilon-greedy
        with :data:`EVAL_EPSILON` when not ``greedy`` (draws at (``keys``,
        ``step``) of stream 2). For :class:`agents.evaluation.Evaluator`."""
        action = tf.argmax(self.q_network(obs), axis=-1, output_type=tf.int32)
        if greedy:
            return action
        draws = counter_uniform(keys, tf.cast(step, tf.int64)[None], 2, [2, obs.shape[1]], 0, 1)
        coin, pick = tf.unstack(tf.cast(draws[0], tf.float32))
        random_actions = tf.cast(pick * self.num_actions, tf.int32)
        return tf.where(coin < EVAL_EPSILON, random_actions, action[0])[None]

    def _draw(self, counter: tf.Variable, stream: int, shape) -> tf.Tensor:
        return counter_uniform(self.rng_key, counter[None], stream, shape, 0.0, 1.0)[0]

    @graph_control_flow
    def _run(self, vector_steps: tf.Tensor, hp: Mapping[str, tf.Tensor]):
        """Plays ``vector_steps`` (at most :attr:`chunk`) env steps epsilon-greedily,
        storing and learning as it goes.

        Returns:
            ``(info, stats, updates, epsilon)``: the runner's ``[chunk, N, C]`` per-step
            columns (rows past ``vector_steps`` are zeros), the mean of each of
            :data:`STAT_NAMES` over this call's gradient steps, how many gradient steps
            ran, and the last epsilon.
        """
        n = self.num_envs
        info_ta = tf.TensorArray(tf.float32, size=self.chunk, element_shape=[n, len(COLUMNS)])
        totals = {name: tf.constant(0.0) for name in STAT_NAMES}
        updates = tf.constant(0.0)
        epsilon = tf.constant(0.0)
        obs = self.runner.observe()[0]
        t, end = tf.constant(0, tf.int64), tf.cast(vector_steps, tf.int64)
        train_every, copy_every = hp["train_frequency"], hp["target_network_frequency"]
        while t < end:
            # Play up to the next step at which a training round or a target copy is due
            # (or the call's last step); the two conditionals run there, not every step:
            # under XLA they took about 40% of each step's time.
            due = tf.minimum(
                train_every - self.vector_step % train_every,
                copy_every - self.vector_step % copy_every,
            )
            stop = t + tf.minimum(due, end - t)
            while t < stop:  # (a for over this tf.range would leave a Range XLA refuses)
                epsilon = linear_schedule(
                    hp["start_e"],
                    hp["end_e"],
                    hp["exploration_steps"],
                    tf.cast(self.global_step, tf.float32),
                )
                greedy = tf.argmax(self.q_network(obs[None])[0], axis=-1, output_type=tf.int32)
                draws = self._draw(self.vector_step, 0, [2, n])
                coin, pick = tf.unstack(tf.cast(draws, tf.float32))
                random_actions = tf.cast(pick * self.num_actions, tf.int32)  # uniform
                action = tf.where(coin < epsilon, random_actions, greedy)
                next_obs, info = self.runner.step(action[None])
                next_obs, info = next_obs[0], info[0]
                # The dummy step after an episode ended (mask 0) is no transition: dropped.
                rewards, terminations, masks = (
                    info[:, _COLUMN[name]] for name in ("rewards", "terminations", "masks")
                )
                self.buffer.add(obs, action, rewards, next_obs, terminations, masks)
                self.global_step.assign_add(n)
                self.vector_step.assign_add(1)
                info_ta = info_ta.write(tf.cast(t, tf.int32), info)
                obs = next_obs
                t += 1

            learning = self.global_step > hp["learning_starts"]
            if learning and self.vector_step % train_every == 0:
                for _ in tf.range(hp["gradient_steps"]):
                    stats = self._gradient_step(hp)
                    totals = {name: totals[name] + stats[name] for name in STAT_NAMES}
                    updates += 1.0
            if learning and self.vector_step % copy_every == 0:
                for target, online in zip(self.target_network.variables, self.q_network.variables):
                    target.assign(hp["tau"] * online + (1.0 - hp["tau"]) * target)

        stats = {name: totals[name] / tf.maximum(updates, 1.0) for name in STAT_NAMES}
        return info_ta.stack(), stats, updates, epsilon

    def _gradient_step(self, hp: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        batch_size = int(self.hparams["batch_size"])
        batch = self.buffer.sample(self._draw(self.gradient_steps, 1, [batch_size]))
        q_net = lambda x: self.q_network(x[None])[0]  # noqa: E731
        next_q_online = q_net(batch["next_obs"]) if self.hparams["double_dqn"] else None
        target = td_target(
            batch["rewards"],
            batch["terminations"],
            self.target_network(batch["next_obs"][None])[0],
            hp["gamma"],
            next_q_online,
        )
        variables = self.q_network.trainable_variables
        with tf.GradientTape() as tape:
            q = tf.gather(q_net(batch["obs"]), batch["actions"], axis=1, batch_dims=1)
            loss = td_loss(q, target, self.hparams["loss"])
        grads = tape.gradient(loss, variables)
        grads, _ = tf.clip_by_global_norm(grads, hp["max_grad_norm"])
        self.optimizer.apply(grads, variables, hp["learning_rate"][None])
        self.gradient_steps.assign_add(1)
        return {
            "td_loss": loss,
            "q_values": tf.reduce_mean(q),
            "explained_variance": explained_variance(q, target, tf.ones_like(q)),
        }

    def _meta(self) -> dict[str, Any]:
        return {"algorithm": "dqn", "env_id": self.env_id, "env_backend": self.env_backend}

    def save(self, directory: str) -> None:
        """Writes networks, optimizer, replay buffer, counters and env state."""
        arrays = {checkpoints.name(v): v.numpy() for v in self.variables}
        meta = {
            **self._meta(),
            "seed": self.seed,
            "hparams": dict(self.hparams),
            "global_step": int(self.global_step.numpy()),
        }
        checkpoints.write(directory, arrays, meta, self.runner.member_state(0))

    def restore(self, directory: str) -> None:
        """Loads a checkpoint of :meth:`save` (structural hparams must match, see
        :func:`agents.checkpoints.read`)."""
        _, arrays, env_state = checkpoints.read(directory, self._meta(), self.hparams)
        ReplayBuffer.split_old_rows(arrays)
        if sorted(arrays) != sorted(checkpoints.name(v) for v in self.variables):
            raise ValueError(f"checkpoint {directory} holds other variables")
        for var in self.variables:
            var.assign(arrays[checkpoints.name(var)])
        self.runner.load_member_state(0, env_state)

    def close(self) -> None:
        self.runner.close()


class CNNQNetwork(tf.Module):
    """A :class:`agents.common.CNN` torso and a linear head of Q-values, one member."""

    def __init__(self, obs_space, num_actions: int, hparams, rng, name: str):
        super().__init__(name=name)
        layout = agents.cnn_layout(obs_space.shape)
        scale = float(np.max(obs_space.high))
        channels, units = int(hparams["conv_channels"]), int(hparams["dense_units"])
        self.torso = CNN(obs_space.shape, scale, layout, channels, units, [rng], f"{name}_torso")
        self.head = MLP([units, num_actions], "relu", 1.0, [rng], name=f"{name}_head")

    def __call__(self, obs: tf.Tensor) -> tf.Tensor:
        return self.head(self.torso(obs))


def q_network(obs_space, num_actions: int, hparams, rng, name: str) -> tf.Module:
    """The Q-network of ``obs_space``: an MLP of ``hidden_size`` x ``num_layers`` for
    vectors, a CNN for images (``agents.cnn_layout``); ``[1, B, *obs]`` -> ``[1, B, A]``."""
    if agents.cnn_layout(obs_space.shape) is not None:
        return CNNQNetwork(obs_space, num_actions, hparams, rng, name)
    hidden = [int(hparams["hidden_size"])] * int(hparams["num_layers"])
    sizes = [obs_space.shape[0], *hidden, num_actions]
    return MLP(sizes, hparams["activation"], 1.0, [rng], name=name)


def make_agent(
    env_id: str, hparams: Mapping[str, Any] | None = None, seed: int = 0, env_backend: str = "auto"
) -> DQNAgent:
    """Builds a DQN agent; ``hparams`` override the defaults of :data:`SPACE` (checked)."""
    return DQNAgent(env_id, SPACE.resolve(hparams), seed, env_backend)


def train(
    agent: DQNAgent,
    total_timesteps: int,
    anneal_timesteps: int | None = None,
    evaluator: Any = None,
    eval_every: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Trains until ``total_timesteps`` env steps, yielding metrics every ~1,000 env steps.

    Continues from the agent's counters, so a restored agent picks up where it stopped.
    Epsilon falls over ``exploration_fraction`` of ``anneal_timesteps`` (default
    ``total_timesteps``): Hyperband passes its maximum budget, so a trial continued rung by
    rung explores as one trained straight through. With an ``evaluator``
    (:class:`agents.evaluation.Evaluator`), the metrics after every ``eval_every`` env
    steps (None: only at the end) and at the end get ``eval/return``,
    ``eval/episode_length`` and ``eval/returns``, as ``agents.population.train``'s do;
    evaluation ``k`` is the one after vector step ``k``.
    """
    total_vector_steps = total_timesteps // agent.num_envs
    if total_vector_steps < 1:
        raise ValueError(
            f"total_timesteps={total_timesteps} is less than one vector step "
            f"(num_envs = {agent.num_envs})"
        )
    hp = agent.tensor_hparams(anneal_timesteps or total_timesteps)
    chunk = agent.chunk
    start_time, start_step = time.perf_counter(), int(agent.global_step.numpy())

    while (done := int(agent.vector_step.numpy())) < total_vector_steps:
        steps = min(chunk - done % chunk, total_vector_steps - done)  # chunks end at k*chunk
        info, stats, updates, epsilon = agent.run(tf.constant(steps, tf.int64), hp)
        agent.iteration.assign_add(1)

        columns = dict(zip(COLUMNS, np.moveaxis(info.numpy()[:steps], -1, 0)))
        dones = columns["episode_ends"] > 0  # episodes as logged (Atari: whole games)
        returns, lengths = columns["episode_returns"][dones], columns["episode_lengths"][dones]
        global_step = int(agent.global_step.numpy())
        metrics: dict[str, Any] = {
            "global_step": global_step,
            "iteration": int(agent.iteration.numpy()),
            "charts/learning_rate": float(agent.hparams["learning_rate"]),
            "charts/epsilon": float(epsilon),
            "charts/parameters": float(agent.parameters),
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
        vector_step = done + steps
        if evaluator is not None and (
            vector_step == total_vector_steps
            or (
                eval_every
                and global_step // eval_every > (global_step - steps * agent.num_envs) // eval_every
            )
        ):
            result = evaluator(vector_step)
            metrics["eval/return"] = float(result.returns[0].mean())
            metrics["eval/episode_length"] = float(result.lengths[0].mean())
            metrics["eval/returns"] = result.returns[0]
        yield metrics
