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


def check_env_id(env_id: str, agent: str | None = None, env_backend: str = "auto") -> str:
    """The canonical name of the env ``env_id`` (an id, options in brackets:
    ``agents.env_names``). Raises UsageError for a malformed name, an id gymnasium does not
    know, one whose package is not installed (naming the extra to install), options the env
    does not take, spaces the agents cannot take (an image a CNN cannot, say), or actions
    ``agent`` cannot take (DQN needs Discrete actions), or an env ``env_backend`` cannot
    run (``tf`` for an env without a TensorFlow version). Builds one copy of the env to
    look."""
    import gymnasium as gym

    import agents
    from agents import env_names, games

    try:
        base = env_names.base_id(env_id)
        games.register(base)
        spec = gym.spec(base)
    except (games.MissingExtra, env_names.EnvNameError) as error:
        raise UsageError(str(error)) from None
    except gym.error.Error as error:
        raise UsageError(f"unknown env id {base!r}: {error}") from None
    agents.route_mujoco_warnings(base)
    try:
        env = games.make(env_id)  # as the agents see it (Atari: preprocessed), options too
    except gym.error.DependencyNotInstalled as error:
        entry = str(spec.entry_point)
        extra = next((x for prefix, x in ENV_EXTRAS.items() if entry.startswith(prefix)), None)
        hint = f"pip install 'tfhparam[{extra}]'" if extra else "install the package it names"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "missing package"
        message = f"{env_id} needs a package that is not installed ({reason}): {hint}"
        raise UsageError(message) from None
    except gym.error.Error as error:  # options the env does not take (games.make's line)
        raise UsageError(str(error)) from None
    action_space, problem = (
        env.action_space,
        agents.space_problem(env.observation_space, env.action_space),
    )
    env.close()
    if problem:
        raise UsageError(f"{env_id}: {problem}")
    if agent in agents.DISCRETE_ONLY and not isinstance(action_space, gym.spaces.Discrete):
        raise UsageError(f"{env_id}: {agent} needs Discrete actions, got {action_space}")
    try:
        name = env_names.canonical(env_id)
    except env_names.EnvNameError as error:  # a value no name can hold (nan, say)
        raise UsageError(str(error)) from None
    problem = agents.backend_problem(name, env_backend)
    if problem:
        raise UsageError(problem)
    return name


def format_count(n: float) -> str:
    """``1234 -> '1.2k'``, ``2_500_000 -> '2.5M'``."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"
