"""CleanRL's ``ppo_atari.py`` (PyTorch, CPU) on an ``ALE/*-v5`` game, as the peer of our
Atari PPO: its script runs unchanged; this file only makes ``gym.make`` create ALE games
with ``frameskip=1`` (as ours does), so that CleanRL's own frame skip of 4 is the only one
and the v5 game (sticky actions 0.25) is the same for both.

CleanRL stays outside this repository, in its own venv (its pins: gymnasium 0.29, whose
wrapper names its script uses):

    git clone https://github.com/vwxyzjn/cleanrl PATH   # commit fe8d8a03 here
    python3 -m venv ~/torchpeer && ~/torchpeer/bin/pip install torch==2.13.0 \\
        gymnasium==0.29.1 ale-py==0.9.0 tyro tensorboard opencv-python-headless
    ~/torchpeer/bin/python benchmarks/cleanrl_atari_peer.py --cleanrl PATH -- \\
        --env-id ALE/Breakout-v5 --total-timesteps 1000000 --seed 1 --no-cuda

Everything after ``--`` goes to CleanRL's script. Prints one JSON line at the end: env
steps, seconds, env steps/s and the returns CleanRL printed (``[global_step, return]``).
"""

import argparse
import contextlib
import io
import json
import os
import re
import runpy
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cleanrl", required=True, help="CleanRL's checkout (its root)")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="-- then ppo_atari.py's flags")
    args = parser.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest

    import ale_py
    import gymnasium as gym

    if "ALE/Breakout-v5" not in gym.registry:  # ale-py 0.9 registers its ids on request only
        ale_py.register_v5_envs()
    make = gym.make

    def make_without_skip(env_id, *a, **kwargs):
        if str(env_id).startswith("ALE/"):
            kwargs.setdefault("frameskip", 1)
        return make(env_id, *a, **kwargs)

    gym.make = make_without_skip
    sys.path.insert(0, args.cleanrl)
    os.chdir(args.cleanrl)  # its runs/ directory
    script = os.path.join(args.cleanrl, "cleanrl", "ppo_atari.py")
    sys.argv = [script, *rest]
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        runpy.run_path(script, run_name="__main__")
    seconds = time.perf_counter() - start
    text = out.getvalue()
    returns = [
        [int(step), float(value)]
        for step, value in re.findall(r"global_step=(\d+), episodic_return=\[?([-\d.]+)", text)
    ]
    steps = max((s for s, _ in returns), default=0)
    rates = [int(x) for x in re.findall(r"SPS: (\d+)", text)]
    record = {
        "peer": "cleanrl ppo_atari.py",
        "flags": rest,
        "seconds": round(seconds, 1),
        "last_sps": rates[-1] if rates else None,
        "steps_seen": steps,
        "returns": returns,
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
