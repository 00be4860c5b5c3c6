"""The search engine with a fake agent: strategies, Hyperband, failures, resume."""

import glob
import json
import math
import os

import pytest
from fakes import FakeRunner

from agents.hparams import hp
from tfhparam import config
from tfhparam.tuner import RLTuner, hyperband_schedule, make_oracle


def make_tuner(tmp_path, runner, name="s", population=1, **fields):
    sweep = config.build({"total_timesteps": 4000, "last_n": 2, "name": name, **fields})
    tuner = RLTuner.from_sweep(
        sweep, str(tmp_path), runner=runner, verbose=False, population=population
    )
    return sweep, tuner


def trial_values(tuner):
    return [
        (t.trial_id, {k: v for k, v in t.hyperparameters.values.items() if k[:6] != "tuner/"})
        for t in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
    ]


def in_domain(domain, value):
    if isinstance(domain, hp.Discrete):
        return value in domain.values
    return domain.min_value <= value <= domain.max_value


STRATEGIES = {
    "random": {"trials": 6},
    "grid": {
        "trials": 100,
        "strategy_options": {"grid_points": 2},
        "space": {
            "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
            "num_minibatches": [2, 4, 8],
        },
    },
    "bayesian": {"trials": 6, "strategy_options": {"num_initial_points": 3}},
    "hyperband": {"total_timesteps": 9000, "strategy_options": {"max_epochs": 9, "factor": 3}},
}


# Population batching (trials asked and trained several at a time, side by side) must not
# change what a search does: the engine tests run both ways.
BATCHING = pytest.mark.parametrize("population", [1, 4], ids=["one-at-a-time", "batched"])


@BATCHING
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_values_stay_in_their_domains_and_the_same_seed_repeats(strategy, population, tmp_path):
    fields = {"strategy": strategy, "seed": 4, "population": population, **STRATEGIES[strategy]}
    sweep, first = make_tuner(tmp_path / "a", FakeRunner(), **fields)
    first.search()
    _, second = make_tuner(tmp_path / "b", FakeRunner(), **fields)
    second.search()
    _, other = make_tuner(tmp_path / "c", FakeRunner(), **{**fields, "seed": 5})
    other.search()
    runs = trial_values(first)
    assert runs == trial_values(second)
    if strategy != "grid":
        assert runs != trial_values(other)
    for _, values in runs:
        assert set(values) == set(sweep.space)
        for name, value in values.items():
            assert in_domain(sweep.space[name], value), (name, value)
    assert all(t.status == "COMPLETED" for t in first.oracle.trials.values())
    if strategy == "grid":  # 2 learning rates x 3 minibatch counts, each once
        assert len(runs) == 6 and len({json.dumps(v, sort_keys=True) for _, v in runs}) == 6
    elif strategy != "hyperband":
        assert len(runs) == 6


def test_hyperband_bracket_arithmetic():
    # Keras Tuner's schedule for max_epochs 9, factor 3: per round (trials, epochs).
    assert hyperband_schedule(9, 3) == [[(9, 1), (3, 3), (1, 9)], [(5, 3), (2, 9)], [(3, 9)]]
    assert hyperband_schedule(27, 3)[0] == [(27, 1), (9, 3), (3, 9), (1, 27)]


@BATCHING
def test_hyperband_promotions_continue_from_the_parent_checkpoint(population, tmp_path):
    runner = FakeRunner()
    _, tuner = make_tuner(
        tmp_path,
        runner,
        strategy="hyperband",
        total_timesteps=9000,
        population=population,
        strategy_options={"max_epochs": 9, "factor": 3},
    )
    tuner.search()
    unit = tuner.hyperband_unit(tuner.space.defaults())
    assert unit == 512  # 9000 steps / 9 epochs, rounded down to whole 4 x 128 rollouts
    trials = tuner.oracle.trials
    assert len(trials) == 23  # 9 + 3 + 1 + 5 + 2 + 3, as scheduled
    by_save = {call["save"]: call for call in runner.calls}
    consumed, scheduled = 0, 0
    for trial in trials.values():
        values = trial.hyperparameters.values
        (call,) = [c for c in runner.calls if f"trial_{trial.trial_id}{os.sep}" in c["save"]]
        increment = (values["tuner/epochs"] - values["tuner/initial_epoch"]) * unit
        assert call["end"] - call["start"] == increment
        assert call["end"] == values["tuner/epochs"] * unit
        if "tuner/trial_id" in values:  # promoted: starts where its parent stopped
            parent = by_save[call["restore"]]
            assert f"trial_{values['tuner/trial_id']}" in call["restore"]
            assert call["start"] == parent["end"]
        else:
            assert call["start"] == 0 and call["restore"] is None
        consumed += call["end"] - call["start"]
        scheduled += increment
    assert consumed == scheduled


@BATCHING
def test_scores_normalize_average_seeds_and_aggregate_envs(population, tmp_path):
    _, tuner = make_tuner(
        tmp_path,
        FakeRunner(),
        strategy="random",
        trials=1,
        seeds=2,
        population=population,
        envs={"CartPole-v1": {"target_score": [0, 200]}, "Acrobot-v1": None},
    )
    tuner.search()
    (trial,) = tuner.oracle.trials.values()
    lr = trial.hyperparameters.values["learning_rate"]
    quality = 100.0 - 20.0 * abs(math.log10(lr) + 3.0)
    # 7 rollouts of 512 steps; the last 2 at steps 3072 and 3584: quality + 3.328 (+ seed)
    cartpole = (quality + 3.328 + 0.5) / 200
    acrobot = quality + 3.328 + 0.5
    assert trial.score == pytest.approx((cartpole + acrobot) / 2)


@BATCHING
def test_with_score_from_eval_a_run_is_worth_its_last_evaluation(population, tmp_path):
    runner = FakeRunner()
    _, tuner = make_tuner(
        tmp_path,
        runner,
        strategy="random",
        trials=3,
        population=population,
        eval_every=2048,
        score_from="eval",
    )
    tuner.search()
    for trial in tuner.oracle.trials.values():
        lr = trial.hyperparameters.values["learning_rate"]
        quality = 100.0 - 20.0 * abs(math.log10(lr) + 3.0)
        # 7 rollouts of 512 steps: evaluated at 2048 and at the end, 3584
        assert trial.score == pytest.approx(1000.0 - quality + 3.584)
        with open(os.path.join(tuner.trial_dir(trial.trial_id), "result.json")) as f:
            (run,) = json.load(f)["runs"]
        assert run["eval_return"] == pytest.approx(trial.score)
    # the results rank by the evaluation: the worst learner by training returns first
    rows = tuner.results()
    assert [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)


@BATCHING
def test_with_value_auc_a_run_is_worth_the_area_under_its_curve(population, tmp_path):
    _, tuner = make_tuner(
        tmp_path, FakeRunner(), strategy="random", trials=2, population=population, value="auc"
    )
    tuner.search()
    for trial in tuner.oracle.trials.values():
        lr = trial.hyperparameters.values["learning_rate"]
        quality = 100.0 - 20.0 * abs(math.log10(lr) + 3.0)
        # rewards rise linearly from step 512 to 3584: the area is their mean at the ends
        assert trial.score == pytest.approx(quality + (0.512 + 3.584) / 2)


def test_without_evaluation_runs_are_not_evaluated(tmp_path):
    runner = FakeRunner()
    seen = []
    _, tuner = make_tuner(
        tmp_path,
        lambda spec: seen.append(spec) or runner(spec),
        strategy="random",
        trials=1,
    )
    tuner.search()
    assert [s.eval_episodes for s in seen] == [0]
    (trial,) = tuner.oracle.trials.values()
    assert trial.score < 200  # training returns, not the fake evaluation's


@BATCHING
def test_a_diverging_trial_is_recorded_as_failed_and_the_sweep_goes_on(population, tmp_path):
    runner = FakeRunner(diverge_below=1e-3)
    _, tuner = make_tuner(
        tmp_path, runner, strategy="random", trials=6, seed=1, population=population
    )
    tuner.search()
    rows = tuner.results()
    failed = [r for r in rows if r["status"] == "failed"]
    completed = [r for r in rows if r["status"] == "completed"]
    assert len(rows) == 6 and failed and completed
    assert all(r["hparams"]["learning_rate"] < 1e-3 for r in failed)
    assert all("diverged: losses/value_loss is nan" in r["reason"] for r in failed)
    assert [r["rank"] for r in completed] == list(range(1, len(completed) + 1))
    with open(tmp_path / "s" / "results.json") as f:
        assert json.load(f) == [r.to_json() for r in rows]


def test_an_interrupted_grid_sweep_resumes_without_losing_or_repeating_trials(tmp_path):
    fields = {
        "strategy": "grid",
        "trials": 100,
        "strategy_options": {"grid_points": 3},
        "space": {
            "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
            "update_epochs": [2, 4],
        },
    }
    _, tuner = make_tuner(tmp_path, FakeRunner(interrupt_on_call=2), **fields)
    with pytest.raises(KeyboardInterrupt):
        tuner.search()
    done_before = {
        t.trial_id: t.score for t in tuner.oracle.trials.values() if t.status == "COMPLETED"
    }
    assert len(done_before) == 2
    runner = FakeRunner()
    _, resumed = make_tuner(tmp_path, runner, **fields)
    resumed.search()
    trials = resumed.oracle.trials
    assert len(trials) == 6 and all(t.status == "COMPLETED" for t in trials.values())
    assert len(runner.calls) == 4  # the interrupted trial reran; finished ones did not
    for trial_id, score in done_before.items():
        assert trials[trial_id].score == score
    points = {json.dumps(v, sort_keys=True) for _, v in trial_values(resumed)}
    assert len(points) == 6
    for run_dir in glob.glob(str(tmp_path / "s" / "trial_*" / "*" / "seed_*")):
        assert len(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))) == 1


def test_an_oracle_without_hyperparameters_gets_the_agents_default_space(tmp_path):
    import keras_tuner as kt

    import tfhparam

    oracle = kt.oracles.HyperbandOracle(objective=kt.Objective("score", "max"), max_epochs=3)
    tuner = tfhparam.RLTuner(
        oracle=oracle,
        agent="a2c",
        total_timesteps=3000,
        directory=str(tmp_path),
        project_name="api",
        runner=FakeRunner(),
        verbose=False,
    )
    assert set(tuner.oracle.get_space().values) == set(config.build({"agent": "a2c"}).space)
    tuner.search()
    # the default ranges, narrower than the agent's domain (learning_rate [1e-5, 1e-2])
    low, high = (config.DEFAULT_SEARCH["a2c"]["learning_rate"][k] for k in ("min", "max"))
    tried = [t.hyperparameters.values["learning_rate"] for t in tuner.oracle.trials.values()]
    assert tried and all(low <= lr <= high for lr in tried), tried


def test_keras_tuner_style_classes_take_a_narrowed_space(tmp_path):
    import keras_tuner as kt

    import tfhparam

    hps = kt.HyperParameters()
    hps.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    common = dict(
        agent="ppo",
        total_timesteps=3000,
        runner=FakeRunner(),
        directory=str(tmp_path),
        verbose=False,
    )
    tuners = [
        tfhparam.RandomSearch(
            max_trials=3, seed=1, hyperparameters=hps, project_name="r", **common
        ),
        tfhparam.Hyperband(max_epochs=3, seed=1, hyperparameters=hps, project_name="h", **common),
        tfhparam.BayesianOptimization(
            max_trials=3,
            num_initial_points=2,
            seed=1,
            hyperparameters=hps,
            project_name="b",
            **common,
        ),
        tfhparam.GridSearch({"learning_rate": [1e-4, 1e-3]}, project_name="g", **common),
    ]
    for tuner in tuners:
        tuner.search()
        assert {
            n
            for t in tuner.trials()
            for n in t.hyperparameters.values
            if not n.startswith("tuner/")
        } == {"learning_rate"}
        assert [h.name for h in tuner.session_hparams()] == ["learning_rate", "trial", "env"]
        best = tuner.get_best_hyperparameters()[0].values["learning_rate"]
        if isinstance(tuner.oracle, kt.oracles.HyperbandOracle):
            continue  # its trials have different budgets: the closest rate need not win
        # the fake agent's rewards peak at 1e-3: the best is the tried rate closest to it
        tried = [t.hyperparameters.values["learning_rate"] for t in tuner.trials()]
        assert best == min(tried, key=lambda lr: abs(math.log10(lr) + 3.0))
    assert best == 1e-3  # the grid's


def test_a_space_outside_the_agents_domain_is_refused(tmp_path):
    import keras_tuner as kt

    import tfhparam
    from agents.hparams import SpaceError

    hps = kt.HyperParameters()
    hps.Float("learning_rate", 1e-4, 0.5, sampling="log")
    with pytest.raises(
        SpaceError, match="hyperparameters.learning_rate.max: 0.5 is outside the agent's domain"
    ):
        tfhparam.RandomSearch(hyperparameters=hps, directory=str(tmp_path), project_name="x")
    hps = kt.HyperParameters()
    hps.Int("no_such_hparam", 1, 3)
    with pytest.raises(SpaceError, match="unknown hparam 'no_such_hparam'"):
        tfhparam.RandomSearch(hyperparameters=hps, directory=str(tmp_path), project_name="y")


def test_batches_train_runs_of_one_shape_together_and_a_failed_population_fails_its_own(
    tmp_path,
):
    """Runs share a population only if their shape-changing hparams agree (a minibatch
    count is a member's own); a population that raises fails its own trials, and the sweep
    goes on."""
    from tfhparam.tuner import lockstep

    runner, groups = FakeRunner(), []
    side_by_side = lockstep(runner)

    def population_runner(specs, stopped):
        groups.append(
            [(spec.hparams["num_steps"], spec.hparams["num_minibatches"]) for spec in specs]
        )
        if specs[0].hparams["num_steps"] == 32:
            raise RuntimeError("population out of memory")
        yield from side_by_side(specs, stopped)

    sweep = config.build(
        {
            "total_timesteps": 4096,
            "last_n": 2,
            "trials": 8,
            "seeds": 2,
            "space": {
                "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
                "num_steps": [32, 128],
                "num_minibatches": [2, 8],
            },
        }
    )
    tuner = RLTuner(
        make_oracle(sweep),
        agent="ppo",
        seeds=sweep.run_seeds(),
        total_timesteps=4096,
        last_n=2,
        directory=str(tmp_path),
        project_name="s",
        runner=runner,
        population=6,
        population_runner=population_runner,
        verbose=False,
    )
    tuner.search()
    rows = tuner.results()
    assert len(rows) == 8
    for row in rows:
        if row["hparams"]["num_steps"] == 32:
            assert row["status"] == "failed"
            assert row["reason"] == "RuntimeError: population out of memory"
        else:
            assert row["status"] == "completed"
    assert any(len(group) > 2 for group in groups)  # several trials' runs in one population
    for group in groups:
        assert len(group) <= 6 and len({num_steps for num_steps, _ in group}) == 1
    assert any(len({minibatches for _, minibatches in group}) == 2 for group in groups)
    # each completed trial trained both seeds once, and wrote their checkpoints
    assert len(runner.calls) == 2 * sum(r["status"] == "completed" for r in rows)


def test_a_trial_whose_seeds_fill_several_populations_fails_once(tmp_path):
    """Seeds beyond the population size train in a second population; a trial that failed
    in the first does not train again in the second."""
    fake, started = FakeRunner(diverge_below=1e-3), []

    def runner(spec):
        started.append(spec.save)
        yield from fake(spec)

    _, tuner = make_tuner(
        tmp_path, runner, strategy="random", trials=6, seed=1, seeds=3, population=2
    )
    tuner.search()
    rows = tuner.results()
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(rows) == 6 and failed and len(failed) < 6
    assert all(r["hparams"]["learning_rate"] < 1e-3 for r in failed)
    assert all(r["reason"].startswith("diverged: losses/value_loss is nan") for r in failed)
    for row in failed:  # its third seed, in the second population, never started
        assert not [s for s in started if f"trial_{row['trial']}{os.sep}" in s and "1002" in s]
    completed = [r for r in rows if r["status"] == "completed"]
    assert len(fake.calls) == 3 * len(completed) == len(started) - 2 * len(failed)


@pytest.mark.parametrize("strategy, most", [("bayesian", 2), ("random", 8)])
def test_model_based_oracles_ask_smaller_batches(strategy, most, tmp_path):
    """Bayesian (and TPE) batches stop at max(initial points, a quarter of the trials), so
    the model sees results before proposing most trials; random takes what fits."""
    _, tuner = make_tuner(
        tmp_path,
        FakeRunner(),
        strategy=strategy,
        trials=8,
        seed=2,
        strategy_options={"num_initial_points": 2} if strategy == "bayesian" else {},
        population=8,
    )
    batches, run_batch = [], tuner._run_batch
    tuner._run_batch = lambda trials: (batches.append(len(trials)), run_batch(trials))
    tuner.search()
    assert sum(batches) == 8 and max(batches) == most
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
