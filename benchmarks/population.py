"""Population training against one run at a time, measured in one run.

    python benchmarks/population.py sweep --repeats 1     # the 32-trial sweep, both ways
    python benchmarks/population.py scaling               # steps/s and memory, P = 1..128

``sweep``: a 32-trial random PPO sweep on CartPole-v1 (100k env steps a trial, one seed,
seed 1), the whole command timed, three ways: ``--population auto`` (populations);
``--population 1 --workers 1`` (one trial at a time, the issue's baseline); and
``--population 1 --workers auto`` (one trial a core in worker processes, our best path
without populations).
``--space default`` searches PPO's default space (three minibatch counts: three
populations); ``--space continuous`` searches only per-member hparams (learning rate,
entropy, clip, GAE lambda, gamma, value coefficient, gradient norm: one population of 32).

``scaling``: P identical PPO configs (CartPole-v1, defaults, seeds 0..P-1) trained as one
population, each P in its own process: summed env steps/s over 10 iterations after one
warm-up iteration, and the process's peak resident memory. The peer is one PPO agent
alone (``agents.ppo``), measured in the same run the same way.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

SPACES = {
    "default": None,
    "continuous": {
        "learning_rate": {"min": 1e-4, "max": 3e-3, "log": True},
        "ent_coef": {"min": 0.0, "max": 0.02},
        "clip_coef": {"min": 0.1, "max": 0.3},
        "gae_lambda": {"min": 0.9, "max": 0.99},
        "gamma": {"min": 0.97, "max": 0.999},
        "vf_coef": {"min": 0.25, "max": 1.0},
        "max_grad_norm": {"min": 0.3, "max": 5.0, "log": True},
    },
}


SETTINGS = {
    "population": ["--population", "auto"],
    "one at a time": ["--population", "1", "--workers", "1"],
    "one a core": ["--population", "1", "--workers", "auto"],
}


def sweep_seconds(setting: str, space: str, trials: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as logdir:
        command = [sys.executable, "-m", "tfhparam.sweep", "--strategy", "random",
                   "--trials", str(trials), "--total-timesteps", str(steps), "--seed", "1",
                   "--logdir", logdir, *SETTINGS[setting], "--quiet"]  # fmt: skip
        if SPACES[space]:
            path = os.path.join(logdir, "space.json")  # JSON is YAML
            with open(path, "w") as f:
                json.dump({"name": "bench", "agent": "ppo", "space": SPACES[space]}, f)
            command += ["--config", path]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def run_sweeps(args) -> None:
    seconds = {name: [] for name in SETTINGS}
    total_steps = args.trials * args.steps
    for _ in range(args.repeats):
        for name in SETTINGS:
            seconds[name].append(sweep_seconds(name, args.space, args.trials, args.steps))
        print(" | ".join(f"{name}: {times[-1]:.1f}s ({total_steps / times[-1]:,.0f} steps/s)"
                         for name, times in seconds.items()), flush=True)  # fmt: skip
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    together = medians["population"]
    print(f"SUMMARY space={args.space} medians: " + ", ".join(
        f"{name} {m:.1f}s ({total_steps / m:,.0f} steps/s, population {m / together:.2f}x "
        f"faster)" for name, m in medians.items() if name != "population"
    ) + f"; population {together:.1f}s ({total_steps / together:,.0f} steps/s)")  # fmt: skip


def measure(members: int, iterations: int = 10) -> dict:
    """Steps/s of ``members`` PPO runs as one population (0: one lone agent)."""
    import agents

    agents.configure_threads()
    from agents import population, ppo

    if members == 0:
        agent = ppo.make_agent("CartPole-v1", {}, seed=0)
        runs = ppo.train(agent, 10**9)
        count, unit = 1, agent.num_envs * agent.num_steps
    else:
        group = population.Population("ppo", "CartPole-v1", [{}] * members, range(members))
        runs = population.train(group, 10**9)
        count, unit = members, group.num_envs * group.num_steps
    next(runs)  # traces
    start = time.perf_counter()
    for _ in range(iterations):
        next(runs)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"members": members, "steps_per_second": count * unit * iterations / seconds,
            "peak_mib": peak}  # fmt: skip


def run_scaling(args) -> None:
    rows = []
    for members in [0, *args.sizes]:
        out = subprocess.run([sys.executable, __file__, "measure", str(members)], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        name = "lone agent" if members == 0 else f"P={members}"
        print(f"{name:>10}: {row['steps_per_second']:>9,.0f} steps/s summed, "
              f"peak memory {row['peak_mib']:.0f} MiB", flush=True)  # fmt: skip
    lone = rows[0]["steps_per_second"]
    print("SUMMARY " + ", ".join(f"P={r['members']} {r['steps_per_second'] / lone:.2f}x"
                                 for r in rows[1:]) + " of the lone agent")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sweep = sub.add_parser("sweep")
    sweep.add_argument("--repeats", type=int, default=1)
    sweep.add_argument("--trials", type=int, default=32)
    sweep.add_argument("--steps", type=int, default=100_000)
    sweep.add_argument("--space", choices=sorted(SPACES), default="default")
    scaling = sub.add_parser("scaling")
    scaling.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32, 128])
    one = sub.add_parser("measure")
    one.add_argument("members", type=int)
    args = parser.parse_args()
    if args.command == "sweep":
        run_sweeps(args)
    elif args.command == "scaling":
        run_scaling(args)
    else:
        print(json.dumps(measure(args.members)))


if __name__ == "__main__":
    main()
