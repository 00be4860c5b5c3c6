"""The sweep report from a small fake sweep: figures, numbers, a running sweep, bad input."""

import json
import os
import re
import shutil
import subprocess
import sys

import matplotlib.image
import pytest
from fakes import FakeRunner

from tfhparam import config, report, train
from tfhparam.tensorboard import read_scalars
from tfhparam.tuner import RLTuner

FIGURES = ["learning_curves", "score_vs_hparams", "parallel_coordinates", "importance"]


def fake_sweep(directory, name="fake", strategy="random", diverge_below=5e-4, **fields):
    """A finished sweep by the fake agent: 2 seeds; learning rates under 5e-4 diverge."""
    sweep = config.build(
        {
            "total_timesteps": 4096,
            "last_n": 2,
            "seeds": 2,
            **({"trials": 20} if strategy in config.BY_TRIALS else {}),
            "strategy": strategy,
            "seed": 3,
            "name": name,
            "space": {
                "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
                "clip_vloss": [False, True],
                "ent_coef": {"min": 0.0, "max": 0.02},
            },
            **fields,
        }
    )
    tuner = RLTuner.from_sweep(
        sweep, str(directory), runner=FakeRunner(diverge_below), verbose=False
    )
    tuner.search()
    return os.path.join(str(directory), name)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return fake_sweep(tmp_path_factory.mktemp("sweeps"))


def table_rows(markdown: str, first_header: str) -> list[dict[str, str]]:
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return rows


def test_figures_are_real_images(finished):
    paths = report.write_report(finished)
    for name in FIGURES:
        assert os.path.getsize(paths[name]) > 10_000
        pixels = matplotlib.image.imread(paths[name])
        assert pixels.shape[0] > 200 and pixels.shape[1] > 400
        assert pixels[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    assert os.path.dirname(paths["report.md"]) == os.path.join(finished, "report")


def test_report_numbers_match_the_results_file(finished):
    paths = report.write_report(finished)
    with open(os.path.join(finished, "results.json")) as f:
        results = json.load(f)
    with open(paths["report.md"]) as f:
        markdown = f.read()
    rows = table_rows(markdown, "rank")
    assert [r["trial"] for r in rows] == [r["trial"] for r in results]
    for shown, row in zip(rows, results):
        assert shown["status"] == row["status"]
        if row["score"] is None:
            assert shown["score"] == ""
        else:
            assert float(shown["score"]) == pytest.approx(row["score"], rel=1e-3)
        assert float(shown["learning_rate"]) == pytest.approx(
            row["hparams"]["learning_rate"], rel=1e-3
        )
    statuses = [r["status"] for r in results]
    assert "failed" in statuses and "completed" in statuses
    counts = f"({statuses.count('completed')} completed, {statuses.count('failed')} failed"
    assert counts in markdown

    best = results[0]
    assert f"Trial {best['trial']}, score {best['score']:.4g}" in markdown
    command = re.search(r"```\n(python -m tfhparam\.train .*)\n```", markdown).group(1)
    _, hparams = train.parse(command.split()[3:])
    assert hparams["learning_rate"] == best["hparams"]["learning_rate"]
    assert hparams["clip_vloss"] == best["hparams"]["clip_vloss"]

    importances = {r["hparam"]: float(r["importance"]) for r in table_rows(markdown, "hparam")}
    assert set(importances) == {"learning_rate", "clip_vloss", "ent_coef"}
    assert sum(importances.values()) == pytest.approx(1.0, abs=0.01)
    # the fake agent's return depends on the learning rate alone
    assert max(importances, key=importances.get) == "learning_rate"

    with open(paths["report.html"]) as f:
        page = f.read()
    assert page.count("<img ") == len(FIGURES) and f"<td>{best['trial']}</td>" in page


def test_learning_curves_follow_the_logged_rewards(finished):
    sweep = report.load(finished)
    best = sweep.rows[0]
    curves = report.trial_curves(sweep, best["trial"])
    (env,) = curves
    assert len(curves[env]) == 2  # one per seed
    run_dir = os.path.join(finished, f"trial_{best['trial']}", env, "seed_3000")
    logged = read_scalars(run_dir, ["rewards"])["rewards"]
    steps, values = curves[env][0]
    assert list(steps) == [s for s, _ in logged]
    assert list(values) == pytest.approx([v for _, v in logged])


def test_smoothing_is_a_debiased_moving_average():
    import numpy as np

    assert report.smooth(np.array([4.0, 4.0, 4.0]), 0.9) == pytest.approx([4.0, 4.0, 4.0])
    # weights 0.5: (0.5 * 2) / 0.5 = 2; (0.25 * 2 + 0.5 * 4) / 0.75 = 10 / 3
    assert report.smooth(np.array([2.0, 4.0]), 0.5) == pytest.approx([2.0, 10 / 3])
    assert report.smooth(np.array([1.0, 5.0]), 0.0) == pytest.approx([1.0, 5.0])


def test_hyperband_promotions_continue_their_parents_curve(tmp_path):
    directory = fake_sweep(
        tmp_path,
        name="hb",
        strategy="hyperband",
        total_timesteps=9000,
        strategy_options={"max_epochs": 9, "factor": 3},
        diverge_below=0.0,
    )
    sweep = report.load(directory)
    child = next(r for r in sweep.rows if r["parent"] is not None and r["status"] == "completed")
    (env,) = report.trial_curves(sweep, child["trial"])
    steps = report.trial_curves(sweep, child["trial"])[env][0][0]
    own = read_scalars(
        os.path.join(directory, f"trial_{child['trial']}", env, "seed_3000"), ["rewards"]
    )["rewards"]
    assert steps[0] < own[0][0]  # starts with the parent's steps
    assert steps[-1] == own[-1][0] == child["steps"]
    report.write_report(directory)


def test_pbt_sweeps_get_a_schedule_figure(tmp_path):
    options = {"population_size": 4, "generations": 3}
    directory = fake_sweep(
        tmp_path, name="pbt", strategy="pbt", diverge_below=0.0, strategy_options=options
    )
    members = report.pbt_members(report.load(directory))
    assert sorted(members) == [0, 1, 2, 3]
    assert all([r["generation"] for r in rows] == [0, 1, 2] for rows in members.values())
    paths = report.write_report(directory)
    assert matplotlib.image.imread(paths["pbt_schedule"]).shape[0] > 200
    with open(paths["report.md"]) as f:
        assert "![pbt_schedule.png](pbt_schedule.png)" in f.read()
    assert "pbt_schedule" not in report.write_report(fake_sweep(tmp_path / "plain"))


def test_a_tested_sweep_draws_its_held_out_scores(tmp_path):
    from tfhparam import heldout
    from tfhparam.tuner import lockstep

    directory = fake_sweep(tmp_path, diverge_below=0.0)
    heldout.run(directory, heldout.TestSettings(2, 4, 3), lockstep(FakeRunner()), verbose=False)
    paths = report.write_report(directory)
    pixels = matplotlib.image.imread(paths["test_scores"])
    assert pixels[..., :3].std() > 0.05
    with open(paths["report.md"]) as f:
        markdown = f.read()
    assert "## Held-out seeds" in markdown and "test_scores.png" in markdown
    rows = table_rows(markdown, "rank")
    tested = [r for r in rows if r["test"]]
    assert len(tested) == 4 and tested[0]["rank"] == "1"
    # the fake evaluation inverts training's order: the correlation says so
    assert report.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert "Spearman): -1.00" in markdown
    chances = table_rows(markdown, "trial")
    assert len(chances) == 3 and chances[0]["test score"] == tested[1]["test"]
    header = [k for k in chances[0] if k.startswith("P(trial")][0]
    assert header == f"P(trial {tested[0]['trial']} beats it) [95% CI]"
    for row in chances:  # the fake's runs differ by configuration: the best beats each
        assert row[header].startswith("1.00 [")


def test_an_untested_sweep_has_no_held_out_section(finished):
    paths = report.write_report(finished)
    assert "test_scores" not in paths
    with open(paths["report.md"]) as f:
        assert "Held-out seeds" not in f.read()


def test_a_running_sweep_reports_its_running_trial(tmp_path):
    directory = fake_sweep(tmp_path)
    # a trial that has started: Keras Tuner's trial.json and a half-written event file
    with open(os.path.join(directory, "results.json")) as f:
        source = os.path.join(directory, f"trial_{json.load(f)[0]['trial']}")
    running = os.path.join(directory, "trial_99")
    shutil.copytree(source, running)
    os.remove(os.path.join(running, "result.json"))
    with open(os.path.join(running, "trial.json")) as f:
        trial = json.load(f)
    with open(os.path.join(running, "trial.json"), "w") as f:
        json.dump({**trial, "trial_id": "99", "status": "RUNNING"}, f)
    run_dir = os.path.join(running, "CartPole-v1", "seed_3000")
    (events,) = [os.path.join(run_dir, n) for n in os.listdir(run_dir) if "tfevents" in n]
    with open(events, "rb") as f:
        data = f.read()
    with open(events, "wb") as f:
        f.write(data[:-7])  # the writer is mid-record
    assert read_scalars(run_dir, ["rewards"])["rewards"]

    paths = report.write_report(directory)
    with open(paths["report.md"]) as f:
        rows = table_rows(f.read(), "rank")
    assert {"trial": "99", "status": "running", "score": ""}.items() <= rows[-1].items()


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tfhparam.report", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_the_report_and_names_its_files(finished):
    out = run_cli(finished, "--top-k", "2")
    assert out.returncode == 0, out.stderr
    assert "report.md" in out.stdout and "importance.png" in out.stdout


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: str(d / "missing"), "no such directory"),
        (lambda d: str(d), "is not a sweep directory"),
    ],
)
def test_a_directory_that_is_no_sweep_exits_2_with_one_line(tmp_path, make, message):
    out = run_cli(make(tmp_path))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr
    assert not os.path.exists(tmp_path / "report")


def test_missing_matplotlib_is_named(finished, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    with pytest.raises(SystemExit) as info:
        report.main([finished, "--output", os.path.join(finished, "elsewhere")])
    assert info.value.code == 2
    assert "pip install 'tfhparam[report]'" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(finished, "elsewhere"))
