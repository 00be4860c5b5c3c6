"""Population training: P runs of PPO or A2C trained together as one TensorFlow computation.

Each member is a run of its own: its own hparams, seed, network, optimizer state, RNG,
normalizers, envs and counters. What changes is the layout: the members' weights are
stacked along a leading population axis (``[P, in, out]``, one batched matmul serves
them all), their hparams are ``[P]`` tensors, and their envs form one vector env of
``P x N`` copies. A rollout or an update then costs about as many TensorFlow calls for 32
members as for one; on a small network that call overhead is most of the time.

Per-member details that keep members independent: the loss is summed (not averaged) over
members, so each member's gradient is its own; each gradient is clipped by its own norm;
each member shuffles its own minibatches from its own RNG; the optimizer updates only
``active`` members, so a member that finished, was stopped or diverged (NaN) stays as it
was while the others go on.

Members share what shapes the computation (``agents.POPULATION_KEY_HPARAMS``: env count,
rollout length, minibatch count, network size, normalizers, optimizer). ``update_epochs``
and ``target_kl`` may differ: a member's extra epochs are masked out.

A member with the same seed and hparams as a single agent starts from the same weights,
draws the same action noise and shuffles, and its envs draw the same start states
(gymnasium's envs are seeded per member; TensorFlow's give each member its own stream), so
its iterations match that agent's to float precision, whoever its neighbours are. Over a
long run float rounding (batched kernels against the lone agent's) makes them drift apart
after some tens of iterations. Checkpoints are per member and in the single agent's format:
``agents.ppo.make_agent(...).restore(dir)`` continues a member alone, and
:meth:`Population.restore_member` puts a lone run's checkpoint into a population.

    population = Population("ppo", "CartPole-v1", [{"learning_rate": 1e-3}] * 8, seeds=range(8))
    for members in train(population, total_timesteps=100_000):
        print([m["global_step"] if m else None for m in members])
"""

from __future__ import annotations

import time
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from agents import POPULATION_AGENTS, POPULATION_KEY_HPARAMS, a2c, ppo
from agents.common import (
    ACTIVATIONS,
    ActorCritic,
    Adam,
    RMSprop,
    RunningMeanStd,
    explained_variance,
    gae,
    masked_normalize,
    orthogonal,
    per_member,
)
from agents.rollout import (
    LOSS_NAMES,
    EnvRunner,
    TFEnvRunner,
    choose_backend,
    env_observe,
    env_step,
    make_vec_env,
    restore_checkpoint,
    save_checkpoint,
    take_spaces,
)

ALGORITHMS = {"ppo": ppo, "a2c": a2c}


# ---------------------------------------------------------------------------------------
# Math: gradient clipping per member (pure)
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Networks with a member axis
# ---------------------------------------------------------------------------------------


class StackedMLP(tf.Module):
    """P MLPs in one: weights ``[P, in, out]``, inputs ``[P, B, in]``.

    Member p's layers are drawn from ``rngs[p]`` in the order :class:`common.MLP` draws
    them, so a member starts from the weights a single agent of its seed starts from.
    """

    def __init__(self, sizes, activation: str, out_gain: float, rngs, name=None):
        super().__init__(name=name)
        self.activation = ACTIVATIONS[activation]
        self.weights, self.biases = [], []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            gain = out_gain if i == len(sizes) - 2 else np.sqrt(2.0)
            stacked = tf.stack([orthogonal((n_in, n_out), gain, rng) for rng in rngs])
            self.weights.append(tf.Variable(stacked, name=f"w{i}"))
            self.biases.append(tf.Variable(tf.zeros([len(rngs), n_out]), name=f"b{i}"))

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = tf.matmul(x, w) + b[:, None, :]
            if i < len(self.weights) - 1:
                x = self.activation(x)
        return x


class StackedActorCritic(tf.Module):
    """:class:`common.ActorCritic` with a member axis; same attribute names and order, so
    a member's variables pair one to one with a single agent's (checkpoints)."""

    def __init__(self, obs_dim, action_dim, discrete, hidden_size, num_layers, activation,
                 log_std_inits, rngs, name="actor_critic"):  # fmt: skip
        super().__init__(name=name)
        self.discrete = discrete
        hidden = [hidden_size] * num_layers
        self.actor = StackedMLP([obs_dim, *hidden, action_dim], activation, 0.01, rngs,
                                name="actor")  # fmt: skip
        self.critic = StackedMLP([obs_dim, *hidden, 1], activation, 1.0, rngs, name="critic")
        self.log_std = None
        if not discrete:  # [P, 1, A]: broadcasts over a member's batch
            init = np.repeat(np.asarray(log_std_inits, np.float32)[:, None, None], action_dim, 2)
            self.log_std = tf.Variable(init, name="log_std")

    # The single network's methods serve: matmuls, log-probs and entropies broadcast over
    # the member axis ([P, B] out).
    value = ActorCritic.value
    evaluate = ActorCritic.evaluate


# ---------------------------------------------------------------------------------------
# Envs of the gymnasium backend: one seeded vector env per member, stepped as one
# ---------------------------------------------------------------------------------------


class MemberEnvs:
    """P gymnasium vector envs (member p's seeded with its seed) seen as one of P x N."""

    def __init__(self, runners: list[EnvRunner]):
        self.runners = runners

    @property
    def obs(self) -> np.ndarray:
        return np.concatenate([np.asarray(r.obs, np.float32) for r in self.runners])

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outs = [r.step(a) for r, a in zip(self.runners, np.split(action, len(self.runners)))]
        return np.concatenate([o for o, _ in outs]), np.concatenate([i for _, i in outs])

    def close(self) -> None:
        for runner in self.runners:
            runner.close()


class _NoRunner:
    """Stands in a template agent's ``runner`` slot between checkpoint moves."""

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------
# The population
# ---------------------------------------------------------------------------------------


class Population(tf.Module):
    """P runs of one algorithm on one env, trained as one computation.

    Args:
        algorithm: ``ppo`` or ``a2c``.
        env_id: gymnasium id (TensorFlow's version of it where there is one, as agents).
        hparams: one mapping a member (overrides of the algorithm's defaults, checked);
            they must agree on ``agents.POPULATION_KEY_HPARAMS``.
        seeds: one seed a member.
        env_backend: ``auto``, ``tf`` or ``gymnasium`` (see ``agents.rollout``).

    Raises:
        ValueError: an unknown algorithm, unequal lengths, or members that disagree on a
            shape-changing hparam.
    """

    def __init__(self, algorithm: str, env_id: str, hparams: Sequence[Mapping[str, Any]],
                 seeds: Sequence[int], env_backend: str = "auto"):  # fmt: skip
        super().__init__(name="population")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"population training supports {POPULATION_AGENTS}, not "
                             f"{algorithm!r}")  # fmt: skip
        module = ALGORITHMS[algorithm]
        members = [types.MappingProxyType(module.SPACE.resolve(h)) for h in hparams]
        seeds = [int(s) for s in seeds]
        if not members or len(members) != len(seeds):
            raise ValueError(f"{len(members)} hparam sets for {len(seeds)} seeds")
        for name in POPULATION_KEY_HPARAMS:
            values = {m[name] for m in members if name in m}
            if len(values) > 1:
                raise ValueError(f"members of a population must share {name}; got "
                                 f"{sorted(values, key=str)}")  # fmt: skip
        first = members[0]
        self.algorithm, self.env_id = algorithm, env_id
        self._members = tuple(members)  # a tuple of proxies: nothing for tf.Module to track
        self.seeds = tuple(seeds)
        self.size = len(seeds)
        self.num_envs, self.num_steps = int(first["num_envs"]), int(first["num_steps"])
        self.env_backend = choose_backend(env_id, env_backend)
        probe = make_vec_env(env_id, 1)
        obs_space, act_space = probe.single_observation_space, probe.single_action_space
        probe.close()
        if self.env_backend == "tf":
            self.runner = TFEnvRunner(env_id, self.num_envs, seeds)  # a stream a member
        else:
            self.runner = MemberEnvs(
                [EnvRunner(make_vec_env(env_id, self.num_envs), s) for s in seeds]
            )
        take_spaces(self, obs_space, act_space)

        self.rngs = [tf.random.Generator.from_seed(s) for s in seeds]
        self.network = StackedActorCritic(
            self.obs_dim, self.action_dim, self.discrete, int(first["hidden_size"]),
            int(first["num_layers"]), first["activation"],
            [m.get("log_std_init", 0.0) for m in members], self.rngs,
        )  # fmt: skip
        use_adam = algorithm == "ppo" or first["optimizer"] == "adam"
        optimizer = Adam if use_adam else RMSprop
        self.optimizer = optimizer(self.network.trainable_variables, members=self.size)
        self.norm_obs, self.norm_reward = bool(first["norm_obs"]), bool(first["norm_reward"])
        self.obs_rms = RunningMeanStd([self.obs_dim], members=self.size, name="obs_rms")
        self.return_rms = RunningMeanStd([], members=self.size, name="return_rms")
        self.discounted_return = tf.Variable(
            tf.zeros([self.size, self.num_envs], tf.float64), trainable=False
        )
        self.global_step = tf.Variable(tf.zeros([self.size], tf.int64), trainable=False)
        self.iteration = tf.Variable(tf.zeros([self.size], tf.int64), trainable=False)
        # False for a member that finished, was stopped or diverged: it is no longer updated.
        self.active = tf.Variable(tf.ones([self.size], tf.bool), trainable=False)
        self.hp = {
            name: tf.constant([m[name] for m in members],
                              tf.bool if isinstance(first[name], bool) else tf.float32)
            for name in module.TENSOR_HPARAMS
        }  # fmt: skip
        if algorithm == "ppo":
            self.update_epochs = tf.constant([int(m["update_epochs"]) for m in members])
            self.max_epochs = max(int(m["update_epochs"]) for m in members)
        self.collect = tf.function(self._collect)
        self.update = tf.function(self._ppo_update if algorithm == "ppo" else self._a2c_update)
        object.__setattr__(self, "_template", None)  # not tracked: see _single

    def hparams(self, member: int) -> Mapping[str, Any]:
        """Member ``member``'s resolved hparams."""
        return self._members[member]

    # -- the rollout: num_steps steps of all P x N envs in one graph ----------------------------

    def _policy_input(self, obs: tf.Tensor) -> tf.Tensor:
        if not self.norm_obs:
            return obs
        self.obs_rms.update(obs, tf.ones(tf.shape(obs)[:2]))
        return self.obs_rms.normalize(obs)

    def _collect(self, running: tf.Tensor) -> dict[str, tf.Tensor]:
        """Steps all envs ``num_steps`` times; returns ``[T, P, N]`` tensors plus bootstrap.

        Member p's action noise comes from its own generator, drawn as a single agent
        draws it. ``running`` ``[P]``: whose counters advance.
        """
        steps, n, p, a = self.num_steps, self.num_envs, self.size, self.action_dim
        if self.discrete:  # Gumbel-max sampling, as the single agent
            uniform = [g.uniform([steps, n, a], 1e-10, 1.0) for g in self.rngs]
            noise = -tf.math.log(-tf.math.log(tf.stack(uniform, axis=1)))
        else:
            noise = tf.stack([g.normal([steps, n, a]) for g in self.rngs], axis=1)
        obs_ta = tf.TensorArray(tf.float32, size=steps)
        act_ta = tf.TensorArray(tf.int32 if self.discrete else tf.float32, size=steps)
        info_ta = tf.TensorArray(tf.float32, size=steps)
        obs = tf.reshape(env_observe(self.runner, p * n, self.obs_dim), [p, n, self.obs_dim])
        for t in tf.range(steps):
            policy_obs = self._policy_input(obs)
            out = self.network.actor(policy_obs)
            if self.discrete:
                action = tf.argmax(out + noise[t], axis=-1, output_type=tf.int32)
                env_action = tf.reshape(action, [p * n])
            else:
                action = out + tf.exp(self.network.log_std) * noise[t]
                env_action = tf.reshape(
                    tf.clip_by_value(action, self.action_low, self.action_high), [p * n, a]
                )
            next_obs, info = env_step(self.runner, env_action, p * n, self.obs_dim)
            obs_ta = obs_ta.write(t, policy_obs)
            act_ta = act_ta.write(t, action)
            info_ta = info_ta.write(t, tf.reshape(info, [p, n, -1]))
            obs = tf.reshape(next_obs, [p, n, self.obs_dim])

        batch = dict(zip(EnvRunner.COLUMNS, tf.unstack(info_ta.stack(), axis=-1)))
        batch["obs"], batch["actions"] = obs_ta.stack(), act_ta.stack()
        logprobs, _, values = self.network.evaluate(
            _by_member(batch["obs"]), _by_member(batch["actions"])
        )
        batch["logprobs"] = _by_time(logprobs, steps)
        batch["values"] = _by_time(values, steps)
        bootstrap_obs = self.obs_rms.normalize(obs) if self.norm_obs else obs
        batch["bootstrap_value"] = self.network.value(bootstrap_obs)
        batch["dones"] = tf.maximum(batch["terminations"], batch["truncations"])
        if self.norm_reward:
            batch["rewards"] = self._scale_rewards(batch["rewards"], batch["dones"],
                                                   batch["masks"])  # fmt: skip
        self.global_step.assign_add(tf.where(running, tf.cast(n * steps, tf.int64), 0))
        return batch

    def _scale_rewards(self, rewards, dones, masks):
        """Each member's rewards over the running std of its discounted return."""
        scaled = tf.TensorArray(tf.float32, size=self.num_steps)
        gamma = tf.cast(self.hp["gamma"], tf.float64)[:, None]
        disc = self.discounted_return.read_value()
        for t in tf.range(self.num_steps):
            disc = disc * gamma + tf.cast(rewards[t], tf.float64)
            self.return_rms.update(disc, masks[t])
            scaled = scaled.write(t, self.return_rms.scale(rewards[t]))
            disc = tf.where(dones[t] > 0, tf.zeros_like(disc), disc)
        self.discounted_return.assign(disc)
        return scaled.stack()

    # -- the updates ----------------------------------------------------------------------------

    def _advantages(self, batch):
        """GAE per member, and the rollout flattened to ``[P, T * N, ...]``."""
        advantages = gae(batch["rewards"], batch["values"], batch["bootstrap_value"],
                         batch["terminations"], batch["truncations"],
                         self.hp["gamma"][:, None], self.hp["gae_lambda"][:, None])  # fmt: skip
        returns = advantages + batch["values"]
        return {
            "obs": _by_member(batch["obs"]),
            "actions": _by_member(batch["actions"]),
            "logprobs": _by_member(batch["logprobs"]),
            "values": _by_member(batch["values"]),
            "advantages": _by_member(advantages),
            "returns": _by_member(returns),
            "masks": _by_member(batch["masks"]),
        }

    def _step(self, total: tf.Tensor, tape: tf.GradientTape, learning_rate, active) -> None:
        """One optimizer step of the active members, each clipped by its own norm.

        ``total`` is the members' losses summed (see :func:`_total`), taped.
        """
        variables = self.network.trainable_variables
        grads = tape.gradient(total, variables)
        grads, _ = clip_by_member_norm(grads, self.hp["max_grad_norm"])
        self.optimizer.apply(grads, variables, learning_rate, active)

    def _ppo_update(self, batch, learning_rate, active) -> dict[str, tf.Tensor]:
        """All epochs and minibatches of one PPO iteration for every member (``[P]`` stats)."""
        hp = self.hp
        data = self._advantages(batch)
        batch_size = self.num_envs * self.num_steps
        num_minibatches = int(self._members[0]["num_minibatches"])
        minibatch_size = batch_size // num_minibatches
        totals = {k: tf.zeros([self.size]) for k in LOSS_NAMES}
        updates = tf.zeros([self.size])
        approx_kl = tf.zeros([self.size])
        kl_stopped = tf.zeros([self.size], tf.bool)
        clip_coef, clip_vloss = hp["clip_coef"][:, None], hp["clip_vloss"][:, None]

        for epoch in tf.range(self.max_epochs):
            running = active & ~kl_stopped & (epoch < self.update_epochs)
            order = tf.argsort(self._shuffle_keys(running, batch_size), axis=-1)
            for i in tf.range(num_minibatches):
                idx = order[:, i * minibatch_size : (i + 1) * minibatch_size]
                mb = {k: tf.gather(v, idx, batch_dims=1) for k, v in data.items()}
                adv = tf.where(hp["norm_adv"][:, None],
                               masked_normalize(mb["advantages"], mb["masks"], axis=-1),
                               mb["advantages"])  # fmt: skip
                with tf.GradientTape() as tape:
                    logprob, entropy, value = self.network.evaluate(mb["obs"], mb["actions"])
                    out = ppo.ppo_loss(
                        logprob, mb["logprobs"], adv, value, mb["values"], mb["returns"],
                        entropy, mb["masks"], clip_coef, hp["vf_coef"], hp["ent_coef"],
                        clip_vloss, axis=-1,
                    )  # fmt: skip
                    total = _total(out["loss"], running)
                self._step(total, tape, learning_rate, running)
                totals = {k: totals[k] + tf.where(running, out[k], 0.0) for k in LOSS_NAMES}
                updates += tf.cast(running, tf.float32)
                approx_kl = tf.where(running, out["approx_kl"], approx_kl)
            kl_stopped |= (hp["target_kl"] > 0.0) & (approx_kl > hp["target_kl"])

        stats = {k: totals[k] / tf.maximum(updates, 1.0) for k in LOSS_NAMES}
        stats["explained_variance"] = explained_variance(data["values"], data["returns"],
                                                         data["masks"], axis=-1)  # fmt: skip
        stats["updates"] = updates
        stats["finite"] = self._finite()
        return stats

    def _shuffle_keys(self, running: tf.Tensor, batch_size: int) -> tf.Tensor:
        """``[P, B]`` sort keys: each running member draws its own from its generator, as a
        lone agent draws one a epoch (so a member's stream stays a lone run's)."""
        zeros = tf.zeros([batch_size])
        return tf.stack([
            tf.cond(running[p], lambda g=g: g.uniform([batch_size]), lambda: zeros)
            for p, g in enumerate(self.rngs)
        ])  # fmt: skip

    def _a2c_update(self, batch, learning_rate, active) -> dict[str, tf.Tensor]:
        """One A2C gradient step on each member's whole rollout (``[P]`` stats)."""
        hp = self.hp
        data = self._advantages(batch)
        advantages = tf.where(hp["norm_adv"][:, None],
                              masked_normalize(data["advantages"], data["masks"], axis=-1),
                              data["advantages"])  # fmt: skip
        with tf.GradientTape() as tape:
            logprob, entropy, values = self.network.evaluate(data["obs"], data["actions"])
            out = a2c.a2c_loss(logprob, advantages, values, data["returns"], entropy,
                               data["masks"], hp["vf_coef"], hp["ent_coef"], axis=-1)  # fmt: skip
            total = _total(out["loss"], active)
        self._step(total, tape, learning_rate, active)
        out["explained_variance"] = explained_variance(data["values"], data["returns"],
                                                       data["masks"], axis=-1)  # fmt: skip
        out["finite"] = self._finite()
        return out

    def _finite(self) -> tf.Tensor:
        """``[P]``: True where all of a member's weights are finite."""
        checks = [tf.reduce_all(tf.math.is_finite(tf.reshape(v, [self.size, -1])), axis=1)
                  for v in self.network.trainable_variables]  # fmt: skip
        return tf.reduce_all(tf.stack(checks), axis=0)

    def stop(self, member: int) -> None:
        """Stops training ``member`` (pruned, failed, or its trial ended): it stays as is."""
        self.active.scatter_nd_update([[member]], [False])

    # -- checkpoints, one a member, in the single agent's format --------------------------------

    def _single(self):
        """A single agent with this population's shape: the checkpoint format of a member."""
        if self._template is None:
            module = ALGORITHMS[self.algorithm]
            template = module.make_agent(self.env_id, self._members[0], self.seeds[0],
                                         env_backend=self.env_backend)  # fmt: skip
            template.runner.close()
            template.runner = _NoRunner() if self.env_backend != "tf" else template.runner
            object.__setattr__(self, "_template", template)  # not a tracked dependency
        return self._template

    def _pairs(self, template) -> list[tuple[tf.Variable, tf.Variable]]:
        """(single agent variable, population variable with a leading member axis)."""
        pairs = []
        for single, stacked in ((template.network.actor, self.network.actor),
                                (template.network.critic, self.network.critic)):  # fmt: skip
            pairs += zip(single.weights + single.biases, stacked.weights + stacked.biases)
        if not self.discrete:
            pairs.append((template.network.log_std, self.network.log_std))
        pairs.append((template.optimizer.step, self.optimizer.step))
        for slot in ("m", "v", "sq"):
            pairs += zip(getattr(template.optimizer, slot, []), getattr(self.optimizer, slot, []))
        for name in ("obs_rms", "return_rms"):
            single, stacked = getattr(template, name), getattr(self, name)
            pairs += [(single.mean, stacked.mean), (single.var, stacked.var),
                      (single.count, stacked.count)]  # fmt: skip
        pairs += [
            (template.discounted_return, self.discounted_return),
            (template.global_step, self.global_step),
            (template.iteration, self.iteration),
        ]
        if self.env_backend == "tf":
            single, stacked = template.runner, self.runner
            pairs += [
                (single.env.state, stacked.env.state),
                (single.env.elapsed, stacked.env.elapsed),
                (single.env.needs_reset, stacked.env.needs_reset),
                (single.env.keys, stacked.env.keys),
                (single.env.draws, stacked.env.draws),
                (single.returns, stacked.returns),
                (single.lengths, stacked.lengths),
            ]
        for single, stacked in pairs:
            if stacked.shape.num_elements() != self.size * single.shape.num_elements():
                raise AssertionError(f"population variable {stacked.name} {stacked.shape} does "
                                     f"not pair with {single.name} {single.shape}")  # fmt: skip
        return pairs

    def save_member(self, member: int, directory: str) -> None:
        """Writes member ``member``'s checkpoint, as a single agent of its own would."""
        template = self._single()
        for single, stacked in self._pairs(template):
            single.assign(tf.reshape(tf.reshape(stacked, [self.size, -1])[member], single.shape))
        template.rng.state.assign(self.rngs[member].state)
        template.seed, template.hparams = self.seeds[member], self._members[member]
        if self.env_backend != "tf":
            template.runner = self.runner.runners[member]
        try:
            save_checkpoint(template, directory)
        finally:
            if self.env_backend != "tf":
                template.runner = _NoRunner()

    def restore_member(self, member: int, directory: str) -> None:
        """Loads a single agent's (or a member's) checkpoint into member ``member``.

        Raises:
            ValueError: the checkpoint is of another env, env backend or structural hparams.
        """
        template = self._single()
        template.seed, template.hparams = self.seeds[member], self._members[member]
        restore_checkpoint(template, directory)
        for single, stacked in self._pairs(template):
            rows = tf.reshape(stacked, [self.size, -1])
            rows = tf.tensor_scatter_nd_update(rows, [[member]], tf.reshape(single, [1, -1]))
            stacked.assign(tf.reshape(rows, stacked.shape))
        self.rngs[member].state.assign(template.rng.state)
        if self.env_backend != "tf":
            self.runner.runners[member].close()
            self.runner.runners[member] = template.runner
            template.runner = _NoRunner()
        self.active.scatter_nd_update([[member]], [True])

    def close(self) -> None:
        self.runner.close()


def _total(loss: tf.Tensor, active: tf.Tensor) -> tf.Tensor:
    """The active members' losses summed, not averaged: each member's gradient is its own."""
    return tf.reduce_sum(tf.where(active, loss, 0.0))


def _by_member(x: tf.Tensor) -> tf.Tensor:
    """``[T, P, N, ...]`` -> ``[P, T * N, ...]``."""
    perm = [1, 0, *range(2, x.shape.rank)]
    x = tf.transpose(x, perm)
    return tf.reshape(x, [x.shape[0], -1, *x.shape[3:]])


def _by_time(x: tf.Tensor, steps: int) -> tf.Tensor:
    """``[P, T * N]`` -> ``[T, P, N]``."""
    x = tf.reshape(x, [x.shape[0], steps, -1])
    return tf.transpose(x, [1, 0, 2])


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------


def train(
    population: Population, total_timesteps: int, anneal_timesteps: int | None = None
) -> Iterator[list[dict[str, Any] | None]]:
    """Trains every active member to ``total_timesteps`` env steps.

    Yields, after each iteration, one entry a member: its metrics (the names a single
    agent's ``train`` yields) or None once it is inactive. A member whose weights turned
    non-finite gets ``error`` in its metrics that iteration and is stopped; the others go
    on. Continues from the members' counters, as a single agent does; the learning rate
    anneals as :func:`agents.rollout.plan` does.
    """
    batch_size = population.num_envs * population.num_steps
    num_iterations = total_timesteps // batch_size
    if num_iterations < 1:
        raise ValueError(f"total_timesteps={total_timesteps} is less than one rollout "
                         f"(num_envs x num_steps = {batch_size})")  # fmt: skip
    anneal_iterations = max((anneal_timesteps or total_timesteps) // batch_size, 1)
    members = [population.hparams(p) for p in range(population.size)]
    base = np.array([m["learning_rate"] for m in members], np.float32)
    anneal = np.array([m["anneal_lr"] for m in members])
    start_time, start_steps = time.perf_counter(), population.global_step.numpy()

    while True:
        iterations = population.iteration.numpy()
        running = population.active.numpy() & (iterations < num_iterations)
        if not running.any():
            return
        frac = np.maximum(1.0 - iterations / anneal_iterations, 0.0)
        learning_rate = np.where(anneal, frac * base, base).astype(np.float32)
        batch = population.collect(tf.constant(running))
        stats = population.update(batch, tf.constant(learning_rate), tf.constant(running))
        population.iteration.assign_add(tf.cast(running, tf.int64))
        diverged = running & ~stats["finite"].numpy()
        for member in np.flatnonzero(diverged):
            population.stop(int(member))
        yield _member_metrics(population, batch, stats, learning_rate, running, diverged,
                              time.perf_counter() - start_time, start_steps)  # fmt: skip


def _member_metrics(population, batch, stats, learning_rate, running, diverged, elapsed,
                    start_steps) -> list[dict[str, Any] | None]:  # fmt: skip
    """Each running member's metrics of one iteration, as a single agent reports them."""
    dones = batch["dones"].numpy() > 0  # [T, P, N]
    returns, lengths = batch["episode_returns"].numpy(), batch["episode_lengths"].numpy()
    stats = {k: v.numpy() for k, v in stats.items()}
    global_steps, iterations = population.global_step.numpy(), population.iteration.numpy()
    out: list[dict[str, Any] | None] = []
    for p in range(population.size):
        if not running[p]:
            out.append(None)
            continue
        done = dones[:, p]
        metrics: dict[str, Any] = {
            "global_step": int(global_steps[p]),
            "iteration": int(iterations[p]),
            "explained_variance": float(stats["explained_variance"][p]),
            "charts/learning_rate": float(learning_rate[p]),
            "charts/SPS": (global_steps[p] - start_steps[p]) / max(elapsed, 1e-9),
            "episode_returns": returns[:, p][done],
        }
        for name in LOSS_NAMES:
            if name in stats:
                metrics[f"losses/{name}"] = float(stats[name][p])
        if done.any():
            metrics["rewards"] = float(returns[:, p][done].mean())
            metrics["episode_length"] = float(lengths[:, p][done].mean())
        if diverged[p]:
            metrics["error"] = (f"diverged: non-finite weights at step {metrics['global_step']}"
                                f" ({population.env_id}, seed {population.seeds[p]})")  # fmt: skip
        out.append(metrics)
    return out
