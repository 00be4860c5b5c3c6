"""Math and networks shared by the agents: pure functions first, small modules after.

Shapes: rollout tensors are ``[T, N]`` (time, env); a flat batch is ``[B]``. ``mask`` is 1.0
for a real transition and 0.0 for the dummy step a gymnasium vector env takes right after
an episode ends (next-step autoreset): masked entries count in no loss or statistic.
"""

from __future__ import annotations

import math

import tensorflow as tf

# ---------------------------------------------------------------------------------------
# Returns and advantages
# ---------------------------------------------------------------------------------------


def gae(
    rewards: tf.Tensor,
    values: tf.Tensor,
    bootstrap_value: tf.Tensor,
    terminations: tf.Tensor,
    truncations: tf.Tensor,
    gamma: tf.Tensor | float,
    gae_lambda: tf.Tensor | float,
) -> tf.Tensor:
    """Generalized advantage estimates for a ``[T, N]`` rollout.

    ``values[t]`` is V(obs_t); the value of the state after step t is ``values[t + 1]``
    (``bootstrap_value`` after the last step). With next-step autoreset the observation
    stored right after a finished episode is that episode's final observation, so a
    truncated episode bootstraps from V(final obs) while a terminated one does not; the
    recursion stops at every episode end (terminated or truncated).

    Args:
        rewards, values, terminations, truncations: ``[T, N]``; flags as 0/1 floats.
        bootstrap_value: ``[N]``, V of the observation after the last step.
        gamma, gae_lambda: discount and GAE lambda.

    Returns:
        ``[T, N]`` advantages; returns are ``advantages + values``.
    """
    next_values = tf.concat([values[1:], bootstrap_value[None]], axis=0)
    deltas = rewards + gamma * next_values * (1.0 - terminations) - values
    carry_on = gamma * gae_lambda * (1.0 - tf.maximum(terminations, truncations))
    advantages = tf.scan(
        lambda next_adv, x: x[0] + x[1] * next_adv,
        (deltas, carry_on),
        initializer=tf.zeros_like(bootstrap_value),
        reverse=True,
    )
    return advantages


def masked_mean(
    x: tf.Tensor, mask: tf.Tensor, axis: int | None = None, keepdims: bool = False
) -> tf.Tensor:
    """Mean of ``x`` over entries where ``mask`` is 1 (0 if none).

    ``axis=None`` averages everything; ``axis=-1`` averages each row of a ``[P, B]``
    population batch on its own (one figure per member).
    """
    total = tf.reduce_sum(x * mask, axis, keepdims=keepdims)
    return total / tf.maximum(tf.reduce_sum(mask, axis, keepdims=keepdims), 1.0)


def masked_normalize(
    x: tf.Tensor, mask: tf.Tensor, eps: float = 1e-8, axis: int | None = None
) -> tf.Tensor:
    """``(x - mean) / (std + eps)`` with mean and std over masked entries (per row with
    ``axis=-1``)."""
    mean = masked_mean(x, mask, axis, keepdims=True)
    std = tf.sqrt(masked_mean(tf.square(x - mean), mask, axis, keepdims=True))
    return (x - mean) / (std + eps)


def explained_variance(
    predicted: tf.Tensor, target: tf.Tensor, mask: tf.Tensor, axis: int | None = None
) -> tf.Tensor:
    """``1 - Var[target - predicted] / Var[target]`` over masked entries (per row with
    ``axis=-1``).

    1 is a perfect value function, 0 no better than a constant, negative worse. Returns 0
    when the targets have no variance (instead of NaN, which sweeps treat as divergence).
    """
    target_mean = masked_mean(target, mask, axis, keepdims=True)
    var_target = masked_mean(tf.square(target - target_mean), mask, axis)
    error = target - predicted
    error_mean = masked_mean(error, mask, axis, keepdims=True)
    var_error = masked_mean(tf.square(error - error_mean), mask, axis)
    return tf.where(var_target > 0.0, 1.0 - var_error / tf.maximum(var_target, 1e-12), 0.0)


# ---------------------------------------------------------------------------------------
# Policy distributions: (logits | mean, log_std) -> log-prob, entropy, sample
# ---------------------------------------------------------------------------------------

_LOG_2PI = math.log(2.0 * math.pi)


def categorical_log_prob(logits: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    log_probs = tf.nn.log_softmax(logits)
    return tf.gather(log_probs, tf.cast(actions, tf.int32), batch_dims=logits.shape.rank - 1)


def categorical_entropy(logits: tf.Tensor) -> tf.Tensor:
    log_probs = tf.nn.log_softmax(logits)
    return -tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=-1)


def gaussian_log_prob(mean: tf.Tensor, log_std: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    z = (actions - mean) * tf.exp(-log_std)
    return tf.reduce_sum(-0.5 * tf.square(z) - log_std - 0.5 * _LOG_2PI, axis=-1)


def gaussian_entropy(log_std: tf.Tensor, batch_shape: tf.Tensor) -> tf.Tensor:
    """Entropy of a diagonal Gaussian; ``log_std`` ``[A]`` (or ``[P, 1, A]``, per member)."""
    per_dim = 0.5 + 0.5 * _LOG_2PI + log_std
    return tf.broadcast_to(tf.reduce_sum(per_dim, -1), batch_shape)


# ---------------------------------------------------------------------------------------
# Optimizers (ours, not Keras': hparams arrive as tensors each call, state is checkpointed)
# ---------------------------------------------------------------------------------------


def per_member(x: tf.Tensor, like: tf.Variable) -> tf.Tensor:
    """Reshapes a scalar or a ``[P]`` vector to broadcast against ``like`` (``[P, ...]``)."""
    return tf.reshape(x, [-1] + [1] * (like.shape.rank - 1)) if like.shape.rank else x


class Adam(tf.Module):
    """Adam (Kingma & Ba) with bias correction; ``eps`` outside the square root.

    With ``members=P`` it updates a population: every variable has a leading axis of P
    members, and the learning rate, the step count and the ``active`` mask are ``[P]``
    (an inactive member's variables and state stay exactly as they were).
    """

    def __init__(self, variables, beta_1=0.9, beta_2=0.999, eps=1e-5, members=None,
                 name="adam"):  # fmt: skip
        super().__init__(name=name)
        self.beta_1, self.beta_2, self.eps = beta_1, beta_2, eps
        shape = [] if members is None else [members]
        self.step = tf.Variable(tf.zeros(shape, tf.int64), trainable=False)
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    def apply(self, grads, variables, learning_rate, active=None):
        step = self.step + (1 if active is None else tf.cast(active, tf.int64))
        t = tf.cast(tf.maximum(step, 1), tf.float32)
        scale = learning_rate * tf.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        updates = [(self.step, step)]
        for g, var, m, v in zip(grads, variables, self.m, self.v):
            new_m = self.beta_1 * m + (1.0 - self.beta_1) * g
            new_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(g)
            new_var = var - per_member(scale, var) * new_m / (tf.sqrt(new_v) + self.eps)
            updates += [(m, new_m), (v, new_v), (var, new_var)]
        _assign(updates, active)


class RMSprop(tf.Module):
    """RMSprop as PyTorch and Stable-Baselines3's A2C use it (``eps`` outside the root).

    ``members`` and ``active``: as :class:`Adam`.
    """

    def __init__(self, variables, alpha=0.99, eps=1e-5, members=None, name="rmsprop"):
        super().__init__(name=name)
        self.alpha, self.eps = alpha, eps
        shape = [] if members is None else [members]
        self.step = tf.Variable(tf.zeros(shape, tf.int64), trainable=False)
        self.sq = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    def apply(self, grads, variables, learning_rate, active=None):
        updates = [(self.step, self.step + (1 if active is None else tf.cast(active, tf.int64)))]
        for g, var, sq in zip(grads, variables, self.sq):
            new_sq = self.alpha * sq + (1.0 - self.alpha) * tf.square(g)
            new_var = var - per_member(learning_rate, var) * g / (tf.sqrt(new_sq) + self.eps)
            updates += [(sq, new_sq), (var, new_var)]
        _assign(updates, active)


def _assign(updates, active) -> None:
    """Assigns ``(variable, value)`` pairs; with an ``active`` mask only active members.

    Masking costs a third of an optimizer step, so it is skipped when every member is
    active (the common case: the results are the same).
    """

    def assign(masked: bool) -> None:
        for var, value in updates:
            if masked:
                value = tf.where(per_member(active, var), value, var)
            var.assign(value)

    if active is None:
        assign(masked=False)
    else:
        tf.cond(tf.reduce_all(active), lambda: assign(masked=False), lambda: assign(masked=True))


# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------

ACTIVATIONS = {"tanh": tf.tanh, "relu": tf.nn.relu}


def orthogonal(shape, gain: float, rng: tf.random.Generator) -> tf.Tensor:
    """An orthogonal matrix of ``shape`` scaled by ``gain`` (Saxe et al.), from ``rng``."""
    rows, cols = shape
    q, r = tf.linalg.qr(rng.normal((max(rows, cols), min(rows, cols))))
    q = q * tf.sign(tf.linalg.diag_part(r))
    if rows < cols:
        q = tf.transpose(q)
    return gain * q


class MLP(tf.Module):
    """Dense layers with orthogonal init; hidden layers use ``activation``."""

    def __init__(self, sizes, activation: str, out_gain: float, rng, name=None):
        super().__init__(name=name)
        self.activation = ACTIVATIONS[activation]
        self.weights, self.biases = [], []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            gain = out_gain if i == len(sizes) - 2 else math.sqrt(2.0)
            self.weights.append(tf.Variable(orthogonal((n_in, n_out), gain, rng), name=f"w{i}"))
            self.biases.append(tf.Variable(tf.zeros([n_out]), name=f"b{i}"))

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = self.activation(x)
        return x


class ActorCritic(tf.Module):
    """Separate actor and critic MLPs (CleanRL's layout).

    Discrete actions: the actor outputs logits. Continuous: it outputs the Gaussian mean and
    a state-independent learned ``log_std``.
    """

    def __init__(
        self,
        obs_dim,
        action_dim,
        discrete,
        hidden_size,
        num_layers,
        activation,
        log_std_init,
        rng,
        name="actor_critic",
    ):
        super().__init__(name=name)
        self.discrete = discrete
        hidden = [hidden_size] * num_layers
        self.actor = MLP([obs_dim, *hidden, action_dim], activation, 0.01, rng, name="actor")
        self.critic = MLP([obs_dim, *hidden, 1], activation, 1.0, rng, name="critic")
        self.log_std = None
        if not discrete:
            self.log_std = tf.Variable(tf.fill([action_dim], float(log_std_init)), name="log_std")

    def value(self, obs: tf.Tensor) -> tf.Tensor:
        return tf.squeeze(self.critic(obs), -1)

    def evaluate(self, obs: tf.Tensor, actions: tf.Tensor):
        """Returns (log-prob, entropy, value) of given actions."""
        out = self.actor(obs)
        if self.discrete:
            logp, entropy = categorical_log_prob(out, actions), categorical_entropy(out)
        else:
            logp = gaussian_log_prob(out, self.log_std, actions)
            entropy = gaussian_entropy(self.log_std, tf.shape(out)[:-1])
        return logp, entropy, self.value(obs)


# ---------------------------------------------------------------------------------------
# Running normalization (observations, rewards)
# ---------------------------------------------------------------------------------------


class RunningMeanStd(tf.Module):
    """Running mean and variance merged batch by batch (Chan et al.'s parallel update).

    With ``members=P`` it keeps P independent statistics (``mean`` is ``[P, *shape]``):
    batches are ``[P, B, *shape]`` and each member merges its own rows.
    """

    def __init__(self, shape=(), members=None, name=None):
        super().__init__(name=name)
        lead = [] if members is None else [members]
        self.axis = len(lead)  # the batch axis of what update() receives
        self.mean = tf.Variable(tf.zeros([*lead, *shape], tf.float64), trainable=False)
        self.var = tf.Variable(tf.ones([*lead, *shape], tf.float64), trainable=False)
        self.count = tf.Variable(tf.fill(lead, tf.constant(1e-4, tf.float64)), trainable=False)

    def _expand(self, x: tf.Tensor) -> tf.Tensor:
        """Statistics ``[*lead, *shape]`` made to broadcast over ``[*lead, B, *shape]``."""
        return tf.expand_dims(x, self.axis) if self.axis else x

    def update(self, batch: tf.Tensor, mask: tf.Tensor) -> None:
        """Merges the rows of ``batch`` (``[*lead, B, *shape]``) whose ``mask`` is 1."""
        batch = tf.cast(batch, tf.float64)
        mask = tf.cast(mask, tf.float64)
        weights = tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones(
            [batch.shape.rank - mask.shape.rank], tf.int32)], 0))  # fmt: skip
        n = tf.reduce_sum(mask, self.axis)
        safe_n = tf.maximum(n, 1.0)
        batch_mean = tf.reduce_sum(batch * weights, self.axis) / self._stat(safe_n)
        deviation = tf.square(batch - tf.expand_dims(batch_mean, self.axis))
        batch_var = tf.reduce_sum(deviation * weights, self.axis) / self._stat(safe_n)
        total = self.count + n
        delta = batch_mean - self.mean
        m2 = (self.var * self._stat(self.count) + batch_var * self._stat(n)
              + tf.square(delta) * self._stat(self.count * n / total))  # fmt: skip
        seen = self._stat(n) > 0  # a member with no rows keeps its statistics
        self.mean.assign(tf.where(seen, self.mean + delta * self._stat(n / total), self.mean))
        self.var.assign(tf.where(seen, m2 / self._stat(total), self.var))
        self.count.assign(total)

    def _stat(self, x: tf.Tensor) -> tf.Tensor:
        """A per-member scalar ``[*lead]`` made to broadcast against ``mean``."""
        return tf.reshape(x, tf.concat([tf.shape(x), tf.ones(
            [self.mean.shape.rank - x.shape.rank], tf.int32)], 0))  # fmt: skip

    def normalize(self, x: tf.Tensor, clip: float = 10.0) -> tf.Tensor:
        mean, var = self._expand(self.mean), self._expand(self.var)
        z = (tf.cast(x, tf.float64) - mean) / tf.sqrt(var + 1e-8)
        return tf.cast(tf.clip_by_value(z, -clip, clip), tf.float32)

    def scale(self, x: tf.Tensor, clip: float = 10.0) -> tf.Tensor:
        """Divides by the running std without centering (reward scaling)."""
        z = tf.cast(x, tf.float64) / tf.sqrt(self._expand(self.var) + 1e-8)
        return tf.cast(tf.clip_by_value(z, -clip, clip), tf.float32)
