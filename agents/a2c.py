"""Advantage Actor-Critic (Mnih et al. 2016, synchronous), pure TensorFlow.

Stable-Baselines3's recipe: short n-step rollouts over several envs, GAE with lambda 1
(plain n-step returns) by default, one gradient step per rollout, RMSprop.

    agent = make_agent("CartPole-v1", seed=1)
    for metrics in train(agent, total_timesteps=100_000):
        print(metrics["global_step"], metrics.get("rewards"))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from agents import spaces
from agents.common import clip_by_member_norm, explained_variance, masked_mean, masked_normalize
from agents.population import Population, train_one

SPACE = spaces.A2C  # role "member": read as [P] tensors (Population.hp)
LOSS_NAMES = ("loss", "policy_loss", "value_loss", "entropy")
# What update() returns, [P] each (metrics of the same names).
STAT_NAMES = (*(f"losses/{name}" for name in LOSS_NAMES), "explained_variance")


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
    population: Population,
    data: Mapping[str, tf.Tensor],
    learning_rate: tf.Tensor,
    running: tf.Tensor,
) -> dict[str, tf.Tensor]:
    """One gradient step on each member's whole rollout (``data`` ``[P, B, ...]``).

    Returns the :data:`STAT_NAMES` statistics, ``[P]`` each.
    """
    hp = population.hp
    advantages = tf.where(
        hp["norm_adv"][:, None],
        masked_normalize(data["advantages"], data["masks"], axis=-1),
        data["advantages"],
    )
    variables = population.network.trainable_variables
    with tf.GradientTape() as tape:
        logprob, entropy, values = population.network.evaluate(data["obs"], data["actions"])
        out = a2c_loss(
            logprob,
            advantages,
            values,
            data["returns"],
            entropy,
            data["masks"],
            hp["vf_coef"],
            hp["ent_coef"],
            axis=-1,
        )
        total = tf.reduce_sum(tf.where(running, out["loss"], 0.0))  # summed, not averaged
    grads = tape.gradient(total, variables)
    grads, _ = clip_by_member_norm(grads, hp["max_grad_norm"])
    population.optimizer.apply(grads, variables, learning_rate, running)
    stats = {f"losses/{k}": out[k] for k in LOSS_NAMES}
    stats["explained_variance"] = explained_variance(
        data["values"], data["returns"], data["masks"], axis=-1
    )
    return stats


def make_agent(
    env_id: str, hparams: Mapping[str, Any] | None = None, seed: int = 0, env_backend: str = "auto"
) -> Population:
    """A lone A2C agent: a population of one; ``hparams`` override :data:`SPACE`'s defaults
    (checked). ``env_backend``: as :func:`agents.ppo.make_agent`."""
    return Population("a2c", env_id, [hparams or {}], [seed], env_backend)


# Trains a lone agent until total_timesteps env steps, yielding its metrics after each
# update; continues from its counters (see agents.population.train).
train = train_one
