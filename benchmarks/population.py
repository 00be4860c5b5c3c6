"""Population training against one run at a time, measured in one run.

    python benchmarks/population.py sweep --repeats 1     # the 32-trial sweep, both ways
    python benchmarks/population.py scaling               # steps/s and memory, P = 1..128
    python benchmarks/population.py profile               # rollout / update split, P = 1..32

``sweep``: a 32-trial random PPO sweep on CartPole-v1 (100k env steps a trial, one seed,
seed 1), the whole command timed, four ways: ``--population auto`` (populations, one
worker process a core); ``--population auto --workers 1`` (populations in one process);
``--population 1 --workers 1`` (one trial at a time, the issue's baseline); and
``--population 1 --workers auto`` (one trial a core in worker processes, our best path
without populations).
``--space default`` searches PPO's default space (three minibatch counts: three
populations); ``--space continuous`` searches only per-member hparams (learning rate,
entropy, clip, GAE lambda, gamma, value coefficient, gradient norm: one population of 32).

``profile``: where one PPO iteration's time goes (CartPole-v1, PPO defaults: 4 epochs of 4
minibatches), for P = 1, 8, 32, each in its own process: the rollout (``collect``), the
update (``update``), one minibatch step, and the first call of each (tracing). The same
with other thread pools (``default`` is :func:`agents.thread_counts`: one inter-op thread
a core, ops inline), with oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``) and with the update
compiled by XLA (``jit_compile=True``).

``scaling``: P identical PPO configs (CartPole-v1, defaults, seeds 0..P-1) trained as one
population, each P in its own process: summed env steps/s over 10 iterations after one
warm-up iteration, and the process's peak resident memory. The peer is one PPO agent
alone (``agents.ppo``), measured in the same run the same way. Each uses the thread pools
that pay for it (:func:`agents.thread_counts`).
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
    "population, one process": ["--population", "auto", "--workers", "1"],
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

    agents.configure_threads(*agents.thread_counts(members > 0, os.cpu_count() or 1))
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


PROFILE_VARIANTS = {
    "default": {},
    "1 inter-op, TF's intra-op threads": {"TFHPARAM_BENCH_THREADS": "1,0"},
    "TF's default threads": {"TFHPARAM_BENCH_THREADS": "0,0"},
    "oneDNN off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "XLA update": {"TFHPARAM_BENCH_XLA": "1"},
}


def profile(members: int, iterations: int = 8) -> dict:
    """Milliseconds of one population iteration's rollout and update (medians)."""
    import agents

    threads = agents.thread_counts(True, os.cpu_count() or 1)
    if os.environ.get("TFHPARAM_BENCH_THREADS"):
        threads = tuple(int(n) for n in os.environ["TFHPARAM_BENCH_THREADS"].split(","))
    agents.configure_threads(*threads)
    import tensorflow as tf

    from agents import population

    group = population.Population("ppo", "CartPole-v1", [{}] * members, range(members))
    if os.environ.get("TFHPARAM_BENCH_XLA"):
        group.update = tf.function(group._ppo_update, jit_compile=True)
    running = tf.ones([members], tf.bool)
    learning_rate = tf.fill([members], 2.5e-4)
    collect, update = [], []
    for _ in range(iterations + 1):  # the first: tracing
        start = time.perf_counter()
        batch = group.collect(running)
        batch["rewards"].numpy()
        middle = time.perf_counter()
        group.update(batch, learning_rate, running)["finite"].numpy()
        collect.append(middle - start)
        update.append(time.perf_counter() - middle)
    hp = group.hparams(0)
    return {
        "trace_s": collect[0] + update[0],
        "collect_ms": 1e3 * statistics.median(collect[1:]),
        "update_ms": 1e3 * statistics.median(update[1:]),
        "minibatch_steps": hp["update_epochs"] * hp["num_minibatches"],
        "steps": members * group.num_envs * group.num_steps,
    }


def run_profile(args) -> None:
    for members in args.sizes:
        for name, env in PROFILE_VARIANTS.items():
            out = subprocess.run([sys.executable, __file__, "measure", str(members), "--profile"],
                                 check=True, capture_output=True, text=True,
                                 env={**os.environ, **env}).stdout  # fmt: skip
            r = json.loads(out.strip().splitlines()[-1])
            total = (r["collect_ms"] + r["update_ms"]) / 1e3
            print(f"P={members:<3} {name:>33}: collect {r['collect_ms']:6.1f} ms, update "
                  f"{r['update_ms']:6.1f} ms ({r['update_ms'] / r['minibatch_steps']:.2f} ms a "
                  f"minibatch step, {r['update_ms'] / 1e3 / total:.0%} of the iteration), "
                  f"{r['steps'] / total:,.0f} steps/s, first call {r['trace_s']:.1f} s",
                  flush=True)  # fmt: skip


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
    profiling = sub.add_parser("profile")
    profiling.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    one = sub.add_parser("measure")
    one.add_argument("members", type=int)
    one.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.command == "sweep":
        run_sweeps(args)
    elif args.command == "scaling":
        run_scaling(args)
    elif args.command == "profile":
        run_profile(args)
    else:
        print(json.dumps(profile(args.members) if args.profile else measure(args.members)))


if __name__ == "__main__":
    main()
