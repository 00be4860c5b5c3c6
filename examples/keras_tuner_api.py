"""Tune PPO with the Keras Tuner API you know (a few minutes on 2 cores).

    python examples/keras_tuner_api.py

Hyperband over a narrowed space: learning rate (log scale) and entropy coefficient; every
other hparam keeps PPO's default. Results and TensorBoard sessions in logs/ppo_hyperband.
"""

import keras_tuner as kt

import tfhparam

hp = kt.HyperParameters()
hp.Float("learning_rate", 1e-4, 3e-3, sampling="log")
hp.Float("ent_coef", 0.0, 0.02)

tuner = tfhparam.Hyperband(
    max_epochs=9,
    factor=3,
    seed=1,
    hyperparameters=hp,
    agent="ppo",
    envs=["CartPole-v1"],
    seeds=1,
    total_timesteps=45_000,  # one Hyperband epoch = 5,000 env steps
    directory="logs",
    project_name="ppo_hyperband",
)
tuner.search()
best = tuner.get_best_hyperparameters()[0]
print("best:", {k: v for k, v in best.values.items() if not k.startswith("tuner/")})
tuner.results_summary(num_trials=3)
