"""Optuna's samplers by name, for ``--strategy optuna`` (and ``tpe``), checked before a sweep
runs.

A sweep names a sampler (``strategy_options: {sampler: CmaEsSampler, sigma0: 0.5}``); the
other keys of ``strategy_options`` that are not tfhparam's own are the sampler's keyword
arguments, checked against its constructor. Optuna is imported here only when a sweep uses
it, and TensorFlow never.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import warnings
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Sampler:
    """What the engine knows of one Optuna sampler.

    Attributes:
        name: its class in ``optuna.samplers``.
        multi_objective: it ranks several objectives (a Pareto front).
        categorical: it models categorical hparams itself (otherwise Optuna samples them
            independently at random, as it documents).
        models: it learns from results, so a sweep hands it few trials before the first
            results (``num_initial_points`` and a quarter of the trials), and its
            ``n_startup_trials`` is ``num_initial_points``; running trials are handed to it
            as it supports (TPE's constant liar, the GP's q-batch acquisition).
        needs: a module it imports and the extra that installs it, or None.
    """

    name: str
    multi_objective: bool
    categorical: bool
    models: bool
    needs: tuple[str, str] | None = None


SAMPLERS = {
    s.name: s
    for s in (
        Sampler("TPESampler", True, True, True),
        Sampler("GPSampler", True, True, True, ("torch", "gp")),
        Sampler("CmaEsSampler", False, False, False, ("cmaes", "optuna")),
        Sampler("NSGAIISampler", True, True, False),
        Sampler("NSGAIIISampler", True, True, False),
        Sampler("QMCSampler", True, False, False, ("scipy", "optuna")),
        Sampler("RandomSampler", True, True, False),
    )
}
NAMES = tuple(SAMPLERS)
# Keyword arguments the sweep sets itself.
SET_BY_THE_SWEEP = {"seed": "the sweep's seed", "n_startup_trials": "num_initial_points"}


class SamplerError(ValueError):
    """A sampler or sampler option a sweep cannot use; the message says why."""


def import_optuna():
    if importlib.util.find_spec("optuna") is None:
        raise SamplerError("Optuna is not installed: pip install 'tfhparam[optuna]'")
    import optuna

    return optuna


def keywords(name: str) -> list[str]:
    """The keyword arguments the sampler ``name`` takes from a sweep."""
    optuna = import_optuna()
    parameters = inspect.signature(getattr(optuna.samplers, name).__init__).parameters
    return [p for p in parameters if p not in ("self", *SET_BY_THE_SWEEP)]


def check(name: str, options: Mapping[str, Any], objectives: int) -> None:
    """Refuses a sampler that is unknown, not installed, unable to rank ``objectives``
    objectives, or given options it does not take.

    Raises:
        SamplerError: naming the problem (and the extra to install).
    """
    if name not in SAMPLERS:
        raise SamplerError(f"unknown sampler {name!r}; choose from {', '.join(NAMES)}")
    record = SAMPLERS[name]
    import_optuna()
    if record.needs and importlib.util.find_spec(record.needs[0]) is None:
        module, extra = record.needs
        raise SamplerError(f"{name} needs {module}: pip install 'tfhparam[{extra}]'")
    if objectives > 1 and not record.multi_objective:
        able = [n for n, s in SAMPLERS.items() if s.multi_objective]
        raise SamplerError(
            f"{name} optimizes one objective; for {objectives} use {', '.join(able)}"
        )
    taken = keywords(name)
    for key, value in options.items():
        if key in SET_BY_THE_SWEEP:
            raise SamplerError(f"{key} of {name} is set by {SET_BY_THE_SWEEP[key]}")
        if key not in taken:
            raise SamplerError(f"{name} takes no option {key!r}; it takes {', '.join(taken)}")
        if not isinstance(value, (bool, int, float, str, list, type(None))):
            raise SamplerError(f"{name} option {key}: a number, text or list, got {value!r}")
    try:
        make(name, options, seed=0, initial_points=None)
    except (TypeError, ValueError) as error:
        raise SamplerError(f"{name}: {str(error).splitlines()[0]}") from None


def make(name: str, options: Mapping[str, Any], seed: int | None, initial_points: int | None):
    """An ``optuna.samplers`` instance: ``name`` with ``options``, seeded; modelling
    samplers start modelling after ``initial_points`` trials (Optuna's default if None).
    Categorical hparams a sampler cannot model are drawn at random without a warning a
    trial (the sweep says so once)."""
    optuna = import_optuna()
    record = SAMPLERS[name]
    kwargs: dict[str, Any] = dict(options)
    if "seed" in inspect.signature(getattr(optuna.samplers, name).__init__).parameters:
        kwargs["seed"] = seed
    if record.models and initial_points is not None:
        kwargs["n_startup_trials"] = initial_points
    if not record.categorical and "warn_independent_sampling" in keywords(name):
        kwargs.setdefault("warn_independent_sampling", False)
    with warnings.catch_warnings():  # "experimental" samplers (QMC, NSGA-III): documented
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return getattr(optuna.samplers, name)(**kwargs)
