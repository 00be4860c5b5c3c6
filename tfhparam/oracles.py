"""Search strategies beyond Keras Tuner's own, each a ``keras_tuner.Oracle``.

- :class:`GridOracle`: every combination, in an order a resume can continue;
- :class:`HyperbandOracle`: Keras Tuner's, mended so that failed trials do not stall it;
- :class:`PBTOracle`: population-based training (Jaderberg et al. 2017);
- :class:`EvolutionOracle`: a genetic search (tournament selection, crossover, mutation,
  elitism; HPS-RL's recipe);
- :class:`TPEOracle`: Optuna's TPE sampler over ask/tell, its study stored in the sweep;
- :class:`PruningMixin` with :func:`median_prunes` and :func:`asha_prunes`: early stopping
  of trials whose intermediate scores fall behind, for random, grid, Bayesian and TPE.

Being oracles, they work from ``python -m tfhparam.sweep``, from ``RLTuner`` and with
several workers (the chief holds the oracle). Their decisions are deterministic functions
of the seed and the trials' records (which Keras Tuner saves), so a resumed sweep decides
as the first run would have.
"""

from __future__ import annotations

import math
import os
import random
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner as kt

from tfhparam import pareto, samplers
from tfhparam.strategies import default

# Step of the final report of a trial; intermediate reports use steps 1, 2, ...
FINAL_STEP = 10**9


# ---------------------------------------------------------------------------------------
# Moves in a hyperparameter's domain (Keras Tuner's HyperParameter objects)
# ---------------------------------------------------------------------------------------


def resample(hparam, rng: random.Random) -> Any:
    """A fresh value drawn from ``hparam``'s domain (log-uniform on log scales)."""
    return hparam.prob_to_value(rng.random())


def perturb(hparam, value: Any, rng: random.Random, factors=(0.8, 1.2)) -> Any:
    """``value`` times one of ``factors``, kept inside the domain (integers rounded)."""
    new = value * rng.choice(factors)
    new = min(max(new, hparam.min_value), hparam.max_value)
    return int(round(new)) if isinstance(hparam, kt.engine.hyperparameters.Int) else float(new)


def is_continuous(hparam) -> bool:
    """Float and Int hparams: the kinds PBT's explore step can move."""
    return isinstance(hparam, (kt.engine.hyperparameters.Float, kt.engine.hyperparameters.Int))


def _rng(*parts: Any) -> random.Random:
    """A generator seeded by ``parts``: the same decision again on resume."""
    return random.Random(":".join(str(p) for p in parts))


def _ranked(trials: Sequence, direction: str = "max") -> list:
    """Trials best first; failed ones (no score) last."""
    sign = 1.0 if direction == "max" else -1.0
    return sorted(trials, key=lambda t: -sign * t.score if t.score is not None else math.inf)


def objective_list(objective) -> list:
    """The ``kt.Objective`` s of an oracle's objective (several in a ``MultiObjective``)."""
    return list(getattr(objective, "objectives", None) or [objective])


def objective_values(trial, objective) -> list[float] | None:
    """A trial's value of each objective (its score, with one), or None if it has not all
    of them (failed, or still running)."""
    parts = objective_list(objective)
    if len(parts) == 1:
        return None if trial.score is None else [float(trial.score)]
    values = []
    for part in parts:
        if not trial.metrics.exists(part.name):
            return None
        value = trial.metrics.get_last_value(part.name)
        if value is None or math.isnan(value):
            return None
        values.append(float(value))
    return values


def pareto_ranked(trials: Sequence, objective) -> list:
    """Trials best first by NSGA-II's order (front, then crowding distance); one objective:
    by its value. Trials without every value last, in their order."""
    parts = objective_list(objective)
    if len(parts) == 1:
        return _ranked(trials, parts[0].direction)
    points = [objective_values(t, objective) for t in trials]
    scored = [i for i, p in enumerate(points) if p is not None]
    order = pareto.rank([points[i] for i in scored], [o.direction for o in parts])
    unscored = [t for t, p in zip(trials, points) if p is None]
    return [trials[scored[k]] for k in order] + unscored


# ---------------------------------------------------------------------------------------
# Grid search that survives a resume
# ---------------------------------------------------------------------------------------


class GridOracle(kt.Oracle):
    """Grid search that survives a resume: trial ``i`` runs grid point ``i``.

    Points are visited in row-major order over the hparams (the last one varies fastest).
    The next point follows from the number of trials created, which the oracle's saved
    state already holds; Keras Tuner's own grid oracle keeps its cursor out of its state
    and fails on resume (keras-tuner issue 1055).

    Args:
        grid: hparam name -> the values to try.
        max_trials: at most this many points (default: the whole grid).
    """

    def __init__(self, grid: Mapping[str, Sequence[Any]], max_trials: int | None = None, **kwargs):
        self.grid = {name: list(values) for name, values in grid.items()}
        self.size = math.prod(len(v) for v in self.grid.values())
        super().__init__(max_trials=min(max_trials or self.size, self.size), **kwargs)

    def point(self, index: int) -> dict[str, Any]:
        values = {}
        for name, options in reversed(list(self.grid.items())):
            index, i = divmod(index, len(options))
            values[name] = options[i]
        return dict(reversed(list(values.items())))

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        index = len(self.trials)
        if index >= self.max_trials:
            return {"status": "IDLE" if self.ongoing_trials else "STOPPED", "values": None}
        return {"status": "RUNNING", "values": self.point(index)}


# ---------------------------------------------------------------------------------------
# Hyperband that survives failed trials
# ---------------------------------------------------------------------------------------


class HyperbandOracle(kt.oracles.HyperbandOracle):
    """Keras Tuner's Hyperband, whose rounds also move on when trials fail.

    Keras Tuner promotes from a round only once more of its trials have *completed* than
    the round drops, so in keras-tuner 1.4.8 a round with failed trials (diverged RL runs
    are common) never promotes anyone: its bracket stalls and the sweep moves on without
    the longer runs. Here a failed trial is ranked last instead (score -inf): its round
    closes, and it is promoted only when fewer trials completed than go on (that promotion
    then fails at once: there is no checkpoint to continue). ``failed_ids`` keeps which
    trials really failed; the results table shows them as failed.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failed_ids: set[str] = set()

    def end_trial(self, trial) -> None:
        if trial.status in ("FAILED", "INVALID"):
            self.failed_ids.add(trial.trial_id)
            trial.status = "COMPLETED"
        super().end_trial(trial)

    def score_trial(self, trial) -> None:
        if trial.trial_id in self.failed_ids:
            trial.score, trial.best_step = -math.inf, 0
        else:
            super().score_trial(trial)

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "failed_ids": sorted(self.failed_ids)}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.failed_ids = set(state.get("failed_ids", []))


# ---------------------------------------------------------------------------------------
# Population-based training
# ---------------------------------------------------------------------------------------


class PBTOracle(kt.Oracle):
    """Population-based training: members train in intervals; the worst copy the best.

    Every Keras Tuner trial is one interval of one member: it continues the checkpoint of
    the trial named by ``tuner/trial_id`` (the member's previous interval, or after an
    exploit, the copied member's) up to ``tuner/epochs`` intervals of
    ``total_timesteps / generations`` env steps. After every interval, once all members
    have finished it, the bottom ``quantile`` copy a top-``quantile`` member's weights,
    optimizer state and hparams (exploit), then multiply each continuous hparam by 0.8 or
    1.2, or with ``resample_probability`` draw it afresh, inside its domain (explore).

    Args:
        objective: ``kt.Objective("score", "max")``.
        population_size: members.
        generations: intervals per member.
        quantile: share of the population copied from, and replaced.
        resample_probability: chance that explore draws a value instead of perturbing.
        frozen: hparams explore never changes (those that shape a checkpoint's variables:
            a copied checkpoint must continue under them).
        seed: decides the first values and every exploit and explore.
        hyperparameters, **kwargs: as ``kt.Oracle``.
    """

    def __init__(
        self,
        objective,
        population_size: int = default("population_size"),
        generations: int = default("generations"),
        quantile: float = default("quantile"),
        resample_probability: float = default("resample_probability"),
        frozen: Sequence[str] = (),
        seed=None,
        hyperparameters=None,
        **kwargs,
    ):
        kwargs["max_trials"] = population_size * generations
        self.frozen = frozenset(frozen)
        super().__init__(objective=objective, seed=seed, hyperparameters=hyperparameters, **kwargs)
        self.population_size, self.generations = int(population_size), int(generations)
        self.quantile, self.resample_probability = float(quantile), float(resample_probability)
        # lineage[member] = one entry per interval: trial, hparams, source trial, copied from
        self.lineage: list[list[dict[str, Any]]] = [[] for _ in range(self.population_size)]

    def _generation_done(self, generation: int) -> bool:
        entries = [member[generation] for member in self.lineage if len(member) > generation]
        return len(entries) == self.population_size and all(
            self.trials[e["trial"]].status in ("COMPLETED", "FAILED", "INVALID") for e in entries
        )

    def _next_values(self, member: int, generation: int) -> tuple[dict, str | None, int | None]:
        """Hparams, checkpoint source and copied member for ``member``'s next interval."""
        history = self.lineage[member]
        if generation == 0:
            return self._first_values(member), None, None
        previous = [m[generation - 1] for m in self.lineage]
        ranked = _ranked([self.trials[e["trial"]] for e in previous], self.objective.direction)
        ids = [t.trial_id for t in ranked]
        cut = max(1, int(self.population_size * self.quantile))
        top, bottom = ids[:cut], set(ids[-cut:])
        mine = history[-1]
        if mine["trial"] not in bottom and self.trials[mine["trial"]].score is not None:
            return dict(mine["hparams"]), mine["trial"], None  # keeps training as it is
        rng = _rng(self.seed, "pbt", generation, member)
        source_trial = rng.choice(top)
        source = next(
            i for i, m in enumerate(self.lineage) if m[generation - 1]["trial"] == source_trial
        )
        values = dict(self.lineage[source][generation - 1]["hparams"])
        for hparam in self.hyperparameters.space:
            if hparam.name in values and hparam.name not in self.frozen and is_continuous(hparam):
                if rng.random() < self.resample_probability:
                    values[hparam.name] = resample(hparam, rng)
                else:
                    values[hparam.name] = perturb(hparam, values[hparam.name], rng)
        return values, source_trial, source

    def _first_values(self, member: int) -> dict[str, Any]:
        rng = _rng(self.seed, "pbt-init", member)
        return {hparam.name: resample(hparam, rng) for hparam in self.hyperparameters.space}

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        generation = min(len(m) for m in self.lineage)
        if generation >= self.generations:
            return {"status": "STOPPED", "values": None}
        if generation > 0 and not self._generation_done(generation - 1):
            return {"status": "IDLE", "values": None}
        member = next(i for i, m in enumerate(self.lineage) if len(m) == generation)
        if generation > 0 and not any(
            self.trials[m[generation - 1]["trial"]].score is not None for m in self.lineage
        ):
            return {"status": "STOPPED", "values": None}  # every member failed
        values, source_trial, source = self._next_values(member, generation)
        self.lineage[member].append(
            {
                "generation": generation,
                "trial": trial_id,
                "hparams": values,
                "restore": source_trial,
                "copied_from": source,
            }
        )
        schedule = {
            "tuner/member": member,
            "tuner/epochs": generation + 1,
            "tuner/initial_epoch": generation,
        }
        if source_trial is not None:  # (gRPC carries no None values)
            schedule["tuner/trial_id"] = source_trial
        return {"status": "RUNNING", "values": {**values, **schedule}}

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "lineage": self.lineage}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.lineage = state["lineage"]


# ---------------------------------------------------------------------------------------
# Evolution
# ---------------------------------------------------------------------------------------


class EvolutionOracle(kt.Oracle):
    """A genetic search: each generation breeds from the last one's scores.

    Generation 0 is drawn at random. Each later one keeps the ``elites`` best trials (not
    trained again) and fills the rest with children: two parents picked by tournaments of
    ``tournament_size``, each hparam taken from either parent (uniform crossover), then
    redrawn within its domain with ``mutation_probability`` (mutation). Every child trains
    from scratch with the full budget.

    With several objectives (a ``MultiObjective``) it is NSGA-II (Deb et al. 2002): trials
    are ranked by Pareto front, then by crowding distance (:func:`pareto_ranked`), and a
    generation breeds from the best ``population_size`` of itself and the parents it was
    bred from (NSGA-II's elitist selection); tournaments, crossover and mutation stay.

    Args:
        objective: ``kt.Objective("score", "max")``.
        population_size: trials per generation.
        generations: generations, the first included.
        tournament_size: trials drawn per tournament (the best wins).
        mutation_probability: chance that each of a child's hparams is redrawn.
        elites: best trials carried into the next generation unchanged.
        seed, hyperparameters, **kwargs: as ``kt.Oracle``.
    """

    def __init__(
        self,
        objective,
        population_size: int = default("population_size"),
        generations: int = default("generations"),
        tournament_size: int = default("tournament_size"),
        mutation_probability: float = default("mutation_probability"),
        elites: int = default("elites"),
        seed=None,
        hyperparameters=None,
        **kwargs,
    ):
        if not 0 <= elites < population_size:
            raise ValueError(f"elites must be in [0, population_size), got {elites}")
        kwargs["max_trials"] = population_size + (generations - 1) * (population_size - elites)
        super().__init__(objective=objective, seed=seed, hyperparameters=hyperparameters, **kwargs)
        self.population_size, self.generations = int(population_size), int(generations)
        self.tournament_size, self.elites = int(tournament_size), int(elites)
        self.mutation_probability = float(mutation_probability)
        # populations[g] = trial ids of generation g (its elites first)
        self.populations: list[list[str]] = [[]]

    def _finished(self, ids: Sequence[str]) -> bool:
        return all(self.trials[i].status in ("COMPLETED", "FAILED", "INVALID") for i in ids)

    def _parents(self, generation: int) -> list[str]:
        """The trial ids generation ``generation + 1`` breeds from, best first: generation
        ``generation`` itself, or with several objectives the best ``population_size`` of it
        and of the parents it was bred from."""
        pool = list(self.populations[generation])
        if len(objective_list(self.objective)) > 1 and generation > 0:
            pool += [i for i in self._parents(generation - 1) if i not in pool]
        ranked = pareto_ranked([self.trials[i] for i in pool], self.objective)
        return [t.trial_id for t in ranked][: self.population_size]

    def _tournament(self, ranked_ids: list[str], rng: random.Random) -> str:
        entrants = rng.sample(range(len(ranked_ids)), min(self.tournament_size, len(ranked_ids)))
        return ranked_ids[min(entrants)]  # lower index = better rank

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        generation = len(self.populations) - 1
        current = self.populations[-1]
        if len(current) == self.population_size:
            if not self._finished(current):
                return {"status": "IDLE", "values": None}
            if generation + 1 >= self.generations:
                return {"status": "STOPPED", "values": None}
            self.populations.append(self._parents(generation)[: self.elites])
            generation, current = generation + 1, self.populations[-1]
        rng = _rng(self.seed, "evolution", generation, len(current))
        if generation == 0:
            values = {h.name: resample(h, rng) for h in self.hyperparameters.space}
        else:
            ranked = self._parents(generation - 1)
            mother = self.trials[self._tournament(ranked, rng)].hyperparameters.values
            father = self.trials[self._tournament(ranked, rng)].hyperparameters.values
            values = {}
            for hparam in self.hyperparameters.space:
                name = hparam.name
                values[name] = mother.get(name) if rng.random() < 0.5 else father.get(name)
                if values[name] is None or rng.random() < self.mutation_probability:
                    values[name] = resample(hparam, rng)
        current.append(trial_id)
        return {"status": "RUNNING", "values": values}

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "populations": self.populations}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.populations = state["populations"]


# ---------------------------------------------------------------------------------------
# Early stopping
# ---------------------------------------------------------------------------------------


def median_prunes(
    value: float, others: Sequence[float], step: int, warmup: int, min_trials: int
) -> bool:
    """Optuna's median rule: stop if ``value`` is below the median of the other trials'
    values at the same step, once past ``warmup`` steps and with ``min_trials`` others."""
    if step < warmup or len(others) < min_trials:
        return False
    return value < statistics.median(others)


def asha_prunes(value: float, others: Sequence[float], step: int, warmup: int, factor: int) -> bool:
    """Asynchronous successive halving: at rungs ``warmup * factor**k`` a trial goes on
    only if its value is in the top ``1/factor`` of all values seen at that rung."""
    if step < warmup:
        return False
    rung = math.log(step / warmup, factor)
    if abs(rung - round(rung)) > 1e-9:
        return False  # not a rung
    values = sorted([*others, value], reverse=True)
    keep = max(1, len(values) // factor)
    return value < values[keep - 1]


class PruningMixin:
    """Adds early stopping to an oracle: intermediate scores come through ``update_trial``
    at steps 1, 2, ... and the final score at :data:`FINAL_STEP`; a trial's score is its
    final one (not its best). ``update_trial`` answers ``STOPPED`` to stop a trial.

    Attributes set by :func:`with_pruning`: ``pruner`` (``median`` or ``asha``),
    ``prune_reports`` (reports a run sends), ``prune_warmup`` (reports before any stop),
    ``prune_min_trials`` (median: other trials needed at a step), ``prune_factor`` (ASHA's
    reduction factor).
    """

    pruner: str | None = None
    prune_reports: int = default("prune_reports")
    prune_warmup: int = default("prune_warmup")
    prune_min_trials: int = default("prune_min_trials")
    prune_factor: int = default("prune_factor")
    pruned_ids: set[str]

    def score_trial(self, trial) -> None:
        history = (
            trial.metrics.get_history(self.objective.name)
            if trial.metrics.exists(self.objective.name)
            else []
        )
        if not history:
            trial.score, trial.best_step = None, 0
            return
        last = max(history, key=lambda observation: observation.step)
        trial.score, trial.best_step = float(last.value[-1]), last.step

    def _values_at(self, step: int, exclude: str) -> list[float]:
        values = []
        for trial in self.trials.values():
            if trial.trial_id == exclude or not trial.metrics.exists(self.objective.name):
                continue
            for observation in trial.metrics.get_history(self.objective.name):
                if observation.step == step:
                    values.append(float(observation.value[-1]))
        return values

    def update_trial(self, trial_id: str, metrics: Mapping[str, float], step: int = 0):
        """Records the report; returns the trial, its status ``STOPPED`` if it is pruned
        (Keras Tuner's chief sends the trial back to a worker as a proto)."""
        trial = super().update_trial(trial_id, metrics, step)
        value = metrics.get(self.objective.name)
        if self.pruner is None or value is None or step >= FINAL_STEP or step < 1:
            return trial
        others = self._values_at(step, exclude=trial_id)
        if self.objective.direction == "min":
            value, others = -value, [-v for v in others]
        if self.pruner == "median":
            stop = median_prunes(value, others, step, self.prune_warmup, self.prune_min_trials)
        else:
            stop = asha_prunes(value, others, step, self.prune_warmup, self.prune_factor)
        if stop:
            self.pruned_ids.add(trial_id)
            trial.status = "STOPPED"
            self._save_trial(trial)
        return trial

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "pruned_ids": sorted(self.pruned_ids)}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.pruned_ids = set(state.get("pruned_ids", []))


_PRUNING_CLASSES: dict[type, type] = {}


def with_pruning(
    oracle_class: type,
    pruner: str,
    warmup: int = default("prune_warmup"),
    min_trials: int = default("prune_min_trials"),
    factor: int = default("prune_factor"),
    reports: int = default("prune_reports"),
):
    """``oracle_class`` with :class:`PruningMixin`; returns a factory of oracles."""
    if pruner not in ("median", "asha"):
        raise ValueError(f"unknown pruner {pruner!r}; choose median or asha")
    if oracle_class not in _PRUNING_CLASSES:
        _PRUNING_CLASSES[oracle_class] = type(
            f"Pruning{oracle_class.__name__}", (PruningMixin, oracle_class), {}
        )

    def make(**kwargs):
        oracle = _PRUNING_CLASSES[oracle_class](**kwargs)
        oracle.pruner, oracle.prune_warmup = pruner, int(warmup)
        oracle.prune_min_trials, oracle.prune_factor = int(min_trials), int(factor)
        oracle.prune_reports, oracle.pruned_ids = int(reports), set()
        return oracle

    return make


# ---------------------------------------------------------------------------------------
# Optuna's samplers
# ---------------------------------------------------------------------------------------


class OptunaOracle(kt.Oracle):
    """Any of Optuna's samplers (:mod:`tfhparam.samplers`) driven through ask/tell, as a
    Keras Tuner oracle.

    The study lives in ``optuna.db`` (SQLite) in the sweep's directory, named after the
    sweep: a resumed sweep reloads it, and ``optuna-dashboard sqlite:///logs/NAME/optuna.db``
    shows it. With several objectives (a ``MultiObjective``) the study is multi-objective
    (its ``directions``, one value each told) and Optuna keeps the Pareto front. Failed
    trials are told as failed, pruned ones as pruned. A batch is asked one trial after
    another: trials still running are the sampler's to account for (TPE's constant liar,
    the GP's q-batch acquisition, qLogEI or qLogEHVI in Optuna 5).

    Args:
        objective: ``kt.Objective("score", "max")``, or several.
        max_trials: trials to run.
        sampler: the ``optuna.samplers`` class's name.
        sampler_options: its keyword arguments.
        num_initial_points: random trials before a modelling sampler models (Optuna's
            ``n_startup_trials``; default 10).
        seed, hyperparameters, **kwargs: as ``kt.Oracle``.
    """

    def __init__(
        self,
        objective,
        max_trials: int = 10,
        sampler: str = default("sampler"),
        sampler_options: Mapping[str, Any] = default("sampler_options"),
        num_initial_points: int | None = None,
        seed=None,
        hyperparameters=None,
        **kwargs,
    ):
        self.optuna = samplers.import_optuna()  # SamplerError naming the extra
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            **kwargs,
        )
        self.sampler, self.sampler_options = sampler, dict(sampler_options or {})
        self.num_initial_points = num_initial_points or 10
        self.numbers: dict[str, int] = {}  # Keras Tuner trial id -> Optuna trial number
        self._study = None

    def study(self):
        if self._study is None:
            optuna = self.optuna
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            storage = f"sqlite:///{os.path.abspath(os.path.join(self._project_dir, 'optuna.db'))}"
            directions = [
                "maximize" if o.direction == "max" else "minimize"
                for o in objective_list(self.objective)
            ]
            sampler = samplers.make(
                self.sampler, self.sampler_options, self.seed, self.num_initial_points
            )
            self._study = optuna.create_study(
                study_name=os.path.basename(self._project_dir),
                storage=storage,
                sampler=sampler,
                directions=directions,
                load_if_exists=True,
            )
        return self._study

    def distributions(self) -> dict[str, Any]:
        d = self.optuna.distributions
        out = {}
        for hparam in self.hyperparameters.space:
            if isinstance(hparam, kt.engine.hyperparameters.Float):
                out[hparam.name] = d.FloatDistribution(
                    hparam.min_value, hparam.max_value, log=hparam.sampling == "log"
                )
            elif isinstance(hparam, kt.engine.hyperparameters.Int):
                out[hparam.name] = d.IntDistribution(
                    hparam.min_value, hparam.max_value, log=hparam.sampling == "log"
                )
            elif isinstance(hparam, kt.engine.hyperparameters.Boolean):
                out[hparam.name] = d.CategoricalDistribution([False, True])
            elif isinstance(hparam, kt.engine.hyperparameters.Fixed):
                out[hparam.name] = d.CategoricalDistribution([hparam.value])
            else:
                out[hparam.name] = d.CategoricalDistribution(list(hparam.values))
        return out

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        asked = self.study().ask(self.distributions())
        self.numbers[trial_id] = asked.number
        return {"status": "RUNNING", "values": dict(asked.params)}

    def end_trial(self, trial) -> None:
        super().end_trial(trial)
        number = self.numbers.get(trial.trial_id)
        if number is None:
            return
        stored = self.trials[trial.trial_id]
        state = self.optuna.trial.TrialState
        values = objective_values(stored, self.objective)
        try:
            if stored.status == "COMPLETED" and values is not None:
                if stored.trial_id in getattr(self, "pruned_ids", ()):  # with PruningMixin
                    self.study().tell(number, state=state.PRUNED)
                else:
                    self.study().tell(number, values)
            elif stored.status in ("FAILED", "INVALID", "COMPLETED"):
                self.study().tell(number, state=state.FAIL)
        except RuntimeError:  # told already (a resumed sweep ending the same trial again)
            pass

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "numbers": self.numbers}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.numbers = dict(state["numbers"])


class TPEOracle(OptunaOracle):
    """:class:`OptunaOracle` with Optuna's TPE sampler (``--strategy tpe``)."""

    def __init__(self, objective, max_trials: int = 10, num_initial_points=None, **kwargs):
        super().__init__(
            objective,
            max_trials=max_trials,
            sampler="TPESampler",
            num_initial_points=num_initial_points,
            **kwargs,
        )
