"""Math and networks shared by the agents: pure functions first, small modules after.

Shapes: a member axis leads everything a population holds (``[P, ...]``); rollout tensors
are ``[T, P, N]`` (time, member, env), a flat batch ``[P, B]``; the math below also takes
them without a member axis (``[T, N]``, ``[B]``), as the tests do. ``mask`` is 1.0
for a real transition and 0.0 for the dummy step a gymnasium vector env takes right after
an episode ends (next-step autoreset): masked entries count in no loss or statistic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

import agents

# ---------------------------------------------------------------------------------------
# Programs: traced with AutoGraph on the few functions whose loops must be graph loops
# ---------------------------------------------------------------------------------------


def program(fn: Callable, jit_compile: bool) -> Callable:
    """``fn`` as a ``tf.function`` (one XLA program with ``jit_compile``) traced with
    AutoGraph off: only functions marked :func:`graph_control_flow` are converted.

    AutoGraph's default converts every Python function a trace reaches: for PPO's
    iteration 44 functions, about 2.5 s of a 3.6 s trace on this machine (once a process,
    so every sweep worker and test paid it), where a handful of loops need it.
    """
    return tf.function(fn, jit_compile=jit_compile, autograph=False)


def graph_control_flow(fn: Callable) -> Callable:
    """Marks ``fn`` as one whose Python ``for``/``while``/``if`` over tensors become graph
    loops and conditionals: AutoGraph converts ``fn`` alone (not what it calls), on its
    first call. Inside :func:`program` nothing else is converted, so a tensor used as a
    Python bool in an unmarked function fails at trace time instead of being converted."""
    converted = None

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        nonlocal converted
        if converted is None:
            converted = tf.autograph.to_graph(fn, recursive=False)
        return converted(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------------------
# Random numbers: a counter-based generator, one stream a member
# ---------------------------------------------------------------------------------------

_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment
_MIX_COUNTER = 0xD1B54A32D192ED03  # an odd constant to spread the draw count


def _mix64(x: tf.Tensor) -> tf.Tensor:
    """SplitMix64's output function (Steele, Lea and Flood 2014) on uint64 tensors."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(30, tf.uint64)))
    x = x * tf.constant(0xBF58476D1CE4E5B9, tf.uint64)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(27, tf.uint64)))
    x = x * tf.constant(0x94D049BB133111EB, tf.uint64)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(31, tf.uint64)))


def counter_uniform(
    keys: tf.Tensor, counters: tf.Tensor, stream, shape: Sequence[int], low: float, high: float
) -> tf.Tensor:
    """Float64 draws in ``[low, high)`` of shape ``[M, *shape]``: row m is a function of
    ``keys[m]``, ``counters[m]``, ``stream`` and the element's index alone.

    So a member of a population draws exactly what it would draw alone, whoever shares
    its population. ``keys`` and ``counters`` are ``[M]`` int64 (their bit patterns are
    what count); ``stream`` is a Python or tensor integer below 2**31. Row m is
    SplitMix64's sequence seeded by a hash of (key, counter), at positions (stream,
    element); each draw keeps the top 53 bits. Only integer and float ops: it compiles
    under XLA on any device.
    """
    as_u64 = lambda x: tf.bitcast(tf.cast(x, tf.int64), tf.uint64)  # noqa: E731
    offset = tf.bitwise.left_shift(tf.cast(stream, tf.int64), tf.constant(32, tf.int64))
    index = tf.range(1, math.prod(shape) + 1, dtype=tf.int64) + offset
    seeds = _mix64(as_u64(keys) + as_u64(counters) * tf.constant(_MIX_COUNTER, tf.uint64))
    steps = as_u64(index) * tf.constant(_GOLDEN, tf.uint64)  # [size]
    bits = _mix64(seeds[:, None] + steps[None, :])  # [M, size]
    unit = tf.cast(tf.bitwise.right_shift(bits, tf.constant(11, tf.uint64)), tf.float64)
    return tf.reshape(low + (high - low) * unit * 2.0**-53, [-1, *shape])


def member_uniform(
    keys: tf.Tensor,
    counters: tf.Tensor,
    stream: int,
    shape: Sequence[int],
    low: float = 0.0,
    high: float = 1.0,
) -> tf.Tensor:
    """Float32 :func:`counter_uniform` draws ``[P, *shape]``, one row a member."""
    return tf.cast(counter_uniform(keys, counters, stream, shape, low, high), tf.float32)


def member_gumbel(
    keys: tf.Tensor, counters: tf.Tensor, stream: int, shape: Sequence[int]
) -> tf.Tensor:
    """Standard Gumbel draws ``[P, *shape]``: ``argmax(logits + g)`` samples a categorical."""
    uniform = counter_uniform(keys, counters, stream, shape, 0.0, 1.0)
    return tf.cast(-tf.math.log(-tf.math.log(tf.maximum(uniform, 1e-300))), tf.float32)


def member_normal(
    keys: tf.Tensor, counters: tf.Tensor, stream: int, shape: Sequence[int]
) -> tf.Tensor:
    """Standard normal draws ``[P, *shape]`` (Box-Muller over two uniform draws)."""
    u = counter_uniform(keys, counters, stream, [2, *shape], 0.0, 1.0)
    radius = tf.sqrt(-2.0 * tf.math.log(1.0 - u[:, 0]))  # 1 - u is in (0, 1]
    return tf.cast(radius * tf.cos(2.0 * math.pi * u[:, 1]), tf.float32)


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
# Optimizers over a member axis (ours, not Keras': hparams arrive as tensors each call,
# state is variables a checkpoint slices by member)
# ---------------------------------------------------------------------------------------


def per_member(x: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Reshapes a ``[P]`` vector to broadcast against ``like`` (``[P, ...]``)."""
    return tf.reshape(x, [-1] + [1] * (like.shape.rank - 1))


def clip_by_member_norm(grads: Sequence[tf.Tensor], max_norm: tf.Tensor):
    """Clips each member's gradient by its own global norm (``tf.clip_by_global_norm`` per
    member).

    Args:
        grads: gradients with a leading member axis ``[P, ...]``.
        max_norm: ``[P]`` limits.

    Returns:
        ``(clipped grads, norms [P])``.
    """
    squares = [tf.reduce_sum(tf.square(g), axis=list(range(1, g.shape.rank))) for g in grads]
    norms = tf.sqrt(tf.add_n(squares))
    scale = max_norm / tf.maximum(norms, max_norm)
    return [g * per_member(scale, g) for g in grads], norms


class Adam(tf.Module):
    """Adam (Kingma & Ba) with bias correction; ``eps`` outside the square root.

    Every variable has a leading axis of P members; the learning rate, the step count and
    the ``active`` mask are ``[P]`` (an inactive member's variables and state stay exactly
    as they were).
    """

    def __init__(self, variables, beta_1=0.9, beta_2=0.999, eps=1e-5, name="adam"):
        super().__init__(name=name)
        self.beta_1, self.beta_2, self.eps = beta_1, beta_2, eps
        members = variables[0].shape[0]
        self.step = tf.Variable(tf.zeros([members], tf.int64), trainable=False, name=f"{name}/step")
        self.m = [_slot(v, f"{name}/m") for v in variables]
        self.v = [_slot(v, f"{name}/v") for v in variables]

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

    Member axis and ``active``: as :class:`Adam`.
    """

    def __init__(self, variables, alpha=0.99, eps=1e-5, name="rmsprop"):
        super().__init__(name=name)
        self.alpha, self.eps = alpha, eps
        members = variables[0].shape[0]
        self.step = tf.Variable(tf.zeros([members], tf.int64), trainable=False, name=f"{name}/step")
        self.sq = [_slot(v, f"{name}/sq") for v in variables]

    def apply(self, grads, variables, learning_rate, active=None):
        updates = [(self.step, self.step + (1 if active is None else tf.cast(active, tf.int64)))]
        for g, var, sq in zip(grads, variables, self.sq):
            new_sq = self.alpha * sq + (1.0 - self.alpha) * tf.square(g)
            new_var = var - per_member(learning_rate, var) * g / (tf.sqrt(new_sq) + self.eps)
            updates += [(sq, new_sq), (var, new_var)]
        _assign(updates, active)


OPTIMIZERS = {"adam": Adam, "rmsprop": RMSprop}


def _slot(variable: tf.Variable, prefix: str) -> tf.Variable:
    name = variable.name.split(":")[0]
    return tf.Variable(tf.zeros_like(variable), trainable=False, name=f"{prefix}/{name}")


def _assign(updates, active) -> None:
    """Assigns ``(variable, value)`` pairs; with an ``active`` mask only active members."""
    for var, value in updates:
        if active is not None:
            value = tf.where(per_member(active, var), value, var)
        var.assign(value)


# ---------------------------------------------------------------------------------------
# Networks over a member axis: weights [P, in, out], inputs [P, B, in]
# ---------------------------------------------------------------------------------------

ACTIVATIONS = {"tanh": tf.tanh, "relu": tf.nn.relu}


def orthogonal(shape, gain: float, rng: np.random.Generator) -> np.ndarray:
    """An orthogonal matrix of ``shape`` scaled by ``gain`` (Saxe et al.), from ``rng``."""
    rows, cols = shape
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return (gain * q).astype(np.float32)


class MLP(tf.Module):
    """P dense networks in one (orthogonal init, ``activation`` between layers, and after
    the last with ``activate_last``).

    ``initial_weights(rngs)`` draws member p's layers from ``rngs[p]``: a member starts
    from the weights a lone run of its seed starts from, whoever its neighbours are.
    """

    def __init__(
        self, sizes, activation: str, out_gain: float, rngs, name: str, activate_last=False
    ):
        super().__init__(name=name)
        self.sizes, self.out_gain, self.activate_last = list(sizes), out_gain, activate_last
        self.activation = ACTIVATIONS[activation]
        init = self.initial_weights(rngs)
        layers = len(sizes) - 1
        self.weights = [tf.Variable(w, name=f"{name}/w{i}") for i, w in enumerate(init[:layers])]
        self.biases = [tf.Variable(b, name=f"{name}/b{i}") for i, b in enumerate(init[layers:])]

    @property
    def parameters(self) -> list[tf.Variable]:
        """The variables in :meth:`initial_weights`' order."""
        return self.weights + self.biases

    def initial_weights(self, rngs) -> list[np.ndarray]:
        """``[weights..., biases...]`` for members drawing from ``rngs`` (one each)."""
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        weights = []
        for i, shape in enumerate(pairs):
            gain = self.out_gain if i == len(pairs) - 1 else math.sqrt(2.0)
            weights.append(np.stack([orthogonal(shape, gain, rng) for rng in rngs]))
        return weights + [np.zeros([len(rngs), n_out], np.float32) for _, n_out in pairs]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = tf.matmul(x, w) + b[:, None, :]
            if self.activate_last or i < len(self.weights) - 1:
                x = self.activation(x)
        return x


# The convolutions of each CNN layout (agents.cnn_layout): (kernel, stride, channels as a
# multiple of the first layer's).
CNN_LAYERS = {
    "nature": ((8, 4, 1), (4, 2, 2), (3, 1, 2)),  # Mnih et al. 2015 (32, 64, 64 channels)
    "minatar": ((3, 1, 1),),  # Young and Tian 2019 (16 channels)
}


class CNN(tf.Module):
    """P convolutional torsos in one: the convolutions of ``layout`` (``CNN_LAYERS``,
    valid padding, ReLU), then one dense ReLU layer of ``dense_units``.

    Inputs are ``[P, B, H, W, C]`` images of any dtype, divided by ``scale`` (255 for
    uint8 frames) inside the graph. Each member's convolution is its own ``conv2d``
    (measured against one grouped convolution of all members: as fast at P = 8, and the
    grouped one's filter gradients differ from a lone run's; BENCHMARKS.md).
    Weights are orthogonal with gain sqrt(2) over ``[k * k * C_in, C_out]`` (CleanRL's
    ``layer_init``); biases start at zero.
    """

    def __init__(
        self, obs_shape, scale: float, layout: str, channels: int, dense_units, rngs, name: str
    ):
        super().__init__(name=name)
        self.scale = float(scale)
        height, width, c_in = (int(n) for n in obs_shape)
        self.strides, shapes = [], []
        for kernel, stride, multiple in CNN_LAYERS[layout]:
            c_out = int(channels) * multiple
            shapes.append((kernel, kernel, c_in, c_out))
            self.strides.append(stride)
            height, width, c_in = (
                (height - kernel) // stride + 1,
                (width - kernel) // stride + 1,
                c_out,
            )
        self.shapes = shapes
        init = self._conv_weights(rngs)
        self.kernels = [
            tf.Variable(w, name=f"{name}/conv{i}") for i, w in enumerate(init[: len(shapes)])
        ]
        self.conv_biases = [
            tf.Variable(b, name=f"{name}/conv_b{i}") for i, b in enumerate(init[len(shapes) :])
        ]
        self.flat_size = height * width * c_in
        self.dense = MLP(
            [self.flat_size, int(dense_units)],
            "relu",
            math.sqrt(2.0),
            rngs,
            name=f"{name}_dense",
            activate_last=True,
        )
        self.out_size = int(dense_units)

    @property
    def parameters(self) -> list[tf.Variable]:
        return self.kernels + self.conv_biases + self.dense.parameters

    def _conv_weights(self, rngs) -> list[np.ndarray]:
        kernels = [
            np.stack(
                [
                    orthogonal((k * k2 * c_in, c_out), math.sqrt(2.0), rng).reshape(
                        k, k2, c_in, c_out
                    )
                    for rng in rngs
                ]
            )
            for k, k2, c_in, c_out in self.shapes
        ]
        return kernels + [np.zeros([len(rngs), shape[-1]], np.float32) for shape in self.shapes]

    def initial_weights(self, rngs) -> list[np.ndarray]:
        return self._conv_weights(rngs) + self.dense.initial_weights(rngs)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        x = tf.cast(x, tf.float32) / self.scale
        members, batch = x.shape[0], tf.shape(x)[1]
        for kernel, bias, stride in zip(self.kernels, self.conv_biases, self.strides):
            x = tf.stack([tf.nn.conv2d(x[p], kernel[p], stride, "VALID") for p in range(members)])
            x = tf.nn.relu(x + bias[:, None, None, None, :])
        return self.dense(tf.reshape(x, [members, batch, self.flat_size]))


class ActorCritic(tf.Module):
    """An actor and a critic, P members stacked.

    Each is a torso and a head. Vector observations: separate MLPs (CleanRL's layout;
    variables ``actor/*`` and ``critic/*``), or with ``shared_network`` one MLP torso and
    two linear heads (Ray's ``vf_share_layers``). Images: a :class:`CNN` torso (the
    layout ``agents.cnn_layout`` picks), shared by the two heads with ``shared_network``
    (CleanRL's ``ppo_atari.py``) or one each.

    Discrete actions: the actor outputs logits. Continuous: it outputs the Gaussian mean and
    a state-independent learned ``log_std`` (``[P, 1, A]``: it broadcasts over a batch).

    Args:
        obs_space: one env copy's observation Box (its shape picks the network; an image's
            ``high`` is its scale).
        action_dim, discrete: the action space.
        hparams: the members' shared network hparams (``hidden_size``, ``num_layers``,
            ``activation``, ``shared_network``, ``conv_channels``, ``dense_units``).
        log_std_inits: one a member.
        rngs: one NumPy generator a member: its initial weights.
    """

    def __init__(
        self, obs_space, action_dim, discrete, hparams, log_std_inits, rngs, name="actor_critic"
    ):
        super().__init__(name=name)
        self.discrete, self.action_dim = discrete, action_dim
        shared = bool(hparams.get("shared_network", False))
        layout = agents.cnn_layout(obs_space.shape)
        activation = hparams["activation"]
        hidden = [int(hparams["hidden_size"])] * int(hparams["num_layers"])
        obs_dim = int(np.prod(obs_space.shape))

        def torso(torso_name):
            if layout is None:
                return MLP(
                    [obs_dim, *hidden],
                    activation,
                    math.sqrt(2.0),
                    rngs,
                    torso_name,
                    activate_last=True,
                )
            scale = float(np.max(obs_space.high))
            return CNN(
                obs_space.shape,
                scale,
                layout,
                hparams["conv_channels"],
                hparams["dense_units"],
                rngs,
                torso_name,
            )

        self.actor_torso = self.critic_torso = None
        if shared:
            self.actor_torso = self.critic_torso = torso("torso")
        elif layout is not None:
            self.actor_torso, self.critic_torso = torso("actor_torso"), torso("critic_torso")
        if self.actor_torso is None:  # separate MLPs: each torso is its head's hidden layers
            self.actor = MLP([obs_dim, *hidden, action_dim], activation, 0.01, rngs, name="actor")
            self.critic = MLP([obs_dim, *hidden, 1], activation, 1.0, rngs, name="critic")
        else:
            size = self.actor_torso.out_size if layout else hidden[-1]
            self.actor = MLP([size, action_dim], activation, 0.01, rngs, name="actor_head")
            self.critic = MLP([size, 1], activation, 1.0, rngs, name="critic_head")
        self.log_std = None
        if not discrete:
            self.log_std = tf.Variable(self.initial_log_std(log_std_inits), name="log_std")

    def _parts(self) -> list:
        """Every weight-holding part, in the order their weights were drawn."""
        torsos = [self.actor_torso]
        if self.critic_torso is not self.actor_torso:
            torsos.append(self.critic_torso)
        return [t for t in torsos if t is not None] + [self.actor, self.critic]

    def initial_log_std(self, log_std_inits) -> np.ndarray:
        inits = np.asarray(log_std_inits, np.float32)[:, None, None]
        return np.repeat(inits, self.action_dim, axis=2)

    def reinitialize(self, rngs, log_std_inits) -> None:
        """Every weight as a new network of these members' seeds would start (in place)."""
        for part in self._parts():
            for var, value in zip(part.parameters, part.initial_weights(rngs)):
                var.assign(value)
        if self.log_std is not None:
            self.log_std.assign(self.initial_log_std(log_std_inits))

    @staticmethod
    def _through(torso, obs: tf.Tensor) -> tf.Tensor:
        return obs if torso is None else torso(obs)

    def policy(self, obs: tf.Tensor) -> tf.Tensor:
        """The actor's output (logits, or the Gaussian mean) ``[P, B, A]``."""
        return self.actor(self._through(self.actor_torso, obs))

    def value(self, obs: tf.Tensor) -> tf.Tensor:
        return tf.squeeze(self.critic(self._through(self.critic_torso, obs)), -1)

    def evaluate(self, obs: tf.Tensor, actions: tf.Tensor):
        """Returns (log-prob, entropy, value) of given actions, each ``[P, B]``."""
        features = self._through(self.actor_torso, obs)
        out = self.actor(features)
        if self.critic_torso is self.actor_torso and self.actor_torso is not None:
            value = tf.squeeze(self.critic(features), -1)  # the shared torso, run once
        else:
            value = self.value(obs)
        if self.discrete:
            logp, entropy = categorical_log_prob(out, actions), categorical_entropy(out)
        else:
            logp = gaussian_log_prob(out, self.log_std, actions)
            entropy = gaussian_entropy(self.log_std, tf.shape(out)[:-1])
        return logp, entropy, value


# ---------------------------------------------------------------------------------------
# Running normalization (observations, rewards)
# ---------------------------------------------------------------------------------------


class RunningMeanStd(tf.Module):
    """Running mean and variance merged batch by batch (Chan et al.'s parallel update), P
    independent statistics: ``mean`` is ``[P, *shape]``, batches are ``[P, B, *shape]`` and
    each member merges its own rows."""

    def __init__(self, members: int, shape=(), name: str = "rms"):
        super().__init__(name=name)
        self.mean = tf.Variable(
            tf.zeros([members, *shape], tf.float64), trainable=False, name=f"{name}/mean"
        )
        self.var = tf.Variable(
            tf.ones([members, *shape], tf.float64), trainable=False, name=f"{name}/var"
        )
        self.count = tf.Variable(
            tf.fill([members], tf.constant(1e-4, tf.float64)), trainable=False, name=f"{name}/count"
        )

    def reset(self) -> None:
        """Back to no data seen."""
        self.mean.assign(tf.zeros_like(self.mean))
        self.var.assign(tf.ones_like(self.var))
        self.count.assign(tf.fill(self.count.shape, tf.constant(1e-4, tf.float64)))

    def update(self, batch: tf.Tensor, mask: tf.Tensor) -> None:
        """Merges the rows of ``batch`` (``[P, B, *shape]``) whose ``mask`` (``[P, B]``) is 1."""
        batch = tf.cast(batch, tf.float64)
        mask = tf.cast(mask, tf.float64)
        weights = tf.reshape(mask, mask.shape + [1] * (batch.shape.rank - 2))
        n = tf.reduce_sum(mask, 1)
        safe_n = tf.maximum(n, 1.0)
        batch_mean = tf.reduce_sum(batch * weights, 1) / self._stat(safe_n)
        deviation = tf.square(batch - batch_mean[:, None])
        batch_var = tf.reduce_sum(deviation * weights, 1) / self._stat(safe_n)
        total = self.count + n
        delta = batch_mean - self.mean
        m2 = (
            self.var * self._stat(self.count)
            + batch_var * self._stat(n)
            + tf.square(delta) * self._stat(self.count * n / total)
        )
        seen = self._stat(n) > 0  # a member with no rows keeps its statistics
        self.mean.assign(tf.where(seen, self.mean + delta * self._stat(n / total), self.mean))
        self.var.assign(tf.where(seen, m2 / self._stat(total), self.var))
        self.count.assign(total)

    def _stat(self, x: tf.Tensor) -> tf.Tensor:
        """A per-member ``[P]`` scalar made to broadcast against ``mean``."""
        return tf.reshape(x, [-1] + [1] * (self.mean.shape.rank - 1))

    def normalize(self, x: tf.Tensor, clip: float = 10.0) -> tf.Tensor:
        """``(x - mean) / std`` of ``[P, B, *shape]`` rows, clipped, float32."""
        z = (tf.cast(x, tf.float64) - self.mean[:, None]) / tf.sqrt(self.var[:, None] + 1e-8)
        return tf.cast(tf.clip_by_value(z, -clip, clip), tf.float32)

    def scale(self, x: tf.Tensor, clip: float = 10.0) -> tf.Tensor:
        """Divides ``[P, B]`` values by the running std without centering (reward scaling)."""
        z = tf.cast(x, tf.float64) / tf.sqrt(self.var[:, None] + 1e-8)
        return tf.cast(tf.clip_by_value(z, -clip, clip), tf.float32)
