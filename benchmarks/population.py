"""The on-policy core's speed: populations, lone agents and whole sweeps, against
PureJaxRL measured in the same run.

    python benchmarks/population.py scaling --repeats 3 --peer-python ~/peer/bin/python \
        --purejaxrl PATH                      # steps/s, P = 1..128, and the peer at 1 and 32
    python benchmarks/population.py sweep --space continuous --peer-python ... --purejaxrl ...
    python benchmarks/population.py threads   # thread pools, lone agent and P = 32
    python benchmarks/population.py threads --sizes 0 8 --env-backend gymnasium

``scaling``: P identical PPO configs (CartPole-v1, CleanRL's configuration, seeds 0..P-1)
trained as one population (``lone agent``: ``ppo.make_agent``, a population of one), each
in its own process: summed env steps/s over 10 iterations after two (the first compiles),
the first call's seconds, and peak resident memory. The peer: PureJaxRL's PPO with the same
configuration, one agent and 32 ``vmap``-ed (``purejaxrl_peer.py``, its own venv),
steady-state steps/s (median of 3 calls of the compiled program).

``sweep``: a 32-trial random PPO sweep on CartPole-v1 (100k env steps a trial, one seed,
seed 1), the whole command timed (start-up, compilation, checkpoints and results
included), in the chosen ``--settings``: ``population`` (``--population auto``: a worker
process a core, each training its share as populations), ``population, one process``
(``--workers 1``), ``one at a time`` (``--population 1 --workers 1``), ``one a core``
(``--population 1 --workers auto``). The peer: PureJaxRL training the same 32 agents for
the same steps, vmapped, compilation included. ``--space default`` searches PPO's default
space (2, 4 or 8 minibatches, 2, 4 or 8 epochs: one population, its program built for 8
minibatches and run for 8 epochs); ``--space continuous`` only continuous per-member
hparams (CleanRL's 4 minibatches and 4 epochs); ``--config FILE`` runs a sweep file's
search instead (its agent, envs and space; ``--trials`` and ``--steps`` still set), e.g.
``sweeps/ppo_minatar.yaml`` for 16 PPO trials on MinAtar Breakout, with ``--settings
population "one at a time"``.

``threads``: steps/s of a lone agent and of P = 32 under several TensorFlow thread pools
(inter-op, intra-op), interleaved, medians; with our TensorFlow CartPole (the whole
iteration one XLA program) or gymnasium's (the rollout steps NumPy).
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


def sweep_seconds(setting: str, space: str, trials: int, steps: int, config=None) -> float:
    with tempfile.TemporaryDirectory() as logdir:
        command = [
            sys.executable,
            "-m",
            "tfhparam.sweep",
            "--strategy",
            "random",
            "--trials",
            str(trials),
            "--total-timesteps",
            str(steps),
            "--seed",
            "1",
            "--logdir",
            logdir,
            *SETTINGS[setting],
            "--quiet",
        ]
        if config:  # a sweep file of its own (its space, envs and agent)
            command += ["--config", config]
        elif SPACES[space]:
            path = os.path.join(logdir, "space.json")  # JSON is YAML
            with open(path, "w") as f:
                json.dump({"name": "bench", "agent": "ppo", "space": SPACES[space]}, f)
            command += ["--config", path]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def run_sweeps(args) -> None:
    seconds = {name: [] for name in args.settings}
    total_steps = args.trials * args.steps
    for _ in range(args.repeats):
        for name in args.settings:
            seconds[name].append(
                sweep_seconds(name, args.space, args.trials, args.steps, args.config)
            )
        if args.purejaxrl:  # the peer: the same agents vmapped, compilation included
            row = peer_rate(
                argparse.Namespace(**{**vars(args), "peer_timesteps": args.steps}), args.trials
            )
            seconds.setdefault("PureJaxRL", []).append(row["first"])
        print(
            " | ".join(
                f"{name}: {times[-1]:.1f}s ({total_steps / times[-1]:,.0f} steps/s)"
                for name, times in seconds.items()
            ),
            flush=True,
        )
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    first = args.settings[0]
    together = medians[first]
    print(
        f"SUMMARY space={args.space} medians: "
        + ", ".join(
            f"{name} {m:.1f}s ({total_steps / m:,.0f} steps/s; {first} {m / together:.2f}x faster)"
            for name, m in medians.items()
            if name != first
        )
        + f"; {first} {together:.1f}s ({total_steps / together:,.0f} steps/s)"
    )


def measure(members: int, seconds: float = 6.0, env_backend: str = "auto") -> dict:
    """Steps/s of ``members`` PPO runs as one population (0: one lone agent, ``ppo.make_agent``)."""
    import agents

    in_graph = agents.runs_in_graph("CartPole-v1", env_backend)
    threads = agents.thread_counts(members > 0, in_graph, os.cpu_count() or 1)
    if os.environ.get("TFHPARAM_BENCH_THREADS"):
        threads = tuple(int(n) for n in os.environ["TFHPARAM_BENCH_THREADS"].split(","))
    agents.configure_threads(*threads)
    from agents import population, ppo

    if members == 0:
        group = ppo.make_agent("CartPole-v1", {}, seed=0, env_backend=env_backend)
    else:
        group = population.Population(
            "ppo", "CartPole-v1", [{}] * members, range(members), env_backend
        )
    runs = population.train(group, 10**9)
    start = time.perf_counter()
    next(runs)  # traces and compiles
    first = time.perf_counter() - start
    for _ in range(2 * group.iterations_per_call):
        next(runs)
    start_step, start = int(group.global_step.numpy().sum()), time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(runs)
    seconds = time.perf_counter() - start
    steps = int(group.global_step.numpy().sum()) - start_step
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "members": members,
        "steps_per_second": steps / seconds,
        "first_s": first,
        "peak_mib": peak,
    }


def peer_rate(args, members: int) -> dict:
    """PureJaxRL's ``members`` vmapped PPO agents (``purejaxrl_peer.py``), in its venv.

    JAX's CPU runtime here sometimes stalls (a sleeping process, no progress): a run that
    takes over ten minutes is killed and run once more.
    """
    command = [
        args.peer_python,
        os.path.join(os.path.dirname(__file__), "purejaxrl_peer.py"),
        "--purejaxrl",
        args.purejaxrl,
        "--agents",
        str(members),
        "--timesteps",
        str(args.peer_timesteps),
        "--repeats",
        "3",
    ]
    for attempt in range(2):
        try:
            out = subprocess.run(
                command, check=True, capture_output=True, text=True, timeout=600
            ).stdout
            return json.loads(out.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            print(f"PureJaxRL {members}: stalled, attempt {attempt + 1}", flush=True)
    raise RuntimeError("PureJaxRL stalled twice")


def run_scaling(args) -> None:
    rates: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for members in [0, *args.sizes]:
            out = subprocess.run(
                [sys.executable, __file__, "measure", str(members)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, **THREADS[args.threads]},
            ).stdout
            row = json.loads(out.strip().splitlines()[-1])
            name = "lone agent" if members == 0 else f"P={members}"
            rates.setdefault(name, []).append(row["steps_per_second"])
            print(
                f"{name:>10}: {row['steps_per_second']:>9,.0f} steps/s summed, first call "
                f"{row['first_s']:.1f} s, peak memory {row['peak_mib']:.0f} MiB",
                flush=True,
            )
        if args.purejaxrl:
            for members in args.peer_sizes:
                row = peer_rate(args, members)
                rates.setdefault(f"PureJaxRL {members}", []).append(row["steady"])
                print(
                    f"PureJaxRL {members:>3}: {row['steady']:>9,.0f} steps/s summed "
                    f"(first call, compile included: {row['first']:.1f} s)",
                    flush=True,
                )
    m = {name: statistics.median(values) for name, values in rates.items()}
    print("SUMMARY medians: " + ", ".join(f"{k} {v:,.0f}" for k, v in m.items()))
    if args.purejaxrl:
        for members in args.peer_sizes:
            ours = m["lone agent"] if members == 1 else m.get(f"P={members}")
            if ours:
                print(
                    f"SUMMARY {members} agent(s): ours / PureJaxRL's = "
                    f"{ours / m[f'PureJaxRL {members}']:.2f}x"
                )


THREADS = {  # TFHPARAM_BENCH_THREADS: inter-op,intra-op (0: TensorFlow's default)
    "by mode": {},  # agents.thread_counts
    "0,0": {"TFHPARAM_BENCH_THREADS": "0,0"},
    "1,1": {"TFHPARAM_BENCH_THREADS": "1,1"},
    "2,1": {"TFHPARAM_BENCH_THREADS": "2,1"},
    "1,2": {"TFHPARAM_BENCH_THREADS": "1,2"},
}


def run_threads(args) -> None:
    """Steps/s under each thread setting, interleaved (medians)."""
    rates: dict[tuple, list[float]] = {}
    for _ in range(args.repeats):
        for members in args.sizes:
            for name, env in THREADS.items():
                out = subprocess.run(
                    [sys.executable, __file__, "measure", str(members), args.env_backend],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, **env},
                ).stdout
                rate = json.loads(out.strip().splitlines()[-1])["steps_per_second"]
                rates.setdefault((members, name), []).append(rate)
    for (members, name), values in rates.items():
        print(
            f"P={members or 'lone':<4} threads {name:>8}: {statistics.median(values):>9,.0f} "
            f"steps/s (median of {len(values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sweep = sub.add_parser("sweep")
    sweep.add_argument("--repeats", type=int, default=1)
    sweep.add_argument("--trials", type=int, default=32)
    sweep.add_argument("--steps", type=int, default=100_000)
    sweep.add_argument("--space", choices=sorted(SPACES), default="default")
    sweep.add_argument("--config", help="a sweep file instead (e.g. sweeps/ppo_minatar.yaml)")
    sweep.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    scaling = sub.add_parser("scaling")
    scaling.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32, 128])
    scaling.add_argument("--repeats", type=int, default=1)
    scaling.add_argument("--threads", choices=sorted(THREADS), default="by mode")
    threads = sub.add_parser("threads")
    threads.add_argument("--sizes", type=int, nargs="+", default=[0, 32])
    threads.add_argument("--repeats", type=int, default=3)
    threads.add_argument("--env-backend", choices=["auto", "gymnasium"], default="auto")
    for command in (sweep, scaling):
        command.add_argument("--peer-python", help="the peer venv's python")
        command.add_argument("--purejaxrl", help="PureJaxRL's checkout (see purejaxrl_peer.py)")
        command.add_argument("--peer-sizes", type=int, nargs="+", default=[1, 32])
        command.add_argument("--peer-timesteps", type=int, default=100_000)
    one = sub.add_parser("measure")
    one.add_argument("members", type=int)
    one.add_argument("env_backend", nargs="?", default="auto")
    args = parser.parse_args()
    if args.command == "sweep":
        run_sweeps(args)
    elif args.command == "scaling":
        run_scaling(args)
    elif args.command == "threads":
        run_threads(args)
    else:
        print(json.dumps(measure(args.members, env_backend=args.env_backend)))


if __name__ == "__main__":
    main()
