"""tfhparam: hyperparameter sweeps for pure-TensorFlow RL agents.

``tfhparam.RLTuner`` and the Keras Tuner-style ``RandomSearch``, ``Hyperband``,
``BayesianOptimization`` and ``GridSearch`` are loaded on first use, so importing
``tfhparam.config`` or parsing a command line does not pay for Keras Tuner and TensorFlow.
"""

TUNERS = ("RLTuner", "RandomSearch", "Hyperband", "BayesianOptimization", "GridSearch")

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in TUNERS:
        from tfhparam import tuner

        return getattr(tuner, name)
    raise AttributeError(f"module 'tfhparam' has no attribute {name!r}")
