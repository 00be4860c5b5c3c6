"""Sweep files and flags: merging, domains, one-line errors naming the field. No TensorFlow."""

import glob

import pytest

from agents.hparams import LogRealInterval, hp
from tfhparam import config


def build(data=None, **flags):
    return config.build(data or {}, flags)


def test_defaults_are_a_meaningful_ppo_cartpole_random_sweep():
    sweep = build()
    assert (sweep.agent, sweep.strategy, sweep.envs) == ("ppo", "random", ["CartPole-v1"])
    assert isinstance(sweep.space["learning_rate"], LogRealInterval)
    assert sweep.run_seeds() == [0]


def test_file_fields_values_intervals_and_fixed_values():
    sweep = build(
        {
            "agent": "a2c",
            "strategy": "grid",
            "seeds": 3,
            "seed": 2,
            "envs": {"CartPole-v1": {"target_score": [0, 500]}, "Acrobot-v1": None},
            "space": {
                "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
                "num_steps": [5, 16],
                "gamma": 0.95,
                "ent_coef": {"min": 0.0, "max": 0.05},
            },
        }
    )
    assert sweep.envs == ["CartPole-v1", "Acrobot-v1"]
    assert sweep.target_scores == {"CartPole-v1": (0.0, 500.0)}
    assert sweep.fixed == {"gamma": 0.95}
    assert sweep.space["num_steps"].values == [5, 16]
    assert isinstance(sweep.space["ent_coef"], hp.RealInterval)
    assert sweep.run_seeds() == [2000, 2001, 2002]


def test_flags_override_the_file():
    data = {
        "strategy": "grid",
        "trials": 4,
        "envs": ["Acrobot-v1"],
        "space": {"learning_rate": [1e-3, 1e-4], "gamma": [0.9, 0.99]},
    }
    sweep = build(
        data,
        strategy="random",
        trials=7,
        envs=["CartPole-v1"],
        target_scores=["CartPole-v1=0:500"],
        set=["gamma=0.98"],
    )
    assert (sweep.strategy, sweep.trials, sweep.envs) == ("random", 7, ["CartPole-v1"])
    assert sweep.fixed == {"gamma": 0.98} and "gamma" not in sweep.space
    assert sweep.target_scores == {"CartPole-v1": (0.0, 500.0)}


@pytest.mark.parametrize(
    "data, flags, message",
    [
        ({"space": {"learning_rte": [1e-3]}}, {}, "space.learning_rte: unknown hparam"),
        (
            {"space": {"learning_rate": {"min": 1e-7, "max": 1e-3}}},
            {},
            "space.learning_rate.min: 1e-07 is outside the agent's domain",
        ),
        ({"space": {"num_envs": [4, 3]}}, {}, "space.num_envs[1]: 3 is outside"),
        ({"space": {"num_envs": {"min": 1, "max": 8}}}, {}, "takes a list of values"),
        (
            {"space": {"ent_coef": {"min": 0.0, "max": 0.1, "log": True}}},
            {},
            "a log interval needs min > 0",
        ),
        ({"space": {"clip_coef": {"min": 0.3, "max": 0.1}}}, {}, "must be below max"),
        ({"space": {"clip_coef": {"low": 0.1}}}, {}, "needs exactly min, max"),
        ({"space": {"gamma": 2.0}}, {}, "space.gamma: 2.0 is outside"),
        (
            {"space": {"num_steps": 8, "num_envs": [1, 2], "num_minibatches": [2, 16]}},
            {},
            "space: num_minibatches=16 exceeds the 8 samples of a rollout (num_envs=1 x",
        ),
        (
            {"space": {"num_minibatches": [2, 16]}},
            {"set": ["num_envs=1", "num_steps=8"]},
            "space: num_minibatches=16 exceeds",
        ),
        ({"strategy": "annealing"}, {}, "strategy: unknown strategy 'annealing'"),
        ({"agent": "sac"}, {}, "agent: unknown agent 'sac'"),
        ({"trials": -1}, {}, "trials: must be at least 1"),
        ({"seeds": 1.5}, {}, "seeds: must be a whole number"),
        ({"envs": {"CartPole-v1": {"target_score": [1]}}}, {}, "envs.CartPole-v1.target_score"),
        ({"colour": "blue"}, {}, "unknown field 'colour'"),
        ({"strategy_options": {"max_epoch": 3}}, {}, "unknown option 'max_epoch'"),
        (
            {"strategy_options": {"population_size": 4}},
            {},
            "strategy_options.population_size: an option of pbt and evolution, not of random",
        ),
        (
            {"strategy": "tpe", "strategy_options": {"prune_warmup": 2}},
            {},
            "prune_warmup: pruning's (--prune median or asha), not of tpe with prune none",
        ),
        ({"strategy": "pbt", "trials": 30}, {}, "trials: pbt runs as many trials as its options"),
        ({"strategy": "hyperband"}, {"trials": 5}, "--trials: hyperband runs as many trials"),
        (
            {"strategy": "bayesian", "trials": 5, "strategy_options": {"num_initial_points": 8}},
            {},
            "num_initial_points: 8 random trials first, but the sweep runs 5 trials in all",
        ),
        (
            {"strategy": "hyperband", "strategy_options": {"grid_points": 4}},
            {},
            "hyperband takes: max_epochs, factor, hyperband_iterations",
        ),
        ({"total_timesteps": 100}, {}, "less than one unit of training"),
        ({}, {"target_scores": ["CartPole-v1=0-500"]}, "expected ENV=LOW:HIGH"),
        ({}, {"target_scores": ["Acrobot-v1=0:1"]}, "not among the envs"),
        ({}, {"set": ["learning_rate"]}, "--set: expected name=value"),
        ({}, {"set": ["learning_rate=9"]}, "--set: learning_rate=9.0 is outside"),
        ({}, {"name": "../escape"}, "name: '../escape'"),
        ({"space": {"learning_rate": 1e-3}}, {}, "nothing left to search"),
        ({"eval_every": -5}, {}, "eval_every: must be at least 0"),
        ({"eval_episodes": 0, "eval_every": 1000}, {}, "eval_episodes: must be at least 1"),
        ({"score_from": "test"}, {}, "score_from: unknown score source 'test'"),
        ({"eval_episodes": 5}, {}, "eval_episodes: nothing evaluates; set eval_every"),
        ({}, {"eval_episodes": 5}, "--eval-episodes: nothing evaluates"),
        ({"value": "area"}, {}, "value: unknown run value 'area'; choose from last_n, auc"),
    ],
)
def test_errors_name_the_field(data, flags, message):
    with pytest.raises(config.SweepError, match=None) as info:
        build(data, **flags)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: ppo\nspace: [unclosed\n")
    with pytest.raises(config.SweepError, match="not valid YAML"):
        config.load_file(str(bad))
    listed = tmp_path / "list.yaml"
    listed.write_text("- ppo\n")
    with pytest.raises(config.SweepError, match="must be a mapping"):
        config.load_file(str(listed))
    with pytest.raises(config.SweepError, match="no such file"):
        config.load_file(str(tmp_path / "missing.yaml"))
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("agent: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(config.SweepError, match="not valid YAML"):
        config.load_file(str(unsafe))


def test_exponents_without_a_dot_are_numbers(tmp_path):
    """PyYAML (YAML 1.1) reads 1e-4 as text; users and YAML 1.2 read a number."""
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "space:\n  learning_rate: {min: 1e-4, max: 3E-3, log: true}\n"
        "  ent_coef: [0, 1e-2, +2.5e-2]\nname: 1e5x\ntrials: 2_0\n"
    )
    data = config.load_file(str(path))
    assert data["space"]["learning_rate"] == {"min": 1e-4, "max": 3e-3, "log": True}
    assert data["space"]["ent_coef"] == [0, 0.01, 0.025]
    assert data["name"] == "1e5x" and data["trials"] == 20  # text and YAML 1.1 ints as before
    sweep = config.build(data)
    assert sweep.space["learning_rate"].min_value == 1e-4


def test_ready_sweep_files_are_valid():
    files = sorted(glob.glob("sweeps/*.yaml"))
    assert len(files) >= 4
    for path in files:
        config.build(config.load_file(path), source=path)


def test_the_strategy_registry_is_what_the_engine_reads():
    """One record a strategy: the lists and defaults the config, the CLI and the oracles use
    come from it, and the oracles' own defaults are the records' defaults."""
    import inspect

    from tfhparam import oracles, strategies

    assert config.STRATEGIES == strategies.NAMES == tuple(strategies.STRATEGIES)
    assert config.BY_TRIALS == ("grid", "random", "bayesian", "tpe", "optuna")
    assert config.PRUNABLE == ("grid", "random", "bayesian", "tpe", "optuna")
    assert strategies.MULTI_OBJECTIVE == ("grid", "random", "evolution", "tpe", "optuna")
    for name in ("pbt", "evolution", "optuna"):
        oracle = strategies.STRATEGIES[name].oracle_class()
        for option, parameter in inspect.signature(oracle).parameters.items():
            if option in strategies.OPTIONS:
                assert parameter.default == strategies.default(option), (name, option)
    pruning = inspect.signature(oracles.with_pruning).parameters
    assert pruning["warmup"].default == strategies.default("prune_warmup")
    pbt = build({"strategy": "pbt"})
    assert (
        pbt.options["generations"]
        == oracles.PBTOracle(objective=None, hyperparameters=None).generations
    )


@pytest.mark.parametrize(
    "data, flags, message",
    [
        ({"seeds": 0}, {}, "sweep file: seeds: must be at least 1, got 0"),
        ({}, {"seeds": 0}, "--seeds: must be at least 1, got 0"),
        ({"last_n": 2.5}, {}, "sweep file: last_n: must be a whole number, got 2.5"),
        ({}, {"total_timesteps": True}, "--total-timesteps: must be a whole number, got True"),
        ({"env_backend": "jax"}, {}, "sweep file: env_backend: unknown env backend 'jax'"),
        ({}, {"aggregate": "max"}, "--aggregate: unknown aggregate 'max'; choose from mean"),
        ({"name": 3}, {}, "sweep file: name: 3 must be letters"),
    ],
)
def test_every_scalar_field_names_itself_the_same_way_from_a_file_or_a_flag(data, flags, message):
    with pytest.raises(config.SweepError) as info:
        build(data, **flags)
    assert str(info.value).startswith(message), str(info.value)


def test_a_flag_wins_over_the_file_and_the_file_over_the_default():
    sweep = build({"trials": 5, "seed": 3}, trials=7)
    assert (sweep.trials, sweep.seed, sweep.last_n) == (7, 3, config.Sweep().last_n)
    assert {f.name for f in config.FIELDS} <= config.FILE_KEYS
