"""Hyperparameters declared once, as TensorBoard ``HParam`` objects.

Every agent declares its hyperparameters with these (``agents/spaces.py``): an
``hp.HParam`` with a domain, plus a default, a one-line meaning and a role (what the
agents do with it: see :data:`ROLES`). The same declaration feeds the agents, the CLI
flags, TensorBoard's ``hparams_config`` and, converted by the engine
(``tfhparam.space``), the search oracles. This module is the agents' own: it imports
nothing of ``tfhparam``.

TensorBoard domains cannot say "log scale", so :class:`LogRealInterval` carries it.

This module never imports TensorFlow: ``summary_v2`` holds the same classes as
``tensorboard.plugins.hparams.api`` without loading TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tensorboard.plugins.hparams import summary_v2 as hp

Value = bool | int | float | str

__all__ = [
    "ROLES",
    "Constraint",
    "LogRealInterval",
    "Param",
    "Space",
    "SpaceError",
    "hp",
    "is_log",
]


# What an hparam's value does to a run, from most to least binding.
ROLES = {
    "shape": "shapes a run's variables or env (network, buffer, env count, rollout length, "
    "normalizers): a checkpoint continues only under the same value; PBT never perturbs it; "
    "members of a population share it",
    "program": "a member's own value, read every iteration as a [P] tensor; a population's "
    "program is built for its members' largest value (PPO's minibatch count)",
    "init": "a member's own value, read once when its variables are initialized",
    "member": "a member's own value, read every iteration as a [P] tensor: one program serves "
    "every value",
}


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
    """One hyperparameter: its TensorBoard ``HParam``, default, meaning and role
    (a key of :data:`ROLES`)."""

    hparam: hp.HParam
    default: Value
    help: str
    role: str = "member"

    @property
    def name(self) -> str:
        return self.hparam.name

    @property
    def domain(self) -> hp.Domain:
        return self.hparam.domain


def param(name: str, domain: hp.Domain, default: Value, help: str, role: str = "member") -> Param:
    """Declares a hyperparameter; checks that its default lies in its domain and that its
    role is one of :data:`ROLES`."""
    if role not in ROLES:
        raise ValueError(f"hparam {name!r}: unknown role {role!r}; known: {', '.join(ROLES)}")
    p = Param(hp.HParam(name, domain, description=help), default, help, role)
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


@dataclass(frozen=True)
class Constraint:
    """Values of several hparams that must agree: ``problem`` gets a run's resolved values
    and returns what contradicts, in one line, or None. ``names`` are the hparams it reads
    (a sweep checks every combination of their searched ranges' ends, so ``problem`` must
    be worst at an end of each range)."""

    names: tuple[str, ...]
    problem: Callable[[Mapping[str, Any]], str | None]


class Space:
    """An ordered set of hyperparameters with defaults.

    Args:
        params: The hyperparameters, in the order tables and flags show them.
        constraints: values that must agree across hparams (:class:`Constraint`).
    """

    def __init__(self, params: Sequence[Param], constraints: Sequence[Constraint] = ()):
        self.params: dict[str, Param] = {}
        for p in params:
            if p.name in self.params:
                raise ValueError(f"hparam {p.name!r} declared twice")
            self.params[p.name] = p
        self.constraints = tuple(constraints)

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

    def with_role(self, *roles: str) -> tuple[str, ...]:
        """The names of the hparams whose role is one of ``roles``, in declaration order."""
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; known: {', '.join(ROLES)}")
        return tuple(name for name, p in self.params.items() if p.role in roles)

    def defaults(self) -> dict[str, Value]:
        return {name: p.default for name, p in self.params.items()}

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Value]:
        """The defaults updated by ``overrides``, every value checked against its domain.

        Raises:
            SpaceError: an unknown name, a value outside its domain, or values that
                contradict each other (a :class:`Constraint`).
        """
        values = self.defaults()
        for name, value in (overrides or {}).items():
            values[name] = check_value(self[name], value)
        for constraint in self.constraints:
            problem = constraint.problem(values)
            if problem:
                raise SpaceError(problem)
        return values

    def parse(self, assignments: Iterable[tuple[str, str]]) -> dict[str, Value]:
        """Parses ``(name, text)`` pairs from a command line (``-`` in names reads as ``_``)."""
        parsed = {}
        for name, text in assignments:
            p = self[name.replace("-", "_")]
            parsed[p.name] = parse_value(p, text)
        return parsed

    def table(self) -> str:
        """A Markdown table of name, domain, default, role and meaning (for the README)."""
        rows = [
            "| hparam | domain | default | role | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        for p in self.params.values():
            rows.append(
                f"| `{p.name}` | {describe(p.domain)} | `{p.default}` | {p.role} | {p.help} |"
            )
        return "\n".join(rows)
