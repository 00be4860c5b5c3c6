"""The search strategies, one record each, and their options.

A strategy is a :class:`Strategy` record and an oracle. The record says everything the
rest of the engine asks about it: which oracle class runs it and with which options, whether
it counts by trials or its options fix the count, what splits a trial's budget into units,
whether its trials can be pruned, how many trials it hands out at once (so populations
fill), how many it runs in all. The sweep-file checks (``config``), the CLI's help
(``sweep``), the tuner and its progress display and the workers all read it. Adding a
strategy is one record here and one oracle.

No TensorFlow and no Keras Tuner here: the oracle classes are named as ``module:Class``
and imported when a sweep runs.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

# A trial that fails never stops a sweep: Keras Tuner's oracles stop after this many
# failures in a row.
NEVER_STOP_ON_FAILURES = 10**9


@dataclasses.dataclass(frozen=True)
class Option:
    """One strategy option: default, bounds (inclusive; None: unbounded) and meaning."""

    name: str
    default: Any
    low: float | None
    high: float | None = None
    kind: str = "int"  # int, float, "int or none", name (a sampler), mapping
    help: str = ""


OPTIONS = {
    o.name: o
    for o in (
        Option("grid_points", 3, 2, help="grid: points per interval (log-spaced on log scales)"),
        Option("max_epochs", 27, 1, help="hyperband: budget units of the longest trial"),
        Option("factor", 3, 2, help="hyperband: 1/factor of a round goes on to the next"),
        Option("hyperband_iterations", 1, 1, help="hyperband: times the schedule runs"),
        Option(
            "num_initial_points",
            None,
            1,
            kind="int or none",
            help="bayesian, tpe: random trials before the model proposes",
        ),
        Option("population_size", 8, 2, help="pbt, evolution: members or trials a generation"),
        Option("generations", 4, 1, help="pbt: intervals a member; evolution: generations"),
        Option(
            "quantile", 0.25, 0.0, 0.5, "float", "pbt: share of the population replaced and copied"
        ),
        Option(
            "resample_probability", 0.25, 0.0, 1.0, "float", "pbt: explore redraws, not perturbs"
        ),
        Option("tournament_size", 3, 1, help="evolution: trials drawn per tournament"),
        Option("mutation_probability", 0.2, 0.0, 1.0, "float", "evolution: per hparam of a child"),
        Option("elites", 1, 0, help="evolution: best trials carried over unchanged"),
        # pruning (--prune median or asha), for the strategies that can be pruned
        Option("prune_reports", 10, 1, help="pruning: intermediate scores a run reports"),
        Option("prune_warmup", 3, 1, help="pruning: reports before any stop (ASHA: first rung)"),
        Option("prune_min_trials", 4, 1, help="median pruning: other trials needed at a report"),
        Option("prune_factor", 3, 2, help="ASHA: the top 1/factor go on at each rung"),
        # --strategy optuna: the sampler by name; its keyword options are strategy_options
        # too (kept in sampler_options; tfhparam.samplers checks them)
        Option("sampler", "TPESampler", None, kind="name", help="optuna: an optuna.samplers class"),
        Option("sampler_options", {}, None, kind="mapping", help="optuna: the sampler's options"),
    )
}
PRUNING_OPTIONS = ("prune_reports", "prune_warmup", "prune_min_trials", "prune_factor")
PRUNERS = ("none", "median", "asha")


def default(name: str) -> Any:
    """An option's default (the oracles' constructors use these too)."""
    return OPTIONS[name].default


Get = Callable[[str], Any]  # reads an option (or "trials") of a sweep or an oracle


def _all(get: Get) -> int:
    return int(get("trials"))


def _model_based(get: Get) -> int:
    """Bayesian, TPE: the random initial points, or a quarter of the trials if more, so
    that the model sees results before it proposes most trials."""
    trials = int(get("trials") or 4)
    return max(1, min(trials, max(int(get("num_initial_points") or 0), -(-trials // 4))))


def _hyperband_total(get: Get) -> int:
    import keras_tuner as kt

    from tfhparam import kt_internals

    oracle = kt.oracles.HyperbandOracle(
        objective=kt.Objective("score", "max"),
        max_epochs=int(get("max_epochs")),
        factor=int(get("factor")),
    )
    per_iteration = sum(
        size for rounds in kt_internals.hyperband_rounds(oracle) for size, _ in rounds
    )
    return per_iteration * int(get("hyperband_iterations"))


@dataclasses.dataclass(frozen=True)
class Strategy:
    """What the engine knows of a strategy.

    Attributes:
        name: as in ``--strategy``.
        oracle: its oracle class, ``module:Class``.
        kind: the class an oracle given to ``RLTuner`` must be an instance of to be this
            strategy (``module:Class``; a base class of ``oracle`` where Keras Tuner's own
            class is accepted too).
        options: its own options (keys of :data:`OPTIONS`), passed to the oracle.
        by_trials: it runs ``trials`` trials; otherwise its options fix how many.
        unit: the option that splits ``total_timesteps`` into a trial's budget units (a
            trial trains a whole number of them), or None: a trial trains it all.
        prunable: its trials can be stopped early (whole trials, none continuing another).
        at_once: trials it hands out at a time, from its options (and ``trials``).
        total: trials it runs in all (for progress), from its options (and ``trials``).
        help: one line for the CLI.
        settings: options it reads itself rather than passing them to its oracle.
        extra: the oracle's other arguments, made from the sweep (a grid's points, the
            hparams PBT must not perturb).
        multi_objective: it takes several objectives (``tfhparam.objectives``): it ranks
            them by Pareto front (evolution as NSGA-II, Optuna's samplers) or simply reports
            the front (random, grid).
    """

    name: str
    oracle: str
    kind: str
    options: tuple[str, ...]
    by_trials: bool
    unit: str | None
    prunable: bool
    at_once: Callable[[Get], int]
    total: Callable[[Get], int]
    help: str
    settings: tuple[str, ...] = ()
    extra: Callable[[Any], dict[str, Any]] = lambda sweep: {}
    multi_objective: bool = False

    def accepts(self, pruned: bool) -> tuple[str, ...]:
        """The options a sweep of this strategy may set (the pruning ones if it prunes)."""
        return (*self.options, *self.settings, *(PRUNING_OPTIONS if pruned else ()))

    def oracle_class(self) -> type:
        return _load(self.oracle)

    def kind_class(self) -> type:
        return _load(self.kind)


def _load(path: str) -> type:
    module, _, name = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def _grid_points(sweep: Any) -> dict[str, Any]:
    from tfhparam.space import grid_values

    points = sweep.options["grid_points"]
    return {"grid": {name: grid_values(d, points) for name, d in sweep.space.items()}}


def _frozen(sweep: Any) -> dict[str, Any]:
    import agents

    return {"frozen": agents.STRUCTURAL_HPARAMS}  # a copied checkpoint continues under them


def _population(get: Get) -> int:
    return int(get("population_size"))


def _pbt_total(get: Get) -> int:
    return int(get("population_size")) * int(get("generations"))


def _optuna_at_once(get: Get) -> int:
    """A modelling sampler (TPE, GP) as :func:`_model_based`; the others hand out every
    trial at once (their draws do not wait for results, or wait by generation)."""
    from tfhparam.samplers import SAMPLERS

    record = SAMPLERS.get(get("sampler") or "TPESampler")
    return _model_based(get) if record is None or record.models else _all(get)


def _sampler_options(sweep: Any) -> dict[str, Any]:
    return {"sampler_options": dict(sweep.options["sampler_options"])}


def _evolution_total(get: Get) -> int:
    size, elites = int(get("population_size")), int(get("elites"))
    return size + (int(get("generations")) - 1) * (size - elites)


STRATEGIES = {
    s.name: s
    for s in (
        Strategy(
            "grid",
            "tfhparam.oracles:GridOracle",
            "tfhparam.oracles:GridOracle",
            (),
            True,
            None,
            True,
            _all,
            _all,
            "every combination (grid_points values per interval), resumable",
            settings=("grid_points",),
            extra=_grid_points,
            multi_objective=True,
        ),
        Strategy(
            "random",
            "keras_tuner:oracles.RandomSearchOracle",
            "keras_tuner:oracles.RandomSearchOracle",
            (),
            True,
            None,
            True,
            _all,
            _all,
            "Keras Tuner's random search",
            multi_objective=True,
        ),
        Strategy(
            "hyperband",
            "tfhparam.oracles:HyperbandOracle",
            "keras_tuner:oracles.HyperbandOracle",
            ("max_epochs", "factor", "hyperband_iterations"),
            False,
            "max_epochs",
            False,
            lambda get: int(get("max_epochs")),
            _hyperband_total,
            "Keras Tuner's Hyperband (failed trials survive), promoted trials continue",
        ),
        Strategy(
            "bayesian",
            "keras_tuner:oracles.BayesianOptimizationOracle",
            "keras_tuner:oracles.BayesianOptimizationOracle",
            ("num_initial_points",),
            True,
            None,
            True,
            _model_based,
            _all,
            "Keras Tuner's Gaussian-process Bayesian optimization",
        ),
        Strategy(
            "pbt",
            "tfhparam.oracles:PBTOracle",
            "tfhparam.oracles:PBTOracle",
            ("population_size", "generations", "quantile", "resample_probability"),
            False,
            "generations",
            False,
            _population,
            _pbt_total,
            "population-based training: the worst copy the best, then explore",
            extra=_frozen,
        ),
        Strategy(
            "evolution",
            "tfhparam.oracles:EvolutionOracle",
            "tfhparam.oracles:EvolutionOracle",
            ("population_size", "generations", "tournament_size", "mutation_probability", "elites"),
            False,
            None,
            False,
            _population,
            _evolution_total,
            "a genetic algorithm: tournaments, crossover, mutation, elites; NSGA-II with "
            "several objectives",
            multi_objective=True,
        ),
        Strategy(
            "tpe",
            "tfhparam.oracles:TPEOracle",
            "tfhparam.oracles:TPEOracle",
            ("num_initial_points",),
            True,
            None,
            True,
            _model_based,
            _all,
            "Optuna's TPE sampler (extra optuna), its study in SQLite",
            multi_objective=True,
        ),
        Strategy(
            "optuna",
            "tfhparam.oracles:OptunaOracle",
            "tfhparam.oracles:OptunaOracle",
            ("sampler", "num_initial_points"),
            True,
            None,
            True,
            _optuna_at_once,
            _all,
            "any Optuna sampler by name (strategy_options: {sampler: CmaEsSampler, ...}; "
            "extra optuna), its study in SQLite",
            settings=("sampler_options",),
            extra=_sampler_options,
            multi_objective=True,
        ),
    )
}
MULTI_OBJECTIVE = tuple(name for name, s in STRATEGIES.items() if s.multi_objective)
NAMES = tuple(STRATEGIES)
PRUNABLE = tuple(name for name, s in STRATEGIES.items() if s.prunable)


def for_oracle(oracle: Any) -> Strategy | None:
    """The strategy an oracle instance runs (the most specific match), or None for an
    oracle of nobody's strategy (then: one trial at a time's worth of defaults)."""
    matches = [s for s in STRATEGIES.values() if isinstance(oracle, s.kind_class())]
    matches.sort(key=lambda s: len(s.kind_class().__mro__), reverse=True)
    return matches[0] if matches else None


def oracle_reader(oracle: Any) -> Get:
    """Reads a strategy's options (and ``trials``) off an oracle instance."""

    def get(name: str) -> Any:
        return getattr(oracle, "max_trials" if name == "trials" else name, None)

    return get
