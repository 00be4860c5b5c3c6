"""What one training run owns, and the rollout that runs inside one ``tf.function``.

The env is stepped by a runner: :class:`TFEnvRunner` for the classic-control envs we have
in TensorFlow (``agents.tf_envs``, in the graph), :class:`EnvRunner` for any gymnasium env
(NumPy, called through ``tf.numpy_function``). Both give the same per-step columns.

:class:`Agent` holds the vector env, the actor-critic, the optimizer, the normalizers, the
RNG and the counters: exactly what a checkpoint must hold to continue training where it
stopped. Algorithms (``ppo.py``, ``a2c.py``) build an ``Agent`` and add their update.

Episode boundaries: gymnasium 1.x vector envs autoreset on the *next* step. The step after
an episode ends is a dummy (its action is ignored, its reward is 0) whose observation is
that episode's final observation. We keep it in the rollout with ``mask = 0``: its value
V(final obs) is exactly what a truncated episode must bootstrap from, and the mask keeps it
out of every loss and statistic (see ``common.gae``).
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import shutil
import time
import types
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import tensorflow as tf

import agents
from agents import ENV_BACKENDS, tf_envs
from agents.common import ActorCritic, RunningMeanStd


class EnvError(ValueError):
    """An env id that gymnasium does not know, or spaces the agents do not support."""


def make_vec_env(env_id: str, num_envs: int) -> gym.vector.VectorEnv:
    """A vector env with next-step autoreset: gymnasium's native one where it exists.

    Raises:
        EnvError: unknown env id, or observation/action spaces the agents cannot handle.
    """
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as error:
        raise EnvError(f"unknown env id {env_id!r}: {error}") from None
    if spec.vector_entry_point is not None:
        env = gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point")
    else:
        # partial(gym.make) rather than make_vec's closures, so the env can be pickled.
        env = gym.vector.SyncVectorEnv(
            [functools.partial(gym.make, env_id) for _ in range(num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
        )
    mode = env.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    if mode != gym.vector.AutoresetMode.NEXT_STEP:
        env.close()
        raise EnvError(f"{env_id}: vector env autoreset mode {mode} is not next-step")
    obs_space, act_space = env.single_observation_space, env.single_action_space
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        env.close()
        raise EnvError(f"{env_id}: observations must be a flat Box, got {obs_space}")
    if not isinstance(act_space, gym.spaces.Discrete) and not (
        isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1
    ):
        env.close()
        raise EnvError(f"{env_id}: actions must be Discrete or a flat Box, got {act_space}")
    return env


class EnvRunner:
    """The vector env plus its episode bookkeeping, stepped from inside the graph.

    Kept in numpy (a handful of array ops a step) rather than as graph ops, and pickled
    with the env in checkpoints.
    """

    # Columns of the per-step info array returned to the graph.
    COLUMNS = (
        "rewards",
        "terminations",
        "truncations",
        "masks",
        "episode_returns",
        "episode_lengths",
    )

    def __init__(self, env: gym.vector.VectorEnv, seed: int):
        self.env = env
        self.obs, _ = env.reset(seed=seed)
        self.returns = np.zeros(env.num_envs)
        self.lengths = np.zeros(env.num_envs)
        self.prev_done = np.zeros(env.num_envs, bool)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        obs, reward, terminated, truncated, _ = self.env.step(action)
        valid = ~self.prev_done  # False on the dummy step after an episode ended
        self.returns += reward * valid
        self.lengths += valid
        done = terminated | truncated
        info = np.stack(
            [
                reward,
                terminated,
                truncated,
                valid,
                np.where(done, self.returns, 0.0),
                np.where(done, self.lengths, 0.0),
            ],
            axis=-1,
        ).astype(np.float32)
        self.returns[done], self.lengths[done], self.prev_done = 0.0, 0.0, done
        self.obs = obs
        return np.asarray(obs, np.float32), info

    def close(self) -> None:
        self.env.close()


class TFEnvRunner(tf.Module):
    """:class:`EnvRunner`'s twin for the TensorFlow classic-control envs: the same columns,
    computed in the graph, its state in variables (so the agent's checkpoint holds it)."""

    def __init__(self, env_id: str, num_envs: int, seed):
        """``num_envs`` copies a seed; ``seed`` an int, or one a population member."""
        super().__init__(name="tf_env_runner")
        self.env = tf_envs.TFVectorEnv(env_id, num_envs, seed)
        self.returns = tf.Variable(tf.zeros([self.env.num_envs]), trainable=False)
        self.lengths = tf.Variable(tf.zeros([self.env.num_envs]), trainable=False)

    def observe(self) -> tf.Tensor:
        return self.env.observe()

    def step(self, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        obs, reward, terminated, truncated, valid = self.env.step(action)
        valid = tf.cast(valid, tf.float32)
        returns, lengths = self.returns + reward * valid, self.lengths + valid
        done = terminated | truncated
        zero = tf.zeros_like(returns)
        info = tf.stack([reward, tf.cast(terminated, tf.float32), tf.cast(truncated, tf.float32),
                         valid, tf.where(done, returns, zero), tf.where(done, lengths, zero)],
                        axis=-1)  # fmt: skip
        self.returns.assign(tf.where(done, zero, returns))
        self.lengths.assign(tf.where(done, zero, lengths))
        return obs, info

    def close(self) -> None:
        pass


def choose_backend(env_id: str, env_backend: str) -> str:
    """``tf`` or ``gymnasium`` for ``env_id``: ``auto`` takes TensorFlow's where it exists.

    Raises:
        EnvError: an unknown backend, or ``tf`` for an env without a TensorFlow version.
    """
    if env_backend not in ENV_BACKENDS:
        raise EnvError(f"unknown env backend {env_backend!r}; choose from {ENV_BACKENDS}")
    if env_backend == "tf" and env_id not in tf_envs.SPECS:
        raise EnvError(f"{env_id} has no TensorFlow version; those that do: "
                       f"{', '.join(tf_envs.SPECS)}")  # fmt: skip
    if env_backend == "auto":
        return "tf" if env_id in tf_envs.SPECS else "gymnasium"
    return env_backend


def make_runner(env_id: str, num_envs: int, seed: int, env_backend: str = "auto"):
    """The env runner of a run and its gymnasium spaces: ``(runner, obs_space, act_space)``.

    The TensorFlow runner still builds gymnasium's env once, to check and read its spaces.
    """
    backend = choose_backend(env_id, env_backend)
    env = make_vec_env(env_id, num_envs if backend == "gymnasium" else 1)
    spaces = env.single_observation_space, env.single_action_space
    if backend == "gymnasium":
        return EnvRunner(env, seed), *spaces
    env.close()
    return TFEnvRunner(env_id, num_envs, seed), *spaces


def env_observe(runner, num_envs: int, obs_dim: int) -> tf.Tensor:
    """The runner's current observations, inside a ``tf.function``."""
    if isinstance(runner, TFEnvRunner):
        return runner.observe()
    obs = tf.numpy_function(
        lambda: np.asarray(runner.obs, np.float32), [], tf.float32, stateful=True
    )
    obs.set_shape([num_envs, obs_dim])
    return obs


def env_step(runner, action: tf.Tensor, num_envs: int, obs_dim: int):
    """Steps the runner inside a ``tf.function``: ``(obs [N, D], info [N, C])``."""
    if isinstance(runner, TFEnvRunner):
        return runner.step(action)
    obs, info = tf.numpy_function(
        lambda a: runner.step(a), [action], [tf.float32, tf.float32], stateful=True
    )
    obs.set_shape([num_envs, obs_dim])
    info.set_shape([num_envs, len(EnvRunner.COLUMNS)])
    return obs, info


def take_spaces(owner: tf.Module, obs_space: gym.Space, act_space: gym.Space) -> None:
    """Sets what a run reads of its spaces: ``discrete``, ``obs_dim``, ``action_dim`` and,
    for continuous actions, ``action_low`` / ``action_high`` (the env's box)."""
    owner.discrete = isinstance(act_space, gym.spaces.Discrete)
    owner.obs_dim = obs_space.shape[0]
    owner.action_dim = int(act_space.n) if owner.discrete else act_space.shape[0]
    if not owner.discrete:
        owner.action_low = tf.constant(act_space.low, tf.float32)
        owner.action_high = tf.constant(act_space.high, tf.float32)


class Agent(tf.Module):
    """Env, network, optimizer, normalizers, RNG and counters of one training run.

    Args:
        env_id: gymnasium id.
        hparams: resolved hyperparameters (the algorithm's space, every name present).
        seed: seeds network init, action sampling and the envs.
        make_optimizer: ``variables -> optimizer`` (``common.Adam`` or ``common.RMSprop``).
        env_backend: ``auto`` (TensorFlow's env where there is one), ``tf`` or ``gymnasium``.
    """

    def __init__(self, env_id: str, hparams: Mapping[str, Any], seed: int,
                 make_optimizer: Callable, env_backend: str = "auto"):  # fmt: skip
        super().__init__(name="agent")
        # A mapping proxy, not a dict: tf.Module would wrap a dict attribute as trackable state.
        self.env_id, self.seed = env_id, int(seed)
        self.hparams = types.MappingProxyType(dict(hparams))
        self.num_envs, self.num_steps = int(hparams["num_envs"]), int(hparams["num_steps"])
        self.env_backend = choose_backend(env_id, env_backend)
        self.runner, obs_space, act_space = make_runner(
            env_id, self.num_envs, self.seed, self.env_backend
        )
        take_spaces(self, obs_space, act_space)

        self.rng = tf.random.Generator.from_seed(self.seed)
        self.network = ActorCritic(
            self.obs_dim,
            self.action_dim,
            self.discrete,
            int(hparams["hidden_size"]),
            int(hparams["num_layers"]),
            hparams["activation"],
            hparams.get("log_std_init", 0.0),
            self.rng,
        )
        self.optimizer = make_optimizer(self.network.trainable_variables)
        self.norm_obs, self.norm_reward = bool(hparams["norm_obs"]), bool(hparams["norm_reward"])
        self.obs_rms = RunningMeanStd([self.obs_dim], name="obs_rms")
        self.return_rms = RunningMeanStd([], name="return_rms")
        self.discounted_return = tf.Variable(tf.zeros([self.num_envs], tf.float64), trainable=False)
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False)

    # -- the rollout: num_steps env steps in one graph, the env called through numpy --------

    def _policy_input(self, obs: tf.Tensor) -> tf.Tensor:
        if not self.norm_obs:
            return obs
        self.obs_rms.update(obs, tf.ones(tf.shape(obs)[:1]))
        return self.obs_rms.normalize(obs)

    @tf.function
    def collect(self, gamma: tf.Tensor) -> dict[str, tf.Tensor]:
        """Steps the envs ``num_steps`` times; returns ``[T, N]`` tensors plus bootstrap.

        Only the actor, the sampling and the env call run per step; values and log-probs
        are computed for the whole rollout at once afterwards (same weights, same numbers).
        ``rewards`` are the (optionally scaled) training rewards; ``episode_returns`` and
        ``episode_lengths`` hold raw figures at the steps where an episode ended.
        """
        steps, n, a = self.num_steps, self.num_envs, self.action_dim
        if self.discrete:  # Gumbel-max sampling: argmax(logits + Gumbel noise)
            noise = -tf.math.log(-tf.math.log(self.rng.uniform([steps, n, a], 1e-10, 1.0)))
        else:
            noise = self.rng.normal([steps, n, a])
        obs_ta = tf.TensorArray(tf.float32, size=steps)
        act_ta = tf.TensorArray(tf.int32 if self.discrete else tf.float32, size=steps)
        info_ta = tf.TensorArray(tf.float32, size=steps)
        obs = env_observe(self.runner, n, self.obs_dim)
        for t in tf.range(steps):
            policy_obs = self._policy_input(obs)
            out = self.network.actor(policy_obs)
            if self.discrete:
                action = tf.argmax(out + noise[t], axis=-1, output_type=tf.int32)
                env_action = action
            else:
                action = out + tf.exp(self.network.log_std) * noise[t]
                env_action = tf.clip_by_value(action, self.action_low, self.action_high)
            next_obs, info = env_step(self.runner, env_action, n, self.obs_dim)
            obs_ta = obs_ta.write(t, policy_obs)
            act_ta = act_ta.write(t, action)
            info_ta = info_ta.write(t, info)
            obs = next_obs

        batch = dict(zip(EnvRunner.COLUMNS, tf.unstack(info_ta.stack(), axis=-1)))
        batch["obs"], batch["actions"] = obs_ta.stack(), act_ta.stack()
        flat_obs = tf.reshape(batch["obs"], [steps * n, self.obs_dim])
        flat_actions = tf.reshape(batch["actions"], [steps * n, *batch["actions"].shape[2:]])
        logprobs, _, values = self.network.evaluate(flat_obs, flat_actions)
        batch["logprobs"] = tf.reshape(logprobs, [steps, n])
        batch["values"] = tf.reshape(values, [steps, n])
        bootstrap_obs = self.obs_rms.normalize(obs) if self.norm_obs else obs
        batch["bootstrap_value"] = self.network.value(bootstrap_obs)
        batch["dones"] = tf.maximum(batch["terminations"], batch["truncations"])
        if self.norm_reward:
            batch["rewards"] = self._scale_rewards(
                batch["rewards"], batch["dones"], batch["masks"], gamma
            )
        self.global_step.assign_add(n * steps)
        return batch

    def _scale_rewards(self, rewards, dones, masks, gamma):
        """Divides rewards by the running std of the discounted return (SB3's VecNormalize)."""
        scaled = tf.TensorArray(tf.float32, size=self.num_steps)
        disc = self.discounted_return.read_value()
        for t in tf.range(self.num_steps):
            disc = disc * tf.cast(gamma, tf.float64) + tf.cast(rewards[t], tf.float64)
            self.return_rms.update(disc, masks[t])
            scaled = scaled.write(t, self.return_rms.scale(rewards[t]))
            disc = tf.where(dones[t] > 0, tf.zeros_like(disc), disc)
        self.discounted_return.assign(disc)
        return scaled.stack()

    # -- checkpoints ------------------------------------------------------------------------

    def save(self, directory: str) -> None:
        """Writes everything needed to continue exactly (see :func:`save_checkpoint`)."""
        save_checkpoint(self, directory)

    def restore(self, directory: str) -> None:
        """Loads a checkpoint of :meth:`save` (structural hparams must match, see
        :func:`restore_checkpoint`)."""
        restore_checkpoint(self, directory)

    def close(self) -> None:
        self.runner.close()


def save_checkpoint(agent: tf.Module, directory: str) -> None:
    """Writes an agent's variables (network, optimizer, RNG, buffers), env and meta data.

    ``agent`` is any algorithm's run state with ``env_id``, ``seed``, ``hparams``,
    ``runner`` and ``global_step``. The directory is replaced atomically: a crash mid-save
    leaves the previous one.
    """
    tmp = directory.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    tf.train.Checkpoint(agent=agent).write(os.path.join(tmp, "agent"))
    if not isinstance(agent.runner, TFEnvRunner):  # a TFEnvRunner is in the checkpoint already
        with open(os.path.join(tmp, "env.pkl"), "wb") as f:
            pickle.dump(agent.runner, f)
    meta = {
        "env_id": agent.env_id,
        "env_backend": agent.env_backend,
        "seed": agent.seed,
        "hparams": dict(agent.hparams),
        "global_step": int(agent.global_step.numpy()),
    }
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    old = directory.rstrip("/") + ".old"
    if os.path.exists(directory):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def restore_checkpoint(agent: tf.Module, directory: str) -> None:
    """Loads a checkpoint of :func:`save_checkpoint` into an agent of the same env.

    Hparams that shape variables or envs (``agents.STRUCTURAL_HPARAMS``) must match; the
    others may differ: training continues under the agent's own values (how PBT copies a
    member and then perturbs its hparams).
    """
    with open(os.path.join(directory, "meta.json")) as f:
        meta = json.load(f)
    if meta["env_id"] != agent.env_id:
        raise ValueError(f"checkpoint {directory} was written for {meta['env_id']}, "
                         f"not {agent.env_id}")  # fmt: skip
    if meta.get("env_backend", "gymnasium") != agent.env_backend:
        raise ValueError(f"checkpoint {directory} was written with the "
                         f"{meta.get('env_backend', 'gymnasium')} env backend, not "
                         f"{agent.env_backend}")  # fmt: skip
    for name in agents.STRUCTURAL_HPARAMS:
        saved = meta["hparams"].get(name)
        if name in agent.hparams and saved != agent.hparams[name]:
            raise ValueError(f"checkpoint {directory} was written for other hparams: {name}="
                             f"{saved!r}, not {agent.hparams[name]!r}")  # fmt: skip
    tf.train.Checkpoint(agent=agent).read(os.path.join(directory, "agent")).assert_consumed()
    if not isinstance(agent.runner, TFEnvRunner):
        with open(os.path.join(directory, "env.pkl"), "rb") as f:
            runner = pickle.load(f)
        agent.runner.close()
        agent.runner = runner


def scalar_hparams(hparams: Mapping[str, Any], names) -> dict[str, tf.Tensor]:
    """The named hparams as scalar tensors: one ``tf.function`` trace serves all values."""
    return {
        name: tf.constant(hparams[name], tf.bool if isinstance(hparams[name], bool) else tf.float32)
        for name in names
    }


def plan(agent: Agent, total_timesteps: int, anneal_timesteps: int | None = None):
    """Iterations to run, and the learning rate of each iteration.

    With ``anneal_lr`` the rate decays linearly over ``anneal_timesteps`` (default
    ``total_timesteps``), as CleanRL: 1.0 x on the first iteration, 1/N on the last.

    Returns:
        ``(num_iterations, learning_rate_at)`` where ``learning_rate_at(i)`` is a tensor.
    """
    batch_size = agent.num_envs * agent.num_steps
    num_iterations = total_timesteps // batch_size
    if num_iterations < 1:
        raise ValueError(f"total_timesteps={total_timesteps} is less than one rollout "
                         f"(num_envs x num_steps = {batch_size})")  # fmt: skip
    anneal_iterations = max((anneal_timesteps or total_timesteps) // batch_size, 1)
    base, anneal = agent.hparams["learning_rate"], agent.hparams["anneal_lr"]

    def learning_rate_at(iteration: int) -> tf.Tensor:
        frac = max(1.0 - iteration / anneal_iterations, 0.0) if anneal else 1.0
        return tf.constant(frac * base, tf.float32)

    return num_iterations, learning_rate_at


def episodes(batch: Mapping[str, tf.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the episodes that ended in a rollout, in time order."""
    dones = batch["dones"].numpy() > 0
    return batch["episode_returns"].numpy()[dones], batch["episode_lengths"].numpy()[dones]


# Update statistics reported as ``losses/NAME`` (the agents report those they compute).
LOSS_NAMES = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "old_approx_kl",
              "clipfrac")  # fmt: skip


def iteration_metrics(
    agent: Agent, batch, stats, learning_rate, start_time: float, start_step: int
) -> dict[str, Any]:
    """Metrics of one iteration (shared by the agents): the names TensorBoard shows."""
    global_step = int(agent.global_step.numpy())
    returns, lengths = episodes(batch)
    metrics: dict[str, Any] = {
        "global_step": global_step,
        "iteration": int(agent.iteration.numpy()),
        "explained_variance": float(stats["explained_variance"]),
        "charts/learning_rate": float(learning_rate),
        "charts/SPS": (global_step - start_step) / max(time.perf_counter() - start_time, 1e-9),
        "episode_returns": returns,
    }
    for name in LOSS_NAMES:
        if name in stats:
            metrics[f"losses/{name}"] = float(stats[name])
    if len(returns):
        metrics["rewards"] = float(returns.mean())
        metrics["episode_length"] = float(lengths.mean())
    return metrics
