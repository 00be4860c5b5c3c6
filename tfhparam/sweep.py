"""``python -m tfhparam.sweep``: a hyperparameter sweep in one command.

    python -m tfhparam.sweep --strategy random                  # PPO on CartPole-v1
    python -m tfhparam.sweep --config sweeps/ppo_cartpole_acrobot_hyperband.yaml
    python -m tfhparam.sweep --name ppo_random --results        # the table of a sweep

Rerunning the same command resumes an interrupted sweep. Exit status: 0 done, 2 bad input.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import agents
from tfhparam import config, lock, processes, quiet, results, samplers, strategies
from tfhparam.cli import Parser, UsageError, check_env_id, fail

PROG = "python -m tfhparam.sweep"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Run a hyperparameter sweep of an RL agent.")
    add = parser.add_argument
    add(
        "--strategy",
        help="; ".join(f"{s.name}: {s.help}" for s in strategies.STRATEGIES.values())
        + " (default random)",
    )
    add("--config", metavar="FILE", help="a sweep file (YAML); flags override it")
    add("--prune", help="stop trials falling behind: none, median or asha (default none)")
    add("--env-backend", help="auto (TensorFlow's classic-control envs), tf or gymnasium")
    add("--agent", help=f"one of {', '.join(agents.AGENTS)} (default ppo)")
    add("--env", action="append", dest="envs", metavar="ENV", help="repeatable; ENV[opt=value]")
    add("--seeds", type=int, help="seeds per env (default 1)")
    add("--trials", type=int, help="trials for grid, random, bayesian (default 10)")
    add("--total-timesteps", type=int, help="env steps per trial; Hyperband's maximum")
    add("--name", help="the sweep's name: its directory under --logdir")
    add("--logdir", default="logs", help="TensorBoard root (default logs)")
    add("--set", action="append", metavar="NAME=VALUE", help="fix an hparam (repeatable)")
    add(
        "--target-score",
        action="append",
        dest="target_scores",
        metavar="ENV=LOW:HIGH",
        help="normalize an env's value to (x - LOW) / (HIGH - LOW) (repeatable); ENV=human: "
        "by an Atari game's random and human scores",
    )
    add("--aggregate", help="how envs combine: mean or median")
    add("--last-n", type=int, help="iterations averaged into a run's value (default 10)")
    add("--seed", type=int, help="the sweep's seed: same seed, same trials (default 0)")
    add(
        "--eval-every",
        type=int,
        metavar="STEPS",
        help="evaluate each run every STEPS env steps and at the end: episodes on env seeds "
        "of their own, deterministic policy (default 0: no evaluation)",
    )
    add("--eval-episodes", type=int, metavar="N", help="episodes an evaluation plays (10)")
    add(
        "--score-from",
        help="a run's value: train (its last training episodes, default) or eval (its last "
        "evaluation; evaluates at the end at least)",
    )
    add(
        "--value",
        help="a run's value from its curve: last_n (the mean of its last points, default) or "
        "auc (the area under it over the run's steps: sample efficiency)",
    )
    add(
        "--test-seeds",
        type=int,
        metavar="K",
        help="after the search, train the best configurations again on K seeds no trial "
        "used and evaluate them (the test phase; default 0: none)",
    )
    add("--test-top", type=int, metavar="M", help="configurations the test phase takes (3)")
    add("--test-episodes", type=int, metavar="N", help="evaluation episodes a test run (10)")
    add(
        "--objective",
        action="append",
        dest="objectives",
        metavar="NAME[:max|min]",
        help="what the search optimizes (repeatable: several give a Pareto front): score "
        "(default), test_score, auc, seed_std, env_steps_to(THRESHOLD), wall_seconds, "
        "parameters",
    )
    add(
        "--tracker",
        action="append",
        dest="trackers",
        metavar="NAME",
        help="also track every run in mlflow or wandb (repeatable; extras of the same names)",
    )
    add(
        "--mlflow-uri",
        metavar="URI",
        help="an MLflow tracking server (implies --tracker mlflow; default a SQLite store "
        "in the sweep's directory)",
    )
    add("--overwrite", action="store_true", help="delete an existing sweep of this name")
    add("--results", action="store_true", help="print the results of an existing sweep")
    add(
        "--workers",
        default="auto",
        help="trials run at once, each in its own process (default auto: one per core, "
        "memory permitting); 1 runs in this process",
    )
    add(
        "--backend",
        default="local",
        help="what runs the workers: local (processes of this machine, default) or ray (Ray "
        "tasks: an embedded Ray, or the cluster at --ray-address)",
    )
    add("--ray-address", metavar="HOST:PORT", help="an existing Ray cluster (--backend ray)")
    add(
        "--population",
        default="auto",
        help="runs trained together as one population (PPO, A2C): default auto, from cores "
        "and memory; 1 trains one run at a time",
    )
    add(
        "--inter-op-threads",
        type=int,
        help="TensorFlow inter-op threads (default 1; 0: TensorFlow's default)",
    )
    add(
        "--intra-op-threads",
        type=int,
        help="TensorFlow intra-op threads (default: the process's cores when it trains "
        "populations with in-graph envs, else 1; 0: TensorFlow's default)",
    )
    add("--quiet", action="store_true", help="no progress lines")
    add("--verbose", action="store_true", help="TensorFlow's start-up and info logging too")
    return parser


def resolve(args) -> config.Sweep:
    """The validated sweep from the file and flags; SweepError/UsageError on bad input."""
    data, source = {}, "sweep file"
    if args.config:
        data, source = config.load_file(args.config), args.config
        data.setdefault("name", Path(args.config).stem)
    flags = {
        "name": args.name,
        "agent": args.agent,
        "strategy": args.strategy,
        "envs": args.envs,
        "target_scores": args.target_scores or [],
        "seeds": args.seeds,
        "trials": args.trials,
        "total_timesteps": args.total_timesteps,
        "seed": args.seed,
        "aggregate": args.aggregate,
        "last_n": args.last_n,
        "set": args.set or [],
        "prune": args.prune,
        "env_backend": args.env_backend,
        "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes,
        "score_from": args.score_from,
        "value": args.value,
        "test_seeds": args.test_seeds,
        "test_top": args.test_top,
        "test_episodes": args.test_episodes,
        "objectives": args.objectives,
        "trackers": args.trackers,
        "mlflow_uri": args.mlflow_uri,
    }
    if not args.config and args.name is None:
        agent, strategy = args.agent or "ppo", args.strategy or "random"
        flags["name"] = f"{agent}_{strategy}"
    sweep = config.build(data, flags, source=source)
    if sweep.strategy in ("tpe", "optuna") and importlib.util.find_spec("optuna") is None:
        raise UsageError(
            f"--strategy {sweep.strategy} needs Optuna: pip install 'tfhparam[optuna]' "
            "(or pip install optuna)"
        )
    for env_id in sweep.envs:
        check_env_id(env_id, sweep.agent, sweep.env_backend)
    return sweep


def sampler_note(sweep: config.Sweep) -> str | None:
    """The line a sweep prints when its Optuna sampler cannot model some of its hparams
    (CMA-ES and QMC: value lists), or None."""
    if sweep.strategy != "optuna":
        return None
    sampler = sweep.options["sampler"]
    listed = [name for name, d in sweep.space.items() if isinstance(d, config.hp.Discrete)]
    if not listed or samplers.SAMPLERS[sampler].categorical:
        return None
    return (
        f"note: {sampler} models intervals only; it draws {', '.join(listed)} "
        "independently at random (Optuna's fallback)"
    )


def check_directory(project_dir: str, sweep: config.Sweep, must_exist: bool = False) -> None:
    """Refuses a sweep directory that holds a sweep defined differently."""
    path = os.path.join(project_dir, results.DEFINITION_FILE)
    try:
        existing = results.sweep_definition(project_dir)
    except results.ResultsError:  # malformed JSON, or not UTF-8 text
        raise UsageError(
            f"{path} is not a sweep definition (damaged?); move it away, or rerun with "
            "--overwrite to start the sweep again"
        ) from None
    if existing is None:
        if must_exist:
            raise UsageError(f"no sweep in {project_dir}: start the chief first")
        return
    wanted = json.loads(json.dumps(sweep.to_json()))
    # Options compare on what the strategy reads: a sweep written when other strategies'
    # options were still accepted (and ignored) resumes without them.
    accepted = strategies.STRATEGIES[sweep.strategy].accepts(sweep.prune != "none")
    for definition in (existing, wanted):
        if isinstance(definition.get("options"), dict):
            definition["options"] = {
                k: v for k, v in definition["options"].items() if k in accepted
            }
    differing = [k for k in wanted if existing.get(k, config.ADDED_FIELDS.get(k)) != wanted[k]]
    if differing:
        raise UsageError(
            f"sweep {sweep.name!r} in {project_dir} exists with a different "
            f"{', '.join(differing)}; rerun with --overwrite or choose another --name"
        )


def prepare_directory(project_dir: str, sweep: config.Sweep, overwrite: bool) -> None:
    """Refuses to resume a sweep defined differently; records the definition."""
    if not overwrite:
        check_directory(project_dir, sweep)
    if overwrite:
        lock.clear(project_dir)
    os.makedirs(project_dir, exist_ok=True)
    results.write_definition(project_dir, "sweep", json.loads(json.dumps(sweep.to_json())))


def show_results(project_dir: str) -> None:
    rows = results.read(project_dir)
    print(results.text_table(rows))
    print(f"results: {os.path.join(project_dir, 'results.csv')} and results.json")
    definition = results.read_definition(project_dir)
    front = results.front(rows)
    if front and definition:
        print(f"Pareto front ({len(front)} configurations):")
        for row in front:
            print(f"  trial {row.trial}: " + results.best_command(definition, row))
    elif rows and rows[0].score is not None and definition:
        print("best configuration:\n  " + results.best_command(definition, rows[0]))


def parse_count(text: str, flag: str) -> int | str:
    """``auto`` or a whole number >= 1 for ``--FLAG`` (UsageError otherwise)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"--{flag} must be a positive number or auto, got {text!r}")
    return value


def parse_workers(text: str) -> int:
    """``auto`` (one a core, memory permitting) or a positive number."""
    value = parse_count(text, "workers")
    return processes.default_workers() if value == "auto" else value


def worker_population(sweep: config.Sweep, workers: int) -> int:
    """``--population auto`` for one of ``workers`` local workers: what its cores take
    (:func:`processes.auto_population`), but no more than its share of the trials the
    oracle hands out at once, so that every worker gets some."""
    options = {**sweep.options, "trials": sweep.trials}
    at_once = strategies.STRATEGIES[sweep.strategy].at_once(options.get)
    share = -(-at_once * sweep.seeds // workers)
    return max(1, min(processes.auto_population(sweep.agent, workers), share))


def threads(args, sweep: config.Sweep, population: int | str, processes_sharing: int):
    """``(inter_op, intra_op)`` for one of ``processes_sharing`` processes on this machine:
    the flags where given, else :func:`agents.thread_counts` for its share of the cores
    (as for in-graph envs only when every env of the sweep is one)."""
    populations = population != 1 and sweep.agent in agents.POPULATION_AGENTS
    in_graph = all(agents.runs_in_graph(env, sweep.env_backend) for env in sweep.envs)
    cores = max(1, (os.cpu_count() or 1) // processes_sharing)
    images = any(agents.sees_images(env) for env in sweep.envs)
    inter_op, intra_op = agents.thread_counts(populations, in_graph, cores, images)
    return (
        inter_op if args.inter_op_threads is None else args.inter_op_threads,
        intra_op if args.intra_op_threads is None else args.intra_op_threads,
    )


def worker_command(argv: list[str]) -> list[str]:
    """This command line for a worker: never ``--overwrite``, one process, no backend."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--backend", "--ray-address"):
            skip = True  # (and its value)
        elif arg != "--overwrite" and not arg.startswith(("--backend=", "--ray-address=")):
            kept.append(arg)
    return [sys.executable, "-m", "tfhparam.sweep", *kept, "--workers", "1"]


def check_backend(args) -> None:
    """``--backend`` and ``--ray-address``: a known backend, its extra installed, a
    cluster that answers (UsageError otherwise)."""
    if args.backend not in ("local", "ray"):
        raise UsageError(f"--backend: unknown backend {args.backend!r}; choose local or ray")
    if args.ray_address and args.backend != "ray":
        raise UsageError("--ray-address needs --backend ray")
    if args.backend == "ray":
        if importlib.util.find_spec("ray") is None:
            raise UsageError("--backend ray needs Ray, not installed: pip install 'tfhparam[ray]'")
        if args.ray_address:
            from tfhparam import ray as tfray

            try:
                tfray.check_address(args.ray_address)
            except tfray.RayError as error:
                raise UsageError(str(error)) from None


def start_ray(address: str | None) -> str:
    """Joins the Ray cluster at ``address`` (or starts an embedded Ray); the IP the chief
    serves on. UsageError when Ray refuses (a cluster that wants an auth token, say)."""
    from tfhparam import ray as tfray

    try:
        return tfray.start(address)
    except (ConnectionError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        # the cause's own last error line (its text is a traceback): e.g. a missing token
        found = [line for line in str(error.__cause__ or "").splitlines() if "Error: " in line]
        if found:
            reason += f" ({found[-1].strip()[:300]})"
        raise UsageError(f"--backend ray: {reason}") from None


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # no fork notices when workers start
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    quiet.start(args.verbose)  # before TensorFlow is imported
    try:
        if args.results and not args.config and args.name is None:
            raise UsageError("--results needs --name NAME (or --config FILE)")
        if args.results:
            name = args.name or config.load_file(args.config).get("name") or Path(args.config).stem
            project_dir = os.path.join(args.logdir, name)
            if not os.path.exists(os.path.join(project_dir, "results.json")):
                raise UsageError(f"no sweep results in {project_dir}")
            show_results(project_dir)
            return 0
        for flag in ("seeds", "trials", "total_timesteps", "last_n"):
            value = getattr(args, flag)
            if value is not None and value < 1:
                raise UsageError(f"--{flag.replace('_', '-')} must be positive, got {value}")
        for flag in ("inter_op_threads", "intra_op_threads"):
            value = getattr(args, flag)
            if value is not None and value < 0:
                raise UsageError(f"--{flag.replace('_', '-')} must be 0 or more, got {value}")
        population = parse_count(args.population, "population")
        workers = parse_workers(args.workers)
        check_backend(args)
        sweep = resolve(args)
        project_dir = os.path.join(args.logdir, sweep.name)
        mode = processes.role()
        on_ray = args.backend == "ray" and mode != "worker"
        if on_ray:  # joined (or started) before anything is written: a refusal leaves nothing
            ray_host = start_ray(args.ray_address)
        if mode == "worker":  # works under its chief's lock
            check_directory(project_dir, sweep, must_exist=True)
        else:
            lock.acquire(project_dir)  # before anything in it is read, kept or removed
            prepare_directory(project_dir, sweep, args.overwrite)
    except (UsageError, config.SweepError, lock.LockedError, results.ResultsError) as error:
        fail(str(error), prog=PROG)

    local_workers: dict = {}
    if on_ray or (mode == "single" and workers > 1):  # a chief, its workers Ray's or ours
        if on_ray:
            from tfhparam import ray as tfray

            if args.workers == "auto":
                workers = tfray.cluster_cpus()
        mode = "chief"
        address = (ray_host if on_ray else "127.0.0.1", processes.free_port())
        os.environ.update(
            {
                processes.TUNER_ID: "chief",
                processes.ORACLE_IP: address[0],
                processes.ORACLE_PORT: str(address[1]),
            }
        )
    elif mode == "chief":  # started by hand with Keras Tuner's variables (several machines)
        address = (os.environ[processes.ORACLE_IP], int(os.environ[processes.ORACLE_PORT]))
        workers = workers if args.workers != "auto" else 0
    if mode == "chief":  # start the workers now: their imports overlap the chief's
        command = worker_command(sys.argv[1:] if argv is None else list(argv))
        per_worker = population
        if population == "auto":  # each worker takes its share of a batch of trials
            per_worker = worker_population(sweep, max(workers, 1))
            command += ["--population", str(per_worker)]
        # each worker's threads: its share of the cores, unless given
        inter_op, intra_op = threads(args, sweep, per_worker, max(workers, 1))
        command += ["--inter-op-threads", str(inter_op), "--intra-op-threads", str(intra_op)]

        def start_worker(tuner_id: str):
            if on_ray:
                return tfray.RayWorker(command, tuner_id, address, cpus=1)
            return processes.spawn_worker(command, tuner_id, address)

        local_workers = {f"tuner{i}": start_worker(f"tuner{i}") for i in range(workers)}

    agents.configure_threads(*threads(args, sweep, population, 1))
    from tfhparam import parallel
    from tfhparam.tuner import RLTuner

    if mode == "worker":
        host, port = os.environ[processes.ORACLE_IP], int(os.environ[processes.ORACLE_PORT])
        if not processes.wait_for_port(host, port, timeout=300):
            fail(f"no chief answers at {host}:{port}", prog=PROG, status=1)

    note = sampler_note(sweep)
    if mode != "worker" and note:
        print(note, flush=True)
    if mode != "worker":
        print(
            f"sweep {sweep.name}: {sweep.strategy} search of {sweep.agent} on "
            f"{', '.join(sweep.envs)}, {sweep.seeds} seed(s), {sweep.total_timesteps} steps"
            f"{f', {workers} workers' if mode == 'chief' else ''}{' on Ray' if on_ray else ''}; "
            f"logs in {project_dir}",
            flush=True,
        )
    tuner = RLTuner.from_sweep(sweep, args.logdir, verbose=not args.quiet, population=population)
    try:
        if mode == "chief":
            tuner.on_search_begin()
            tuner.save()
            given_up = parallel.serve(
                tuner,
                address,
                processes=local_workers,
                start_worker=start_worker,
                report=lambda: print(tuner._progress.summary(), flush=True),
            )
            if given_up:
                tuner.write_results()
                fail(
                    f"workers {', '.join(given_up)} kept dying; see their output above",
                    prog=PROG,
                    status=1,
                )
        else:
            tuner.search()
    except KeyboardInterrupt:
        print(f"\ninterrupted: rerun the same command to resume {project_dir}", file=sys.stderr)
        return 130
    if mode == "worker":
        return 0
    tuner.write_results()
    if sweep.test["seeds"]:
        from tfhparam import heldout

        try:
            heldout.run(project_dir, heldout.TestSettings(**sweep.test), verbose=not args.quiet)
        except KeyboardInterrupt:
            print(f"\ninterrupted: rerun the same command to resume {project_dir}", file=sys.stderr)
            return 130
    if mode == "chief" or sweep.test["seeds"]:  # (search() attached the others' files)
        tuner.finish_tracking()
    show_results(project_dir)
    print(f"TensorBoard: tensorboard --logdir {project_dir}  (HParams tab)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
