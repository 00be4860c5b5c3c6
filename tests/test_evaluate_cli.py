"""``python -m tfhparam.evaluate``: a saved agent's evaluation printed and written beside
its checkpoint; a run evaluated as it trains; bad input exits 2 with one line."""

import json
import os
import subprocess
import sys

import pytest

from tfhparam import evaluate, train


def run(*args):
    """The command as a user runs it (no TF_CPP_MIN_LOG_LEVEL of the suite's: quiet start)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "tfhparam.evaluate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    status = train.main(
        [
            *("--total-timesteps", "256", "--num-envs", "2", "--num-steps", "64"),
            *("--hidden-size", "16", "--eval-every", "128", "--eval-episodes", "3"),
            *("--logdir", str(root / "logs"), "--save", str(root / "run" / "checkpoint")),
            "--quiet",
        ]
    )
    assert status == 0
    return root


def test_training_with_evaluation_logs_eval_scalars(checkpoint, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (run_dir,) = (checkpoint / "logs").iterdir()
    events = EventAccumulator(str(run_dir))
    events.Reload()
    steps = [e.step for e in events.Scalars("eval/return")]
    assert steps == [128, 256]
    assert "eval/episode_length" in events.Tags()["scalars"]


def test_a_checkpoint_is_evaluated_and_the_figures_written_beside_it(checkpoint, capsys):
    out = run(str(checkpoint / "run"), "--episodes", "7", "--render", str(checkpoint / "a.gif"))
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert "ppo on CartPole-v1 (seed 1, step 256), deterministic policy, 7 episodes" in out.stdout
    with open(checkpoint / "run" / "checkpoint" / "evaluation.json") as f:
        record = json.load(f)
    assert record["episodes"] == 7 and len(record["returns"]) == 7
    assert record["mean"] == pytest.approx(sum(record["returns"]) / 7)
    assert (
        record["min"] <= record["iqm_low"] <= record["iqm"] <= record["iqm_high"] <= record["max"]
    )
    assert record["returns"] == [float(n) for n in record["lengths"]]  # CartPole: 1 a step
    assert os.path.getsize(checkpoint / "a.gif") > 0
    with open(checkpoint / "a.gif", "rb") as f:
        assert f.read(6) == b"GIF89a"
    # in this process from here on (one TensorFlow start-up is enough)
    assert (
        evaluate.main([str(checkpoint / "run" / "checkpoint"), "--episodes", "7", "--quiet"]) == 0
    )
    with open(checkpoint / "run" / "checkpoint" / "evaluation.json") as f:
        assert json.load(f)["returns"] == record["returns"]  # the same episodes again
    evaluate.main([str(checkpoint / "run"), "--episodes", "7", "--stochastic", "--round", "2"])
    assert "stochastic policy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}"], "no checkpoint in"),
        (["{run}", "--episodes", "0"], "--episodes must be positive, got 0"),
        (["{run}", "--round", "-1"], "--round must be 0 or more"),
        (["{run}", "--render", "x.mp4"], "--render writes a GIF"),
        (["{sweep}", "--render", "x.gif"], "are for a checkpoint"),
        (["{run}", "--top", "2"], "are for a sweep directory"),
        (["{damaged}"], "no checkpoint in"),
    ],
)
def test_bad_input_exits_2_with_one_line(checkpoint, args, message):
    (checkpoint / "sweep").mkdir(exist_ok=True)
    (checkpoint / "sweep" / "sweep.json").write_text("{}")
    (checkpoint / "damaged").mkdir(exist_ok=True)
    (checkpoint / "damaged" / "meta.json").write_bytes(b"\xff\xfe not json")
    paths = {
        "missing": str(checkpoint / "nowhere"),
        "run": str(checkpoint / "run"),
        "sweep": str(checkpoint / "sweep"),
        "damaged": str(checkpoint / "damaged"),
    }
    out = run(*(a.format(**paths) for a in args))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr


def test_a_sweep_tests_its_best_on_held_out_seeds_resumes_after_kill_9_and_evaluate_reruns(
    tmp_path, capsys
):
    import glob
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    sweep = [
        *(sys.executable, "-m", "tfhparam.sweep", "--name", "t", "--logdir", str(tmp_path)),
        *("--trials", "3", "--total-timesteps", "256", "--workers", "1"),
        *("--set", "num_envs=2", "--set", "num_steps=64", "--set", "hidden_size=16"),
        *("--test-seeds", "2", "--test-top", "2", "--test-episodes", "2"),
    ]
    project = tmp_path / "t"
    process = subprocess.Popen(sweep, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 240
    while not glob.glob(str(project / "test" / "trial_*" / "result.json")):
        assert process.poll() is None and time.time() < deadline, "no test result appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # while the second configuration trains
    process.wait()
    (finished,) = glob.glob(str(project / "test" / "trial_*" / "result.json"))
    kept = open(finished, "rb").read()
    out = subprocess.run(sweep, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("[test] trial") == 1  # the second only: the first was kept
    assert open(finished, "rb").read() == kept
    assert "test IQM 95% CI" in out.stdout
    rows = json.loads((project / "results.json").read_text())
    assert [r.get("test_score") is not None for r in rows] == [True, True, False]
    with open(project / "test" / "settings.json") as f:
        assert json.load(f)["test_seeds"] == [2**29, 2**29 + 1]
    capsys.readouterr()
    assert evaluate.main([str(project), "--top", "3", "--test-seeds", "2", "--episodes", "2"]) == 0
    assert capsys.readouterr().out.count("[test] trial") == 1  # the third; two were kept
    rows = json.loads((project / "results.json").read_text())
    assert all(r.get("test_score") is not None for r in rows)
    assert rows[0]["test_score"] >= rows[1]["test_score"] >= rows[2]["test_score"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "sweep.json").write_text("{}")
    refused = run(str(empty))
    assert refused.returncode == 2 and "holds no results yet" in refused.stderr
