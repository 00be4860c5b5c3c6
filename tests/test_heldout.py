"""The test phase (tfhparam.heldout): the best configurations trained again on held-out
seeds and evaluated; chosen by test score; resumable; fake agents (training is not the
point here; the real path is in test_evaluation.py and test_sweep_cli.py)."""

import json
import os

import pytest
from fakes import FakeRunner

from tfhparam import config, heldout, results
from tfhparam.tensorboard import read_scalars
from tfhparam.tuner import RLTuner, lockstep


def searched(tmp_path, trials=4, runner=None, **fields):
    by_trials = fields.get("strategy", "random") in config.BY_TRIALS
    sweep = config.build(
        {
            "total_timesteps": 2048,
            "name": "s",
            **({"trials": trials} if by_trials else {}),
            **fields,
        }
    )
    tuner = RLTuner.from_sweep(sweep, str(tmp_path), runner=runner or FakeRunner(), verbose=False)
    tuner.search()
    return tuner.project_dir


def test_test_seeds_are_disjoint_from_every_tuning_seed():
    seeds = heldout.test_seeds(7, 5)
    assert len(set(seeds)) == 5
    tuning = {seed * 1000 + k for seed in range(10_000) for k in range(100)}
    assert not tuning & set(seeds) and all(s < 2 * heldout.TEST_SEED_START for s in seeds)
    with pytest.raises(ValueError, match="too large"):
        heldout.test_seeds(10**6, 3)


@pytest.mark.parametrize(
    "fields",
    [
        {"strategy": "random", "seeds": 3},
        {"strategy": "hyperband", "strategy_options": {"max_epochs": 3, "factor": 3}},
        {"strategy": "pbt", "strategy_options": {"population_size": 4, "generations": 2}},
    ],
    ids=["random", "hyperband", "pbt"],
)
def test_test_runs_never_use_a_seed_any_tuning_run_used(fields, tmp_path):
    tuning = FakeRunner()
    project = searched(tmp_path, runner=tuning, **fields)
    testing = FakeRunner()
    heldout.run(project, heldout.TestSettings(4, 3, 2), lockstep(testing), verbose=False)
    tuning_seeds = {call["seed"] for call in tuning.calls}  # promotions and PBT members too
    test_seeds = {call["seed"] for call in testing.calls}
    assert tuning_seeds and test_seeds == set(heldout.test_seeds(0, 4))
    assert not tuning_seeds & test_seeds
    assert all(call["restore"] is None for call in testing.calls)  # trained from scratch


def test_the_top_configurations_are_tested_and_the_best_is_chosen_by_test_score(tmp_path):
    project = searched(tmp_path)
    by_tuning = [r.trial for r in heldout.chosen_rows(results.read(project), 2)]
    runner = FakeRunner()
    out = heldout.run(project, heldout.TestSettings(3, 2, 4), lockstep(runner), verbose=False)
    assert [r["trial"] for r in out] == by_tuning
    seeds = heldout.test_seeds(0, 3)
    assert sorted(c["seed"] for c in runner.calls) == sorted(seeds * 2)  # 2 configs x 3 seeds
    rows = results.read(project)
    tested = [r for r in rows if r.test_score is not None]
    assert sorted(r.trial for r in tested) == sorted(by_tuning)
    # the fake evaluation ranks the other way round from training: the test phase decides
    assert rows[0].trial == by_tuning[1] and rows[0].rank == 1
    assert rows[0].test_low <= rows[0].test_iqm <= rows[0].test_high
    with open(os.path.join(project, "results.csv")) as f:
        assert f.readline().startswith("rank,trial,score,test_score,test_iqm,test_low,test_high")
    # each test run is a TensorBoard session under test/, ending with the test score
    run_dir = os.path.join(project, "test", f"trial_{by_tuning[0]}", "CartPole-v1")
    run_dir = os.path.join(run_dir, f"seed_{seeds[0]}")
    scalars = read_scalars(run_dir, ["test_score", "eval/return"])
    assert scalars["test_score"][-1][1] == pytest.approx(out[0]["test_score"])
    assert scalars["eval/return"]


def test_a_rerun_keeps_what_was_tested_and_other_settings_replace_it(tmp_path):
    project = searched(tmp_path)
    settings = heldout.TestSettings(2, 2, 3)
    first = heldout.run(project, settings, lockstep(FakeRunner()), verbose=False)
    again = FakeRunner()
    heldout.run(project, settings, lockstep(again), verbose=False)
    assert again.calls == []  # nothing trained twice
    os.remove(heldout.result_path(project, first[1]["trial"]))  # as if killed while training it
    redo = FakeRunner()
    heldout.run(project, settings, lockstep(redo), verbose=False)
    assert len(redo.calls) == 2  # its two seeds, nothing else
    with open(heldout.result_path(project, first[0]["trial"])) as f:
        assert json.load(f) == first[0]  # the finished one untouched
    heldout.run(project, heldout.TestSettings(2, 1, 5), lockstep(FakeRunner()), verbose=False)
    tested = [r.trial for r in results.read(project) if r.test_score is not None]
    assert tested == [first[0]["trial"]]  # only the last phase's settings are shown


def test_a_configuration_that_fails_its_test_is_recorded_and_the_phase_goes_on(tmp_path):
    project = searched(tmp_path, trials=3)
    rows = heldout.chosen_rows(results.read(project), 3)
    worst_lr = min(r.hparams["learning_rate"] for r in rows)
    runner = FakeRunner(diverge_below=worst_lr * 1.0001)  # its losses turn NaN
    diverging = lockstep(runner)

    def failing(specs, stopped):
        for entries in diverging(specs, stopped):
            yield [
                {"error": "diverged"} if e and e["losses/value_loss"] != 1.0 else e for e in entries
            ]

    out = heldout.run(project, heldout.TestSettings(2, 3, 2), failing, verbose=False)
    statuses = {r["trial"]: r["status"] for r in out}
    assert sorted(statuses.values()) == ["completed", "completed", "failed"]
    assert len([r for r in results.read(project) if r.test_score is not None]) == 2


def test_a_configuration_is_tested_once_whichever_trials_share_it():
    rows = [
        results.Row("0", 0.5, "completed", hparams={"learning_rate": 1e-3}),
        results.Row("1", 0.9, "completed", hparams={"learning_rate": 1e-3}),  # its promotion
        results.Row("2", 0.7, "completed", hparams={"learning_rate": 3e-4}),
        results.Row("3", None, "failed", hparams={"learning_rate": 1e-4}),
    ]
    assert [r.trial for r in heldout.chosen_rows(rows, 3)] == ["1", "2"]


def test_bad_settings_and_missing_sweeps_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        heldout.run(str(tmp_path), heldout.TestSettings(0, 1, 1))
    with pytest.raises(results.ResultsError):
        heldout.run(str(tmp_path), heldout.TestSettings(1, 1, 1))


@pytest.mark.parametrize(
    "data, flags, message",
    [
        ({"test": {"seedz": 3}}, {}, "test.seedz: unknown; known: seeds, top, episodes"),
        ({"test": 3}, {}, "test: expected {seeds: K, top: M, episodes: N}"),
        ({"test": {"top": 0}}, {}, "test.top: must be at least 1"),
        ({}, {"test_episodes": 0}, "--test-episodes: must be at least 1"),
        ({}, {"test_seeds": -1}, "--test-seeds: must be at least 0"),
        ({"seed": 10**6, "test": {"seeds": 2}}, {}, "sweep seed 1000000 is too large"),
    ],
)
def test_sweep_files_and_flags_set_the_test_phase(data, flags, message):
    with pytest.raises(config.SweepError) as info:
        config.build(data, flags)
    assert message in str(info.value)
    sweep = config.build({"test": {"seeds": 4}}, {"test_top": 2})
    assert sweep.test == {"seeds": 4, "top": 2, "episodes": 10}
