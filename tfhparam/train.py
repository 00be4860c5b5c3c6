"""``python -m tfhparam.train``: train one agent on one env, with TensorBoard logs.

Every hyperparameter of the agent is a flag (``--learning-rate 3e-4`` or
``--learning_rate 3e-4``). Exit status: 0 done, 1 diverged (non-finite loss), 2 bad input.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from collections.abc import Sequence

import agents
from agents.hparams import SpaceError
from tfhparam import quiet
from tfhparam.cli import Parser, UsageError, check_env_id, fail, format_count

PROG = "python -m tfhparam.train"


def build_parser(agent: str | None) -> Parser:
    parser = Parser(prog=PROG, description="Train one pure-TensorFlow agent on one env.")
    parser.add_argument("--agent", choices=agents.AGENTS, default="ppo")
    parser.add_argument(
        "--env",
        default="CartPole-v1",
        help="gymnasium env id, options in brackets: ALE/Breakout-v5[full_action_space=true]",
    )
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preset", help="a named set of hparams (e.g. continuous); flags win")
    parser.add_argument(
        "--logdir",
        default="logs/train",
        help="TensorBoard root; the run goes in a new directory below it",
    )
    parser.add_argument(
        "--env-backend",
        choices=agents.ENV_BACKENDS,
        default="auto",
        help="auto: TensorFlow's version of classic-control envs (faster); gymnasium: its own",
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        metavar="STEPS",
        help="evaluate every STEPS env steps and at the end: episodes on env seeds of their "
        "own, the deterministic policy, no learning (logged as eval/return)",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        metavar="N",
        help="episodes an evaluation plays (default 10; alone: evaluate only at the end)",
    )
    parser.add_argument("--save", metavar="DIR", help="write a checkpoint here at the end")
    parser.add_argument("--restore", metavar="DIR", help="continue from this checkpoint")
    parser.add_argument(
        "--inter-op-threads",
        type=int,
        help="TensorFlow inter-op threads (default: the cores, each op inline: fastest for "
        "a lone agent's compiled iterations)",
    )
    parser.add_argument("--quiet", action="store_true", help="only the final summary")
    parser.add_argument(
        "--verbose", action="store_true", help="TensorFlow's start-up and info logging too"
    )
    if agent is not None:
        group = parser.add_argument_group(f"{agent} hyperparameters")
        for p in agents.space(agent):
            flags = [f"--{p.name.replace('_', '-')}"]
            if "_" in p.name:
                flags.append(f"--{p.name}")
            group.add_argument(
                *flags, dest=f"hp_{p.name}", metavar="VALUE", help=f"{p.help} (default {p.default})"
            )
    return parser


def parse(argv: Sequence[str]):
    """Parses the command line into (args, resolved hparams); UsageError on bad input."""
    known, _ = build_parser(None).parse_known_args(argv)
    args = build_parser(known.agent).parse_args(argv)
    if args.total_timesteps <= 0:
        raise UsageError(f"--total-timesteps must be positive, got {args.total_timesteps}")
    args.env = check_env_id(args.env, args.agent, args.env_backend)  # canonical name
    for flag in ("eval_every", "eval_episodes"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    space = agents.space(args.agent)
    given = [(k[3:], v) for k, v in vars(args).items() if k.startswith("hp_") and v is not None]
    presets = agents.presets(args.agent)
    if args.preset is not None and args.preset not in presets:
        raise UsageError(
            f"unknown preset {args.preset!r} for {args.agent}; "
            f"choose from {', '.join(presets) or 'none'}"
        )
    hparams = space.resolve({**presets.get(args.preset, {}), **space.parse(given)})
    unit = agents.unit_steps(args.agent, hparams)
    if args.total_timesteps < unit:
        raise UsageError(
            f"--total-timesteps {args.total_timesteps} is less than one unit of training "
            f"({agents.unit_description(args.agent)} = {unit})"
        )
    return args, hparams


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, hparams = parse(argv)
    except (UsageError, SpaceError) as error:
        fail(str(error), prog=PROG)
    quiet.start(args.verbose)  # before TensorFlow is imported

    inter_op, intra_op = agents.thread_counts(
        populations=False,
        in_graph=agents.runs_in_graph(args.env, args.env_backend),
        cores=os.cpu_count() or 1,
        images=agents.sees_images(args.env),
    )
    agents.configure_threads(
        inter_op if args.inter_op_threads is None else args.inter_op_threads, intra_op
    )
    from agents.envs import EnvError
    from tfhparam.tensorboard import RunWriter, write_hparams_config

    module = agents.load(args.agent)
    try:
        agent = module.make_agent(args.env, hparams, seed=args.seed, env_backend=args.env_backend)
        if args.restore:
            agent.restore(args.restore)
    except (EnvError, ValueError, FileNotFoundError) as error:
        fail(str(error), prog=PROG)
    evaluator = None
    if args.eval_every or args.eval_episodes:
        from agents.evaluation import Evaluator

        evaluator = Evaluator(agent, args.eval_episodes or 10)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.join(args.logdir, f"{args.env}__{args.agent}__{args.seed}__{stamp}")
    write_hparams_config(run_dir, agents.space(args.agent).hparams, evaluator is not None)
    writer = RunWriter(run_dir)
    writer.session_start({**hparams, "env": args.env, "seed": args.seed}, group=run_dir)

    recent: deque[float] = deque(maxlen=20)
    start, last_print, status, steps = time.perf_counter(), 0.0, "success", 0
    evaluated = ""
    try:
        for metrics in module.train(
            agent, args.total_timesteps, evaluator=evaluator, eval_every=args.eval_every
        ):
            recent.extend(metrics["episode_returns"].tolist())
            if "eval/returns" in metrics:
                returns = metrics["eval/returns"]
                evaluated = (
                    f"; evaluation at step {metrics['global_step']}: {returns.mean():.1f} "
                    f"+- {returns.std():.1f} over {len(returns)} episodes"
                )
            writer.scalars(metrics["global_step"], metrics)
            steps = metrics["global_step"]
            losses = [v for k, v in metrics.items() if k.startswith("losses/")]
            if "error" in metrics or not all(math.isfinite(v) for v in losses):
                status = "failure"
                reason = metrics.get("error", f"diverged: non-finite loss at step {steps}")
                print(f"{PROG}: {reason}", file=sys.stderr)
                break
            now = time.perf_counter()
            if not args.quiet and now - last_print > 2.0:
                last_print = now
                mean = f"{sum(recent) / len(recent):.1f}" if recent else "n/a"
                print(
                    f"step {format_count(metrics['global_step'])}/"
                    f"{format_count(args.total_timesteps)} | "
                    f"{format_count(metrics['charts/SPS'])} steps/s | "
                    f"return {mean} (last {len(recent)} episodes)",
                    flush=True,
                )
    except KeyboardInterrupt:
        status = "failure"
        print(f"{PROG}: interrupted", file=sys.stderr)
    finally:
        writer.session_end(status)
        writer.close()
        if args.save and status == "success":
            agent.save(args.save)
        agent.close()
        if evaluator is not None:
            evaluator.close()

    elapsed = time.perf_counter() - start
    mean = f"{sum(recent) / len(recent):.1f}" if recent else "n/a"
    print(
        f"{args.agent} on {args.env}: {steps} steps in {elapsed:.1f}s "
        f"({format_count(steps / max(elapsed, 1e-9))} steps/s), mean return of last "
        f"{len(recent)} episodes {mean}{evaluated}; logs in {run_dir}"
    )
    return 0 if status == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
