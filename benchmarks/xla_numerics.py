"""How far XLA's numbers are from the plain graph's, for the same program.

    python benchmarks/xla_numerics.py --iterations 20

Trains the same lone PPO agent (CartPole-v1, CleanRL's configuration, seed 0) twice: once
as the library runs it (the iterations compiled by XLA) and once with the very same
function run as a plain ``tf.function`` graph (no ``jit_compile``). Prints, per
iteration, the largest relative difference of the losses, whether the episodes (returns
of the episodes that ended) are still the same, and at the end the largest absolute
difference of the weights.
"""

import argparse

import numpy as np
import tensorflow as tf

from agents import population, ppo


def history(compiled: bool, iterations: int):
    agent = ppo.make_agent("CartPole-v1", {}, seed=0)
    if not compiled:
        agent._iterate = tf.function(agent._iterations)  # the same function, not compiled
    budget = iterations * agent.num_envs * agent.num_steps
    rows = list(population.train(agent, budget))
    weights = [v.numpy() for v in agent.network.trainable_variables]
    return [r[0] for r in rows], weights


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    xla, xla_weights = history(True, args.iterations)
    graph, graph_weights = history(False, args.iterations)
    same_until = None
    for i, (a, b) in enumerate(zip(xla, graph)):
        losses = [k for k in a if k.startswith("losses/")]
        rel = max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-8) for k in losses)
        same = np.array_equal(a["episode_returns"], b["episode_returns"])
        if not same and same_until is None:
            same_until = i
        print(
            f"iteration {i + 1:3d}: largest relative loss difference {rel:.2e}, "
            f"episodes {'the same' if same else 'differ'}"
        )
    gap = max(float(np.abs(a - b).max()) for a, b in zip(xla_weights, graph_weights))
    print(
        f"SUMMARY after {args.iterations} iterations: largest weight difference {gap:.2e}; "
        f"episodes the same for {same_until if same_until is not None else len(xla)} "
        f"iterations"
    )


if __name__ == "__main__":
    main()
