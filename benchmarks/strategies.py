"""Search strategies on the same problem: best score found, env steps spent, wall time.

    python benchmarks/strategies.py --repeats 3

PPO on CartPole-v1 + Acrobot-v1 (scores normalized to [0, 1] by [0, 500] and [-500, 0],
then averaged), one seed, the default search space, ``--workers 2``. Random search gets
the full budget (16 trials of --steps env steps per env); PBT and TPE get half of it;
evolution about the full budget; Hyperband its schedule's own; random + median pruning
what it does not prune. "best" is the best score among trials trained with the sweep's
longest budget (PBT: its last generation; Hyperband: its full-budget trials): what a user
would retrain and ship. Repeats use sweep
seeds 0, 1, 2, ...; medians are printed per strategy.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

from tfhparam.tensorboard import read_scalars

ENVS = {"CartPole-v1": {"target_score": [0, 500]}, "Acrobot-v1": {"target_score": [-500, 0]}}


def strategies(trials: int) -> dict[str, dict]:
    half = trials // 2
    return {
        "random": {"strategy": "random", "trials": trials},
        "hyperband": {
            "strategy": "hyperband",
            "strategy_options": {"max_epochs": 9, "factor": 3, "hyperband_iterations": 2},
        },
        "pbt": {"strategy": "pbt", "strategy_options": {"population_size": half, "generations": 4}},
        "evolution": {
            "strategy": "evolution",
            "strategy_options": {"population_size": half + 1, "generations": 2, "elites": 1},
        },
        "tpe": {
            "strategy": "tpe",
            "trials": half,
            "strategy_options": {"num_initial_points": max(half // 2, 2)},
        },
        "random+median": {"strategy": "random", "trials": trials, "prune": "median"},
    }


def env_steps_trained(project: str, rows: list[dict]) -> int:
    """Env steps actually trained: each run's last logged step minus where it started."""
    budget = {row["trial"]: row["steps"] or 0 for row in rows}
    total = 0
    for row in rows:
        start = budget.get(row["parent"], 0) if row["parent"] else 0
        for run_dir in glob.glob(os.path.join(project, f"trial_{row['trial']}", "*", "seed_*")):
            steps = read_scalars(run_dir, ["charts/SPS"])["charts/SPS"]
            if steps:
                total += steps[-1][0] - start
    return total


def run(name: str, fields: dict, steps: int, seed: int, logdir: str) -> dict:
    definition = {
        "agent": "ppo",
        "envs": ENVS,
        "seeds": 1,
        "total_timesteps": steps,
        "seed": seed,
        "name": name.replace("+", "_"),
        **fields,
    }
    path = os.path.join(logdir, f"{definition['name']}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(definition, f)
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tfhparam.sweep",
            "--config",
            path,
            "--logdir",
            logdir,
            "--workers",
            "2",
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    project = os.path.join(logdir, definition["name"])
    with open(os.path.join(project, "results.json")) as f:
        rows = json.load(f)
    longest = max(r["steps"] or 0 for r in rows)  # Hyperband rounds it to whole rollouts
    full = [r for r in rows if r["status"] == "completed" and r["steps"] == longest]
    return {
        "best": max((r["score"] for r in full), default=float("nan")),
        "seconds": seconds,
        "env_steps": env_steps_trained(project, rows),
        "trials": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50_000, help="per env, full budget")
    parser.add_argument("--trials", type=int, default=16, help="random search's trials")
    parser.add_argument("--only", nargs="*", help="strategies to run (default all)")
    args = parser.parse_args()
    chosen = {k: v for k, v in strategies(args.trials).items() if not args.only or k in args.only}
    figures: dict[str, list[dict]] = {name: [] for name in chosen}
    for seed in range(args.repeats):
        for name, fields in chosen.items():
            with tempfile.TemporaryDirectory() as logdir:
                result = run(name, fields, args.steps, seed, logdir)
            figures[name].append(result)
            print(
                f"seed {seed} {name}: best {result['best']:.3f}, "
                f"{result['env_steps'] / 1e6:.2f}M env steps, {result['trials']} trials, "
                f"{result['seconds']:.0f}s",
                flush=True,
            )
    print("SUMMARY medians over repeats:")
    for name, results in figures.items():
        best = statistics.median(r["best"] for r in results)
        steps = statistics.median(r["env_steps"] for r in results)
        seconds = statistics.median(r["seconds"] for r in results)
        print(f"  {name:14s} best {best:.3f} | {steps / 1e6:.2f}M env steps | {seconds:.0f}s")


if __name__ == "__main__":
    main()
