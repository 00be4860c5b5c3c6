"""NSGA-II against random search and Optuna's NSGA-II on two objectives, at the same
budget: hypervolume.

    python benchmarks/pareto.py --repeats 3

``sweeps/ppo_cartpole_pareto.yaml`` (PPO on CartPole-v1, score normalized to [0, 1],
against the network's parameters, hidden_size in 16..128): NSGA-II (evolution with two
objectives, 8 a generation, 3 generations, 1 elite: 22 trials) and random search with the
same 22 trials, and the peer, Optuna's NSGAIISampler (``--strategy optuna``, generations of
8) with 22 trials, sweep seeds 0, 1, ... Each repeat's hypervolumes share one reference point:
the worst score and parameter count of all its sweeps' trials, a tenth of each range further.
Prints the hypervolume of each sweep, the front sizes and the wall time; medians last.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

from tfhparam import pareto

SWEEP_FILE = os.path.join(os.path.dirname(__file__), "..", "sweeps", "ppo_cartpole_pareto.yaml")
DIRECTIONS = ["max", "min"]


def run(strategy: dict, seed: int, logdir: str, name: str, steps: int) -> tuple[list, float]:
    with open(SWEEP_FILE) as f:
        data = yaml.safe_load(f)
    data.update(strategy, name=name, seed=seed, total_timesteps=steps)
    path = os.path.join(logdir, f"{name}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    start = time.perf_counter()
    command = [sys.executable, "-m", "tfhparam.sweep", "--config", path, "--logdir", logdir]
    subprocess.run([*command, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    with open(os.path.join(logdir, name, "results.json")) as f:
        rows = json.load(f)
    points = [
        (r["score"], r["objectives"]["parameters"]) for r in rows if r["status"] == "completed"
    ]
    return points, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50_000, help="env steps a trial")
    args = parser.parse_args()
    strategies = {
        "nsga2": {"strategy": "evolution"},
        "random": {"strategy": "random", "trials": 22, "strategy_options": {}},
        # the peer: Optuna's own NSGA-II, generations of 8 too, at the same 22 trials
        "optuna": {
            "strategy": "optuna",
            "trials": 22,
            "strategy_options": {
                "sampler": "NSGAIISampler",
                "sampler_options": {"population_size": 8},
            },
        },
    }
    volumes = {name: [] for name in strategies}
    with tempfile.TemporaryDirectory() as logdir:
        for seed in range(args.repeats):
            found = {
                name: run(strategy, seed, logdir, f"{name}_{seed}", args.steps)
                for name, strategy in strategies.items()
            }
            everything = [p for points, _ in found.values() for p in points]
            reference = pareto.reference_point(everything, DIRECTIONS)
            for name, (points, seconds) in found.items():
                volume = pareto.hypervolume(points, reference, DIRECTIONS)
                front = pareto.non_dominated_sort(points, DIRECTIONS)[0]
                volumes[name].append(volume)
                best = max(p[0] for p in points)
                print(
                    f"seed {seed} {name:7s} trials {len(points):2d}  hypervolume {volume:10.1f}"
                    f"  front {len(front):2d}  best score {best:.3f}  {seconds:5.0f} s",
                    flush=True,
                )
    for name, values in volumes.items():
        print(f"median hypervolume {name:7s} {statistics.median(values):10.1f}")
    for other in ("random", "optuna"):
        ratios = [a / b for a, b in zip(volumes["nsga2"], volumes[other]) if b > 0]
        if ratios:
            print(f"median ratio nsga2 / {other}: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
