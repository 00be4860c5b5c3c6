"""``python -m tfhparam.evaluate PATH``: evaluate a saved agent on episodes of its own, or
run a sweep's test phase.

``PATH`` is a sweep directory (``logs/NAME``): the test phase (:mod:`tfhparam.heldout`)
runs on its results, with ``--test-seeds`` and ``--top`` (default: the sweep's own
``test`` settings, else 5 seeds and the top 3) and ``--episodes`` (default the sweep's,
else 10); configurations already tested under the same settings are kept. Or ``PATH`` is
a checkpoint directory (a trial run's ``checkpoint``, a ``--save`` directory) or a run
directory holding one. The agent plays ``--episodes`` episodes on evaluation env
seeds (``agents.evaluation``: never a training seed's), with the deterministic policy
unless ``--stochastic``, learning nothing. Prints the mean, std, min, max and the IQM with
its 95% bootstrap interval, and writes them with every episode's return to
``evaluation.json`` in the checkpoint directory (a later save there replaces it with the
checkpoint). ``--render FILE.gif`` records one more episode, on gymnasium's rendering copy
of the env seeded with the evaluation's first env seed, as an animated GIF (Pillow:
the ``render`` extra).

Exit status: 0 done, 2 bad input (no checkpoint there, a damaged one, a bad flag).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from tfhparam import quiet, stats
from tfhparam.cli import Parser, UsageError, fail

PROG = "python -m tfhparam.evaluate"
RESULT_FILE = "evaluation.json"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Evaluate a saved agent on episodes of its own.")
    parser.add_argument("path", help="a checkpoint directory, or a run directory holding one")
    parser.add_argument(
        "--episodes",
        type=int,
        help="episodes to play (a checkpoint: 100; a sweep's test runs: its own, else 10)",
    )
    parser.add_argument("--test-seeds", type=int, metavar="K", help="a sweep: test seeds")
    parser.add_argument("--top", type=int, metavar="M", help="a sweep: configurations tested")
    parser.add_argument(
        "--stochastic", action="store_true", help="sample actions (default: deterministic)"
    )
    parser.add_argument(
        "--round",
        type=int,
        default=0,
        help="which evaluation's env seeds (0); another round plays other episodes",
    )
    parser.add_argument("--render", metavar="FILE.gif", help="record an episode as a GIF")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument("--verbose", action="store_true", help="TensorFlow's own logging too")
    return parser


def checkpoint_dir(path: str) -> str:
    """The checkpoint directory ``path`` names: itself, or its ``checkpoint``.

    Raises:
        UsageError: neither holds a checkpoint.
    """
    for candidate in (path, os.path.join(path, "checkpoint")):
        if os.path.isfile(os.path.join(candidate, "meta.json")):
            return candidate
    raise UsageError(f"no checkpoint in {path} (no meta.json there or in {path}/checkpoint)")


def render_gif(agent, round_: int, greedy: bool, path: str) -> int:
    """Plays one episode of ``agent`` on gymnasium's rendering copy of its env, seeded
    with the evaluation's first env seed (with our TensorFlow envs that is another episode
    than the evaluation's first), and writes its frames to ``path``; returns the count."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    import agents
    from agents.evaluation import episode_limit, evaluation_seeds

    for driver in ("SDL_VIDEODRIVER", "SDL_AUDIODRIVER"):  # pygame draws off screen
        os.environ.setdefault(driver, "dummy")
    from agents import games

    agents.route_mujoco_warnings(agent.env_id)
    # as the agent sees it (Atari: preprocessed, whole games), drawn as the game draws it
    env = games.make(agent.env_id, training=False, render_mode="rgb_array")
    seed = evaluation_seeds(agent.seeds[:1], round_)[0]
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    keys = tf.constant([seed], tf.int64)
    for step in range(episode_limit(agent.env_id)):
        obs = np.asarray(obs)
        batch = tf.constant((obs if obs.dtype == np.uint8 else obs.astype(np.float32))[None, None])
        action = agent.act(batch, greedy, keys, tf.constant(step, tf.int64)).numpy()[0, 0]
        obs, _, terminated, truncated, _ = env.step(action)
        frames.append(env.render())
        if terminated or truncated:
            break
    fps = env.metadata.get("render_fps") or 30
    env.close()
    # MinAtar draws float colours in [0, 1]; the others draw uint8
    frames = [
        f if f.dtype == np.uint8 else (np.clip(f, 0, 1) * 255).astype(np.uint8) for f in frames
    ]
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return len(images)


def test_phase(args) -> int:
    """The test phase of the sweep in ``args.path``."""
    from tfhparam import heldout, lock, results

    try:
        definition = results.sweep_definition(args.path) or {}
        if not os.path.exists(os.path.join(args.path, "results.json")):
            raise UsageError(f"{args.path} holds no results yet: run the sweep first")
        own = {**heldout.TestSettings().to_json(), **definition.get("test", {})}
        settings = heldout.TestSettings(
            seeds=args.test_seeds or own["seeds"] or 5,
            top=args.top or own["top"],
            episodes=args.episodes or own["episodes"],
        )
        heldout.run(args.path, settings, verbose=not args.quiet)
    except (results.ResultsError, lock.LockedError, UsageError, ValueError) as error:
        fail(str(error), prog=PROG)
    print(results.text_table(results.read(args.path)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    quiet.start(args.verbose)
    try:
        for flag in ("episodes", "test_seeds", "top"):
            value = getattr(args, flag)
            if value is not None and value < 1:
                raise UsageError(f"--{flag.replace('_', '-')} must be positive, got {value}")
        if os.path.isfile(os.path.join(args.path, "sweep.json")):
            if args.render or args.stochastic or args.round:
                raise UsageError("--render, --stochastic and --round are for a checkpoint")
            return test_phase(args)
        if args.test_seeds or args.top:
            raise UsageError("--test-seeds and --top are for a sweep directory")
        args.episodes = args.episodes or 100
        if args.round < 0:
            raise UsageError(f"--round must be 0 or more, got {args.round}")
        if args.render:
            if not args.render.lower().endswith(".gif"):
                raise UsageError(f"--render writes a GIF: name a .gif file, not {args.render}")
            try:
                import PIL  # noqa: F401
            except ImportError:
                raise UsageError("--render needs Pillow: pip install -e '.[render]'") from None
        directory = checkpoint_dir(args.path)
        from agents import checkpoints  # (no TensorFlow yet)

        meta = checkpoints.read_meta(directory)
    except (UsageError, ValueError) as error:
        fail(str(error), prog=PROG)

    import agents
    from agents.envs import EnvError
    from agents.evaluation import Evaluator

    in_graph = agents.runs_in_graph(meta["env_id"], meta["env_backend"])
    images = agents.sees_images(meta["env_id"])
    agents.configure_threads(*agents.thread_counts(False, in_graph, os.cpu_count() or 1, images))
    try:
        agent = checkpoints.load_agent(directory)
    except (ValueError, EnvError, KeyError, OSError) as error:
        fail(f"{directory}: {error}", prog=PROG)
    greedy = not args.stochastic
    try:
        if not args.quiet:
            print(f"evaluating {directory}: {args.episodes} episodes", flush=True)
        evaluator = Evaluator(agent, args.episodes)
        result = evaluator(args.round, greedy=greedy)
        evaluator.close()
        frames = render_gif(agent, args.round, greedy, args.render) if args.render else 0
    finally:
        agent.close()

    summary = result.summary(0)
    returns = [float(x) for x in result.returns[0]]
    iqm_low, iqm_high = stats.interval([returns], "iqm")
    record = {
        "algorithm": meta["algorithm"],
        "env": meta["env_id"],
        "seed": meta["seed"],
        "global_step": meta["global_step"],
        "policy": "deterministic" if greedy else "stochastic",
        "round": args.round,
        **summary,
        "iqm": stats.aggregate([returns], "iqm"),
        "iqm_low": iqm_low,
        "iqm_high": iqm_high,
        "returns": returns,
        "lengths": [int(x) for x in result.lengths[0]],
    }
    with open(os.path.join(directory, RESULT_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    print(
        f"{record['algorithm']} on {record['env']} (seed {record['seed']}, step "
        f"{record['global_step']}), {record['policy']} policy, {summary['episodes']} episodes: "
        f"mean {summary['mean']:.2f} +- {summary['std']:.2f} (min {summary['min']:.2f}, "
        f"max {summary['max']:.2f}), IQM {record['iqm']:.2f} [95% CI {iqm_low:.2f}, "
        f"{iqm_high:.2f}], length {summary['episode_length']:.1f}; written to "
        f"{os.path.join(directory, RESULT_FILE)}"
        + (f"; {frames} frames in {args.render}" if args.render else "")
    )
    if summary["complete"] < summary["episodes"]:
        print(
            f"{summary['episodes'] - summary['complete']} episode(s) reached the step limit "
            "before they ended: their returns are partial",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
