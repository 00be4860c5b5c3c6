"""How much a sweep's own score overstates its best configuration: tuning against test
scores (the test phase, ``tfhparam.heldout``) on the default sweep file.

    python benchmarks/heldout.py --sweep-seeds 0 1 2 --test-seeds 5 --top 5 --episodes 20
    python benchmarks/heldout.py --score-from eval --steps 50000   # both from evaluations

Each sweep seed runs ``sweeps/ppo_cartpole_random.yaml`` (16 trials, 2 tuning seeds,
100k env steps, CartPole-v1 normalized to [0, 500]) with a test phase: the top configurations
by tuning score trained again on held-out seeds and evaluated with the deterministic
policy. Prints, a sweep: the tuning-best configuration's tuning and test scores, the
test-best configuration, the mean gap (tuning - test) over the tested, and the rank
correlation (Spearman) between tuning and test scores among them; and the seconds the
whole command took (search and test phase).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def spearman(x, y) -> float:
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731 (no ties among real scores)
    return float(np.corrcoef(rank(np.asarray(x)), rank(np.asarray(y)))[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-seeds", type=int, default=5)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--config", default="sweeps/ppo_cartpole_random.yaml")
    parser.add_argument("--steps", type=int, help="env steps a run (default: the file's)")
    parser.add_argument(
        "--score-from",
        default="train",
        help="the tuning score's source: train, or eval (then tuning and test scores are "
        "both deterministic-policy evaluations, and their gap is the seeds' luck alone)",
    )
    args = parser.parse_args()
    logdir = tempfile.mkdtemp(prefix="heldout_")
    print(f"sweeps in {logdir} (remove it when done)", flush=True)
    for seed in args.sweep_seeds:
        name = f"heldout_{seed}"
        command = [
            *(sys.executable, "-m", "tfhparam.sweep", "--config", args.config),
            *("--name", name, "--seed", str(seed), "--logdir", logdir, "--quiet"),
            *("--test-seeds", str(args.test_seeds), "--test-top", str(args.top)),
            *("--test-episodes", str(args.episodes), "--score-from", args.score_from),
        ]
        if args.steps:
            command += ["--total-timesteps", str(args.steps)]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        with open(os.path.join(logdir, name, "results.json")) as f:
            rows = json.load(f)
        tested = [r for r in rows if r.get("test_score") is not None]
        by_tuning = max(tested, key=lambda r: r["score"])
        by_test = max(tested, key=lambda r: r["test_score"])
        gap = np.mean([r["score"] - r["test_score"] for r in tested])
        rho = spearman([r["score"] for r in tested], [r["test_score"] for r in tested])
        print(
            f"sweep seed {seed}: tuning-best trial {by_tuning['trial']} tuning "
            f"{by_tuning['score']:.3f} test {by_tuning['test_score']:.3f} "
            f"[IQM CI {by_tuning['test_low']:.3f}, {by_tuning['test_high']:.3f}]; test-best "
            f"trial {by_test['trial']} test {by_test['test_score']:.3f} (tuning "
            f"{by_test['score']:.3f}); mean gap {gap:+.3f} over {len(tested)}; Spearman "
            f"{rho:+.2f}; {seconds:.0f} s in all",
            flush=True,
        )


if __name__ == "__main__":
    main()
