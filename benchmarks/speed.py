"""Lone agents' training speed against PureJaxRL on the same machine, in one run.

    python benchmarks/speed.py --repeats 3 \
        --peer-python ~/peer/bin/python --purejaxrl PATH   # the peer: see purejaxrl_peer.py

Ours: steady-state env steps/s on CartPole-v1 (compilation and warm-up excluded) of PPO
with CleanRL's configuration (4 envs x 128 steps, 4 epochs x 4 minibatches), A2C with its
defaults (8 envs x 5 steps, one gradient step) and DQN with CleanRL's defaults (1 env, a
gradient step every 10 steps, measured after ``learning_starts``). Each runs with our
TensorFlow CartPole (``tf``: the whole iteration one XLA program) and with gymnasium's
(``gymnasium``: the rollout a graph calling NumPy, the update compiled). The peer:
PureJaxRL's ``ppo.py`` with the same PPO configuration, and with A2C's shape (8 envs x 5
steps, 1 epoch of 1 minibatch) for A2C, and its ``dqn.py`` in our DQN's default schedule
with its own network (``purejaxrl_peer.py --algorithm dqn``, 500k steps, its own budget;
the peer's venv needs flashbax and wandb for it). Each measurement runs in its own
process; rounds are interleaved and medians reported.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

A2C_SHAPE = ["NUM_ENVS=8", "NUM_STEPS=5", "UPDATE_EPOCHS=1", "NUM_MINIBATCHES=1"]


def measure(name: str, backend: str, seconds: float) -> dict:
    """Steady steps/s of one lone agent (run in a process of its own)."""
    import agents

    in_graph = agents.runs_in_graph("CartPole-v1", backend)
    agents.configure_threads(*agents.thread_counts(False, in_graph, os.cpu_count() or 1))
    module = agents.load(name)
    agent = module.make_agent("CartPole-v1", {}, seed=0, env_backend=backend)
    runs = module.train(agent, 10**9)
    start = time.perf_counter()
    next(runs)
    first = time.perf_counter() - start
    learning_starts = int(module.SPACE.resolve({}).get("learning_starts", 0))
    while int(agent.global_step.numpy().max()) < learning_starts + 2000:
        next(runs)  # warm-up, and DQN's steps before learning starts
    start_step, start = int(agent.global_step.numpy().max()), time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(runs)
    rate = (int(agent.global_step.numpy().max()) - start_step) / (time.perf_counter() - start)
    agent.close()
    return {"steps_per_second": rate, "first_s": first}


def peer(args, settings: list[str], algorithm: str = "ppo") -> float:
    out = subprocess.run(
        [
            args.peer_python,
            os.path.join(os.path.dirname(__file__), "purejaxrl_peer.py"),
            "--purejaxrl",
            args.purejaxrl,
            "--algorithm",
            algorithm,
            "--agents",
            "1",
            "--timesteps",
            "500000" if algorithm == "dqn" else "100000",
            "--repeats",
            "1" if algorithm == "dqn" else "3",
            "--set",
            *settings,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["steady"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--peer-python", help="the peer venv's python")
    parser.add_argument("--purejaxrl", help="PureJaxRL's checkout")
    parser.add_argument("--measure", nargs=2, metavar=("AGENT", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure, args.seconds)))
        return
    rates: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name in ("ppo", "a2c", "dqn"):
            for backend in ("tf", "gymnasium"):
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--measure",
                        name,
                        backend,
                        "--seconds",
                        str(args.seconds),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                row = json.loads(out.strip().splitlines()[-1])
                rates.setdefault(f"{name} {backend}", []).append(row["steps_per_second"])
        if args.purejaxrl:
            rates.setdefault("purejaxrl ppo", []).append(peer(args, []))
            rates.setdefault("purejaxrl a2c-shape", []).append(peer(args, A2C_SHAPE))
            rates.setdefault("purejaxrl dqn", []).append(peer(args, [], "dqn"))
        print(" | ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items()) + " steps/s", flush=True)
    m = {k: statistics.median(v) for k, v in rates.items()}
    summary = [f"{k} {v:,.0f}" for k, v in m.items()]
    if args.purejaxrl:
        summary.append(f"PPO tf / PureJaxRL {m['ppo tf'] / m['purejaxrl ppo']:.2f}x")
        summary.append(
            f"A2C tf / PureJaxRL A2C-shape {m['a2c tf'] / m['purejaxrl a2c-shape']:.2f}x"
        )
        summary.append(f"DQN tf / PureJaxRL DQN {m['dqn tf'] / m['purejaxrl dqn']:.2f}x")
    summary.append(f"DQN tf / DQN gymnasium {m['dqn tf'] / m['dqn gymnasium']:.2f}x")
    print("SUMMARY medians: " + ", ".join(summary))


if __name__ == "__main__":
    main()
