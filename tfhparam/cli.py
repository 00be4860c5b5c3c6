"""Helpers shared by the command-line tools: one-line errors with exit status 2."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        fail(message, prog=self.prog)


def fail(message: str, prog: str = "tfhparam", status: int = 2) -> NoReturn:
    """Prints ``prog: error: message`` on one line and exits."""
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else "error"
    print(f"{prog}: error: {first_line}", file=sys.stderr)
    raise SystemExit(status)


def check_env_id(env_id: str, agent: str | None = None) -> None:
    """Raises UsageError for an env id gymnasium does not know, or whose actions ``agent``
    cannot take (DQN needs Discrete actions; only then is the env built to look)."""
    import gymnasium as gym

    import agents

    try:
        gym.spec(env_id)
    except gym.error.Error as error:
        raise UsageError(f"unknown env id {env_id!r}: {error}") from None
    if agent in agents.DISCRETE_ONLY:
        env = gym.make(env_id)
        action_space = env.action_space
        env.close()
        if not isinstance(action_space, gym.spaces.Discrete):
            raise UsageError(f"{env_id}: {agent} needs Discrete actions, got {action_space}")


def format_count(n: float) -> str:
    """``1234 -> '1.2k'``, ``2_500_000 -> '2.5M'``."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"
