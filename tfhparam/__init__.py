"""tfhparam: hyperparameter sweeps for pure-TensorFlow RL agents.

``tfhparam.RLTuner`` is loaded on first use, so importing ``tfhparam.space`` or the CLIs'
argument parsing does not pay for Keras Tuner and TensorFlow.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "RLTuner":
        from tfhparam.tuner import RLTuner

        return RLTuner
    raise AttributeError(f"module 'tfhparam' has no attribute {name!r}")
