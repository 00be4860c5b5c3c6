"""PBT, evolution, TPE and pruning with the fake agent (scripted learning curves)."""

import glob
import json
import math
import os

import pytest
from fakes import FakeRunner

from agents.hparams import hp
from tfhparam import config, oracles
from tfhparam import sweep as sweep_cli
from tfhparam.tensorboard import read_scalars
from tfhparam.tuner import RLTuner, hyperband_schedule, make_oracle

SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
    "ent_coef": {"min": 0.0, "max": 0.02},
    "update_epochs": [2, 4, 8],
    "clip_vloss": [False, True],
}


def make_tuner(directory, runner=None, population=1, **fields):
    fields = {"total_timesteps": 4096, "last_n": 2, "space": SPACE, "name": "s", **fields}
    sweep = config.build(fields)
    tuner = RLTuner.from_sweep(
        sweep, str(directory), runner=runner or FakeRunner(), verbose=False, population=population
    )
    return sweep, tuner


def trial_values(tuner):
    return [
        (
            t.trial_id,
            {k: v for k, v in t.hyperparameters.values.items() if not k.startswith("tuner/")},
        )
        for t in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
    ]


def results(tuner):
    with open(os.path.join(tuner.project_dir, "results.json")) as f:
        return json.load(f)


def in_domain(domain, value):
    if isinstance(domain, hp.Discrete):
        return value in domain.values
    return domain.min_value <= value <= domain.max_value


STRATEGIES = {
    "pbt": {"strategy": "pbt", "strategy_options": {"population_size": 4, "generations": 4}},
    "evolution": {
        "strategy": "evolution",
        "strategy_options": {"population_size": 5, "generations": 3},
    },
    "tpe": {"strategy": "tpe", "trials": 8, "strategy_options": {"num_initial_points": 3}},
    "random+median": {"strategy": "random", "trials": 8, "prune": "median"},
    "grid+asha": {"strategy": "grid", "trials": 8, "prune": "asha"},
    "bayesian+median": {
        "strategy": "bayesian",
        "trials": 5,
        "prune": "median",
        "strategy_options": {"num_initial_points": 3},
    },
    "tpe+asha": {"strategy": "tpe", "trials": 8, "prune": "asha"},
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_values_stay_in_their_domains_and_the_same_seed_decides_the_same(name, tmp_path):
    fields = {"seed": 4, **STRATEGIES[name]}
    sweep, first = make_tuner(tmp_path / "a", **fields)
    first.search()
    _, second = make_tuner(tmp_path / "b", **fields)
    second.search()
    _, other = make_tuner(tmp_path / "c", **{**fields, "seed": 5})
    other.search()
    runs = trial_values(first)
    assert runs and runs == trial_values(second)
    if name != "grid+asha":
        assert runs != trial_values(other)
    for _, values in runs:
        for key, value in values.items():
            assert in_domain(sweep.space[key], value), (key, value)
    rows = results(first)
    assert rows == results(second)
    assert all(r["status"] in ("completed", "pruned") for r in rows)


BATCHING = pytest.mark.parametrize("population", [1, 4], ids=["one-at-a-time", "batched"])


@BATCHING
def test_pbt_exploits_the_top_and_explores_around_it(population, tmp_path):
    runner = FakeRunner()
    options = {
        "population_size": 4,
        "generations": 3,
        "quantile": 0.25,
        "resample_probability": 0.0,
    }
    sweep, tuner = make_tuner(
        tmp_path, runner, strategy="pbt", seed=1, strategy_options=options, population=population
    )
    tuner.search()
    rows = {r["trial"]: r for r in results(tuner)}
    assert len(rows) == 12 and all(r["status"] == "completed" for r in rows.values())
    lineage = tuner.oracle.lineage
    unit = tuner.hyperband_unit(tuner.space.resolve({}))
    for generation in (1, 2):
        previous = {m: lineage[m][generation - 1] for m in range(4)}
        scores = {m: rows[e["trial"]]["score"] for m, e in previous.items()}
        worst, best = min(scores, key=scores.get), max(scores, key=scores.get)
        for member in range(4):
            entry = lineage[member][generation]
            row = rows[entry["trial"]]
            assert row["member"] == member and row["generation"] == generation
            assert row["steps"] == (generation + 1) * unit
            if member == worst:  # exploit: the best member's checkpoint and hparams ...
                assert entry["copied_from"] == best
                assert row["parent"] == previous[best]["trial"]
                source = previous[best]["hparams"]
                for key in ("learning_rate", "ent_coef"):  # ... explored: x0.8 or x1.2
                    ratio = entry["hparams"][key] / source[key] if source[key] else 1.0
                    clipped = entry["hparams"][key] in (
                        sweep.space[key].min_value,
                        sweep.space[key].max_value,
                    )
                    assert clipped or math.isclose(ratio, 0.8) or math.isclose(ratio, 1.2)
                assert entry["hparams"]["update_epochs"] in (2, 4, 8)  # an int, kept in domain
                assert entry["hparams"]["clip_vloss"] == source["clip_vloss"]  # a choice: kept
            else:  # the others go on with their own checkpoint and hparams
                assert entry["copied_from"] is None
                assert row["parent"] == previous[member]["trial"]
                assert entry["hparams"] == previous[member]["hparams"]
    # each interval continued exactly where its source stopped
    by_save = {
        os.path.dirname(os.path.dirname(os.path.dirname(c["save"]))): c for c in runner.calls
    }
    for row in rows.values():
        call = by_save[tuner.trial_dir(row["trial"])]
        expected_start = rows[row["parent"]]["steps"] if row["parent"] else 0
        assert call["start"] == expected_start and call["end"] == row["steps"]
    # each member's schedule is in TensorBoard: hparams over steps, and its scores
    member_dir = os.path.join(tuner.project_dir, "pbt", f"member_{worst}")
    logged = read_scalars(member_dir, ["hparams/learning_rate", "score"])
    assert [s for s, _ in logged["score"]] == [unit, 2 * unit, 3 * unit]
    assert [v for _, v in logged["hparams/learning_rate"]][-1] == pytest.approx(
        lineage[worst][2]["hparams"]["learning_rate"]
    )


def test_pbt_never_moves_the_hparams_it_is_told_are_frozen(tmp_path):
    """Explore moves every numeric hparam but the frozen ones (the sweep freezes those that
    shape a checkpoint: agents.STRUCTURAL_HPARAMS)."""
    import agents

    sweep = config.build(
        {
            "strategy": "pbt",
            "strategy_options": {"population_size": 4, "generations": 2, "quantile": 0.5},
            "space": {"learning_rate": {"min": 1e-4, "max": 1e-2}, "num_layers": [1, 4]},
        }
    )
    sweep.space["num_layers"] = hp.IntInterval(1, 4)  # numeric: explore could move it
    oracle = make_oracle(sweep)
    assert oracle.frozen == set(agents.STRUCTURAL_HPARAMS) and "num_layers" in oracle.frozen
    oracle.resample_probability = 1.0  # every explored hparam drawn afresh
    oracle._set_project_dir(str(tmp_path), "s")
    first = [oracle.create_trial(f"t{i}") for i in range(4)]
    for score, trial in enumerate(first):
        oracle.update_trial(trial.trial_id, {"score": float(score)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    second = [oracle.create_trial(f"u{i}") for i in range(4)]
    copied = [e for e in (m[1] for m in oracle.lineage) if e["copied_from"] is not None]
    assert len(copied) == 2 and len(second) == 4
    for entry in copied:
        source = oracle.lineage[entry["copied_from"]][0]["hparams"]
        assert entry["hparams"]["num_layers"] == source["num_layers"]
        assert entry["hparams"]["learning_rate"] != source["learning_rate"]


def test_pbt_resume_continues_the_same_lineage(tmp_path):
    fields = {
        "strategy": "pbt",
        "seed": 2,
        "strategy_options": {"population_size": 4, "generations": 3},
    }
    _, straight = make_tuner(tmp_path / "a", **fields)
    straight.search()
    _, interrupted = make_tuner(tmp_path / "b", FakeRunner(interrupt_on_call=6), **fields)
    with pytest.raises(KeyboardInterrupt):
        interrupted.search()
    _, resumed = make_tuner(tmp_path / "b", **fields)
    resumed.search()
    assert trial_values(resumed) == trial_values(straight)
    assert resumed.oracle.lineage == straight.oracle.lineage


def test_evolution_keeps_elites_and_breeds_children_from_parents(tmp_path):
    options = {"population_size": 5, "generations": 3, "elites": 2, "mutation_probability": 0.0}
    _, tuner = make_tuner(tmp_path, strategy="evolution", seed=3, strategy_options=options)
    tuner.search()
    populations = tuner.oracle.populations
    assert [len(p) for p in populations] == [5, 5, 5]
    assert len(tuner.oracle.trials) == 5 + 2 * 3  # elites are not trained again
    scores = {t.trial_id: t.score for t in tuner.oracle.trials.values()}
    for previous, current in zip(populations, populations[1:]):
        best_two = sorted(previous, key=lambda t: -scores[t])[:2]
        assert current[:2] == best_two
        parents = [tuner.oracle.trials[t].hyperparameters.values for t in previous]
        for child in current[2:]:
            values = tuner.oracle.trials[child].hyperparameters.values
            for key, value in values.items():  # no mutation: every gene from a parent
                assert value in [p[key] for p in parents]


def test_tpe_keeps_its_study_in_the_sweep_directory_and_resumes(tmp_path):
    import optuna

    fields = {
        "strategy": "tpe",
        "trials": 6,
        "seed": 1,
        "strategy_options": {"num_initial_points": 2},
    }
    _, tuner = make_tuner(tmp_path, FakeRunner(diverge_below=3e-4), **fields)
    tuner.search()
    storage = f"sqlite:///{os.path.join(tuner.project_dir, 'optuna.db')}"
    study = optuna.load_study(study_name="s", storage=storage)
    states = [t.state.name for t in study.trials]
    assert len(states) == 6 and set(states) <= {"COMPLETE", "FAIL"}
    kt_scores = sorted(t.score for t in tuner.oracle.trials.values() if t.score is not None)
    assert sorted(t.value for t in study.trials if t.value is not None) == pytest.approx(kt_scores)
    _, again = make_tuner(tmp_path, **{**fields, "trials": 8})  # resume with more trials
    again.search()
    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 8 and len(again.oracle.trials) == 8


def test_median_and_asha_rules():
    assert not oracles.median_prunes(1.0, [5, 6, 7, 8], step=2, warmup=3, min_trials=4)
    assert not oracles.median_prunes(1.0, [5, 6, 7], step=3, warmup=3, min_trials=4)
    assert oracles.median_prunes(1.0, [5, 6, 7, 8], step=3, warmup=3, min_trials=4)
    assert not oracles.median_prunes(6.5, [5, 6, 7, 8], step=3, warmup=3, min_trials=4)
    # ASHA, warmup 2, factor 3: rungs at steps 2, 6, 18; the top third goes on
    assert not oracles.asha_prunes(1.0, [9, 9, 9], step=3, warmup=2, factor=3)  # no rung
    assert oracles.asha_prunes(5.0, [9, 8, 1, 2, 3], step=6, warmup=2, factor=3)
    assert not oracles.asha_prunes(8.5, [9, 8, 1, 2, 3], step=6, warmup=2, factor=3)
    assert not oracles.asha_prunes(1.0, [], step=2, warmup=2, factor=3)  # first at its rung


def test_a_pruning_oracle_answers_with_the_trial_that_the_chief_sends_to_workers(tmp_path):
    """Also the median rule as documented: the other trial is still running (not completed,
    unlike Optuna's MedianPruner) and its report counts."""
    import keras_tuner as kt

    options = {"prune_warmup": 1, "prune_min_trials": 1}
    sweep = config.build({"prune": "median", "space": SPACE, "strategy_options": options})
    oracle = make_oracle(sweep)
    oracle._set_project_dir(str(tmp_path), "s")
    first, second = oracle.create_trial("a"), oracle.create_trial("b")
    answer = oracle.update_trial(first.trial_id, {"score": 10.0}, step=1)
    assert kt.engine.trial.Trial.from_proto(answer.to_proto()).status == "RUNNING"
    answer = oracle.update_trial(second.trial_id, {"score": 1.0}, step=1)
    assert kt.engine.trial.Trial.from_proto(answer.to_proto()).status == "STOPPED"
    assert oracle.pruned_ids == {second.trial_id}


@BATCHING
@pytest.mark.parametrize("pruner", ["median", "asha"])
def test_pruning_stops_trials_that_fall_behind(pruner, population, tmp_path):
    runner = FakeRunner()
    options = {"prune_reports": 4, "prune_warmup": 2, "prune_min_trials": 2}
    _, tuner = make_tuner(
        tmp_path,
        runner,
        strategy="random",
        trials=12,
        seed=6,
        prune=pruner,
        strategy_options=options,
        population=population,
    )
    tuner.search()
    rows = results(tuner)
    pruned = [r for r in rows if r["status"] == "pruned"]
    completed = [r for r in rows if r["status"] == "completed"]
    assert pruned and completed
    assert set(tuner.oracle.pruned_ids) == {r["trial"] for r in pruned}
    for row in pruned:
        assert row["rank"] is None and row["score"] is not None
        assert row["reason"].startswith("pruned at step")
        run_dir = os.path.join(tuner.trial_dir(row["trial"]), "CartPole-v1", "seed_6000")
        (pruned_at,) = read_scalars(run_dir, ["pruned"])["pruned"]
        assert pruned_at[1] == 1.0 and f"at step {pruned_at[0]} " in row["reason"]
    # the fake agent's score falls with |log10(lr) + 3|: the pruned are the farther ones
    distance = {r["trial"]: abs(math.log10(r["hparams"]["learning_rate"]) + 3) for r in rows}
    assert min(distance[r["trial"]] for r in pruned) > min(distance[r["trial"]] for r in completed)
    assert [r["rank"] for r in completed] == list(range(1, len(completed) + 1))
    trained = {
        os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(c["save"])))): c["end"]
        for c in runner.calls
    }
    assert all(f"trial_{r['trial']}" not in trained for r in pruned)  # stopped mid-run


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"strategy": "hyperband", "prune": "median"}, "works with grid, random, bayesian, tpe"),
        ({"prune": "sometimes"}, "unknown pruner 'sometimes'"),
        ({"strategy": "pbt", "strategy_options": {"quantile": 0.9}}, "quantile: must be a number"),
        ({"strategy": "evolution", "strategy_options": {"elites": 8}}, "elites: must be below"),
        (
            {"strategy": "pbt", "total_timesteps": 2000, "strategy_options": {"generations": 4}},
            "per PBT interval of 1/4",
        ),
    ],
)
def test_bad_strategy_definitions_name_the_field(fields, message):
    with pytest.raises(config.SweepError) as info:
        config.build(fields)
    assert message in str(info.value)


def test_tpe_without_optuna_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    real = sweep_cli.importlib.util.find_spec
    monkeypatch.setattr(
        sweep_cli.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "optuna" else real(name, *a),
    )
    with pytest.raises(SystemExit) as info:
        sweep_cli.main(["--strategy", "tpe", "--logdir", str(tmp_path)])
    assert info.value.code == 2
    assert "pip install 'tfhparam[optuna]'" in capsys.readouterr().err
    assert not glob.glob(str(tmp_path / "*"))


def test_hyperband_rounds_with_failed_trials_still_promote(tmp_path):
    options = {"max_epochs": 9, "factor": 3}
    _, tuner = make_tuner(
        tmp_path,
        FakeRunner(diverge_below=5e-4),
        strategy="hyperband",
        total_timesteps=9000,
        seed=3,
        strategy_options=options,
    )
    tuner.search()
    rows = {r["trial"]: r for r in results(tuner)}
    planned = sum(size for rounds in hyperband_schedule(9, 3) for size, _ in rounds)
    assert len(rows) == planned  # every round filled, none stalled
    failed = {t for t, r in rows.items() if r["status"] == "failed"}
    promoted = [r for r in rows.values() if r["parent"] is not None]
    assert failed and promoted
    assert any(r["status"] == "completed" and r["steps"] == 9 * 512 for r in promoted)
    for row in promoted:  # a failed trial goes on only when too few completed
        if row["parent"] in failed:
            assert row["status"] == "failed" and "parent checkpoint missing" in row["reason"]
    assert all(rows[t]["score"] is None and rows[t]["rank"] is None for t in failed)


def test_an_oracle_is_known_by_its_strategys_record():
    """RLTuner given an oracle finds its record: Keras Tuner's own Hyperband counts as
    hyperband (budget units, totals), our GridOracle as grid, a foreign oracle as none."""
    import keras_tuner as kt

    from tfhparam import strategies

    objective = kt.Objective("score", "max")
    theirs = kt.oracles.HyperbandOracle(objective=objective, max_epochs=9, factor=3)
    ours = make_oracle(config.build({"strategy": "hyperband"}))
    assert strategies.for_oracle(theirs).name == strategies.for_oracle(ours).name == "hyperband"
    reader = strategies.oracle_reader(theirs)
    planned = sum(size for rounds in hyperband_schedule(9, 3) for size, _ in rounds)
    assert strategies.for_oracle(theirs).total(reader) == planned
    grid = make_oracle(config.build({"strategy": "grid", "space": SPACE}))
    assert strategies.for_oracle(grid).name == "grid"

    class Foreign(kt.Oracle):
        pass

    assert strategies.for_oracle(Foreign(objective=objective, max_trials=3)) is None
