"""Wall time of the same sweep with --workers 2 against --workers 1, in one run.

    python benchmarks/workers.py --repeats 3

An 8-trial random PPO sweep on CartPole-v1 (50k env steps a trial, one seed). Each
measurement is the whole command, process start-up and TensorFlow import included.
Repeats alternate the two settings; the medians and their ratio are printed.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def sweep_seconds(workers: int, steps: int, trials: int) -> float:
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
            "--workers",
            str(workers),
            "--quiet",
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    one, two = [], []
    for _ in range(args.repeats):
        one.append(sweep_seconds(1, args.steps, args.trials))
        two.append(sweep_seconds(2, args.steps, args.trials))
        print(f"--workers 1: {one[-1]:.1f}s | --workers 2: {two[-1]:.1f}s", flush=True)
    a, b = statistics.median(one), statistics.median(two)
    print(f"SUMMARY medians: 1 worker {a:.1f}s, 2 workers {b:.1f}s, speed-up {a / b:.2f}x")


if __name__ == "__main__":
    main()
