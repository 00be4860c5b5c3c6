"""Proximal Policy Optimization (Schulman et al. 2017), pure TensorFlow, CleanRL's recipe.

Read top to bottom: the loss (a pure function), the update (all epochs and minibatches of
an iteration, written for ``[P, ...]`` tensors: P members at once), and :func:`make_agent`.
The rollout, GAE, the training loop and checkpoints are the on-policy core's
(``agents.population``): a lone agent is a population of one.

    agent = make_agent("CartPole-v1", {"learning_rate": 1e-3}, seed=1)
    for metrics in train(agent, total_timesteps=100_000):
        print(metrics["global_step"], metrics.get("rewards"))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from agents import spaces
from agents.common import (
    clip_by_member_norm,
    explained_variance,
    graph_control_flow,
    masked_mean,
    per_member,
)
from agents.population import SHUFFLE_STREAM, Population, train_one

SPACE = spaces.PPO  # role "member": read as [P] tensors (Population.hp)
LOSS_NAMES = (
    "loss",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "old_approx_kl",
    "clipfrac",
)
# What update() returns, [P] each (metrics of the same names).
STAT_NAMES = (*(f"losses/{name}" for name in LOSS_NAMES), "explained_variance", "updates")


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


@graph_control_flow
def update(
    population: Population,
    data: Mapping[str, tf.Tensor],
    learning_rate: tf.Tensor,
    running: tf.Tensor,
) -> dict[str, tf.Tensor]:
    """All epochs and minibatches of one iteration, every member at once.

    ``data`` is the rollout flattened to ``[P, B, ...]`` with its advantages and returns;
    ``learning_rate`` and ``running`` are ``[P]``. A member that stops early (its
    ``update_epochs`` reached, or ``target_kl`` exceeded after an epoch) is masked out of
    the remaining steps.

    Members may differ in ``num_minibatches`` (all powers of two, so each divides the
    batch): an epoch steps through each member's shuffled batch in chunks of the smallest
    minibatch (B over the largest count). A member whose minibatch spans k chunks adds up
    their gradients and applies the sum at its k-th chunk: its minibatch's gradient, up
    to float rounding (the order of the sum); advantages are normalized over the whole
    minibatch. With one count for all members a chunk is a minibatch.

    Returns the :data:`STAT_NAMES` statistics, ``[P]`` each: means over the member's
    minibatch steps.
    """
    hp = population.hp
    size, batch_size = population.size, population.num_envs * population.num_steps
    num_chunks = population.largest("num_minibatches")
    chunk_size = batch_size // num_chunks
    # The chunks each member's minibatch spans, and which chunks share a minibatch.
    span = num_chunks // tf.cast(hp["num_minibatches"], tf.int32)  # [P]
    minibatch_of = tf.range(num_chunks)[None, :] // span[:, None]  # [P, C]
    together = tf.cast(minibatch_of[:, :, None] == minibatch_of[:, None, :], tf.float32)

    def over_minibatch(chunk_sums):  # [P, C] -> each chunk's minibatch total, [P, C]
        return tf.einsum("pcd,pd->pc", together, chunk_sums)

    variables = population.network.trainable_variables
    epochs = tf.cast(hp["update_epochs"], tf.int32)
    clip_coef, clip_vloss = hp["clip_coef"][:, None], hp["clip_vloss"][:, None]
    totals = {name: tf.zeros([size]) for name in LOSS_NAMES}
    updates, approx_kl, minibatch_kl = tf.zeros([size]), tf.zeros([size]), tf.zeros([size])
    kl_stopped = tf.zeros([size], tf.bool)
    gradient_sums = [tf.zeros_like(v) for v in variables]

    epoch, max_epochs = tf.constant(0), tf.reduce_max(epochs)
    while epoch < max_epochs:  # (a for over a tf.range this long leaves a Range XLA refuses)
        stepping = running & ~kl_stopped & (epoch < epochs)
        order = tf.argsort(population.uniform(SHUFFLE_STREAM + epoch, [batch_size]), axis=-1)
        # Each chunk's samples and advantages, normalized over its minibatch (two passes).
        masks = tf.reshape(tf.gather(data["masks"], order, batch_dims=1), [size, num_chunks, -1])
        raw = tf.reshape(tf.gather(data["advantages"], order, batch_dims=1), masks.shape)
        chunk_counts = tf.reduce_sum(masks, -1)
        counts = tf.maximum(over_minibatch(chunk_counts), 1.0)
        mean = over_minibatch(tf.reduce_sum(raw * masks, -1)) / counts
        deviation = raw - mean[..., None]
        std = tf.sqrt(over_minibatch(tf.reduce_sum(tf.square(deviation) * masks, -1)) / counts)
        advantages = tf.where(
            hp["norm_adv"][:, None, None], deviation / (std[..., None] + 1e-8), raw
        )
        weights = chunk_counts / counts  # a chunk's share of its minibatch's mean
        for chunk in tf.range(num_chunks):
            idx = tf.slice(order, [0, chunk * chunk_size], [size, chunk_size])
            mb = {
                k: tf.gather(v, idx, batch_dims=1)
                for k, v in data.items()
                if k not in ("advantages", "masks")
            }
            weight = weights[:, chunk]
            with tf.GradientTape() as tape:
                logprob, entropy, value = population.network.evaluate(mb["obs"], mb["actions"])
                out = ppo_loss(
                    logprob,
                    mb["logprobs"],
                    advantages[:, chunk],
                    value,
                    mb["values"],
                    mb["returns"],
                    entropy,
                    masks[:, chunk],
                    clip_coef,
                    hp["vf_coef"],
                    hp["ent_coef"],
                    clip_vloss,
                    axis=-1,
                )
                total = tf.reduce_sum(tf.where(stepping, out["loss"] * weight, 0.0))  # summed
            grads = tape.gradient(total, variables)
            starts, ends = chunk % span == 0, (chunk + 1) % span == 0  # [P]
            gradient_sums = [
                tf.where(per_member(starts, g), g, s + g) for g, s in zip(grads, gradient_sums)
            ]
            clipped, _ = clip_by_member_norm(gradient_sums, hp["max_grad_norm"])
            applying = stepping & ends
            population.optimizer.apply(clipped, variables, learning_rate, applying)
            totals = {k: totals[k] + tf.where(stepping, out[k] * weight, 0.0) for k in LOSS_NAMES}
            updates += tf.cast(applying, tf.float32)
            minibatch_kl = tf.where(starts, 0.0, minibatch_kl) + out["approx_kl"] * weight
            approx_kl = tf.where(applying, minibatch_kl, approx_kl)
        kl_stopped |= (hp["target_kl"] > 0.0) & (approx_kl > hp["target_kl"])
        epoch += 1

    stats = {f"losses/{k}": totals[k] / tf.maximum(updates, 1.0) for k in LOSS_NAMES}
    stats["explained_variance"] = explained_variance(
        data["values"], data["returns"], data["masks"], axis=-1
    )
    stats["updates"] = updates
    return stats


def make_agent(
    env_id: str, hparams: Mapping[str, Any] | None = None, seed: int = 0, env_backend: str = "auto"
) -> Population:
    """A lone PPO agent: a population of one; ``hparams`` override :data:`SPACE`'s defaults
    (checked). ``env_backend``: ``auto`` runs TensorFlow's version of a classic-control env
    (the whole iteration compiled by XLA), ``gymnasium`` forces gymnasium's."""
    return Population("ppo", env_id, [hparams or {}], [seed], env_backend)


# Trains a lone agent until total_timesteps env steps, yielding its metrics after each
# iteration; continues from its counters (see agents.population.train).
train = train_one
