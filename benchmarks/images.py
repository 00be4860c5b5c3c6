"""PPO on image observations: learning curve and env steps/s, with PureJaxRL side by side.

Ours: the PPO preset of ``--preset`` (``minatar``: the MinAtar CNN) on ``--env``, one
population of ``--seeds`` members (one a seed, trained as one computation), the mean
return of the episodes ended in each iteration averaged over members, at ``--points``
points of the run. The peer (optional): PureJaxRL's ``ppo.py`` (an MLP on the flattened
frames: it has no CNN) on gymnax's version of the game with the same rollout, epochs,
minibatches and learning rate, its agents vmapped, run by ``benchmarks/purejaxrl_peer.py``
in its own venv (see that file for how to set it up).

    python benchmarks/images.py --env MinAtar/Breakout-v1 --preset minatar --seeds 3 \\
        --timesteps 2000000 [--peer-python ~/peer/bin/python --purejaxrl PATH]

Prints one JSON line for ours and one for the peer; each point of our curve also goes to
stderr as it is reached. For Atari the peer is CleanRL's
``ppo_atari.py`` instead (``benchmarks/cleanrl_atari_peer.py``, run beside this script,
each pinned to a core: ``taskset -c 0 python benchmarks/images.py --env ALE/Breakout-v5
--preset atari --seeds 1 --first-seed 1 --timesteps 1000000``).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import agents

# gymnax's names of the MinAtar games.
GYMNAX_IDS = {
    "MinAtar/Breakout-v1": "Breakout-MinAtar",
    "MinAtar/Asterix-v1": "Asterix-MinAtar",
    "MinAtar/Freeway-v1": "Freeway-MinAtar",
    "MinAtar/SpaceInvaders-v1": "SpaceInvaders-MinAtar",
}


def ours(
    env_id: str, preset: str, seeds: int, timesteps: int, points: int, first_seed: int, cores: int
) -> dict:
    agents.configure_threads(*agents.thread_counts(True, False, cores, True))
    from agents import population

    hparams = agents.presets("ppo")[preset]
    start = time.perf_counter()
    seed_list = list(range(first_seed, first_seed + seeds))
    group = population.Population("ppo", env_id, [hparams] * seeds, seed_list)
    per_iteration = group.num_envs * group.num_steps
    iterations = timesteps // per_iteration
    marks = {max(1, round(iterations * (k + 1) / points)) for k in range(points)}
    curve, window, final = [], [], [[] for _ in range(seeds)]
    for members in population.train(group, timesteps):
        step = members[0]["global_step"]
        ended = [np.mean(m["episode_returns"]) for m in members if len(m["episode_returns"])]
        if ended:  # (an Atari game can outlast an iteration: then none ended)
            window.append(np.mean(ended))
        if step // per_iteration in marks and window:
            curve.append([step, round(float(np.mean(window[-5:])), 2)])
            print(json.dumps({"step": step, "return": curve[-1][1]}), file=sys.stderr, flush=True)
        if step > timesteps - 10 * per_iteration:  # the last ten iterations' episodes
            for p, m in enumerate(members):
                final[p].extend(m["episode_returns"].tolist())
    elapsed = time.perf_counter() - start
    group.close()
    return {
        "ours": "tfhparam ppo",
        "env": env_id,
        "preset": preset,
        "agents": seeds,
        "seeds": seed_list,
        "steps": seeds * iterations * per_iteration,
        "seconds": round(elapsed, 1),
        "whole": round(seeds * iterations * per_iteration / elapsed),
        "final_returns": [round(float(np.mean(f)), 2) for f in final],
        "final_return": round(float(np.mean([np.mean(f) for f in final])), 2),
        "curve": curve,
    }


def peer(args, hparams: dict) -> dict:
    command = [
        args.peer_python,
        os.path.join(os.path.dirname(__file__), "purejaxrl_peer.py"),
        "--purejaxrl",
        args.purejaxrl,
        "--env",
        GYMNAX_IDS[args.env],
        "--agents",
        str(args.seeds),
        "--timesteps",
        str(args.timesteps),
        "--repeats",
        "0",
        "--curve",
        str(args.points),
        "--set",
        f"NUM_ENVS={hparams['num_envs']}",
        f"NUM_STEPS={hparams['num_steps']}",
        f"NUM_MINIBATCHES={hparams['num_minibatches']}",
        f"UPDATE_EPOCHS={hparams['update_epochs']}",
        f"LR={hparams['learning_rate']}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MinAtar/Breakout-v1")
    parser.add_argument("--preset", default="minatar")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--timesteps", type=int, default=2_000_000, help="a seed")
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--peer-python", help="the peer venv's python")
    parser.add_argument("--purejaxrl", help="PureJaxRL's checkout (for the peer)")
    args = parser.parse_args()
    print(
        json.dumps(
            ours(
                args.env,
                args.preset,
                args.seeds,
                args.timesteps,
                args.points,
                args.first_seed,
                args.cores,
            )
        ),
        flush=True,
    )
    if args.peer_python and args.purejaxrl:
        hparams = agents.space("ppo").resolve(agents.presets("ppo")[args.preset])
        print(json.dumps(peer(args, hparams)), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
