"""Learning targets: mean return of the last 20 episodes after a budget, over seeds.

    python benchmarks/learning.py --agent ppo --env CartPole-v1 --steps 500000 --target 475
    python benchmarks/learning.py --agent ppo --env Pendulum-v1 --preset continuous \
        --steps 300000 --target -400
    python benchmarks/learning.py --agent ppo --env HalfCheetah-v5 --preset mujoco \
        --steps 1000000 --target 1000 --seeds 1

Prints one line per seed and a summary (median, seeds reaching the target).
"""

import argparse
import os
import statistics
import time
from collections import deque

import agents


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="ppo", choices=agents.AGENTS)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--preset")
    parser.add_argument("--target", type=float, required=True)
    args = parser.parse_args()

    in_graph = agents.runs_in_graph(args.env)
    agents.configure_threads(*agents.thread_counts(False, in_graph, os.cpu_count() or 1))
    module = agents.load(args.agent)
    hparams = agents.presets(args.agent).get(args.preset, {}) if args.preset else {}
    finals = []
    for seed in args.seeds:
        agent = module.make_agent(args.env, hparams, seed=seed)
        last20: deque[float] = deque(maxlen=20)
        start = time.perf_counter()
        for metrics in module.train(agent, args.steps):
            last20.extend(metrics["episode_returns"].tolist())
        elapsed = time.perf_counter() - start
        final = sum(last20) / len(last20)
        finals.append(final)
        steps = int(agent.global_step.numpy().max())
        print(
            f"{args.agent} {args.env} seed {seed}: last-20 mean return {final:.1f} after "
            f"{steps} steps, {elapsed:.0f}s ({steps / elapsed:.0f} steps/s)",
            flush=True,
        )
        agent.close()
    reached = sum(f >= args.target for f in finals)
    print(
        f"SUMMARY {args.agent} {args.env} preset={args.preset} steps={args.steps}: "
        f"median {statistics.median(finals):.1f}, {reached}/{len(finals)} seeds >= "
        f"{args.target:g}"
    )


if __name__ == "__main__":
    main()
