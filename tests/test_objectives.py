"""Several objectives: Pareto fronts by hand, each objective from its runs, NSGA-II, every
Optuna sampler, the results and the report (fake agents: no training)."""

import csv
import json
import math
import os
import subprocess
import sys

import pytest
from fakes import FakeRunner

from tfhparam import config, objectives, pareto, samplers

# ---------------------------------------------------------------------------------------
# Pareto arithmetic, checked by hand
# ---------------------------------------------------------------------------------------

# Maximize both: a front of three, a second front of two, a third of one.
POINTS = [(1, 5), (2, 4), (4, 1), (1, 4), (2, 2), (0, 0)]


def test_fronts_of_hand_placed_points():
    assert pareto.non_dominated_sort(POINTS, ["max", "max"]) == [[0, 1, 2], [3, 4], [5]]
    # minimizing the second objective instead: (4, 1) and (0, 0) lead
    assert pareto.non_dominated_sort(POINTS, ["max", "min"])[0] == [2, 5]
    assert pareto.dominates((2, 4), (1, 4), ["max", "max"])
    assert not pareto.dominates((2, 4), (2, 4), ["max", "max"])  # equal: neither
    assert pareto.non_dominated_sort([(1, 1), (1, 1)], ["max", "max"]) == [[0, 1]]


def test_crowding_distance_by_hand():
    # front (1, 5), (2, 4), (4, 1): ranges 3 and 4; the middle point's neighbours span
    # 3 in x and 4 in y, so its distance is 3/3 + 4/4 = 2; the extremes are infinite.
    assert pareto.crowding_distance([(1, 5), (2, 4), (4, 1)]) == [math.inf, 2.0, math.inf]
    assert pareto.crowding_distance([(0, 0), (1, 1), (2, 2), (4, 4)])[1:3] == [1.0, 1.5]
    assert pareto.crowding_distance([(3, 3), (3, 3), (3, 3)])[1] == 0.0  # no range


def test_rank_orders_by_front_then_crowding():
    order = pareto.rank(POINTS, ["max", "max"])
    assert order[:3] in ([0, 2, 1], [2, 0, 1])  # the extremes first, then the middle
    assert set(order[3:5]) == {3, 4} and order[5] == 5


def test_hypervolume_by_hand():
    # maximize both, reference (0, 0): the union of rectangles [0,1]x[0,5], [0,2]x[0,4],
    # [0,4]x[0,1] has area 5 + 1*4... by slices: x in [0,1]: 5; [1,2]: 4; [2,4]: 2*1 = 2.
    assert pareto.hypervolume([(1, 5), (2, 4), (4, 1)], (0, 0), ["max", "max"]) == 11.0
    # dominated points and points beyond the reference add nothing
    assert pareto.hypervolume([(1, 5), (2, 4), (4, 1), (1, 1), (-1, 9)], (0, 0), ["max"] * 2) == 11
    # minimize in 3-D: one point at the origin, reference (1, 2, 3): a 1 x 2 x 3 box
    assert pareto.hypervolume([(0, 0, 0)], (1, 2, 3), ["min"] * 3) == 6.0
    # two boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] (maximize, reference 0): 2 + 2 - 1
    assert pareto.hypervolume([(2, 1, 1), (1, 2, 1)], (0, 0, 0), ["max"] * 3) == 3.0
    reference = pareto.reference_point([(1, 5), (3, 1)], ["max", "min"])
    assert reference == pytest.approx([0.8, 5.4])


# ---------------------------------------------------------------------------------------
# Objectives: written, and computed from a trial's runs
# ---------------------------------------------------------------------------------------


def test_objectives_parse_with_their_natural_directions():
    assert str(objectives.parse("score")) == "score:max"
    assert str(objectives.parse("wall_seconds")) == "wall_seconds:min"
    steps = objectives.parse("env_steps_to(475.0):min")
    assert (steps.name, steps.threshold, steps.direction) == ("env_steps_to(475)", 475.0, "min")
    assert objectives.parse("parameters:max").direction == "max"
    assert objectives.parse("test_score").searched_as == "score"
    for text, message in [
        ("speed", "unknown objective 'speed'"),
        ("score:up", "direction must be max or min"),
        ("env_steps_to(fast)", "env_steps_to needs a number"),
    ]:
        with pytest.raises(ValueError, match=message):
            objectives.parse(text)
    with pytest.raises(ValueError, match="measure the same thing"):
        objectives.parse_all(["score", "test_score"])


RUNS = [  # two envs, two seeds each, as result.json records them
    {"env": "A", "seed": 0, "value": 10.0, "steps": 1000, "auc": 6.0, "reached": {"8": 400},
     "wall_seconds": 1.5, "parameters": 100.0},
    {"env": "A", "seed": 1, "value": 14.0, "steps": 1000, "auc": 8.0, "reached": {"8": None},
     "wall_seconds": 2.5, "parameters": 100.0},
    {"env": "B", "seed": 0, "value": 1.0, "steps": 1000, "auc": 0.5, "reached": {"8": 200},
     "wall_seconds": 0.5, "parameters": 300.0},
    {"env": "B", "seed": 1, "value": 3.0, "steps": 1000, "auc": 1.0, "reached": {"8": 600},
     "wall_seconds": 0.5, "parameters": 300.0},
]  # fmt: skip


def test_each_objective_from_a_trials_runs_by_hand():
    def value(text, targets=None, aggregate="mean"):
        return objectives.trial_value(objectives.parse(text), RUNS, 42.0, targets, aggregate)

    assert value("score") == 42.0 and value("test_score") == 42.0
    assert value("auc") == pytest.approx((7.0 + 0.75) / 2)  # seeds averaged, envs meaned
    assert value("auc", {"A": (0, 10)}) == pytest.approx((0.7 + 0.75) / 2)  # normalized
    assert value("seed_std") == pytest.approx((2.0 + 1.0) / 2)  # population std per env
    # A: 400 and never (its budget, 1000) -> 700; B: 400
    assert value("env_steps_to(8)") == pytest.approx((700 + 400) / 2)
    assert value("env_steps_to(8)", aggregate="median") == pytest.approx(550)
    assert value("wall_seconds") == pytest.approx(5.0)  # the trial's shares summed
    assert value("parameters") == pytest.approx(200.0)
    assert math.isnan(value("env_steps_to(9)"))  # not recorded: unknown, not invented


def test_a_runs_running_value_and_the_step_it_reaches_a_threshold():
    running = objectives.running_values([1.0, 3.0, 5.0, 7.0], last_n=2)
    assert running == [1.0, 2.0, 4.0, 6.0]
    assert objectives.first_reach([10, 20, 30, 40], running, 4.0) == 30
    assert objectives.first_reach([10, 20, 30, 40], running, 9.0) is None


# ---------------------------------------------------------------------------------------
# Sweep definitions
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"objectives": ["speed"]}, "objectives: unknown objective 'speed'"),
        ({"objectives": "score:best"}, "direction must be max or min"),
        ({"strategy": "hyperband", "objectives": ["score", "parameters"]}, "hyperband optimizes"),
        ({"strategy": "pbt", "objectives": ["score", "auc"]}, "use grid, random, evolution"),
        ({"prune": "median", "objectives": ["score", "auc"]}, "prune only a sweep of score"),
        ({"objectives": ["seed_std", "score"]}, "seed_std needs 2 seeds or more"),
        ({"objectives": ["test_score", "auc"]}, "test_score needs the test phase"),
        ({"strategy": "optuna", "strategy_options": {"sampler": "Nope"}}, "unknown sampler"),
        (
            {"strategy": "optuna", "objectives": ["score", "auc"],
             "strategy_options": {"sampler": "CmaEsSampler"}},
            "CmaEsSampler optimizes one objective",
        ),
        (
            {"strategy": "optuna", "strategy_options": {"sampler": "TPESampler", "speed": 2}},
            "TPESampler takes no option 'speed'",
        ),
        (
            {"strategy": "optuna", "strategy_options": {"sampler": "TPESampler", "seed": 2}},
            "seed of TPESampler is set by the sweep's seed",
        ),
        (
            {"strategy": "optuna", "strategy_options": {"sampler": "QMCSampler", "qmc_type": 3}},
            "QMCSampler",
        ),
        ({"strategy": "random", "strategy_options": {"sampler": "TPESampler"}}, "of optuna"),
    ],
)  # fmt: skip
def test_bad_objectives_and_samplers_name_the_field(fields, message):
    with pytest.raises(config.SweepError, match=message):
        config.build(fields)


def test_a_sampler_whose_module_is_missing_names_its_extra(monkeypatch):
    real = samplers.importlib.util.find_spec
    monkeypatch.setattr(
        samplers.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    with pytest.raises(samplers.SamplerError, match=r"GPSampler needs torch: .*tfhparam\[gp\]"):
        samplers.check("GPSampler", {}, 1)


def test_a_samplers_options_sit_beside_it_even_where_another_strategy_has_the_name():
    options = {"sampler": "NSGAIISampler", "population_size": 8, "sampler_options": {"seed": 1}}
    with pytest.raises(config.SweepError, match="seed"):  # the sweep's seed sets it
        config.build({"strategy": "optuna", "strategy_options": options})
    options = {"sampler": "NSGAIISampler", "population_size": 8, "num_initial_points": 2}
    sweep = config.build({"strategy": "optuna", "strategy_options": options})
    assert sweep.options["sampler_options"] == {"population_size": 8}
    assert sweep.options["num_initial_points"] == 2


def test_samplers_that_model_intervals_only_say_how_they_draw_value_lists():
    from tfhparam.sweep import sampler_note

    space = {"learning_rate": {"min": 1e-4, "max": 1e-2, "log": True}, "update_epochs": [2, 4]}

    def note(sampler, space=space, strategy="optuna"):
        options = {"sampler": sampler} if strategy == "optuna" else {}
        return sampler_note(
            config.build({"strategy": strategy, "space": space, "strategy_options": options})
        )

    expected = "models intervals only; it draws update_epochs independently at random"
    assert note("CmaEsSampler") == f"note: CmaEsSampler {expected} (Optuna's fallback)"
    assert expected in note("QMCSampler")
    assert note("TPESampler") is None and note("NSGAIISampler") is None
    assert note("CmaEsSampler", {"learning_rate": space["learning_rate"]}) is None
    assert note(None, strategy="random") is None


def test_objectives_on_the_command_line_exit_2_with_one_line(tmp_path):
    command = [sys.executable, "-m", "tfhparam.sweep", "--logdir", str(tmp_path)]
    out = subprocess.run(
        [*command, "--strategy", "hyperband", "--objective", "score", "--objective", "parameters"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "--objective: hyperband optimizes one objective" in out.stderr
    assert "Traceback" not in out.stderr and not os.listdir(tmp_path)


# ---------------------------------------------------------------------------------------
# Sweeps with conflicting objectives (fake agents: score grows with the network)
# ---------------------------------------------------------------------------------------

SPACE = {"learning_rate": [1e-4, 1e-3, 1e-2], "hidden_size": [16, 32, 64]}
TWO = ["score", "parameters"]


def make_tuner(directory, population=4, runner=None, **fields):
    from tfhparam.tuner import RLTuner

    fields = {"total_timesteps": 4096, "last_n": 2, "space": SPACE, "name": "s", **fields}
    sweep = config.build(fields)
    runner = runner or FakeRunner(size_bonus=5.0)
    return RLTuner.from_sweep(
        sweep, str(directory), runner=runner, verbose=False, population=population
    )


def read_rows(tuner):
    with open(os.path.join(tuner.project_dir, "results.json")) as f:
        return json.load(f)


def test_a_grid_of_conflicting_objectives_ends_with_the_known_front(tmp_path):
    """Score peaks at learning_rate 1e-3 and grows by 5 a doubling of hidden_size, whose
    parameters are hidden_size squared: the front is learning_rate 1e-3 at every size."""
    tuner = make_tuner(tmp_path, strategy="grid", objectives=TWO)
    tuner.search()
    rows = read_rows(tuner)
    front = [r for r in rows if r.get("front") == 1]
    assert sorted((r["hparams"]["hidden_size"], r["hparams"]["learning_rate"]) for r in front) == [
        (16, 1e-3),
        (32, 1e-3),
        (64, 1e-3),
    ]
    assert [r["rank"] for r in rows[:3]] == [1, 2, 3] and rows[0]["front"] == 1
    # learning rates 1e-4 and 1e-2 score alike: together, at every size, the second front
    assert [r["front"] for r in rows] == [1] * 3 + [2] * 6
    for row in rows:  # the objective's value, from what the runs logged
        assert row["objectives"]["parameters"] == row["hparams"]["hidden_size"] ** 2
    with open(os.path.join(tuner.project_dir, "results.csv")) as f:
        table = list(csv.DictReader(f))
    assert table[0]["front"] == "1" and float(table[0]["parameters"]) in (256, 1024, 4096)
    # each run logged the objective; the HParams tab knows it as a metric
    from tfhparam.tensorboard import read_scalars

    run = os.path.join(tuner.project_dir, "trial_0", "CartPole-v1", "seed_0")
    assert read_scalars(run, ["parameters"])["parameters"] == [(4096, 256.0)]
    config_events = open(
        next(
            os.path.join(tuner.project_dir, f)
            for f in os.listdir(tuner.project_dir)
            if f.startswith("events.out")
        ),
        "rb",
    ).read()
    assert b"parameters" in config_events
    # the front in TensorBoard: the hypervolume over trials, the front's size and values
    logged = read_scalars(
        os.path.join(tuner.project_dir, "pareto"),
        ["pareto/hypervolume", "pareto/front_size", "front/parameters"],
    )
    assert [step for step, _ in logged["pareto/hypervolume"]] == list(range(1, 10))
    assert logged["pareto/front_size"] == [(9, 3.0)]
    assert sorted(v for _, v in logged["front/parameters"]) == [256.0, 1024.0, 4096.0]


def test_every_objective_is_recorded_per_trial(tmp_path):
    tuner = make_tuner(
        tmp_path,
        strategy="random",
        trials=3,
        seeds=2,
        objectives=["score", "auc", "seed_std", "env_steps_to(101)", "wall_seconds"],
    )
    tuner.search()
    for trial_id in ("0", "1", "2"):
        with open(os.path.join(tuner.project_dir, f"trial_{trial_id}", "result.json")) as f:
            result = json.load(f)
        runs, values = result["runs"], result["objectives"]
        assert set(values) == {"auc", "seed_std", "env_steps_to(101)", "wall_seconds"}
        assert values["seed_std"] == pytest.approx(0.5)  # rewards differ by the seed, 0 or 1
        assert values["wall_seconds"] == pytest.approx(sum(r["wall_seconds"] for r in runs))
        assert values["wall_seconds"] > 0
        for run in runs:  # the fake's rewards: quality + step / 1000 + seed, 2-point mean
            assert run["reached"]["101"] in (None, *range(512, 4097, 512))
        assert values["auc"] == pytest.approx(
            sum(r["auc"] for r in runs) / len(runs)
        )  # one env: the mean over seeds


def test_nsga2_is_deterministic_resumes_and_breeds_from_its_fronts(tmp_path):
    options = {"population_size": 4, "generations": 3, "elites": 1}
    fields = {"strategy": "evolution", "seed": 2, "objectives": TWO, "strategy_options": options}
    straight = make_tuner(tmp_path / "a", **fields)
    straight.search()
    again = make_tuner(tmp_path / "b", **fields)
    again.search()

    def values(tuner):
        return {t.trial_id: t.hyperparameters.values for t in tuner.oracle.trials.values()}

    assert values(straight) == values(again)
    assert straight.oracle.populations == again.oracle.populations
    # interrupted in its second generation, then resumed
    interrupted = make_tuner(
        tmp_path / "c", runner=FakeRunner(size_bonus=5.0, interrupt_on_call=4), **fields
    )
    with pytest.raises(KeyboardInterrupt):
        interrupted.search()
    resumed = make_tuner(tmp_path / "c", **fields)
    resumed.search()
    assert values(resumed) == values(straight)
    assert resumed.oracle.populations == straight.oracle.populations
    # each generation breeds from the NSGA-II best four of itself and its own parents, and
    # carries the first of them over as its elite
    oracle = straight.oracle
    for generation in (1, 2):
        pool = oracle._parents(generation)
        union = oracle.populations[generation] + [
            i for i in oracle._parents(generation - 1) if i not in oracle.populations[generation]
        ]
        assert pool == [t.trial_id for t in pareto_order(oracle, union)][:4]
        assert oracle.populations[generation][:1] == oracle._parents(generation - 1)[:1]
    rows = read_rows(straight)
    front = [r for r in rows if r.get("front") == 1]
    points = [
        (r["score"], r["objectives"]["parameters"]) for r in rows if r["status"] == "completed"
    ]
    for row in front:  # nobody dominates a front row
        mine = (row["score"], row["objectives"]["parameters"])
        assert not any(pareto.dominates(p, mine, ["max", "min"]) for p in points)


def pareto_order(oracle, ids):
    from tfhparam import oracles

    return oracles.pareto_ranked([oracle.trials[i] for i in ids], oracle.objective)


SAMPLERS = ["TPESampler", "NSGAIISampler", "NSGAIIISampler", "QMCSampler", "RandomSampler"]


@pytest.mark.parametrize("sampler", [*SAMPLERS, "CmaEsSampler", "GPSampler"])
def test_each_optuna_sampler_runs_a_sweep_and_resumes(sampler, tmp_path):
    import optuna

    if sampler == "GPSampler":  # the gp extra (PyTorch) is not in dev: see the README
        pytest.importorskip("torch", reason="GPSampler needs the gp extra (PyTorch)")

    several = sampler != "CmaEsSampler"
    space = {"learning_rate": {"min": 1e-4, "max": 1e-2, "log": True}, "hidden_size": [16, 64]}
    fields = {
        "strategy": "optuna",
        "trials": 4,
        "seed": 1,
        "space": space,
        "objectives": TWO if several else ["score"],
        "strategy_options": {"sampler": sampler, "num_initial_points": 2},
    }
    tuner = make_tuner(tmp_path, **fields)
    tuner.search()
    storage = f"sqlite:///{os.path.join(tuner.project_dir, 'optuna.db')}"
    study = optuna.load_study(study_name="s", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert len(study.directions) == (2 if several else 1)
    rows = read_rows(tuner)
    if several:  # Optuna's own front is the results' front 1
        best = {tuple(t.values) for t in study.best_trials}
        ours = {(r["score"], r["objectives"]["parameters"]) for r in rows if r.get("front") == 1}
        assert {(round(a, 6), b) for a, b in best} == {(round(a, 6), b) for a, b in ours}
    again = make_tuner(tmp_path, **{**fields, "trials": 6})  # resumed, with more trials
    again.search()
    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 6 and len(again.oracle.trials) == 6
    for t in study.trials:
        assert 1e-4 <= t.params["learning_rate"] <= 1e-2 and t.params["hidden_size"] in (16, 64)


def test_a_pareto_report_draws_the_front_and_the_hypervolume(tmp_path):
    pytest.importorskip("matplotlib")
    from tfhparam import report

    tuner = make_tuner(tmp_path, strategy="grid", objectives=TWO)
    tuner.search()
    paths = report.write_report(tuner.project_dir)
    assert os.path.getsize(paths["pareto_front"]) > 0
    text = open(paths["report.md"], encoding="utf-8").read()
    assert "## Pareto front" in text and "3 of 9 completed trials are on the front" in text
    sweep = report.load(tuner.project_dir)
    found, rows, points = report.front_points(sweep)
    volumes = pareto.hypervolume_curve(points, [o.direction for o in found])
    assert len(volumes) == 9 and volumes == sorted(volumes)  # never shrinks
    assert volumes[-1] == pytest.approx(
        pareto.hypervolume(points, pareto.reference_point(points, ["max", "min"]), ["max", "min"])
    )


def test_every_run_writes_progress_csv_and_the_sweep_loads_as_a_dataframe(tmp_path):
    tuner = make_tuner(tmp_path, strategy="random", trials=2, seeds=2)
    tuner.search()
    run = os.path.join(tuner.project_dir, "trial_0", "CartPole-v1", "seed_1")
    with open(os.path.join(run, "progress.csv")) as f:
        table = list(csv.DictReader(f))
    # the fake's iterations: 512 env steps each, rewards = quality + step / 1000 + seed
    assert [int(r["global_step"]) for r in table] == list(range(512, 4097, 512))
    assert list(table[0])[0] == "global_step" and "charts/parameters" in table[0]
    first = float(table[0]["rewards"])
    assert float(table[1]["rewards"]) == pytest.approx(first + 0.512)
    from tfhparam import results

    frame = results.load(tuner.project_dir)
    assert list(frame["trial"]) == [r["trial"] for r in read_rows(tuner)]
    assert {"rank", "score", "status", "config/learning_rate", "config/hidden_size"} <= set(
        frame.columns
    )
    assert frame["logdir"][0] == os.path.join(tuner.project_dir, f"trial_{frame['trial'][0]}")
    assert frame["score"][0] == max(frame["score"])


def test_the_test_phase_takes_the_pareto_order_and_test_score_ranks_tested_rows():
    """``test_score`` steers the search as ``score``: the test phase picks by the Pareto
    order on the tuning seeds; once tested, the front uses the held-out score instead."""
    from tfhparam import heldout, results

    def row(trial, score, size, test=None):
        return results.Row(
            trial,
            score,
            "completed",
            hparams={"hidden_size": size, "trial": trial},
            objectives={"parameters": float(size)},
            test_score=test,
        )

    found = objectives.parse_all(["test_score", "parameters"])
    # tuning: 0 (big, best) and 2 (small, good) are the front; 1 is dominated by 0
    rows = [row("0", 0.9, 64), row("1", 0.5, 64), row("2", 0.7, 16), row("3", 0.1, 16)]
    chosen = [r.trial for r in heldout.chosen_rows(rows, 2, found)]
    assert sorted(chosen) == ["0", "2"]
    # after the test phase: trial 0 tests badly, so the small trial 2 dominates it
    tested = [row("0", 0.9, 64, test=0.3), row("2", 0.7, 16, test=0.8)]
    ranked = results.ranked([*tested, row("1", 0.5, 64), row("3", 0.1, 16)], found)
    assert [(r.trial, r.front) for r in ranked[:2]] == [("2", 1), ("0", 2)]
    assert [r.front for r in ranked[2:]] == [None, None]  # untested: after the fronts
    assert [r.rank for r in ranked] == [1, 2, 3, 4]


def test_one_objective_other_than_score_ranks_by_its_value_in_its_direction():
    from tfhparam import results

    rows = [
        results.Row(t, 1.0, "completed", objectives={"wall_seconds": w})
        for t, w in (("0", 3.0), ("1", 1.0), ("2", 2.0))
    ]
    ranked = results.ranked(rows, objectives.parse_all(["wall_seconds"]))
    assert [r.trial for r in ranked] == ["1", "2", "0"]
    assert [r.front for r in ranked] == [None] * 3 and [r.rank for r in ranked] == [1, 2, 3]
