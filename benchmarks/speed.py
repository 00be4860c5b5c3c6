"""Training speed against the raw stepping rate of the same vector env, in one run.

    python benchmarks/speed.py --repeats 3

Peers: gymnasium's 4-env and 1-env CartPole-v1 stepped with random actions (precomputed,
so only the env is timed). Agents: steady-state env steps/s of PPO with CleanRL's default
configuration (4 envs x 128 steps, 4 epochs x 4 minibatches), of A2C with its defaults
(8 envs x 5 steps) and of DQN with CleanRL's defaults (1 env, a gradient step every 10
steps, measured after learning starts), start-up and tracing excluded. Measurements are
interleaved and the medians reported; each agent is compared with the raw env of its
own number of envs. Each agent runs twice: with gymnasium's env (``--env-backend
gymnasium``) and with its TensorFlow version (``auto``, the default).
"""

import argparse
import statistics
import time

import numpy as np

import agents
from agents.rollout import make_vec_env


def raw_env_rate(num_envs: int, steps: int = 20_000) -> float:
    env = make_vec_env("CartPole-v1", num_envs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, size=(steps, num_envs))
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return steps * num_envs / (time.perf_counter() - start)


def agent_rate(name: str, seconds: float, env_backend: str) -> float:
    module = agents.load(name)
    agent = module.make_agent("CartPole-v1", {}, seed=0, env_backend=env_backend)
    iterations = module.train(agent, 10**9)
    learning_starts = int(agent.hparams.get("learning_starts", 0))
    while int(agent.global_step.numpy()) < learning_starts or agent.iteration.numpy() < 3:
        next(iterations)  # tracing, warm-up, and DQN's steps before learning starts
    start_step, start = int(agent.global_step.numpy()), time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(iterations)
    rate = (int(agent.global_step.numpy()) - start_step) / (time.perf_counter() - start)
    agent.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--inter-op-threads", type=int, default=1)
    args = parser.parse_args()
    agents.configure_threads(inter_op=args.inter_op_threads)
    rates: dict[str, list[float]] = {"raw4": [], "raw1": []}
    for _ in range(args.repeats):
        rates["raw4"].append(raw_env_rate(4))
        rates["raw1"].append(raw_env_rate(1))
        for name in agents.AGENTS:
            for backend in ("gymnasium", "tf"):
                key = name if backend == "gymnasium" else f"{name}-tf"
                rates.setdefault(key, []).append(agent_rate(name, args.seconds, backend))
        print(" | ".join(f"{name} {values[-1]:.0f}" for name, values in rates.items())
              + " steps/s", flush=True)  # fmt: skip
    m = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"SUMMARY medians: raw 4-env {m['raw4']:.0f} steps/s, raw 1-env {m['raw1']:.0f}; "
        f"PPO {m['ppo']:.0f} ({m['ppo'] / m['raw4']:.3f} of raw 4-env), "
        f"A2C {m['a2c']:.0f} (8 envs; {m['a2c'] / m['raw4']:.3f} of raw 4-env), "
        f"DQN {m['dqn']:.0f} ({m['dqn'] / m['raw1']:.3f} of raw 1-env)"
    )
    print(
        "SUMMARY TensorFlow envs (--env-backend auto): "
        + ", ".join(
            f"{n.upper()} {m[n + '-tf']:.0f} ({m[n + '-tf'] / m[n]:.2f}x gymnasium's)"
            for n in agents.AGENTS
        )  # fmt: skip
    )


if __name__ == "__main__":
    main()
