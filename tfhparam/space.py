"""The engine's forms of the agents' hparam declarations (``agents.hparams``): the values a
grid tries, and Keras Tuner's ``HyperParameters`` (and back, for TensorBoard's HParams)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from agents.hparams import LogRealInterval, Value, hp


def grid_values(domain: hp.Domain, points: int) -> list[Value]:
    """The values a grid search tries for ``domain``.

    A value list is tried as is; an interval gives ``points`` evenly spaced values,
    log-spaced on a log scale; an integer interval with at most ``points`` integers gives
    all of them.
    """
    if isinstance(domain, hp.Discrete):
        return list(domain.values)
    low, high = domain.min_value, domain.max_value
    if isinstance(domain, hp.IntInterval):
        if high - low + 1 <= points:
            return list(range(low, high + 1))
        values = [round(low + (high - low) * i / (points - 1)) for i in range(points)]
        return sorted(set(values))
    if isinstance(domain, LogRealInterval):
        ratio = math.log(high / low)
        inner = [low * math.exp(ratio * i / (points - 1)) for i in range(1, points - 1)]
    else:
        inner = [low + (high - low) * i / (points - 1) for i in range(1, points - 1)]
    # Exact end points; 12 significant digits inside (0.945, not 0.9450000000000001).
    return [float(low), *(float(f"{v:.12g}") for v in inner), float(high)]


def to_keras_tuner(domains: Mapping[str, hp.Domain]):
    """Declares ``domains`` as ``keras_tuner.HyperParameters`` (log scale kept)."""
    import keras_tuner as kt

    hps = kt.HyperParameters()
    for name, domain in domains.items():
        if isinstance(domain, hp.Discrete):
            values = list(domain.values)
            if all(isinstance(v, bool) for v in values) and len(values) == 2:
                hps.Boolean(name)
            else:
                hps.Choice(name, values, ordered=not isinstance(values[0], (str, bool)))
        elif isinstance(domain, hp.IntInterval):
            hps.Int(name, domain.min_value, domain.max_value)
        else:
            sampling = "log" if isinstance(domain, LogRealInterval) else "linear"
            hps.Float(name, domain.min_value, domain.max_value, sampling=sampling)
    return hps


def from_keras_tuner(hps) -> dict[str, hp.Domain]:
    """The TensorBoard domains of a ``keras_tuner.HyperParameters`` space (for HParams)."""
    import keras_tuner as kt

    domains: dict[str, hp.Domain] = {}
    for p in hps.space:
        if isinstance(p, kt.engine.hyperparameters.Boolean):
            domains[p.name] = hp.Discrete([False, True])
        elif isinstance(p, kt.engine.hyperparameters.Choice):
            domains[p.name] = hp.Discrete(list(p.values))
        elif isinstance(p, kt.engine.hyperparameters.Int):
            domains[p.name] = hp.IntInterval(p.min_value, p.max_value)
        elif isinstance(p, kt.engine.hyperparameters.Float):
            log = p.sampling == "log"
            cls = LogRealInterval if log else hp.RealInterval
            domains[p.name] = cls(float(p.min_value), float(p.max_value))
        elif isinstance(p, kt.engine.hyperparameters.Fixed):
            domains[p.name] = hp.Discrete([p.value])
    return domains
