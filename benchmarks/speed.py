"""Training speed against the raw stepping rate of the same vector env, in one run.

    python benchmarks/speed.py --repeats 3

Peer: gymnasium's 4-env CartPole-v1 stepped with random actions (precomputed, so only the
env is timed). Agent: steady-state env steps/s of PPO with CleanRL's default configuration
(4 envs x 128 steps, 4 epochs x 4 minibatches) and of A2C with its defaults, start-up and
tracing excluded. Measurements are interleaved and the medians reported.
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


def agent_rate(name: str, seconds: float) -> float:
    module = agents.load(name)
    agent = module.make_agent("CartPole-v1", {}, seed=0)
    iterations = module.train(agent, 10**9)
    for _ in range(3):  # tracing and warm-up
        next(iterations)
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
    raw, ppo, a2c = [], [], []
    for _ in range(args.repeats):
        raw.append(raw_env_rate(4))
        ppo.append(agent_rate("ppo", args.seconds))
        a2c.append(agent_rate("a2c", args.seconds))
        print(
            f"raw 4-env CartPole {raw[-1]:.0f} | PPO {ppo[-1]:.0f} | A2C {a2c[-1]:.0f} steps/s",
            flush=True,
        )
    r, p, a = statistics.median(raw), statistics.median(ppo), statistics.median(a2c)
    print(
        f"SUMMARY medians: raw {r:.0f} steps/s, PPO {p:.0f} ({p / r:.3f} of raw), "
        f"A2C {a:.0f} ({a / r:.3f} of raw; A2C uses 8 envs x 5 steps)"
    )


if __name__ == "__main__":
    main()
