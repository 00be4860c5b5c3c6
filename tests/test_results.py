"""tfhparam.results: rows, ranking, files, tables, the best command. No TensorFlow."""

import json
import subprocess
import sys

import pytest

from tfhparam import results


def rows():
    return [
        results.Row("2", None, "failed", 64, reason="diverged: losses/value_loss is nan"),
        results.Row("0", 12.345678, "completed", 64, hparams={"learning_rate": 0.00031415}),
        results.Row("1", 0.5, results.PRUNED, 32, reason="step 1 of 2"),
        results.Row("3", 99.0, "completed", 64, hparams={"learning_rate": 0.001}),
        results.Row("4", None, "running"),
    ]


def test_rows_rank_completed_by_score_then_pruned_failed_running():
    ranked = results.ranked(rows())
    assert [(r.trial, r.rank) for r in ranked] == [
        ("3", 1),
        ("0", 2),
        ("1", None),
        ("2", None),
        ("4", None),
    ]
    assert ranked[0]["score"] == ranked[0].score == 99.0  # the JSON form's keys read too


def test_one_number_format_everywhere():
    assert [results.number(v) for v in (12.345678, 0.00031415, 3, None, "tanh")] == [
        "12.35",
        "0.0003142",
        "3",
        "",
        "tanh",
    ]
    text = results.text_table(results.ranked(rows()))
    assert text.splitlines()[0].split() == ["rank", "trial", "score", "status", "learning_rate"]
    assert "12.35" in text and "0.0003142" in text
    assert text.splitlines()[-1] == "trial 2 failed: diverged: losses/value_loss is nan"
    header, body = results.cells(results.ranked(rows()), ["learning_rate"])
    assert header[-1] == "reason" and body[0] == ["1", "3", "99", "completed", "64", "0.001", ""]


def test_results_files_round_trip_and_old_rows_still_read(tmp_path):
    ranked = results.ranked(rows())
    results.write(str(tmp_path), ranked)
    assert results.read(str(tmp_path)) == ranked
    csv_lines = (tmp_path / "results.csv").read_text().splitlines()
    assert csv_lines[0] == "rank,trial,score,status,steps,learning_rate,reason"
    # a row of an older results.json: no member fields, and a key we no longer write
    old = [
        {
            "trial": "0",
            "score": 1.0,
            "status": "completed",
            "steps": 8,
            "parent": None,
            "reason": "",
            "hparams": {},
            "rank": 1,
            "seconds": 3.0,
        }
    ]
    (tmp_path / "results.json").write_text(json.dumps(old))
    assert results.read(str(tmp_path)) == [results.Row("0", 1.0, "completed", 8, rank=1)]


def test_a_damaged_results_file_is_a_results_error(tmp_path):
    (tmp_path / "results.json").write_bytes(b"\xff\xfe[")
    with pytest.raises(results.ResultsError, match="cannot read .*results.json"):
        results.read(str(tmp_path))
    (tmp_path / "results.json").write_text('{"a": 1}')
    with pytest.raises(results.ResultsError, match="not a list of result rows"):
        results.read(str(tmp_path))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfhparam.sweep",
            "--results",
            "--name",
            tmp_path.name,
            "--logdir",
            str(tmp_path.parent),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "not a list of result rows" in out.stderr


def test_the_definition_is_read_from_the_old_pair_and_the_best_command_from_it(tmp_path):
    cli = {
        "name": "s",
        "agent": "ppo",
        "envs": ["CartPole-v1"],
        "seeds": 2,
        "fixed": {},
        "total_timesteps": 4096,
        "strategy": "random",
    }
    (tmp_path / "sweep.json").write_text(json.dumps(cli))
    assert results.read_definition(str(tmp_path))["seeds"] == 2
    tuner = {
        "agent": "ppo",
        "envs": ["CartPole-v1"],
        "seeds": [0, 1],
        "fixed": {"gamma": 0.9},
        "total_timesteps": 4096,
        "env_backend": "gymnasium",
    }
    (tmp_path / "definition.json").write_text(json.dumps(tuner))
    definition = results.read_definition(str(tmp_path))
    assert definition["seeds"] == [0, 1] and definition["strategy"] == "random"
    row = results.Row("3", 1.0, "completed", hparams={"learning_rate": 0.001})
    assert results.best_command(definition, row) == (
        "python -m tfhparam.train --agent ppo --env CartPole-v1 --total-timesteps 4096 "
        "--env-backend gymnasium --gamma 0.9 --learning-rate 0.001"
    )
    assert results.read_definition(str(tmp_path / "missing")) is None


def test_one_definition_file_holds_both_parts_and_an_old_pair_migrates(tmp_path):
    old_cli = {"name": "s", "agent": "ppo", "envs": ["CartPole-v1"], "seeds": 1, "fixed": {}}
    (tmp_path / "sweep.json").write_text(json.dumps(old_cli))
    (tmp_path / "definition.json").write_text(json.dumps({"seeds": [0]}))
    assert results.sweep_definition(str(tmp_path)) == old_cli
    results.write_definition(str(tmp_path), "sweep", {**old_cli, "trials": 3})  # a resume
    written = json.loads((tmp_path / "sweep.json").read_text())
    assert written == {"sweep": {**old_cli, "trials": 3}, "tuner": {"seeds": [0]}}
    results.write_definition(str(tmp_path), "tuner", {"seeds": [0], "total_timesteps": 8})
    assert results.read_definition(str(tmp_path))["total_timesteps"] == 8
    assert results.sweep_definition(str(tmp_path))["trials"] == 3
