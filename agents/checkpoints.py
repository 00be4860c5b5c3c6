"""Checkpoint files, the same for every agent: a directory holding

- ``state.npz``: arrays by variable name (a population member's are its rows);
- ``meta.json``: format, algorithm, env, env backend, seed, hparams, global step;
- ``env.pkl``: the pickled gymnasium envs, where the envs are not variables.

A directory is replaced atomically: a crash mid-save leaves the previous checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from typing import Any

import numpy as np

import agents

# 2: the one-core agents (arrays by name, counter-based random streams). Format 1 (the
# first agents' tf.train.Checkpoint files) cannot continue: its random streams are gone.
FORMAT = 2


def write(
    directory: str,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    env_state: bytes | None,
) -> None:
    """Writes a checkpoint to ``directory`` (replacing any there)."""
    tmp = directory.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    np.savez(os.path.join(tmp, "state.npz"), **arrays)
    if env_state is not None:
        with open(os.path.join(tmp, "env.pkl"), "wb") as f:
            f.write(env_state)
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"format": FORMAT, **meta}, f, indent=1)
    old = directory.rstrip("/") + ".old"
    if os.path.exists(directory):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def read(directory: str, expected: Mapping[str, Any], hparams: Mapping[str, Any]):
    """Reads a checkpoint written for ``expected`` (algorithm, env_id, env_backend).

    Hparams that shape variables or envs (``agents.STRUCTURAL_HPARAMS``) must equal
    ``hparams``; the others may differ: training continues under the new values (how PBT
    copies a member and then perturbs its hparams).

    Returns:
        ``(meta, arrays, env_state)``: arrays by name, the pickled envs or None.

    Raises:
        ValueError: no checkpoint there, an older format, or one written for another
            algorithm, env, env backend or structural hparams.
    """
    meta = read_meta(directory)
    for field, value in expected.items():
        if meta.get(field) != value:
            raise ValueError(
                f"checkpoint {directory} was written for {field} {meta.get(field)!r}, not {value!r}"
            )
    # hparams declared after a checkpoint was written held their defaults in it
    defaults = agents.space(meta["algorithm"]).defaults() if "algorithm" in meta else {}
    for name in agents.STRUCTURAL_HPARAMS:
        saved = meta["hparams"].get(name, defaults.get(name))
        if name in hparams and saved != hparams[name]:
            raise ValueError(
                f"checkpoint {directory} was written for other hparams: "
                f"{name}={saved!r}, not {hparams[name]!r}"
            )
    with np.load(os.path.join(directory, "state.npz")) as npz:
        arrays = {name: npz[name] for name in npz.files}
    env_path = os.path.join(directory, "env.pkl")
    env_state = None
    if os.path.exists(env_path):
        with open(env_path, "rb") as f:
            env_state = f.read()
    return meta, arrays, env_state


def read_meta(directory: str) -> dict[str, Any]:
    """A checkpoint's ``meta.json``.

    Raises:
        ValueError: no checkpoint there (or a damaged one), or an older format.
    """
    try:
        with open(os.path.join(directory, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"no checkpoint in {directory}: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"checkpoint {directory} is of an older format (tfhparam's first "
            "agents); it cannot continue: train it again"
        )
    return meta


def load_agent(directory: str):
    """The agent a checkpoint holds, restored: built from its own meta (algorithm, env,
    env backend, hparams, seed).

    Raises:
        ValueError: no checkpoint there, or one that does not restore.
        agents.envs.EnvError: its env is unknown here.
    """
    meta = read_meta(directory)
    module = agents.load(meta["algorithm"])
    agent = module.make_agent(
        meta["env_id"],
        meta["hparams"],
        seed=meta["seed"],
        env_backend=meta["env_backend"],
    )
    try:
        agent.restore(directory)
    except BaseException:
        agent.close()
        raise
    return agent


def name(variable) -> str:
    """A variable's key in ``state.npz``: its name without the ``:0``."""
    return variable.name.split(":")[0]
