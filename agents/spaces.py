"""The agents' hyperparameters, declared once (names and defaults follow CleanRL and SB3),
each with its role (``agents.hparams.ROLES``; unmarked: ``member``).

Kept apart from ``ppo.py``, ``a2c.py`` and ``dqn.py`` so that the CLIs, sweep-file checks and most
tests can read the spaces without importing TensorFlow.
"""

from agents.hparams import Constraint, LogRealInterval, Space, hp, param


def _minibatches_fit(values) -> str | None:
    batch = values["num_envs"] * values["num_steps"]
    if values["num_minibatches"] > batch:
        return (
            f"num_minibatches={values['num_minibatches']} exceeds the {batch} samples of a "
            f"rollout (num_envs={values['num_envs']} x num_steps={values['num_steps']})"
        )
    return None


def _cnn_params() -> list:
    """The CNN of image observations (agents.cnn_layout picks its layout)."""
    return [
        param(
            "conv_channels",
            hp.Discrete([8, 16, 32, 64]),
            32,
            "channels of the CNN's first convolution (Nature CNN: 32, then twice that)",
            role="shape",
        ),
        param(
            "dense_units",
            hp.Discrete([64, 128, 256, 512, 1024]),
            512,
            "units of the CNN's dense layer",
            role="shape",
        ),
    ]


def _network_params(hidden_size: int = 64) -> list:
    return [
        param(
            "hidden_size",
            hp.Discrete([16, 32, 64, 128, 256]),
            hidden_size,
            "units in each hidden layer (actor and critic alike)",
            role="shape",
        ),
        param(
            "num_layers", hp.IntInterval(1, 4), 2, "hidden layers of actor and critic", role="shape"
        ),
        param(
            "activation", hp.Discrete(["relu", "tanh"]), "tanh", "hidden activation", role="shape"
        ),
        param(
            "shared_network",
            hp.Discrete([False, True]),
            False,
            "one torso for actor and critic, two heads (Ray's vf_share_layers)",
            role="shape",
        ),
        *_cnn_params(),
        param(
            "log_std_init",
            hp.RealInterval(-3.0, 1.0),
            0.0,
            "initial log std of the Gaussian policy (continuous actions only)",
            role="init",
        ),
        param(
            "norm_obs",
            hp.Discrete([False, True]),
            False,
            "normalize observations by a running mean and std",
            role="shape",
        ),
        param(
            "norm_reward",
            hp.Discrete([False, True]),
            False,
            "scale rewards by the running std of the discounted return",
            role="shape",
        ),
    ]


PPO = Space(
    [
        param("learning_rate", LogRealInterval(1e-5, 1e-2), 2.5e-4, "Adam step size"),
        param("num_envs", hp.Discrete([1, 2, 4, 8, 16, 32, 64]), 4, "parallel envs", role="shape"),
        param(
            "num_steps",
            hp.Discrete([8, 16, 32, 64, 128, 256, 512, 1024, 2048]),
            128,
            "env steps per env per rollout",
            role="shape",
        ),
        param(
            "anneal_lr",
            hp.Discrete([False, True]),
            True,
            "decay the learning rate linearly to 0 over the run",
        ),
        param("gamma", hp.RealInterval(0.8, 0.9999), 0.99, "discount factor"),
        param("gae_lambda", hp.RealInterval(0.8, 1.0), 0.95, "GAE lambda"),
        param(
            "num_minibatches",
            hp.Discrete([1, 2, 4, 8, 16, 32, 64]),
            4,
            "minibatches per epoch",
            role="program",
        ),
        param("update_epochs", hp.IntInterval(1, 20), 4, "passes over each rollout"),
        param("norm_adv", hp.Discrete([False, True]), True, "normalize advantages per minibatch"),
        param("clip_coef", hp.RealInterval(0.05, 0.5), 0.2, "surrogate clipping range"),
        param(
            "clip_vloss", hp.Discrete([False, True]), True, "clip the value loss like the policy"
        ),
        param("ent_coef", hp.RealInterval(0.0, 0.1), 0.01, "entropy bonus coefficient"),
        param("vf_coef", hp.RealInterval(0.1, 1.0), 0.5, "value loss coefficient"),
        param("max_grad_norm", LogRealInterval(0.1, 10.0), 0.5, "global gradient-norm limit"),
        param(
            "target_kl",
            hp.RealInterval(0.0, 0.5),
            0.0,
            "stop an update's epochs once approx KL exceeds it (0: never)",
        ),
        *_network_params(),
    ],
    [Constraint(("num_envs", "num_steps", "num_minibatches"), _minibatches_fit)],
)

A2C = Space(
    [
        param("learning_rate", LogRealInterval(1e-5, 1e-2), 7e-4, "optimizer step size"),
        param("num_envs", hp.Discrete([1, 2, 4, 8, 16, 32, 64]), 8, "parallel envs", role="shape"),
        param(
            "num_steps",
            hp.Discrete([1, 2, 4, 5, 8, 16, 32, 64, 128]),
            5,
            "env steps per env per update (n of the n-step return)",
            role="shape",
        ),
        param(
            "anneal_lr",
            hp.Discrete([False, True]),
            False,
            "decay the learning rate linearly to 0 over the run",
        ),
        param("gamma", hp.RealInterval(0.8, 0.9999), 0.99, "discount factor"),
        param("gae_lambda", hp.RealInterval(0.8, 1.0), 1.0, "GAE lambda (1: plain n-step returns)"),
        param("norm_adv", hp.Discrete([False, True]), False, "normalize advantages per update"),
        param("ent_coef", hp.RealInterval(0.0, 0.1), 0.0, "entropy bonus coefficient"),
        param("vf_coef", hp.RealInterval(0.1, 1.0), 0.5, "value loss coefficient"),
        param("max_grad_norm", LogRealInterval(0.1, 10.0), 0.5, "global gradient-norm limit"),
        param(
            "optimizer",
            hp.Discrete(["adam", "rmsprop"]),
            "rmsprop",
            "RMSprop (alpha 0.99, eps 1e-5) or Adam (eps 1e-5)",
            role="shape",
        ),
        *_network_params(),
    ]
)

DQN = Space(
    [
        param("learning_rate", LogRealInterval(1e-5, 1e-2), 2.5e-4, "Adam step size"),
        param(
            "num_envs",
            hp.Discrete([1, 2, 4, 8, 16]),
            1,
            "parallel envs (a vector step adds num_envs transitions)",
            role="shape",
        ),
        param(
            "buffer_size",
            hp.IntInterval(100, 2_000_000),
            10_000,
            "replay buffer capacity in transitions (oldest overwritten)",
            role="shape",
        ),
        param("gamma", hp.RealInterval(0.8, 0.9999), 0.99, "discount factor"),
        param(
            "tau",
            hp.RealInterval(0.001, 1.0),
            1.0,
            "target update rate: target <- tau * online + (1 - tau) * target (1: hard copy)",
        ),
        param(
            "target_network_frequency",
            hp.IntInterval(1, 1_000_000),
            500,
            "vector steps between target network updates",
        ),
        param("batch_size", hp.Discrete([16, 32, 64, 128, 256, 512]), 128, "transitions per step"),
        param("start_e", hp.RealInterval(0.0, 1.0), 1.0, "exploration epsilon at the start"),
        param("end_e", hp.RealInterval(0.0, 1.0), 0.05, "exploration epsilon at the end"),
        param(
            "exploration_fraction",
            hp.RealInterval(0.0, 1.0),
            0.5,
            "share of the run over which epsilon falls linearly from start_e to end_e",
        ),
        param(
            "learning_starts",
            hp.IntInterval(0, 10_000_000),
            10_000,
            "env steps of random-ish play before the first gradient step",
        ),
        param(
            "train_frequency",
            hp.IntInterval(1, 1000),
            10,
            "vector steps between training rounds",
        ),
        param("gradient_steps", hp.IntInterval(1, 1000), 1, "gradient steps per training round"),
        param("loss", hp.Discrete(["mse", "huber"]), "mse", "TD error loss"),
        param(
            "double_dqn",
            hp.Discrete([False, True]),
            False,
            "pick the next action with the online network, value it with the target (van Hasselt)",
        ),
        param(
            "max_grad_norm",
            LogRealInterval(0.1, 100.0),
            100.0,
            "global gradient-norm limit (100: hardly ever clips, as CleanRL, which has none)",
        ),
        param(
            "hidden_size",
            hp.Discrete([16, 32, 64, 128, 256]),
            128,
            "units in each hidden layer of the Q-network",
            role="shape",
        ),
        param(
            "num_layers", hp.IntInterval(1, 4), 2, "hidden layers of the Q-network", role="shape"
        ),
        param(
            "activation", hp.Discrete(["relu", "tanh"]), "relu", "hidden activation", role="shape"
        ),
        *_cnn_params(),
    ]
)

# Named sets of overrides (``python -m tfhparam.train --preset NAME``), checked at import.
PRESETS = {
    "ppo": {
        # Low-dimensional continuous control (Pendulum-v1, MountainCarContinuous-v0): RL Zoo's
        # Pendulum settings (without gSDE) plus observation and reward normalization.
        "continuous": {
            "num_envs": 4,
            "num_steps": 1024,
            "gamma": 0.9,
            "gae_lambda": 0.95,
            "update_epochs": 10,
            "num_minibatches": 64,
            "learning_rate": 1e-3,
            "ent_coef": 0.0,
            "norm_obs": True,
            "norm_reward": True,
        },
        # Atari (ALE/*-v5, preprocessed: agents.games): CleanRL's ppo_atari.py, the Nature
        # CNN shared by actor and critic.
        "atari": {
            "num_envs": 8,
            "num_steps": 128,
            "learning_rate": 2.5e-4,
            "num_minibatches": 4,
            "update_epochs": 4,
            "clip_coef": 0.1,
            "ent_coef": 0.01,
            "vf_coef": 0.5,
            "max_grad_norm": 0.5,
            "shared_network": True,
        },
        # MinAtar (MinAtar/*-v1, 10x10 images): the MinAtar CNN (one 3x3 convolution of 16
        # channels, 128 dense units) shared by actor and critic; rollouts of 64 x 128.
        "minatar": {
            "num_envs": 64,
            "num_steps": 128,
            "learning_rate": 5e-4,
            "num_minibatches": 8,
            "update_epochs": 4,
            "shared_network": True,
            "conv_channels": 16,
            "dense_units": 128,
        },
        # MuJoCo (HalfCheetah-v5, Hopper-v5, ...): CleanRL's ppo_continuous_action.py.
        "mujoco": {
            "num_envs": 1,
            "num_steps": 2048,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "update_epochs": 10,
            "num_minibatches": 32,
            "learning_rate": 3e-4,
            "ent_coef": 0.0,
            "norm_obs": True,
            "norm_reward": True,
        },
    },
    "dqn": {
        # Atari: CleanRL's dqn_atari.py, but a replay buffer of 100,000 transitions (5.6 GB
        # of uint8 frames; CleanRL's 1,000,000 would take 56 GB).
        "atari": {
            "buffer_size": 100_000,
            "learning_rate": 1e-4,
            "target_network_frequency": 1000,
            "batch_size": 32,
            "start_e": 1.0,
            "end_e": 0.01,
            "exploration_fraction": 0.1,
            "learning_starts": 80_000,
            "train_frequency": 4,
            "loss": "huber",
        },
        # MinAtar: Young and Tian 2019's DQN (100,000 transitions, 5,000 steps of random
        # play, epsilon 1 to 0.1 over the first tenth, target copied every 1,000 steps).
        "minatar": {
            "buffer_size": 100_000,
            "learning_rate": 2.5e-4,
            "target_network_frequency": 1000,
            "batch_size": 32,
            "start_e": 1.0,
            "end_e": 0.1,
            "exploration_fraction": 0.1,
            "learning_starts": 5000,
            "train_frequency": 1,
            "loss": "huber",
            "conv_channels": 16,
            "dense_units": 128,
        },
    },
}
for _agent, _presets in PRESETS.items():
    for _overrides in _presets.values():
        {"ppo": PPO, "a2c": A2C, "dqn": DQN}[_agent].resolve(_overrides)
