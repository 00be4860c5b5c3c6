"""Sweep definitions: YAML files in ``sweeps/``, command-line overrides, validation.

A sweep file (every key optional; flags override it)::

    agent: ppo
    strategy: random          # grid | random | hyperband | bayesian | pbt | evolution | tpe
    prune: none               # none | median | asha (random, grid, bayesian, tpe)
    trials: 16                # grid, random, bayesian
    seeds: 2
    total_timesteps: 100000   # per trial; Hyperband's maximum
    seed: 0                   # the sweep's seed
    aggregate: mean           # how envs combine: mean | median
    last_n: 10                # iterations averaged into a run's value
    envs:                     # a list of env names, or names with a target score, options
      CartPole-v1: {target_score: [0, 500]}   # Atari: {target_score: human}
      ALE/Pong-v5: {target_score: human, options: {repeat_action_probability: 0.0}}
    space:                    # per hparam: a value list, an interval, or a fixed value
      learning_rate: {min: 1.0e-4, max: 3.0e-3, log: true}
      num_minibatches: [2, 4, 8]
      gamma: 0.99
    strategy_options: {max_epochs: 27, factor: 3, grid_points: 3, num_initial_points: 4}
    objectives: [score]       # or several: [score, "env_steps_to(475)", parameters:min]
    trackers: [mlflow]        # or {mlflow: {uri: http://host:5000}, wandb: {project: P}}

Hyperparameters the space does not name keep the agent's default. Every error names the
field: ``space.learning_rate.min: 1e-07 is outside the agent's domain ...``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

import agents
from agents import env_names
from agents.hparams import LogRealInterval, Space, SpaceError, check_value, describe, hp
from tfhparam import atari_scores, objectives, samplers, strategies, trackers
from tfhparam.scoring import AGGREGATES, SCORE_FROM, VALUES

STRATEGIES = strategies.NAMES
PRUNERS = strategies.PRUNERS
# What a sweep searches when its file or command line names no space: ranges practitioners
# use (RL Baselines3 Zoo's samplers, narrowed to what pays on classic control).
DEFAULT_SEARCH = {
    "ppo": {
        "learning_rate": {"min": 1e-4, "max": 3e-3, "log": True},
        "ent_coef": {"min": 0.0, "max": 0.02},
        "clip_coef": {"min": 0.1, "max": 0.3},
        "gae_lambda": {"min": 0.9, "max": 0.99},
        "num_minibatches": [2, 4, 8],
        "update_epochs": [2, 4, 8],
    },
    "a2c": {
        "learning_rate": {"min": 1e-4, "max": 3e-3, "log": True},
        "ent_coef": {"min": 0.0, "max": 0.02},
        "gae_lambda": {"min": 0.9, "max": 1.0},
        "num_steps": [5, 8, 16],
        "max_grad_norm": {"min": 0.3, "max": 5.0, "log": True},
    },
    "dqn": {
        "learning_rate": {"min": 1e-4, "max": 3e-3, "log": True},
        "target_network_frequency": [100, 250, 500, 1000],
        "exploration_fraction": {"min": 0.1, "max": 0.5},
        "batch_size": [64, 128, 256],
        "train_frequency": [1, 4, 10],
    },
}
BY_TRIALS = tuple(n for n, s in strategies.STRATEGIES.items() if s.by_trials)  # run `trials`
PRUNABLE = strategies.PRUNABLE
OPTION_DEFAULTS = {name: option.default for name, option in strategies.OPTIONS.items()}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENV_SETTINGS = {"target_score", "options"}  # what an entry of the envs mapping may hold


class SweepError(ValueError):
    """A sweep definition that cannot run; the message names the field."""


@dataclasses.dataclass
class Sweep:
    """A complete, validated sweep definition."""

    name: str = "ppo_cartpole"
    agent: str = "ppo"
    strategy: str = "random"
    envs: list[str] = dataclasses.field(default_factory=lambda: ["CartPole-v1"])
    target_scores: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    seeds: int = 1
    trials: int = 10
    total_timesteps: int = 100_000
    seed: int = 0
    aggregate: str = "mean"
    last_n: int = 10
    space: dict[str, Any] = dataclasses.field(default_factory=dict)  # name -> hp domain
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)  # name -> value
    options: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(OPTION_DEFAULTS))
    prune: str = "none"
    env_backend: str = "auto"
    eval_every: int = 0  # env steps between evaluations; 0: none (only at the end for eval)
    eval_episodes: int = 10
    score_from: str = "train"  # train: training episodes' returns; eval: the last evaluation's
    value: str = "last_n"  # a run's value: its curve's last_n points, or the area (auc)
    # The test phase after the search (tfhparam.heldout): seeds (0: none), top, episodes.
    test: dict[str, int] = dataclasses.field(default_factory=lambda: dict(TEST_DEFAULTS))
    # What the search optimizes (tfhparam.objectives): one objective, or several (a front).
    objectives: tuple[objectives.Objective, ...] = (objectives.SCORE,)
    # Where runs are also tracked (tfhparam.trackers): name -> options. Not part of the
    # definition: a resume may add or drop a tracker.
    trackers: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def agent_space(self) -> Space:
        return agents.space(self.agent)

    def run_seeds(self) -> list[int]:
        """The seeds every trial runs: the same for all trials, derived from the sweep seed."""
        return [self.seed * 1000 + k for k in range(self.seeds)]

    def to_json(self) -> dict[str, Any]:
        """A plain form for ``sweep.json``: what must match for a resume."""
        return {
            "agent": self.agent,
            "strategy": self.strategy,
            "envs": self.envs,
            "target_scores": {k: list(v) for k, v in self.target_scores.items()},
            "seeds": self.seeds,
            "trials": self.trials,
            "total_timesteps": self.total_timesteps,
            "seed": self.seed,
            "aggregate": self.aggregate,
            "last_n": self.last_n,
            "space": {k: domain_to_spec(d) for k, d in self.space.items()},
            "fixed": self.fixed,
            "options": self.options,
            "prune": self.prune,
            "env_backend": self.env_backend,
            "eval_every": self.eval_every,
            "eval_episodes": self.eval_episodes,
            "score_from": self.score_from,
            "value": self.value,
            "test": dict(self.test),
            "objectives": [str(o) for o in self.objectives],
        }


def domain_to_spec(domain: hp.Domain) -> Any:
    """The sweep-file form of a domain (inverse of :func:`parse_space_entry`)."""
    if isinstance(domain, hp.Discrete):
        return list(domain.values)
    spec = {"min": domain.min_value, "max": domain.max_value}
    if isinstance(domain, LogRealInterval):
        spec["log"] = True
    return spec


def parse_space_entry(space: Space, name: str, entry: Any, field: str):
    """Returns ('search', domain) or ('fixed', value) for one ``space:`` entry."""
    try:
        param = space[name]
    except SpaceError as error:
        raise SweepError(f"{field}: {error}") from None
    agent_domain = param.domain
    if isinstance(entry, list):
        if not entry:
            raise SweepError(f"{field}: an empty list of values")
        values = []
        for i, value in enumerate(entry):
            try:
                values.append(check_value(param, value))
            except SpaceError:
                allowed = describe(agent_domain)
                raise SweepError(
                    f"{field}[{i}]: {value!r} is outside the agent's domain {allowed}"
                ) from None
        if len(set(map(repr, values))) != len(values):
            raise SweepError(f"{field}: repeated values {entry}")
        return "search", hp.Discrete(values)
    if isinstance(entry, dict):
        unknown = set(entry) - {"min", "max", "log"}
        if unknown or not {"min", "max"} <= set(entry):
            raise SweepError(f"{field}: an interval needs exactly min, max and optionally log")
        if isinstance(agent_domain, hp.Discrete):
            raise SweepError(
                f"{field}: {name} takes a list of values from {describe(agent_domain)}, "
                "not an interval"
            )
        low, high = entry["min"], entry["max"]
        for key, value in (("min", low), ("max", high)):
            try:
                check_value(param, value)
            except SpaceError:
                raise SweepError(
                    f"{field}.{key}: {value!r} is outside the agent's domain "
                    f"{describe(agent_domain)}"
                ) from None
        if not low < high:
            raise SweepError(f"{field}: min {low} must be below max {high}")
        log = entry.get("log", isinstance(agent_domain, LogRealInterval))
        if not isinstance(log, bool):
            raise SweepError(f"{field}.log: must be true or false, got {log!r}")
        if isinstance(agent_domain, hp.IntInterval):
            if log:
                raise SweepError(f"{field}.log: integer hparams are searched on a linear scale")
            return "search", hp.IntInterval(int(low), int(high))
        if log:
            if low <= 0:
                raise SweepError(f"{field}.min: a log interval needs min > 0, got {low}")
            return "search", LogRealInterval(float(low), float(high))
        return "search", hp.RealInterval(float(low), float(high))
    try:
        return "fixed", check_value(param, entry)
    except SpaceError:
        raise SweepError(
            f"{field}: {entry!r} is outside the agent's domain {describe(agent_domain)}"
        ) from None


class _SweepLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-4`` as a number: YAML 1.1 (PyYAML) wants
    ``1.0e-4`` and would read ``1e-4`` as text, which YAML 1.2 and every user read as a
    float."""


_SweepLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),  # an exponent without a dot
    list("-+0123456789"),
)


def load_file(path: str) -> dict[str, Any]:
    """Reads a sweep file (YAML, safe loader; ``1e-4`` is a number); SweepError if
    unreadable or not a mapping."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_SweepLoader)  # a SafeLoader: no Python objects
    except FileNotFoundError:
        raise SweepError(f"--config: no such file {path}") from None
    except IsADirectoryError:
        raise SweepError(f"--config: {path} is a directory, not a sweep file") from None
    except PermissionError:
        raise SweepError(f"--config: {path} cannot be read (permission denied)") from None
    except UnicodeDecodeError as error:
        raise SweepError(
            f"{path}: not UTF-8 text (byte {error.start}); a sweep file is YAML text"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise SweepError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SweepError(f"{path}: must be a mapping of sweep fields, got {type(data).__name__}")
    return data


@dataclasses.dataclass(frozen=True)
class Field:
    """A scalar field of a sweep: set by its flag (``--name-with-dashes``), else the sweep
    file, else its default (:class:`Sweep`'s), and checked the same way from either.

    Attributes:
        name: as in the sweep file and :class:`Sweep`.
        kind: ``choice`` (one of ``choices``), ``int`` (a whole number >= ``minimum``) or
            ``name`` (a directory name).
        choices: the allowed values of a choice; ``noun`` names one in errors.
    """

    name: str
    kind: str
    choices: tuple = ()
    noun: str = ""
    minimum: int = 0

    def label(self, from_flag: bool, where: str) -> str:
        return f"--{self.name.replace('_', '-')}" if from_flag else f"{where}{self.name}"

    def read(self, flags: Mapping, data: Mapping, where: str, sweep: Sweep) -> Any:
        if self.name in flags:
            value, label = flags[self.name], self.label(True, where)
        elif self.name in data:
            value, label = data[self.name], self.label(False, where)
        elif self.name == "name":
            return f"{sweep.agent}_sweep"  # (agent is read first)
        else:
            return getattr(sweep, self.name)
        if self.kind == "choice" and value not in self.choices:
            raise SweepError(
                f"{label}: unknown {self.noun} {value!r}; choose from {', '.join(self.choices)}"
            )
        if self.kind == "int":
            return _whole(value, self.minimum, label)
        if self.kind == "name" and (not isinstance(value, str) or not NAME_PATTERN.match(value)):
            raise SweepError(f"{label}: {value!r} must be letters, digits, '.', '_' or '-'")
        return value


# The scalar fields, in the order they are read (the name's default needs the agent).
FIELDS = (
    Field("agent", "choice", agents.AGENTS, "agent"),
    Field("name", "name"),
    Field("strategy", "choice", STRATEGIES, "strategy"),
    Field("prune", "choice", PRUNERS, "pruner"),
    Field("env_backend", "choice", agents.ENV_BACKENDS, "env backend"),
    Field("seeds", "int", minimum=1),
    Field("trials", "int", minimum=1),
    Field("total_timesteps", "int", minimum=1),
    Field("seed", "int", minimum=0),
    Field("last_n", "int", minimum=1),
    Field("aggregate", "choice", AGGREGATES, "aggregate"),
    Field("eval_every", "int", minimum=0),
    Field("eval_episodes", "int", minimum=1),
    Field("score_from", "choice", SCORE_FROM, "score source"),
    Field("value", "choice", VALUES, "run value"),
)
# Fields added after sweeps were first written: a sweep.json without one was run with
# this value (so it still resumes).
ADDED_FIELDS = {
    "eval_every": 0,
    "eval_episodes": 10,
    "score_from": "train",
    "value": "last_n",
    "objectives": ["score:max"],
}
# Fields a resume may change: the test phase runs after the search, on its results.
CHANGEABLE_ON_RESUME = ("test",)
# Every key a sweep file may hold: the scalar fields and the structured ones.
FILE_KEYS = {field.name for field in FIELDS} | {
    "envs",
    "space",
    "strategy_options",
    "test",
    "objectives",
    "trackers",
}
# test: {seeds, top, episodes}: 0 seeds (no test phase), the top 3, 10 episodes a run.
TEST_DEFAULTS = {"seeds": 0, "top": 3, "episodes": 10}


def _whole(value: Any, minimum: float, label: str) -> int:
    """``value`` as a whole number >= ``minimum``, or a SweepError naming ``label``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise SweepError(f"{label}: must be a whole number, got {value!r}")
    if value < minimum:
        raise SweepError(f"{label}: must be at least {minimum}, got {value}")
    return int(value)


def _parse_target(text: str) -> tuple[str, tuple[float, float]]:
    env, sep, bounds = text.rpartition("=")  # an env's options may hold "=" too
    if sep and env and bounds == "human":
        return env, _human_target(env, "--target-score")
    low, sep2, high = bounds.partition(":")
    try:
        if not (sep and sep2 and env):
            raise ValueError
        return env, (float(low), float(high))
    except ValueError:
        raise SweepError(
            f"--target-score: expected ENV=LOW:HIGH or ENV=human, got {text!r}"
        ) from None


def _human_target(env: str, where: str) -> tuple[float, float]:
    """``target_score: human``: the game's (random, human) scores (``atari_scores``)."""
    try:
        return atari_scores.human_target(env)
    except ValueError as error:
        raise SweepError(f"{where}: {error}") from None


def build(
    file_data: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    source: str = "sweep file",
) -> Sweep:
    """Merges a sweep file's fields with command-line overrides and validates everything.

    Args:
        file_data: the parsed YAML mapping (or None).
        overrides: flag values (None = not given): name, agent, strategy, envs (list),
            target_scores (list of ``ENV=LOW:HIGH``), seeds, trials, total_timesteps, seed,
            aggregate, last_n, set (list of ``name=value``).
        source: how errors name the file.

    Raises:
        SweepError: the first problem, naming its field.
    """
    data = dict(file_data or {})
    where = f"{source}: "
    unknown = set(data) - FILE_KEYS
    if unknown:
        raise SweepError(
            f"{where}unknown field {sorted(unknown)[0]!r}; known: {', '.join(sorted(FILE_KEYS))}"
        )
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    sweep = Sweep()
    for field in FIELDS:  # flag, else file, else default; checked alike
        setattr(sweep, field.name, field.read(flags, data, where, sweep))
    for step in STRUCTURED:  # then the structured fields and the checks across fields
        step(sweep, data, flags, where)
    return sweep


def _check_strategy(
    sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str
) -> None:
    """Pruning and ``trials`` only where the strategy has them."""
    strategy, prune = sweep.strategy, sweep.prune
    if prune != "none" and strategy not in PRUNABLE:
        raise SweepError(f"prune: {prune} pruning works with {', '.join(PRUNABLE)}, not {strategy}")
    record = strategies.STRATEGIES[strategy]
    if not record.by_trials and ("trials" in flags or "trials" in data):
        label = "--trials" if "trials" in flags else f"{where}trials"
        raise SweepError(
            f"{label}: {strategy} runs as many trials as its options make "
            f"({', '.join(record.options)}); trials counts for {', '.join(BY_TRIALS)} only"
        )


def _read_envs(sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str) -> None:
    """``envs`` (a list of env names, or names with a target score and options) and
    ``--env`` / ``--target-score``. Names are canonical (``agents.env_names``): an entry's
    ``options`` join its name, ``ALE/Pong-v5: {options: {frame_stack: 2}}`` is the env
    ``ALE/Pong-v5[frame_stack=2]``."""
    envs_field = data.get("envs", ["CartPole-v1"])
    if isinstance(envs_field, str):
        envs_field = [envs_field]
    if isinstance(envs_field, list):
        env_entries = [(env, {}) for env in envs_field]
    elif isinstance(envs_field, dict):
        env_entries = [(env, spec or {}) for env, spec in envs_field.items()]
    else:
        raise SweepError(f"{where}envs: a list of env names or a mapping of name -> settings")
    listed, targets = [], {}
    for env, spec in env_entries:
        label = f"{where}envs.{env}"
        if not isinstance(env, str) or not isinstance(spec, dict) or set(spec) - ENV_SETTINGS:
            raise SweepError(
                f"{label}: expected {{target_score: [low, high] | human, options: {{...}}}}"
            )
        options = spec.get("options") or {}
        if not isinstance(options, dict):
            raise SweepError(f"{label}.options: a mapping of option -> value")
        name = _env_name(env, options, label)
        listed.append(name)
        if spec.get("target_score") == "human":
            targets[name] = _human_target(name, f"{label}.target_score")
        elif "target_score" in spec:
            pair = spec["target_score"]
            ok = isinstance(pair, list) and len(pair) == 2
            if not ok or not all(isinstance(x, (int, float)) for x in pair) or pair[0] == pair[1]:
                raise SweepError(f"{label}.target_score: expected [low, high] or human")
            targets[name] = (float(pair[0]), float(pair[1]))
    given = flags.get("envs")
    envs = [_env_name(env, {}, "--env") for env in given] if given else listed
    if not envs:
        raise SweepError(f"{where}envs: no env given")
    if len(set(envs)) != len(envs):
        raise SweepError(f"envs: {envs} names an env twice")
    for text in flags.get("target_scores", []):
        env, pair = _parse_target(text)
        targets[_env_name(env, {}, "--target-score")] = pair
    for env in targets:
        if env not in envs:
            raise SweepError(f"target score for {env!r}, which is not among the envs {envs}")
    sweep.envs, sweep.target_scores = envs, {e: targets[e] for e in envs if e in targets}


def _env_name(env: str, options: Mapping[str, Any], label: str) -> str:
    """The canonical name of ``env`` with ``options`` added (``agents.env_names``)."""
    try:
        env_id, own = env_names.split(env)
        if set(own) & set(options):
            raise env_names.EnvNameError(
                f"options {sorted(set(own) & set(options))} given in the name and in options"
            )
        return env_names.join(env_id, {**own, **options})
    except env_names.EnvNameError as error:
        raise SweepError(f"{label}: {error}") from None


def _read_space(
    sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str
) -> None:
    """``space`` (else the agent's default ranges), then ``--set`` fixes values."""
    agent = sweep.agent
    params = agents.space(agent)
    space_field = data.get("space", DEFAULT_SEARCH[agent])
    if not isinstance(space_field, dict):
        raise SweepError(f"{where}space: must be a mapping of hparam -> values")
    for name, entry in space_field.items():
        kind, value = parse_space_entry(params, name, entry, f"{where}space.{name}")
        (sweep.space if kind == "search" else sweep.fixed)[name] = value
    for text in flags.get("set", []):
        name, sep, value = text.partition("=")
        if not sep:
            raise SweepError(f"--set: expected name=value, got {text!r}")
        try:
            parsed = params.parse([(name, value)])
        except SpaceError as error:
            raise SweepError(f"--set: {error}") from None
        for key, val in parsed.items():
            sweep.space.pop(key, None)
            sweep.fixed[key] = val
    if not sweep.space:
        raise SweepError("space: nothing left to search (every hparam is fixed)")
    _check_constraints(sweep, params, where)


def _check_constraints(sweep: Sweep, params: Space, where: str) -> None:
    """Values that would contradict each other in a run the space allows: each
    constraint's hparams at every combination of their searched ranges' ends."""
    for constraint in params.constraints:
        ends = []
        for name in constraint.names:
            domain = sweep.space.get(name)
            if domain is None:
                ends.append([sweep.fixed.get(name, params[name].default)])
            elif isinstance(domain, hp.Discrete):
                ends.append(sorted({min(domain.values), max(domain.values)}))
            else:
                ends.append([domain.min_value, domain.max_value])
        for combination in itertools.product(*ends):
            values = {
                **params.defaults(),
                **sweep.fixed,
                **dict(zip(constraint.names, combination)),
            }
            problem = constraint.problem(values)
            if problem:
                raise SweepError(f"{where}space: {problem}")


def _read_options(
    sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str
) -> None:
    """``strategy_options``: the strategy's own (and pruning's), in bounds."""
    strategy, prune = sweep.strategy, sweep.prune
    options = data.get("strategy_options", {}) or {}
    if strategy == "optuna" and isinstance(options, dict):  # the rest: the sampler's own
        options = dict(options)
        # every name the optuna strategy does not take is the sampler's, also one another
        # strategy has (NSGAIISampler's population_size)
        ours = strategies.STRATEGIES[strategy].accepts(prune != "none")
        own = {k: options.pop(k) for k in list(options) if k not in ours}
        given = options.get("sampler_options", {})
        if not isinstance(given, dict):
            raise SweepError(f"{where}strategy_options.sampler_options: must be a mapping")
        if own or given:
            options["sampler_options"] = {**given, **own}
    if not isinstance(options, dict) or set(options) - set(OPTION_DEFAULTS):
        bad = sorted(set(options) - set(OPTION_DEFAULTS)) if isinstance(options, dict) else []
        raise SweepError(
            f"{where}strategy_options: unknown option {(bad[0] if bad else options)!r}; "
            f"known: {', '.join(OPTION_DEFAULTS)}"
        )
    accepted = strategies.STRATEGIES[strategy].accepts(prune != "none")
    for key in options:
        if key not in accepted:
            users = [n for n, s in strategies.STRATEGIES.items() if key in s.accepts(True)]
            whose = (
                "pruning's (--prune median or asha)"
                if key in strategies.PRUNING_OPTIONS
                else (f"an option of {' and '.join(users)}")
            )
            raise SweepError(
                f"{where}strategy_options.{key}: {whose}, not of {strategy}"
                + (f" with prune {prune}" if key in strategies.PRUNING_OPTIONS else "")
                + f"; {strategy} takes: {', '.join(accepted) or 'no options'}"
            )
    sweep.options = {**OPTION_DEFAULTS, **options}
    for key, option in strategies.OPTIONS.items():
        value = sweep.options[key]
        if option.kind in ("name", "mapping"):  # the sampler: checked with the objectives
            continue
        if option.kind == "float":
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (option.low <= value <= option.high)
            ):
                raise SweepError(
                    f"{where}strategy_options.{key}: must be a number in "
                    f"[{option.low}, {option.high}], got {value!r}"
                )
            sweep.options[key] = float(value)
        elif value is not None or option.kind != "int or none":
            label = f"{where}strategy_options.{key}"
            sweep.options[key] = _whole(value, option.low, label)
    initial = sweep.options["num_initial_points"]
    if "num_initial_points" in options and initial is not None and initial > sweep.trials:
        raise SweepError(
            f"{where}strategy_options.num_initial_points: {initial} random trials first, but "
            f"the sweep runs {sweep.trials} trials in all"
        )
    if sweep.options["elites"] >= sweep.options["population_size"]:
        raise SweepError(
            f"{where}strategy_options.elites: must be below population_size "
            f"({sweep.options['population_size']})"
        )


def _check_budget(
    sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str
) -> None:
    """Every trial trains at least one unit (a rollout, per Hyperband or PBT unit)."""
    strategy = sweep.strategy
    batch = _largest_batch(sweep)
    unit = strategies.STRATEGIES[strategy].unit  # max_epochs (Hyperband), generations (PBT)
    units = sweep.options[unit] if unit else 1
    if sweep.total_timesteps / units < batch:
        per_unit = {
            "max_epochs": f", per Hyperband unit of 1/{units}",
            "generations": f", per PBT interval of 1/{units}",
        }.get(unit, "")
        raise SweepError(
            f"total_timesteps: {sweep.total_timesteps} gives a trial less than one unit of "
            f"training ({agents.unit_description(sweep.agent)} up to {batch}{per_unit})"
        )


def _check_evaluation(
    sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str
) -> None:
    """``eval_episodes`` only where something evaluates."""
    given = "eval_episodes" in flags or "eval_episodes" in data
    if given and sweep.eval_every == 0 and sweep.score_from == "train":
        label = "--eval-episodes" if "eval_episodes" in flags else f"{where}eval_episodes"
        raise SweepError(
            f"{label}: nothing evaluates; set eval_every (--eval-every) or score_from: eval"
        )


def _read_test(sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str) -> None:
    """``test: {seeds, top, episodes}`` and ``--test-seeds`` / ``--test-top`` /
    ``--test-episodes``."""
    given = data.get("test", {})
    if not isinstance(given, dict):
        raise SweepError(f"{where}test: expected {{seeds: K, top: M, episodes: N}}")
    unknown = set(given) - set(TEST_DEFAULTS)
    if unknown:
        raise SweepError(
            f"{where}test.{sorted(unknown)[0]}: unknown; known: {', '.join(TEST_DEFAULTS)}"
        )
    test = {}
    for name, default in TEST_DEFAULTS.items():
        flag = f"test_{name}"
        if flag in flags:
            value, label = flags[flag], f"--test-{name}"
        else:
            value, label = given.get(name, default), f"{where}test.{name}"
        test[name] = _whole(value, 0 if name == "seeds" else 1, label)
    if test["seeds"]:
        from tfhparam import heldout

        try:
            heldout.test_seeds(sweep.seed, test["seeds"])
        except ValueError as error:
            raise SweepError(f"{where}test.seeds: {error}") from None
    sweep.test = test


def _read_objectives(
    sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str
) -> None:
    """``objectives`` (``--objective``, repeatable): what they need, and a strategy that
    takes them; then an Optuna sampler able to rank them."""
    if "objectives" in flags:
        texts, label = list(flags["objectives"]), "--objective"
    else:
        texts, label = data.get("objectives", []), f"{where}objectives"
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list):
            raise SweepError(f"{label}: a list of NAME[:max|min], got {texts!r}")
    try:
        found = objectives.parse_all(texts)
    except ValueError as error:
        raise SweepError(f"{label}: {error}") from None
    kinds = {o.kind for o in found}
    if "seed_std" in kinds and sweep.seeds < 2:
        raise SweepError(f"{label}: seed_std needs 2 seeds or more, the sweep runs {sweep.seeds}")
    if "test_score" in kinds and not sweep.test["seeds"]:
        raise SweepError(f"{label}: test_score needs the test phase (test.seeds, --test-seeds)")
    record = strategies.STRATEGIES[sweep.strategy]
    if len(found) > 1 and not record.multi_objective:
        raise SweepError(
            f"{label}: {sweep.strategy} optimizes one objective; for {len(found)} use "
            f"{', '.join(strategies.MULTI_OBJECTIVE)}"
        )
    if sweep.prune != "none" and [o.searched_as for o in found] != ["score"]:
        raise SweepError(
            f"{label}: pruning compares intermediate scores; prune only a sweep of score"
        )
    sweep.objectives = found
    if sweep.strategy == "optuna":
        name = sweep.options["sampler"]
        try:
            samplers.check(name, sweep.options["sampler_options"], len(found))
        except samplers.SamplerError as error:
            raise SweepError(f"{where}strategy_options.sampler: {error}") from None


def _read_trackers(
    sweep: Sweep, data: Mapping[str, Any], flags: Mapping[str, Any], where: str
) -> None:
    """``trackers`` (a list of names, or names with options), ``--tracker`` (repeatable:
    replaces the file's list, keeping its options) and ``--mlflow-uri`` (adds mlflow)."""
    given = data.get("trackers", [])
    if isinstance(given, str):
        given = [given]
    if isinstance(given, list) and all(isinstance(name, str) for name in given):
        specs = {name: {} for name in given}
    elif isinstance(given, dict) and all(isinstance(o, (dict, type(None))) for o in given.values()):
        specs = {name: dict(options or {}) for name, options in given.items()}
    else:
        raise SweepError(f"{where}trackers: a list of names, or a mapping of name -> options")
    label = f"{where}trackers"
    if "trackers" in flags:
        specs, label = {name: specs.get(name, {}) for name in flags["trackers"]}, "--tracker"
    if "mlflow_uri" in flags:
        specs.setdefault("mlflow", {})["uri"] = flags["mlflow_uri"]
    try:
        trackers.check(specs)
    except trackers.TrackerError as error:
        raise SweepError(f"{label}: {error}") from None
    sweep.trackers = specs


# After the scalar fields, in this order: each may read what the ones before it set.
STRUCTURED = (
    _check_strategy,
    _read_envs,
    _read_space,
    _read_options,
    _check_budget,
    _check_evaluation,
    _read_test,
    _read_objectives,
    _read_trackers,
)


def _largest_batch(sweep: Sweep) -> int:
    defaults = sweep.agent_space().resolve(sweep.fixed)

    def largest(name: str) -> int:
        domain = sweep.space.get(name)
        if domain is None:
            return int(defaults[name])
        if isinstance(domain, hp.Discrete):
            return int(max(domain.values))
        return int(math.floor(domain.max_value))

    return math.prod(largest(name) for name in agents.UNIT_HPARAMS[sweep.agent])
