"""Every piece of Keras Tuner that is not its public API and that tfhparam builds on, in
one place.

Keras Tuner's public API (``keras_tuner.Oracle``, ``HyperParameters``, the oracles) does not
cover what the engine does: batches of trials trained as populations, the chief's gRPC
service for our own workers, Hyperband's bracket arithmetic, quiet failures. What it uses
beyond that public API is imported or named here and nowhere else, and :func:`missing`
lists whatever of it a Keras Tuner release lacks. This module was checked on the versions
in :data:`CHECKED` (``setup.py`` allows exactly those); importing it under another release
whose internals moved raises an ImportError naming what is missing, and
``tests/test_kt_internals.py`` fails on it.
"""

from __future__ import annotations

import keras_tuner as kt

CHECKED = ">=1.4.7,<1.5"  # keep equal to setup.py's keras-tuner range

try:
    from keras_tuner.src import config as _config
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import utils as _dist_utils
    from keras_tuner.src.distribute.oracle_chief import OracleServicer
    from keras_tuner.src.engine.base_tuner import BaseTuner
    from keras_tuner.src.engine.trial import TrialStatus
except ImportError as error:  # pragma: no cover - only on a release that moved them
    raise ImportError(
        f"keras-tuner {kt.__version__} moved internals tfhparam uses ({error}); "
        f"tfhparam was checked on keras-tuner{CHECKED}"
    ) from None

__all__ = [
    "CHECKED",
    "BaseTuner",
    "OracleServicer",
    "TrialStatus",
    "hyperband_rounds",
    "is_chief_oracle",
    "missing",
    "protos",
    "quiet_failures",
]

# Private or undocumented members, by owner, that tfhparam calls or overrides.
MEMBERS = {
    BaseTuner: ("_try_run_and_update_trial", "_is_worker", "_populate_initial_space"),
    kt.Oracle: ("_save_trial", "_project_dir", "ongoing_trials", "tuner_ids", "trials"),
    kt.oracles.HyperbandOracle: (
        "_get_num_brackets",
        "_get_num_rounds",
        "_get_size",
        "_get_epochs",
    ),
}


def missing() -> list[str]:
    """What of :data:`MEMBERS` the installed Keras Tuner lacks (empty: all there). Instance
    attributes are looked for on a fresh oracle."""
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("score", "max"), max_trials=1)
    gone = []
    for owner, names in MEMBERS.items():
        for name in names:
            on = oracle if owner is kt.Oracle else owner
            if not hasattr(on, name) and not hasattr(owner, name):
                gone.append(f"{owner.__name__}.{name}")
    if not hasattr(_config, "DEBUG"):
        gone.append("keras_tuner.src.config.DEBUG")
    if not hasattr(_dist_utils, "is_chief_oracle"):
        gone.append("keras_tuner.src.distribute.utils.is_chief_oracle")
    if not hasattr(protos, "get_service_grpc"):
        gone.append("keras_tuner.src.protos.get_service_grpc")
    return gone


def is_chief_oracle() -> bool:
    """Whether this process is the chief of a distributed search (it only serves)."""
    return _dist_utils.is_chief_oracle()


def quiet_failures() -> None:
    """A failed trial is reported in one line (its reason), not with its traceback."""
    _config.DEBUG = False


def hyperband_rounds(oracle: kt.oracles.HyperbandOracle) -> list[list[tuple[int, int]]]:
    """Hyperband's brackets as this oracle runs them, largest first: per round (trials,
    epochs)."""
    brackets = []
    for bracket in reversed(range(oracle._get_num_brackets())):
        rounds = range(oracle._get_num_rounds(bracket))
        brackets.append(
            [(oracle._get_size(bracket, r), oracle._get_epochs(bracket, r)) for r in rounds]
        )
    return brackets
