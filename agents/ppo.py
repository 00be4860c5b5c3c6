"""Proximal Policy Optimization (Schulman et al. 2017), pure TensorFlow, CleanRL's recipe.

Read top to bottom: the loss (a pure function), the update (one ``tf.function`` for all
epochs and minibatches of an iteration), and :func:`train`, the loop that yields metrics.

    agent = make_agent("CartPole-v1", {"learning_rate": 1e-3}, seed=1)
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
from agents.common import Adam, explained_variance, gae, masked_mean, masked_normalize
from agents.rollout import LOSS_NAMES, Agent, iteration_metrics, plan, scalar_hparams

SPACE = spaces.PPO
# Hyperparameters the update reads as tensors: one trace serves every value.
TENSOR_HPARAMS = (
    "gamma",
    "gae_lambda",
    "clip_coef",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
    "target_kl",
    "norm_adv",
    "clip_vloss",
)


def ppo_loss(
    new_logprob,
    old_logprob,
    advantages,
    new_values,
    old_values,
    returns,
    entropy,
    mask,
    clip_coef,
    vf_coef,
    ent_coef,
    clip_vloss,
    axis: int | None = None,
) -> dict[str, tf.Tensor]:
    """PPO's clipped objective on a minibatch (all inputs ``[B]``; ``mask`` 0/1).

    A population passes ``[P, B]`` inputs with ``axis=-1``: then ``clip_coef`` and
    ``clip_vloss`` are ``[P, 1]``, ``vf_coef`` and ``ent_coef`` ``[P]``, and every output is
    ``[P]`` (one figure per member).

    Returns:
        ``loss`` (to minimize), ``policy_loss``, ``value_loss``, ``entropy``,
        ``approx_kl`` (the unbiased ``(r - 1) - log r`` estimator), ``old_approx_kl``
        (``-log r``) and ``clipfrac`` (share of ratios outside the clip range).
    """
    log_ratio = new_logprob - old_logprob
    ratio = tf.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * tf.clip_by_value(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    policy_loss = masked_mean(tf.maximum(unclipped, clipped), mask, axis)

    value_error = tf.square(new_values - returns)
    clipped_values = old_values + tf.clip_by_value(new_values - old_values, -clip_coef, clip_coef)
    clipped_error = tf.maximum(value_error, tf.square(clipped_values - returns))
    value_loss = 0.5 * masked_mean(tf.where(clip_vloss, clipped_error, value_error), mask, axis)

    entropy = masked_mean(entropy, mask, axis)
    return {
        "loss": policy_loss - ent_coef * entropy + vf_coef * value_loss,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": masked_mean((ratio - 1.0) - log_ratio, mask, axis),
        "old_approx_kl": masked_mean(-log_ratio, mask, axis),
        "clipfrac": masked_mean(tf.cast(tf.abs(ratio - 1.0) > clip_coef, tf.float32), mask, axis),
    }


def update(
    agent: Agent,
    batch: Mapping[str, tf.Tensor],
    learning_rate: tf.Tensor,
    hp: Mapping[str, tf.Tensor],
) -> dict[str, tf.Tensor]:
    """All epochs and minibatches of one iteration; returns mean losses and diagnostics."""
    advantages = gae(
        batch["rewards"],
        batch["values"],
        batch["bootstrap_value"],
        batch["terminations"],
        batch["truncations"],
        hp["gamma"],
        hp["gae_lambda"],
    )
    returns = advantages + batch["values"]

    def flat(x):
        return tf.reshape(x, [-1, *x.shape[2:]])

    data = {
        "obs": flat(batch["obs"]),
        "actions": flat(batch["actions"]),
        "logprobs": flat(batch["logprobs"]),
        "values": flat(batch["values"]),
        "advantages": flat(advantages),
        "returns": flat(returns),
        "masks": flat(batch["masks"]),
    }
    batch_size = agent.num_envs * agent.num_steps
    num_minibatches = int(agent.hparams["num_minibatches"])
    minibatch_size = batch_size // num_minibatches
    variables = agent.network.trainable_variables
    names = LOSS_NAMES
    totals = {k: tf.constant(0.0) for k in names}
    updates = tf.constant(0.0)
    approx_kl = tf.constant(0.0)

    for _ in tf.range(int(agent.hparams["update_epochs"])):
        order = tf.argsort(agent.rng.uniform([batch_size]))
        for i in tf.range(num_minibatches):
            idx = order[i * minibatch_size : (i + 1) * minibatch_size]
            mb = {k: tf.gather(v, idx) for k, v in data.items()}
            adv = tf.where(
                hp["norm_adv"], masked_normalize(mb["advantages"], mb["masks"]), mb["advantages"]
            )
            with tf.GradientTape() as tape:
                logprob, entropy, value = agent.network.evaluate(mb["obs"], mb["actions"])
                out = ppo_loss(
                    logprob,
                    mb["logprobs"],
                    adv,
                    value,
                    mb["values"],
                    mb["returns"],
                    entropy,
                    mb["masks"],
                    hp["clip_coef"],
                    hp["vf_coef"],
                    hp["ent_coef"],
                    hp["clip_vloss"],
                )
            grads = tape.gradient(out["loss"], variables)
            grads, _ = tf.clip_by_global_norm(grads, hp["max_grad_norm"])
            agent.optimizer.apply(grads, variables, learning_rate)
            totals = {k: totals[k] + out[k] for k in names}
            updates += 1.0
            approx_kl = out["approx_kl"]
        if hp["target_kl"] > 0.0 and approx_kl > hp["target_kl"]:
            break

    stats = {k: totals[k] / updates for k in names}
    stats["explained_variance"] = explained_variance(data["values"], data["returns"], data["masks"])
    stats["updates"] = updates
    return stats


def make_agent(env_id: str, hparams: Mapping[str, Any] | None = None, seed: int = 0,
               env_backend: str = "auto") -> Agent:  # fmt: skip
    """Builds a PPO agent; ``hparams`` override the defaults of :data:`SPACE` (checked).

    ``env_backend``: ``auto`` runs TensorFlow's version of a classic-control env (the whole
    rollout in the graph), ``gymnasium`` forces gymnasium's.
    """
    agent = Agent(env_id, SPACE.resolve(hparams), seed, make_optimizer=Adam,
                  env_backend=env_backend)  # fmt: skip
    agent.update = tf.function(functools.partial(update, agent))
    return agent


def train(
    agent: Agent, total_timesteps: int, anneal_timesteps: int | None = None
) -> Iterator[dict[str, Any]]:
    """Trains until ``total_timesteps`` env steps, yielding metrics after each iteration.

    Continues from the agent's counters, so a restored agent picks up where it stopped.
    With ``anneal_lr`` the learning rate decays over ``anneal_timesteps`` (default
    ``total_timesteps``): Hyperband passes its maximum budget, so a trial continued rung by
    rung follows the same schedule as one trained straight through.
    """
    num_iterations, learning_rate_at = plan(agent, total_timesteps, anneal_timesteps)
    hp = scalar_hparams(agent.hparams, TENSOR_HPARAMS)
    start_time, start_step = time.perf_counter(), int(agent.global_step.numpy())

    while int(agent.iteration.numpy()) < num_iterations:
        learning_rate = learning_rate_at(int(agent.iteration.numpy()))
        batch = agent.collect(hp["gamma"])  # num_steps x num_envs env steps, in-graph
        stats = agent.update(batch, learning_rate, hp)  # GAE, epochs, minibatches
        agent.iteration.assign_add(1)

        yield iteration_metrics(agent, batch, stats, learning_rate, start_time, start_step)
