"""The on-policy core: P runs of PPO or A2C trained as one computation. A lone agent is a
population of one.

Each member is a run of its own: its own hparams, seed, network, optimizer state, random
streams, normalizers, envs and counters. Every variable has a leading member axis
(weights ``[P, in, out]``: one batched matmul serves all members), hparams are ``[P]``
variables, and the envs are one runner of ``P x N`` copies. Written once over that axis:
the rollout, reward scaling, GAE, the training loop, metrics and checkpoints. What is an
algorithm's own (its loss, its update over ``[P, ...]`` tensors, its per-member hparams)
lives in ``ppo.py`` and ``a2c.py``.

Compiled whole: with our TensorFlow envs (``agents.tf_envs``) one iteration (rollout,
GAE, every epoch and minibatch, the optimizer, the metrics) is one XLA program
(``jit_compile=True``); with gymnasium's envs the rollout is a graph calling NumPy and the
update is compiled. :meth:`Population.reset` starts new runs in the same variables, so a
process training several populations of one shape in a row (random-search batches,
Hyperband rounds, PBT generations) compiles once.

Members stay independent: the loss is summed (not averaged) over members, so each
member's gradient is its own; each gradient is clipped by its own norm; random numbers
come from counter-based streams keyed by the member's seed (``common.counter_uniform``),
so a member draws what a lone run of its seed draws; the optimizer updates only running
members, so a member that finished, was stopped or diverged (NaN) stays as it was.
Members share what shapes the computation (``agents.POPULATION_KEY_HPARAMS``); the
program is built for the members' largest value of each ``program`` hparam (PPO's
minibatch count, :meth:`Population.largest`).

A member's checkpoint is its slice of the population's variables (``state.npz``), with its
gymnasium envs pickled where they are not variables: the same files for a lone agent and
for any slot of any population of that shape.

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

import agents
from agents import POPULATION_AGENTS, POPULATION_KEY_HPARAMS, checkpoints
from agents.common import (
    OPTIMIZERS,
    ActorCritic,
    RunningMeanStd,
    gae,
    graph_control_flow,
    member_gumbel,
    member_normal,
    member_uniform,
    program,
)
from agents.envs import COLUMNS, choose_backend, make_runner

# Random streams of one iteration: rollout noise, then one a shuffle (PPO's epochs); and
# the stochastic policy's noise in evaluation episodes (agents.evaluation).
NOISE_STREAM, SHUFFLE_STREAM, EVAL_STREAM = 1 << 16, (1 << 16) + 1, (1 << 16) + 2
_NOT_SAVED = ("hparams/", "active")  # set from the run's own hparams, not restored
STEPS_PER_CALL = 65_536
COUNTERS = ("running", "diverged", "active", "iteration", "global_step")


class Population(tf.Module):
    """P runs of one algorithm on one env, trained as one computation.

    Args:
        algorithm: ``ppo`` or ``a2c``.
        env_id: gymnasium id (TensorFlow's version of it where there is one).
        hparams: one mapping a member (overrides of the algorithm's defaults, checked);
            they must agree on ``agents.POPULATION_KEY_HPARAMS``.
        seeds: one seed a member.
        env_backend: ``auto``, ``tf`` or ``gymnasium`` (see ``agents.envs``).

    Raises:
        ValueError: an unknown algorithm, unequal lengths, or members that disagree on a
            shape-changing hparam.
        agents.envs.EnvError: an unknown env or spaces the agents do not support.
    """

    def __init__(
        self,
        algorithm: str,
        env_id: str,
        hparams: Sequence[Mapping[str, Any]],
        seeds: Sequence[int],
        env_backend: str = "auto",
    ):
        super().__init__(name="population")
        if algorithm not in POPULATION_AGENTS:
            raise ValueError(f"population training supports {POPULATION_AGENTS}, not {algorithm!r}")
        self.algorithm, self.env_id = algorithm, env_id
        module = agents.load(algorithm)
        self._algo = types.SimpleNamespace(
            update=module.update,
            space=module.SPACE,
            stat_names=module.STAT_NAMES,
        )
        members, seeds = self._check(hparams, seeds)
        first = members[0]
        self.size = len(seeds)
        self.num_envs, self.num_steps = int(first["num_envs"]), int(first["num_steps"])
        self.env_backend = choose_backend(env_id, env_backend)
        self.runner, obs_space, act_space = make_runner(
            env_id, self.num_envs, seeds, self.env_backend
        )
        self.discrete = not hasattr(act_space, "low")
        self.obs_shape = tuple(obs_space.shape)
        self.image = len(self.obs_shape) == 3  # uint8 frames for a CNN (agents.cnn_layout)
        self.action_dim = int(act_space.n) if self.discrete else act_space.shape[0]
        if not self.discrete:
            self.action_low = tf.constant(act_space.low, tf.float32)
            self.action_high = tf.constant(act_space.high, tf.float32)

        rngs = [np.random.default_rng(s) for s in seeds]
        self.norm_obs, self.norm_reward = bool(first["norm_obs"]), bool(first["norm_reward"])
        if self.image and self.norm_obs:
            self.runner.close()
            raise ValueError(
                f"norm_obs is for vector observations; {env_id}'s images are scaled by their "
                "maximum inside the network"
            )
        self.network = ActorCritic(
            obs_space,
            self.action_dim,
            self.discrete,
            first,
            [m["log_std_init"] for m in members],
            rngs,
        )
        optimizer = OPTIMIZERS[first.get("optimizer", "adam")]
        self.optimizer = optimizer(self.network.trainable_variables)
        # A member's trainable parameters (its slice of the stacked variables).
        self.parameters = sum(int(np.prod(v.shape[1:])) for v in self.network.trainable_variables)
        self.obs_rms = None if self.image else RunningMeanStd(self.size, self.obs_shape, "obs_rms")
        self.return_rms = RunningMeanStd(self.size, name="return_rms")
        p, n = self.size, self.num_envs
        self.discounted_return = _variable(tf.zeros([p, n], tf.float64), "discounted_return")
        self.global_step = _variable(tf.zeros([p], tf.int64), "global_step")
        self.iteration = _variable(tf.zeros([p], tf.int64), "iteration")
        self.rng_keys = _variable(tf.constant(seeds, tf.int64), "rng/keys")
        self.rng_counter = _variable(tf.zeros([p], tf.int64), "rng/counter")
        # False for a member that finished, was stopped or diverged: it is no longer updated.
        self.active = _variable(tf.ones([p], tf.bool), "active")
        self.hp = {
            name: _variable(
                tf.zeros([p], tf.bool if isinstance(first[name], bool) else tf.float32),
                f"hparams/{name}",
            )
            for name in self._algo.space.with_role("member", "program")  # [P]: one a member
        }
        self._set_members(members, seeds)
        names = [v.name for v in self._saved_variables()]
        if len(set(names)) != len(names):  # a checkpoint keys variables by name
            raise AssertionError(f"variable names repeat: {sorted(names)}")
        # In-graph envs: several iterations a call, about STEPS_PER_CALL env steps in all
        # (what one call costs in Python and dispatch is then spread over them).
        self.iterations_per_call = 1
        if self.runner.in_graph:
            per_iteration = self.size * self.num_envs * self.num_steps
            self.iterations_per_call = min(max(STEPS_PER_CALL // per_iteration, 1), 64)
            self._iterate = program(self._iterations, jit_compile=True)
        else:  # the rollout calls NumPy: a graph around the compiled update
            # CNNs: TensorFlow's own (oneDNN) convolutions beat XLA's on a CPU, 1.5x
            # (benchmarks/conv.py, BENCHMARKS.md)
            self._update_compiled = program(self._update, jit_compile=not self.image)
            self._iterate = program(self._gym_iteration, jit_compile=False)

    def _check(self, hparams, seeds) -> tuple[list[Mapping[str, Any]], list[int]]:
        members = [types.MappingProxyType(self._algo.space.resolve(h)) for h in hparams]
        seeds = [int(s) for s in seeds]
        if not members or len(members) != len(seeds):
            raise ValueError(f"{len(members)} hparam sets for {len(seeds)} seeds")
        for name in POPULATION_KEY_HPARAMS:
            values = {m[name] for m in members if name in m}
            if len(values) > 1:
                raise ValueError(
                    f"members of a population must share {name}; got {sorted(values, key=str)}"
                )
        return members, seeds

    def _set_members(self, members, seeds) -> None:
        self._members = tuple(members)  # a tuple of proxies: nothing for tf.Module to track
        self.seeds = tuple(seeds)
        for name, var in self.hp.items():
            var.assign(tf.constant([m[name] for m in members], var.dtype))

    def hparams(self, member: int) -> Mapping[str, Any]:
        """Member ``member``'s resolved hparams."""
        return self._members[member]

    def largest(self, name: str) -> int:
        """The members' largest value of the ``program`` hparam ``name``: what the compiled
        program is built for (a trace-time constant; :meth:`reset` keeps it)."""
        return max(int(m[name]) for m in self._members)

    def shape_key(self) -> tuple:
        """What must be equal for :meth:`reset` to reuse this population (and its program)."""
        return shape_key(self.algorithm, self.env_id, self.env_backend, self._members)

    def reset(self, hparams: Sequence[Mapping[str, Any]], seeds: Sequence[int]) -> None:
        """Starts new runs in place: every variable as a new population of these members
        would start, the compiled programs kept (no tracing, no compilation).

        Raises:
            ValueError: the new members do not fit this population's shape.
        """
        key = shape_key(self.algorithm, self.env_id, self.env_backend, hparams)
        if key != self.shape_key():
            raise ValueError("reset needs members of the same shape and count")
        members, seeds = self._check(hparams, seeds)
        self._set_members(members, seeds)
        self.network.reinitialize(
            [np.random.default_rng(s) for s in seeds], [m["log_std_init"] for m in members]
        )
        for var in self.optimizer.variables:
            var.assign(tf.zeros_like(var))
        if self.obs_rms is not None:
            self.obs_rms.reset()
        self.return_rms.reset()
        for var in (self.discounted_return, self.global_step, self.iteration, self.rng_counter):
            var.assign(tf.zeros_like(var))
        self.rng_keys.assign(tf.constant(seeds, tf.int64))
        self.active.assign(tf.ones_like(self.active))
        self.runner.reseed(seeds)

    # -- random numbers: one stream a member, keyed by its seed and iteration ---------------------

    def uniform(self, stream, shape: Sequence[int]) -> tf.Tensor:
        """``[P, *shape]`` uniform draws in [0, 1) from each member's stream ``stream``."""
        return member_uniform(self.rng_keys, self.rng_counter, stream, shape)

    # -- the rollout: num_steps steps of all P x N envs --------------------------------------------

    def _policy_input(self, obs: tf.Tensor) -> tf.Tensor:
        if not self.norm_obs:
            return obs
        self.obs_rms.update(obs, tf.ones(obs.shape[:2]))
        return self.obs_rms.normalize(obs)

    @graph_control_flow
    def _collect(self, running: tf.Tensor) -> dict[str, tf.Tensor]:
        """Steps all envs ``num_steps`` times; returns ``[T, P, N]`` tensors plus bootstrap.

        ``running`` ``[P]``: whose step counters advance.
        """
        steps, n, a = self.num_steps, self.num_envs, self.action_dim
        keys, counter = self.rng_keys, self.rng_counter
        if self.discrete:  # Gumbel-max sampling: argmax(logits + Gumbel noise)
            noise = member_gumbel(keys, counter, NOISE_STREAM, [steps, n, a])
        else:
            noise = member_normal(keys, counter, NOISE_STREAM, [steps, n, a])
        noise = tf.transpose(noise, [1, 0, 2, 3])  # [T, P, N, A]
        obs_ta = tf.TensorArray(tf.uint8 if self.image else tf.float32, size=steps)
        act_ta = tf.TensorArray(tf.int32 if self.discrete else tf.float32, size=steps)
        info_ta = tf.TensorArray(tf.float32, size=steps)
        obs = self.runner.observe()
        for t in tf.range(steps):
            policy_obs = self._policy_input(obs)
            out = self.network.policy(policy_obs)
            if self.discrete:
                action = tf.argmax(out + noise[t], axis=-1, output_type=tf.int32)
                env_action = action
            else:
                action = out + tf.exp(self.network.log_std) * noise[t]
                env_action = tf.clip_by_value(action, self.action_low, self.action_high)
            next_obs, info = self.runner.step(env_action)
            obs_ta = obs_ta.write(t, policy_obs)
            act_ta = act_ta.write(t, action)
            info_ta = info_ta.write(t, info)
            obs = next_obs

        batch = dict(zip(COLUMNS, tf.unstack(info_ta.stack(), axis=-1)))
        batch["obs"], batch["actions"] = obs_ta.stack(), act_ta.stack()
        batch["bootstrap_obs"] = self.obs_rms.normalize(obs) if self.norm_obs else obs
        batch["dones"] = tf.maximum(batch["terminations"], batch["truncations"])
        if self.norm_reward:
            batch["rewards"] = self._scale_rewards(batch["rewards"], batch["dones"], batch["masks"])
        self.global_step.assign_add(tf.where(running, tf.cast(n * steps, tf.int64), 0))
        return batch

    @graph_control_flow
    def _scale_rewards(self, rewards, dones, masks):
        """Each member's rewards over the running std of its discounted return (SB3's
        VecNormalize)."""
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

    def act(self, obs: tf.Tensor, greedy: bool, keys: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """Every member's actions for ``[P, E, D]`` observations, learning nothing (the
        observation normalizer is read, not updated): the most probable action or the
        Gaussian mean with ``greedy``, else a sample with noise drawn at (``keys``,
        ``step``) of :data:`EVAL_STREAM`. Continuous actions are clipped to the env's box.
        For :class:`agents.evaluation.Evaluator`."""
        policy_obs = self.obs_rms.normalize(obs) if self.norm_obs else obs
        out = self.network.policy(policy_obs)
        counters = tf.fill([self.size], tf.cast(step, tf.int64))
        shape = [obs.shape[1], self.action_dim]
        if self.discrete:
            if not greedy:
                out += member_gumbel(keys, counters, EVAL_STREAM, shape)
            return tf.argmax(out, axis=-1, output_type=tf.int32)
        if not greedy:
            out += tf.exp(self.network.log_std) * member_normal(keys, counters, EVAL_STREAM, shape)
        return tf.clip_by_value(out, self.action_low, self.action_high)

    # -- the update: GAE, then the algorithm's own ---------------------------------------------

    def _update(self, batch, learning_rate, running) -> dict[str, tf.Tensor]:
        """GAE per member, the rollout flattened to ``[P, T * N, ...]``, the algorithm's
        update; returns ``[P]`` statistics, ``finite`` among them."""
        hp = self.hp
        flat_obs, flat_actions = _by_member(batch["obs"]), _by_member(batch["actions"])
        logprobs, _, values = self.network.evaluate(flat_obs, flat_actions)
        values_tpn = _by_time(values, self.num_steps)
        bootstrap_value = self.network.value(batch["bootstrap_obs"])
        advantages = gae(
            batch["rewards"],
            values_tpn,
            bootstrap_value,
            batch["terminations"],
            batch["truncations"],
            hp["gamma"][:, None],
            hp["gae_lambda"][:, None],
        )
        data = {
            "obs": flat_obs,
            "actions": flat_actions,
            "logprobs": logprobs,
            "values": values,
            "advantages": _by_member(advantages),
            "returns": _by_member(advantages + values_tpn),
            "masks": _by_member(batch["masks"]),
        }
        stats = self._algo.update(self, data, learning_rate, running)
        checks = [
            tf.reduce_all(tf.math.is_finite(tf.reshape(v, [self.size, -1])), axis=1)
            for v in self.network.trainable_variables
        ]
        stats["finite"] = tf.reduce_all(tf.stack(checks), axis=0)
        return stats

    def learning_rate(self, anneal_iterations: tf.Tensor) -> tf.Tensor:
        """``[P]`` rates of this iteration: with ``anneal_lr`` linear decay to 1/N (CleanRL)."""
        frac = 1.0 - tf.cast(self.iteration, tf.float32) / anneal_iterations
        base = self.hp["learning_rate"]
        return tf.where(self.hp["anneal_lr"], tf.maximum(frac, 0.0) * base, base)

    def _advance(self, running, finite) -> tf.Tensor:
        """Counters of running members move on; a member whose weights turned non-finite
        stops. Returns ``[P]`` diverged flags."""
        step = tf.cast(running, tf.int64)
        self.iteration.assign_add(step)
        self.rng_counter.assign_add(step)
        diverged = running & ~finite
        self.active.assign(self.active & ~diverged)
        return diverged

    def _iteration(self, target_iterations, anneal_iterations):
        """One iteration of every running member, compiled whole (in-graph envs)."""
        running = self.active & (self.iteration < target_iterations)
        learning_rate = self.learning_rate(anneal_iterations)
        batch = self._collect(running)
        stats = self._update(batch, learning_rate, running)
        diverged = self._advance(running, stats.pop("finite"))
        return self._outputs(batch, stats, learning_rate, running, diverged)

    def _gym_iteration(self, target_iterations, anneal_iterations):
        """One iteration with gymnasium's envs: a graph (the rollout steps NumPy through
        ``tf.numpy_function``) calling the XLA-compiled update; outputs as ``_iterations``'."""
        running = self.active & (self.iteration < target_iterations)
        learning_rate = self.learning_rate(anneal_iterations)
        batch = self._collect(running)
        stats = self._update_compiled(batch, learning_rate, running)
        diverged = self._advance(running, stats.pop("finite"))
        outs = self._outputs(batch, stats, learning_rate, running, diverged)
        return (tf.constant(1), *(out[None] for out in outs))

    def _outputs(self, batch, stats, learning_rate, running, diverged):
        """What an iteration hands back to Python, packed into three tensors."""
        episodes = tf.stack(
            [batch["episode_ends"], batch["episode_returns"], batch["episode_lengths"]]
        )
        values = tf.stack([learning_rate, *(stats[k] for k in self._algo.stat_names)])
        counters = tf.stack(
            [
                tf.cast(running, tf.int64),
                tf.cast(diverged, tf.int64),
                tf.cast(self.active, tf.int64),
                self.iteration,
                self.global_step,
            ]
        )
        return episodes, values, counters

    @graph_control_flow
    def _iterations(self, target_iterations, anneal_iterations):
        """Up to :attr:`iterations_per_call` iterations in one XLA program (in-graph envs),
        ending early once no member runs; the outputs stacked ``[K, ...]`` with the count."""
        size = self.iterations_per_call
        if size == 1:  # XLA parallelizes a program's top level better than a loop's body
            outs = self._iteration(target_iterations, anneal_iterations)
            return (tf.constant(1), *(out[None] for out in outs))
        episodes = tf.TensorArray(tf.float32, size=size)
        values = tf.TensorArray(tf.float32, size=size)
        counters = tf.TensorArray(tf.int64, size=size)
        count = tf.constant(0)
        while count < size and tf.reduce_any(self.active & (self.iteration < target_iterations)):
            outs = self._iteration(target_iterations, anneal_iterations)
            episodes = episodes.write(count, outs[0])
            values = values.write(count, outs[1])
            counters = counters.write(count, outs[2])
            count += 1
        return count, episodes.stack(), values.stack(), counters.stack()

    def run_iterations(self, target_iterations: tf.Tensor, anneal_iterations: tf.Tensor):
        """Iterations of the active members whose ``iteration`` is below
        ``target_iterations`` (``[P]`` int64): as many as one call runs (one with
        gymnasium's envs, up to :attr:`iterations_per_call` with in-graph envs).
        ``anneal_iterations``: ``[P]`` float32.

        Yields, an iteration, NumPy arrays: ``episodes`` ``[3, T, P, N]`` (episode ends,
        returns, lengths), ``stats`` (name -> ``[P]``) and ``counters`` (name -> ``[P]``:
        ``running``, ``diverged``, ``active``, ``iteration``, ``global_step`` after it).
        """
        count, *outs = self._iterate(target_iterations, anneal_iterations)
        episodes, values, counters = (x.numpy()[: int(count)] for x in outs)
        names = ("charts/learning_rate", *self._algo.stat_names)
        for k in range(len(episodes)):
            yield episodes[k], dict(zip(names, values[k])), dict(zip(COUNTERS, counters[k]))

    def stop(self, member: int) -> None:
        """Stops training ``member`` (pruned, failed, or its trial ended): it stays as is."""
        self.active.scatter_nd_update([[member]], [False])

    # -- checkpoints: a member's rows of every variable -------------------------------------------

    def _saved_variables(self) -> list[tf.Variable]:
        return [v for v in self.variables if not v.name.split(":")[0].startswith(_NOT_SAVED)]

    def save(self, directory: str, member: int = 0) -> None:
        """Writes member ``member``'s checkpoint (``agents.checkpoints``); a lone agent's
        is member 0's."""
        self.save_members({member: directory})

    def save_members(self, directories: Mapping[int, str]) -> None:
        """Writes the checkpoints of several members (member -> directory), reading each
        variable once: the same files as :meth:`save` of each."""
        arrays = {checkpoints.name(v): v.numpy() for v in self._saved_variables()}
        steps = self.global_step.numpy()
        for member, directory in directories.items():
            meta = {
                "algorithm": self.algorithm,
                "env_id": self.env_id,
                "env_backend": self.env_backend,
                "seed": self.seeds[member],
                "hparams": dict(self._members[member]),
                "global_step": int(steps[member]),
            }
            rows = {name: array[member] for name, array in arrays.items()}
            checkpoints.write(directory, rows, meta, self.runner.member_state(member))

    def restore(self, directory: str, member: int = 0) -> None:
        """Loads a checkpoint of :meth:`save` (any slot's, a lone agent's) into ``member``;
        structural hparams must match (see :func:`agents.checkpoints.read`).

        Raises:
            ValueError: the checkpoint does not fit this member.
        """
        expected = {
            "algorithm": self.algorithm,
            "env_id": self.env_id,
            "env_backend": self.env_backend,
        }
        _, rows, env_state = checkpoints.read(directory, expected, self._members[member])
        variables = self._saved_variables()
        if sorted(rows) != sorted(checkpoints.name(v) for v in variables):
            raise ValueError(f"checkpoint {directory} holds other variables")
        for var in variables:
            var.scatter_nd_update([[member]], rows[checkpoints.name(var)][None])
        self.runner.load_member_state(member, env_state)
        self.active.scatter_nd_update([[member]], [True])

    def close(self) -> None:
        self.runner.close()


def _variable(value, name: str) -> tf.Variable:
    return tf.Variable(value, trainable=False, name=name)


def shape_key(
    algorithm: str, env_id: str, env_backend: str, hparams: Sequence[Mapping[str, Any]]
) -> tuple:
    """What populations must share for one to be :meth:`Population.reset` to the other's
    members: algorithm, env, backend, member count, ``agents.POPULATION_KEY_HPARAMS`` and
    the largest value of each ``program`` hparam."""
    space = agents.load(algorithm).SPACE
    members = [space.resolve(h) for h in hparams]
    return (
        algorithm,
        env_id,
        choose_backend(env_id, env_backend),
        len(hparams),
        *(str(members[0].get(k)) for k in POPULATION_KEY_HPARAMS),
        *(max(int(m[k]) for m in members) for k in space.with_role("program")),
    )


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
    population: Population,
    total_timesteps: int,
    anneal_timesteps: int | None = None,
    evaluator: Any = None,
    eval_every: int | None = None,
) -> Iterator[list[dict[str, Any] | None]]:
    """Trains every active member to ``total_timesteps`` env steps.

    Yields, after each iteration, one entry a member: its metrics or None once it is
    inactive. A member whose weights turned non-finite gets ``error`` in its metrics that
    iteration and is stopped; the others go on. Continues from the members' counters, so a
    restored member picks up where it stopped. With ``anneal_lr`` the learning rate decays
    linearly over ``anneal_timesteps`` (default ``total_timesteps``; CleanRL: 1.0 x on the
    first iteration, 1/N on the last): Hyperband passes its maximum budget, so a trial
    continued rung by rung follows the schedule of one trained straight through.

    With an ``evaluator`` (:class:`agents.evaluation.Evaluator` of this population) every
    member is evaluated every ``eval_every`` env steps (rounded to whole iterations; None:
    only at the end) and at the end of its training: that iteration's metrics get
    ``eval/return`` and ``eval/episode_length`` (means over the episodes) and
    ``eval/returns`` (each episode's). Evaluation ``k`` of a member is the one after its
    iteration ``k``, so a restored member continues the same evaluations.

    With in-graph envs one call runs up to ``iterations_per_call`` iterations and their
    metrics are yielded after it: a loop that breaks early leaves the population up to
    that many iterations past the last metrics it saw. To stop at a step, give it as the
    budget (with ``anneal_timesteps`` for the whole run's schedule).

    Raises:
        ValueError: ``total_timesteps`` less than one rollout.
    """
    batch_size = population.num_envs * population.num_steps
    num_iterations = total_timesteps // batch_size
    if num_iterations < 1:
        raise ValueError(
            f"total_timesteps={total_timesteps} is less than one rollout "
            f"(num_envs x num_steps = {batch_size})"
        )
    anneal_iterations = max((anneal_timesteps or total_timesteps) // batch_size, 1)
    between_evals = num_iterations  # iterations: only at the end
    if evaluator is not None and eval_every:
        between_evals = max(round(eval_every / batch_size), 1)
    anneal = tf.fill([population.size], float(anneal_iterations))
    start_time, start_steps = time.perf_counter(), population.global_step.numpy()
    iteration = population.iteration.numpy()
    going = population.active.numpy() & (iteration < num_iterations)
    while going.any():
        target = num_iterations
        if evaluator is not None:  # a call stops at the next evaluation
            target = np.minimum((iteration // between_evals + 1) * between_evals, num_iterations)
        target = tf.constant(np.broadcast_to(target, [population.size]), tf.int64)
        outs = list(population.run_iterations(target, anneal))
        for k, (episodes, stats, counters) in enumerate(outs):
            elapsed = time.perf_counter() - start_time
            members = _member_metrics(population, episodes, stats, counters, elapsed, start_steps)
            iteration = counters["iteration"]
            if evaluator is not None and k == len(outs) - 1:
                due = (iteration % between_evals == 0) | (iteration == num_iterations)
                _add_evaluation(members, evaluator, iteration, due & (counters["running"] > 0))
            yield members
            going = (counters["active"] > 0) & (iteration < num_iterations)


def _add_evaluation(members, evaluator, iteration, due) -> None:
    """Evaluates the population (round = each member's iteration) into the metrics of the
    members that are ``due`` and not diverged."""
    if not any(due[p] and members[p] and "error" not in members[p] for p in range(len(due))):
        return
    result = evaluator([int(i) for i in iteration])
    for p, metrics in enumerate(members):
        if due[p] and metrics and "error" not in metrics:
            metrics["eval/return"] = float(result.returns[p].mean())
            metrics["eval/episode_length"] = float(result.lengths[p].mean())
            metrics["eval/returns"] = result.returns[p]


def train_one(
    agent: Population,
    total_timesteps: int,
    anneal_timesteps: int | None = None,
    evaluator: Any = None,
    eval_every: int | None = None,
) -> Iterator[dict[str, Any]]:
    """:func:`train` for a lone agent (a population of one): yields its metrics."""
    for members in train(agent, total_timesteps, anneal_timesteps, evaluator, eval_every):
        if members[0] is not None:
            yield members[0]


def _member_metrics(
    population, episodes, stats, counters, elapsed, start_steps
) -> list[dict[str, Any] | None]:
    """Each running member's metrics of one iteration: the names TensorBoard shows. The
    figures are computed for all members at once (NumPy over the member axis), then
    handed out a member at a time."""
    dones, returns, lengths = episodes[0] > 0, episodes[1], episodes[2]  # [T, P, N]
    by_member = lambda x: np.moveaxis(x, 1, 0)  # noqa: E731  [P, T, N]
    dones, returns, lengths = by_member(dones), by_member(returns), by_member(lengths)
    ended = dones.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_returns = np.where(dones, returns, 0.0).sum(axis=(1, 2)) / ended
        mean_lengths = np.where(dones, lengths, 0.0).sum(axis=(1, 2)) / ended
    global_steps = counters["global_step"]
    sps = (global_steps - start_steps) / max(elapsed, 1e-9)
    columns = {name: values.tolist() for name, values in stats.items() if name != "updates"}
    out: list[dict[str, Any] | None] = []
    for p in range(population.size):
        if not counters["running"][p]:
            out.append(None)
            continue
        metrics: dict[str, Any] = {
            "global_step": int(global_steps[p]),
            "iteration": int(counters["iteration"][p]),
            "charts/SPS": float(sps[p]),
            "charts/parameters": float(population.parameters),
            "episode_returns": returns[p][dones[p]],
        }
        for name, values in columns.items():
            metrics[name] = values[p]
        if ended[p]:
            metrics["rewards"] = float(mean_returns[p])
            metrics["episode_length"] = float(mean_lengths[p])
        if counters["diverged"][p]:
            metrics["error"] = (
                f"diverged: non-finite weights at step {metrics['global_step']}"
                f" ({population.env_id}, seed {population.seeds[p]})"
            )
        out.append(metrics)
    return out
