"""PureJaxRL's PPO on this machine, timed the way our benchmarks time ours: the peer.

Runs in a separate venv with PureJaxRL outside this repository (it is never vendored):

    python3 -m venv ~/peer && ~/peer/bin/pip install "jax[cpu]" gymnax flax optax distrax
    # PureJaxRL at commit 31756b1 (github.com/luchris429/purejaxrl), unpacked at PATH
    ~/peer/bin/python benchmarks/purejaxrl_peer.py --purejaxrl PATH --agents 1 32

PureJaxRL's ``ppo.py`` imports ``wrappers.py``, written for gymnax 0.0.x (``step`` returned
``(obs, state, reward, done, info)``) and importing brax and navix. This script puts a
module of its own in its place: the same two wrappers over gymnax 1.0's ``step``
(``terminated`` and ``truncated``, done = either), nothing else. PureJaxRL's PPO itself
runs unchanged: ``make_train(config)``, jitted, ``vmap``-ed over seeds for several agents.

``--algorithm dqn`` runs PureJaxRL's ``dqn.py`` instead (it also needs ``pip install
flashbax wandb`` in the peer's venv; wandb stays disabled), unchanged but for the same
two wrappers in place of gymnax's own ``gymnax.wrappers.purerl`` and ``jax.tree_map``
(gone from JAX) pointed at ``jax.tree.map``, in the schedule of our DQN's
defaults (CleanRL's ``dqn.py``: one env, a gradient step every 10 env steps) unless
``--set`` says otherwise. For DQN ``steady`` is over the whole run, learning starts
included.

Prints one JSON line an agent count: ``first`` (compile and run, seconds), ``steady``
(steps/s of a second call of the same compiled program) and ``whole`` (steps/s of the
first call, compilation included).
"""

import argparse
import json
import math
import statistics
import sys
import time
import types


def gymnax_one_wrappers() -> types.ModuleType:
    """A ``wrappers`` module for PureJaxRL's ``ppo.py`` over gymnax 1.0's env API."""
    from functools import partial

    import jax
    import jax.numpy as jnp
    from flax import struct
    from gymnax.environments import spaces

    class Wrapper:
        def __init__(self, env):
            self._env = env

        def __getattr__(self, name):
            return getattr(self._env, name)

    class FlattenObservationWrapper(Wrapper):
        def observation_space(self, params):
            inner = self._env.observation_space(params)
            size = math.prod(inner.shape)
            return spaces.Box(inner.low, inner.high, (size,), inner.dtype)

        @partial(jax.jit, static_argnums=(0,))
        def reset(self, key, params=None):
            obs, state = self._env.reset(key, params)
            return jnp.reshape(obs, (-1,)), state

        @partial(jax.jit, static_argnums=(0,))
        def step(self, key, state, action, params=None):
            obs, state, reward, terminated, truncated, info = self._env.step(
                key, state, action, params
            )
            done = jnp.logical_or(terminated, truncated)
            return jnp.reshape(obs, (-1,)), state, reward, done, info

    @struct.dataclass
    class LogEnvState:
        env_state: object
        episode_returns: float
        episode_lengths: int
        returned_episode_returns: float
        returned_episode_lengths: int
        timestep: int

    class LogWrapper(Wrapper):
        @partial(jax.jit, static_argnums=(0,))
        def reset(self, key, params=None):
            obs, env_state = self._env.reset(key, params)
            return obs, LogEnvState(env_state, 0.0, 0, 0.0, 0, 0)

        @partial(jax.jit, static_argnums=(0,))
        def step(self, key, state, action, params=None):
            obs, env_state, reward, done, info = self._env.step(
                key, state.env_state, action, params
            )
            ret, length = state.episode_returns + reward, state.episode_lengths + 1
            state = LogEnvState(
                env_state=env_state,
                episode_returns=ret * (1 - done),
                episode_lengths=length * (1 - done),
                returned_episode_returns=state.returned_episode_returns * (1 - done) + ret * done,
                returned_episode_lengths=state.returned_episode_lengths * (1 - done)
                + length * done,
                timestep=state.timestep + 1,
            )
            info = dict(info)
            info["returned_episode_returns"] = state.returned_episode_returns
            info["returned_episode_lengths"] = state.returned_episode_lengths
            info["timestep"] = state.timestep
            info["returned_episode"] = done
            return obs, state, reward, done, info

    module = types.ModuleType("wrappers")
    module.FlattenObservationWrapper = FlattenObservationWrapper
    module.LogWrapper = LogWrapper
    return module


# CleanRL's / PureJaxRL's CartPole-v1 configuration (the same as our PPO's defaults).
CONFIG = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh",
    "ENV_NAME": "CartPole-v1",
    "ANNEAL_LR": True,
    "DEBUG": False,
}


# PureJaxRL's dqn.py settings in our DQN's default schedule (CleanRL's dqn.py): one env,
# learning every 10 env steps from 10k on, the target copied every 500, epsilon 1 to 0.05
# over half the run (of 500k steps, the peer's own budget). Its network (120 and 84 units)
# is hard-coded in dqn.py; ours defaults to two layers of 128.
DQN_CONFIG = {
    "NUM_ENVS": 1,
    "BUFFER_SIZE": 10_000,
    "BUFFER_BATCH_SIZE": 128,
    "EPSILON_START": 1.0,
    "EPSILON_FINISH": 0.05,
    "EPSILON_ANNEAL_TIME": 250_000,
    "TARGET_UPDATE_INTERVAL": 500,
    "LR": 2.5e-4,
    "LEARNING_STARTS": 10_000,
    "TRAINING_INTERVAL": 10,
    "LR_LINEAR_DECAY": False,
    "GAMMA": 0.99,
    "TAU": 1.0,
    "WANDB_MODE": "disabled",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purejaxrl", required=True, help="PureJaxRL's checkout (its root)")
    parser.add_argument("--algorithm", choices=["ppo", "dqn"], default="ppo")
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--timesteps", type=int, default=100_000, help="a agent")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides, e.g. NUM_STEPS=5 UPDATE_EPOCHS=1",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="steady calls (median; 0: the first call only)"
    )
    parser.add_argument(
        "--curve", type=int, default=0, metavar="K", help="also print K points of the return curve"
    )
    args = parser.parse_args()
    overrides = {
        k: int(v) if v.isdigit() else float(v) for k, v in (item.split("=", 1) for item in args.set)
    }
    sys.modules["wrappers"] = gymnax_one_wrappers()
    sys.path.insert(0, f"{args.purejaxrl}/purejaxrl")
    import jax

    if args.algorithm == "dqn":
        sys.modules["gymnax.wrappers.purerl"] = sys.modules["wrappers"]
        if not hasattr(jax, "tree_map"):  # dqn.py calls it; the JAX here (0.10) has jax.tree.map
            jax.tree_map = jax.tree.map
        from dqn import make_train  # PureJaxRL's, unchanged
    else:
        from ppo import make_train  # PureJaxRL's, unchanged
    defaults = DQN_CONFIG if args.algorithm == "dqn" else CONFIG

    for count in args.agents:
        config = {**defaults, **overrides, "TOTAL_TIMESTEPS": args.timesteps, "ENV_NAME": args.env}
        unit = config["NUM_ENVS"] * config.get("NUM_STEPS", 1)
        train = jax.jit(jax.vmap(make_train(config)))
        seeds = jax.random.split(jax.random.PRNGKey(30), count)
        start = time.perf_counter()
        out = train(seeds)
        jax.block_until_ready(out)
        first = time.perf_counter() - start
        steadies = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = train(seeds)
            jax.block_until_ready(out)
            steadies.append(time.perf_counter() - start)
        steps = count * (args.timesteps // unit) * unit
        if args.algorithm == "dqn":  # [agents, steps]: the mean over envs of the last return
            returns = out["metrics"]["returns"][:, :, None, None]
        else:
            returns = out["metrics"]["returned_episode_returns"]  # [agents, updates, steps, envs]
        final = returns[:, -1].mean(axis=(1, 2))  # each agent's
        record = {
            "peer": f"purejaxrl {args.algorithm}",
            "env": args.env,
            "agents": count,
            "steps": steps,
            "first": round(first, 2),
            "steady": round(steps / statistics.median(steadies)) if steadies else None,
            "whole": round(steps / first),
            "final_return": round(float(final.mean()), 2),
            "final_returns": [round(float(x), 2) for x in final],
        }
        if args.curve:  # mean over agents and envs of each K-th update's last step
            updates = returns.shape[1]
            marks = [max(1, round(updates * (k + 1) / args.curve)) - 1 for k in range(args.curve)]
            record["curve"] = [
                [(m + 1) * unit, round(float(returns[:, m, -1].mean()), 2)] for m in marks
            ]
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
