"""Env names: a gymnasium id, optionally followed by the env's options in brackets.

    CartPole-v1
    ALE/Breakout-v5[full_action_space=true,repeat_action_probability=0]
    HalfCheetah-v5[ctrl_cost_weight=0.05]

An option is a keyword of the env's constructor (``gym.make(id, **options)``) or, for
Atari ids, a step of the standard preprocessing (:data:`agents.games.ATARI_OPTIONS`).
Values are read as ``true``/``false``, ``none``, integers, floats, or else kept as text.
The name is the env everywhere (commands, sweep files, checkpoints, the HParams tab's
``env`` column, run directories), so a run with options is never mistaken for one
without; :func:`canonical` writes every name one way (options sorted, values in one
spelling: ``True`` and ``true`` are one env; ``0`` and ``0.0`` stay an int and a float).

This module imports neither TensorFlow nor gymnasium.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# Inside the brackets: key=value pairs separated by commas; keys are Python identifiers.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FORBIDDEN_IN_VALUES = set("[],=")


class EnvNameError(ValueError):
    """A malformed env name (the message names the problem)."""


def split(name: str) -> tuple[str, dict[str, Any]]:
    """``(gymnasium id, options)`` of an env name.

    Raises:
        EnvNameError: brackets that do not close the name, an empty option list, a pair
            without ``=``, a key that is not an identifier, or a key given twice.
    """
    if not isinstance(name, str) or not name.strip():
        raise EnvNameError(f"env name {name!r}: expected a gymnasium id such as CartPole-v1")
    if "[" not in name and "]" not in name:
        return name, {}
    env_id, bracket, rest = name.partition("[")
    if not bracket or not rest.endswith("]") or "[" in rest or "]" in rest[:-1] or not env_id:
        raise EnvNameError(
            f"env name {name!r}: options go in one pair of brackets at the end, "
            "as in ALE/Breakout-v5[full_action_space=true]"
        )
    body = rest[:-1]
    if not body.strip():
        raise EnvNameError(f"env name {name!r}: empty options (drop the brackets)")
    options: dict[str, Any] = {}
    for pair in body.split(","):
        key, equals, text = (part.strip() for part in pair.partition("="))
        if not equals or not _KEY.match(key):
            raise EnvNameError(f"env name {name!r}: {pair.strip()!r} is not key=value")
        if key in options:
            raise EnvNameError(f"env name {name!r}: option {key!r} given twice")
        options[key] = parse_value(text)
    return env_id, options


def parse_value(text: str) -> Any:
    """An option's value from its text: bool, None, int, float, or the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def format_value(value: Any) -> str:
    """The one spelling of an option's value in a name (:func:`parse_value` reads it back).

    Raises:
        EnvNameError: a value that cannot stand in a name (a container, a non-finite float,
            text with brackets, commas or ``=``, or text that would read back as another
            type).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EnvNameError(f"option value {value!r} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        if not value.strip() or _FORBIDDEN_IN_VALUES & set(value) or parse_value(value) != value:
            raise EnvNameError(
                f"option value {value!r}: text must be non-empty, without brackets, "
                "commas or '=', and not read as a number, bool or none"
            )
        return value.strip()
    raise EnvNameError(f"option value {value!r}: expected a bool, number, none or text")


def join(env_id: str, options: Mapping[str, Any]) -> str:
    """The canonical name of ``env_id`` with ``options`` (sorted by key; none: the id)."""
    for key in options:
        if not isinstance(key, str) or not _KEY.match(key):
            raise EnvNameError(f"{env_id}: option name {key!r} is not an identifier")
    if not options:
        return env_id
    pairs = ",".join(f"{key}={format_value(options[key])}" for key in sorted(options))
    return f"{env_id}[{pairs}]"


def canonical(name: str) -> str:
    """``name`` written the one way :func:`join` writes it (an id alone stays as it is)."""
    return join(*split(name))


def base_id(name: str) -> str:
    """The gymnasium id of an env name (what is registered: ``gym.spec`` looks it up)."""
    return split(name)[0]
