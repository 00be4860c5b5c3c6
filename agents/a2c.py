"""Advantage Actor-Critic (Mnih et al. 2016, synchronous), pure TensorFlow.

Stable-Baselines3's recipe: short n-step rollouts over several envs, GAE with lambda 1
(plain n-step returns) by default, one gradient step per rollout, RMSprop.

    agent = make_agent("CartPole-v1", seed=1)
    for metrics in train(agent, total_timesteps=100_000):
        print(metrics["global_step"], metrics.get("rewards"))
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from typing import Any

import tensorflow as tf

from agents import spaces
from agents.common import Adam, RMSprop, explained_variance, gae, masked_mean, masked_normalize
from agents.rollout import Agent, iteration_metrics, plan, scalar_hparams

SPACE = spaces.A2C
# Hyperparameters the update reads as tensors: one trace serves every value.
TENSOR_HPARAMS = ("gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm", "norm_adv")


def a2c_loss(
    logprob, advantages, values, returns, entropy, mask, vf_coef, ent_coef, axis=None
) -> dict[str, tf.Tensor]:
    """A2C's loss on a batch (all inputs ``[B]``; ``mask`` 0/1).

    The value loss is the plain mean squared error, as in SB3's A2C. A population passes
    ``[P, B]`` inputs, ``[P]`` coefficients and ``axis=-1``: every output is then ``[P]``.
    """
    policy_loss = -masked_mean(logprob * advantages, mask, axis)
    value_loss = masked_mean(tf.square(returns - values), mask, axis)
    entropy = masked_mean(entropy, mask, axis)
    return {
        "loss": policy_loss - ent_coef * entropy + vf_coef * value_loss,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
    }


def update(
    agent: Agent,
    batch: Mapping[str, tf.Tensor],
    learning_rate: tf.Tensor,
    hp: Mapping[str, tf.Tensor],
) -> dict[str, tf.Tensor]:
    """One gradient step on the whole rollout."""
    advantages = gae(
        batch["rewards"],
        batch["values"],
        batch["bootstrap_value"],
        batch["terminations"],
        batch["truncations"],
        hp["gamma"],
        hp["gae_lambda"],
    )
    returns = tf.reshape(advantages + batch["values"], [-1])
    advantages, masks = tf.reshape(advantages, [-1]), tf.reshape(batch["masks"], [-1])
    advantages = tf.where(hp["norm_adv"], masked_normalize(advantages, masks), advantages)
    obs = tf.reshape(batch["obs"], [-1, agent.obs_dim])
    actions = tf.reshape(batch["actions"], [-1, *batch["actions"].shape[2:]])
    variables = agent.network.trainable_variables
    with tf.GradientTape() as tape:
        logprob, entropy, values = agent.network.evaluate(obs, actions)
        out = a2c_loss(
            logprob, advantages, values, returns, entropy, masks, hp["vf_coef"], hp["ent_coef"]
        )
    grads = tape.gradient(out["loss"], variables)
    grads, _ = tf.clip_by_global_norm(grads, hp["max_grad_norm"])
    agent.optimizer.apply(grads, variables, learning_rate)
    out["explained_variance"] = explained_variance(
        tf.reshape(batch["values"], [-1]), returns, masks
    )
    return out


def make_agent(env_id: str, hparams: Mapping[str, Any] | None = None, seed: int = 0,
               env_backend: str = "auto") -> Agent:  # fmt: skip
    """Builds an A2C agent; ``hparams`` override the defaults of :data:`SPACE` (checked).

    ``env_backend``: as :func:`agents.ppo.make_agent`.
    """
    hparams = SPACE.resolve(hparams)
    optimizer = RMSprop if hparams["optimizer"] == "rmsprop" else Adam
    agent = Agent(env_id, hparams, seed, make_optimizer=optimizer, env_backend=env_backend)
    agent.update = tf.function(functools.partial(update, agent))
    return agent


def train(
    agent: Agent, total_timesteps: int, anneal_timesteps: int | None = None
) -> Iterator[dict[str, Any]]:
    """Trains until ``total_timesteps`` env steps, yielding metrics after each update.

    Continues from the agent's counters, so a restored agent picks up where it stopped.
    With ``anneal_lr`` the learning rate decays over ``anneal_timesteps`` (default
    ``total_timesteps``).
    """
    num_iterations, learning_rate_at = plan(agent, total_timesteps, anneal_timesteps)
    hp = scalar_hparams(agent.hparams, TENSOR_HPARAMS)
    start_time, start_step = time.perf_counter(), int(agent.global_step.numpy())

    while int(agent.iteration.numpy()) < num_iterations:
        learning_rate = learning_rate_at(int(agent.iteration.numpy()))
        batch = agent.collect(hp["gamma"])  # num_steps x num_envs env steps, in-graph
        stats = agent.update(batch, learning_rate, hp)  # one gradient step
        agent.iteration.assign_add(1)

        yield iteration_metrics(agent, batch, stats, learning_rate, start_time, start_step)
