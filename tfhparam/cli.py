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


# Env families whose packages are optional extras of tfhparam (setup.py).
ENV_EXTRAS = {"gymnasium.envs.mujoco": "mujoco", "gymnasium.envs.box2d": "box2d"}


def check_env_id(env_id: str, agent: str | None = None) -> None:
    """Raises UsageError for an env id gymnasium does not know, one whose package is not
    installed (naming the extra to install), spaces the agents cannot take (an image a CNN
    cannot, say), or actions ``agent`` cannot take (DQN needs Discrete actions). Builds one
    copy of the env to look."""
    import gymnasium as gym

    import agents
    from agents import games

    try:
        games.register(env_id)
        spec = gym.spec(env_id)
    except games.MissingExtra as error:
        raise UsageError(str(error)) from None
    except gym.error.Error as error:
        raise UsageError(f"unknown env id {env_id!r}: {error}") from None
    agents.route_mujoco_warnings(env_id)
    try:
        env = games.make(env_id)  # as the agents see it (Atari: preprocessed)
    except gym.error.DependencyNotInstalled as error:
        entry = str(spec.entry_point)
        extra = next((x for prefix, x in ENV_EXTRAS.items() if entry.startswith(prefix)), None)
        hint = f"pip install 'tfhparam[{extra}]'" if extra else "install the package it names"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "missing package"
        message = f"{env_id} needs a package that is not installed ({reason}): {hint}"
        raise UsageError(message) from None
    action_space, problem = (
        env.action_space,
        agents.space_problem(env.observation_space, env.action_space),
    )
    env.close()
    if problem:
        raise UsageError(f"{env_id}: {problem}")
    if agent in agents.DISCRETE_ONLY and not isinstance(action_space, gym.spaces.Discrete):
        raise UsageError(f"{env_id}: {agent} needs Discrete actions, got {action_space}")


def format_count(n: float) -> str:
    """``1234 -> '1.2k'``, ``2_500_000 -> '2.5M'``."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"
