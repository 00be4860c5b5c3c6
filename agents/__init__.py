"""Pure-TensorFlow RL agents. Each algorithm module exposes the same small interface:

- ``SPACE``: its hyperparameters (an :class:`agents.hparams.Space`, each hparam with its
  role: ``agents.hparams.ROLES``);
- ``make_agent(env_id, hparams, seed)``: builds env, network and optimizer (PPO and A2C:
  an ``agents.population.Population`` of one);
- ``train(agent, total_timesteps, anneal_timesteps=None)``: yields a metrics dict after
  every iteration;
- ``agent.save(dir)`` / ``agent.restore(dir)``: checkpoints that continue exactly.

``space(name)`` reads a space without importing TensorFlow; ``load(name)`` imports the
algorithm module (and TensorFlow). The package imports nothing of ``tfhparam``: the engine
builds on the agents, never the other way round.

Importing this package turns on XLA's persistent compilation cache (before TensorFlow is
imported): programs compiled once on a machine are read back by later processes of the
same shapes (sweep workers, reruns). ``TFHPARAM_XLA_CACHE`` names its directory (default
``~/.cache/tfhparam/xla``; empty: off); a ``--tf_xla_persistent_cache_directory`` already
in ``TF_XLA_FLAGS`` wins. The oldest entries are deleted at import beyond
``TFHPARAM_XLA_CACHE_MB`` megabytes (default 1024).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from types import ModuleType

from agents import spaces
from agents.hparams import Space

AGENTS = ("ppo", "a2c", "dqn")

# The hparams whose product is a run's smallest unit of env steps: one rollout for the
# on-policy agents, one vector step for DQN. Budgets are whole multiples of it.
UNIT_HPARAMS = {
    "ppo": ("num_envs", "num_steps"),
    "a2c": ("num_envs", "num_steps"),
    "dqn": ("num_envs",),
}
# Where envs run: auto (our TensorFlow version of a classic-control env where one exists,
# see agents.tf_envs), tf (that version, required) or gymnasium (gymnasium's own).
ENV_BACKENDS = ("auto", "tf", "gymnasium")
# The envs with a TensorFlow version (agents.tf_envs.SPECS holds their dynamics; a test
# checks the two agree). Named here so that choosing threads needs no TensorFlow import.
TF_ENV_IDS = (
    "CartPole-v1",
    "Acrobot-v1",
    "Pendulum-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
)
# Agents that population training (agents.population) can batch.
POPULATION_AGENTS = ("ppo", "a2c")


def _with_role(names: tuple[str, ...], *roles: str) -> tuple[str, ...]:
    found = (n for a in names for n in getattr(spaces, a.upper()).with_role(*roles))
    return tuple(dict.fromkeys(found))


# Derived from the declarations' roles (agents/spaces.py), never listed by hand:
# hparams that shape a run's variables or env: a checkpoint continues only under the same
# values; PBT never perturbs them. Any other hparam may change between a save and a restore.
STRUCTURAL_HPARAMS = _with_role(AGENTS, "shape")
# ...and the hparams that members of one population must share: they shape its tensors.
# Every other hparam is a member's own.
POPULATION_KEY_HPARAMS = _with_role(POPULATION_AGENTS, "shape")
# Agents that act in Discrete action spaces only.
DISCRETE_ONLY = ("dqn",)
# The convolutional networks of image observations ([H, W, C]), by the smallest image
# side each accepts: Mnih et al. 2015's (8x8 stride 4, 4x4 stride 2, 3x3 stride 1) needs 36
# pixels; MinAtar's (Young and Tian 2019: one 3x3 convolution) takes anything from 3.
CNN_MIN_SIDES = {"nature": 36, "minatar": 3}


def cnn_layout(shape) -> str | None:
    """The network of observations of ``shape``: None (a flat vector: MLP), ``nature`` or
    ``minatar`` (see :data:`CNN_MIN_SIDES`).

    Raises:
        ValueError: a shape no network here takes (not ``[D]`` or ``[H, W, C]``, or an
            image smaller than 3x3).
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) == 1:
        return None
    if len(shape) != 3:
        raise ValueError(
            f"observations of shape {shape}: the agents take flat vectors [D] or images "
            "[H, W, C] (channels last)"
        )
    side = min(shape[:2])
    for layout, smallest in CNN_MIN_SIDES.items():
        if side >= smallest:
            return layout
    raise ValueError(
        f"images of {shape[0]}x{shape[1]} pixels are too small for a CNN (3x3 at least)"
    )


def space_problem(obs_space, act_space) -> str | None:
    """Why the agents cannot take these spaces, or None: observations must be a flat Box
    or a uint8 image ``[H, W, C]`` a CNN takes (``agents.cnn_layout``); actions Discrete or
    a flat Box."""
    import gymnasium as gym
    import numpy as np

    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) not in (1, 3):
        return f"observations must be a flat Box or an image Box [H, W, C], got {obs_space}"
    try:
        cnn_layout(obs_space.shape)
    except ValueError as error:
        return str(error)
    if len(obs_space.shape) == 3 and obs_space.dtype != np.uint8:
        return f"image observations must be uint8, got {obs_space.dtype}"
    if not isinstance(act_space, gym.spaces.Discrete) and not (
        isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1
    ):
        return f"actions must be Discrete or a flat Box, got {act_space}"
    return None


def prune_xla_cache(directory: str, max_bytes: int) -> int:
    """Deletes the oldest entries of XLA's persistent cache in ``directory`` until the rest
    fit in ``max_bytes`` (TensorFlow's cache has no limit of its own: every new shape adds
    1-3 MB). Returns how many were deleted; a missing directory is an empty cache."""
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith("xla_compile_cache")]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    sized = []
    for entry in entries:
        try:
            info = entry.stat()
        except FileNotFoundError:  # another process pruned it
            continue
        sized.append((info.st_mtime, info.st_size, entry.path))
    total, deleted = 0, 0
    for _, size, path in sorted(sized, reverse=True):  # newest first: kept
        total += size
        if total > max_bytes:
            try:
                os.remove(path)
                deleted += 1
            except FileNotFoundError:
                pass
    return deleted


def _use_xla_cache() -> None:
    flags = os.environ.get("TF_XLA_FLAGS", "")
    default = os.path.join(os.path.expanduser("~"), ".cache", "tfhparam", "xla")
    directory = os.environ.get("TFHPARAM_XLA_CACHE", default)
    if directory and "tf_xla_persistent_cache_directory" not in flags:
        os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={directory}"
        text = os.environ.get("TFHPARAM_XLA_CACHE_MB") or "1024"
        try:
            megabytes = float(text)
            if not megabytes >= 0:
                raise ValueError
        except ValueError:  # a misconfigured environment: one line, as for any bad input
            print(
                f"agents: error: TFHPARAM_XLA_CACHE_MB={text!r} is not a size in megabytes",
                file=sys.stderr,
            )
            raise SystemExit(2) from None
        prune_xla_cache(directory, int(megabytes * 2**20))


_use_xla_cache()


def _check(name: str) -> None:
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; choose from {', '.join(AGENTS)}")


def space(name: str) -> Space:
    """The hyperparameter space of agent ``name`` (no TensorFlow import)."""
    _check(name)
    return getattr(spaces, name.upper())


def presets(name: str) -> dict[str, dict]:
    """Named hparam overrides of agent ``name`` (e.g. ``continuous``)."""
    _check(name)
    return spaces.PRESETS.get(name, {})


def unit_steps(name: str, hparams) -> int:
    """Env steps of the smallest unit a run of agent ``name`` trains (see UNIT_HPARAMS)."""
    _check(name)
    return math.prod(int(hparams[key]) for key in UNIT_HPARAMS[name])


def unit_description(name: str) -> str:
    """What :func:`unit_steps` counts, for messages (``num_envs x num_steps``)."""
    _check(name)
    return " x ".join(UNIT_HPARAMS[name])


def load(name: str) -> ModuleType:
    """The algorithm module of agent ``name``."""
    _check(name)
    return importlib.import_module(f"agents.{name}")


# MuJoCo warnings gymnasium's own model files raise with MuJoCo 3 and 4: not actionable.
_MUJOCO_NOTICES = ("compiler attribute 'settotalmass' is deprecated",)


def route_mujoco_warnings(env_id: str) -> None:
    """For a MuJoCo env: MuJoCo's warnings become Python warnings instead of lines in
    ``MUJOCO_LOG.TXT`` in the working directory (MuJoCo's default), except the notices
    gymnasium's own model files raise (:data:`_MUJOCO_NOTICES`). Idempotent; nothing for
    other envs (MuJoCo is not imported)."""
    import gymnasium as gym

    from agents import env_names

    try:
        entry = str(gym.spec(env_names.base_id(env_id)).entry_point)
    except (gym.error.Error, env_names.EnvNameError):
        return
    if not entry.startswith("gymnasium.envs.mujoco"):
        return
    try:
        import mujoco
    except ImportError:
        return

    def warn(message: str) -> None:
        if not any(notice in message for notice in _MUJOCO_NOTICES):
            import warnings

            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(warn)


def backend_problem(env_id: str, env_backend: str) -> str | None:
    """Why ``env_id`` cannot run on ``env_backend``, or None (no TensorFlow import): an
    unknown backend, or ``tf`` for an env without a TensorFlow version (:data:`TF_ENV_IDS`;
    a name with options is gymnasium's env with those options)."""
    if env_backend not in ENV_BACKENDS:
        return f"unknown env backend {env_backend!r}; choose from {', '.join(ENV_BACKENDS)}"
    if env_backend == "tf" and env_id not in TF_ENV_IDS:
        if env_id.partition("[")[0] in TF_ENV_IDS:
            return f"{env_id}: env options need gymnasium's env (--env-backend auto)"
        return f"{env_id} has no TensorFlow version; those that do: {', '.join(TF_ENV_IDS)}"
    return None


def runs_in_graph(env_id: str, env_backend: str = "auto") -> bool:
    """Whether ``env_id`` runs as TensorFlow ops under ``env_backend`` (so a whole
    iteration is one XLA program), without importing TensorFlow."""
    return env_backend == "tf" or (env_backend == "auto" and env_id in TF_ENV_IDS)


def sees_images(env_id: str) -> bool:
    """Whether ``env_id`` is one of the image games (Atari, MinAtar: ``agents.games``),
    without importing TensorFlow."""
    from agents import games

    return games.family(env_id) is not None


def thread_counts(
    populations: bool, in_graph: bool, cores: int, images: bool = False
) -> tuple[int, int]:
    """The ``(inter_op, intra_op)`` thread counts that trained fastest on ``cores`` cores.

    One inter-op thread always: every op waits for the one before it, and a second
    inter-op thread only adds hand-offs between threads (a lone PPO agent with
    gymnasium's CartPole: 23k env steps/s with one, 12.5k with two; with our TensorFlow
    CartPole, equal). Intra-op threads pay only where one op is large: a population's
    XLA program with in-graph envs is split across ``cores`` of them (P = 32: 274k
    against 209k with one); a lone agent's ops, and a population's stepped through
    NumPy each step, are small, so they run inline (P = 8 with gymnasium's CartPole:
    53k with one, 31k with two). A CNN's convolutions are large ops too: ``images`` takes
    ``cores`` intra-op threads (PPO's ``minatar`` preset on MinAtar Breakout: 13.3k env
    steps/s against 10.2k with one). Figures: BENCHMARKS.md, 2026-12-02.
    """
    cores = max(1, int(cores))
    return (1, cores) if images or (populations and in_graph) else (1, 1)


def configure_threads(inter_op: int = 1, intra_op: int = 0) -> None:
    """Sets TensorFlow's thread pools; call before TensorFlow runs anything.

    ``0`` means TensorFlow's default. :func:`thread_counts` gives the counts that pay for
    a lone agent or a population.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    except RuntimeError:  # TensorFlow already initialized: keep its settings
        pass
