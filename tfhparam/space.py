"""Search spaces declared once as TensorBoard ``HParam`` objects.

Every agent declares its hyperparameters here, as ``hp.HParam`` with a domain, plus a
default and a one-line meaning. The same declaration feeds the agents, the CLI flags,
TensorBoard's ``hparams_config`` and the search oracles.

TensorBoard domains cannot say "log scale", so :class:`LogRealInterval` carries it.

This module never imports TensorFlow: ``summary_v2`` holds the same classes as
``tensorboard.plugins.hparams.api`` without loading TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tensorboard.plugins.hparams import summary_v2 as hp

Value = bool | int | float | str

__all__ = [
    "LogRealInterval",
    "Param",
    "Space",
    "SpaceError",
    "hp",
    "is_log",
]


class SpaceError(ValueError):
    """A hyperparameter name or value that the space does not allow."""


class LogRealInterval(hp.RealInterval):
    """A real interval searched on a log scale (both bounds must be positive)."""

    def __init__(self, min_value: float, max_value: float):
        if not 0 < min_value < max_value:
            raise ValueError(f"log interval needs 0 < min < max, got [{min_value}, {max_value}]")
        super().__init__(float(min_value), float(max_value))

    def __repr__(self) -> str:
        return f"[{self.min_value:g}, {self.max_value:g}] (log)"


def is_log(domain: hp.Domain) -> bool:
    """Whether a domain is searched on a log scale."""
    return isinstance(domain, LogRealInterval)


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its TensorBoard ``HParam``, default and meaning."""

    hparam: hp.HParam
    default: Value
    help: str

    @property
    def name(self) -> str:
        return self.hparam.name

    @property
    def domain(self) -> hp.Domain:
        return self.hparam.domain


def param(name: str, domain: hp.Domain, default: Value, help: str) -> Param:
    """Declares a hyperparameter; checks that its default lies in its domain."""
    p = Param(hp.HParam(name, domain, description=help), default, help)
    check_value(p, default)
    return p


def _type_name(domain: hp.Domain) -> str:
    if isinstance(domain, hp.Discrete):
        return domain.dtype.__name__
    return "int" if isinstance(domain, hp.IntInterval) else "float"


def describe(domain: hp.Domain) -> str:
    """A short human-readable form of a domain, e.g. ``{1, 2, 4}`` or ``[1e-05, 0.01] (log)``."""
    if isinstance(domain, hp.Discrete):
        return "{" + ", ".join(str(v) for v in domain.values) + "}"
    if isinstance(domain, LogRealInterval):
        return repr(domain)
    return f"[{domain.min_value:g}, {domain.max_value:g}]"


def check_value(p: Param, value: Any) -> Value:
    """Returns ``value`` as the domain's type, or raises SpaceError naming the hparam."""
    domain = p.domain
    bad = SpaceError(f"{p.name}={value!r} is outside its domain {describe(domain)}")
    if isinstance(domain, hp.Discrete):
        for allowed in domain.values:
            if type(allowed) is bool or type(value) is bool:
                if type(allowed) is type(value) and allowed == value:
                    return allowed
            elif allowed == value:
                return allowed
        raise bad
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad
    if isinstance(domain, hp.IntInterval):
        if float(value) != int(value):
            raise bad
        value = int(value)
    else:
        value = float(value)
    if not math.isfinite(value) or not domain.min_value <= value <= domain.max_value:
        raise bad
    return value


def parse_value(p: Param, text: str) -> Value:
    """Parses a command-line string into a value of ``p``'s domain (checked)."""
    kind = _type_name(p.domain)
    try:
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            value: Value = lowered in ("true", "1", "yes")
        elif kind == "int":
            value = int(float(text)) if float(text).is_integer() else float(text)
        elif kind == "float":
            value = float(text)
        else:
            value = text
    except ValueError:
        raise SpaceError(
            f"{p.name}={text!r} is not a {kind}; allowed: {describe(p.domain)}"
        ) from None
    return check_value(p, value)


class Space:
    """An ordered set of hyperparameters with defaults.

    Args:
        params: The hyperparameters, in the order tables and flags show them.
    """

    def __init__(self, params: Sequence[Param]):
        self.params: dict[str, Param] = {}
        for p in params:
            if p.name in self.params:
                raise ValueError(f"hparam {p.name!r} declared twice")
            self.params[p.name] = p

    def __iter__(self):
        return iter(self.params.values())

    def __contains__(self, name: str) -> bool:
        return name in self.params

    def __getitem__(self, name: str) -> Param:
        try:
            return self.params[name]
        except KeyError:
            raise SpaceError(f"unknown hparam {name!r}; known: {', '.join(self.params)}") from None

    @property
    def names(self) -> list[str]:
        return list(self.params)

    @property
    def hparams(self) -> list[hp.HParam]:
        """The TensorBoard ``HParam`` objects, for ``hparams_config``."""
        return [p.hparam for p in self.params.values()]

    def defaults(self) -> dict[str, Value]:
        return {name: p.default for name, p in self.params.items()}

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Value]:
        """The defaults updated by ``overrides``, every value checked against its domain.

        Raises:
            SpaceError: an unknown name or a value outside its domain.
        """
        values = self.defaults()
        for name, value in (overrides or {}).items():
            values[name] = check_value(self[name], value)
        return values

    def parse(self, assignments: Iterable[tuple[str, str]]) -> dict[str, Value]:
        """Parses ``(name, text)`` pairs from a command line (``-`` in names reads as ``_``)."""
        parsed = {}
        for name, text in assignments:
            p = self[name.replace("-", "_")]
            parsed[p.name] = parse_value(p, text)
        return parsed

    def table(self) -> str:
        """A Markdown table of name, domain, default and meaning (for the README)."""
        rows = ["| hparam | domain | default | meaning |", "| --- | --- | --- | --- |"]
        for p in self.params.values():
            rows.append(f"| `{p.name}` | {describe(p.domain)} | `{p.default}` | {p.help} |")
        return "\n".join(rows)


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
