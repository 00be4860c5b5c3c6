"""``python -m tfhparam.train``: bad input exits 2 with one line; a tiny run logs scalars."""

import os
import subprocess
import sys

import pytest

from tfhparam import train


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agent", "sac"], "invalid choice: 'sac'"),
        (["--env", "NoSuchEnv-v9"], "unknown env id 'NoSuchEnv-v9'"),
        (["--learning-rate", "5"], "learning_rate=5.0 is outside its domain"),
        (["--learning_rate", "abc"], "learning_rate='abc' is not a float"),
        (["--total-timesteps", "-10"], "--total-timesteps must be positive"),
        (["--no-such-hparam", "1"], "unrecognized arguments: --no-such-hparam"),
        (["--total-timesteps", "100"], "less than one unit of training"),
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--agent", "dqn", "--env", "Pendulum-v1"], "Pendulum-v1: dqn needs Discrete actions"),
        (["--agent", "dqn", "--buffer-size", "10"], "buffer_size=10 is outside its domain"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    out = subprocess.run(
        [sys.executable, "-m", "tfhparam.train", *args], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_both_flag_spellings_and_presets_resolve():
    args, hp = train.parse(["--agent", "ppo", "--learning-rate", "1e-3", "--clip_coef", "0.1"])
    assert hp["learning_rate"] == 1e-3 and hp["clip_coef"] == 0.1
    _, hp = train.parse(["--env", "Pendulum-v1", "--preset", "continuous", "--gamma", "0.95"])
    assert hp["num_steps"] == 1024 and hp["gamma"] == 0.95


def test_tiny_run_writes_tensorboard_scalars_and_a_checkpoint(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    status = train.main(
        [
            "--agent",
            "a2c",
            "--env",
            "CartPole-v1",
            "--total-timesteps",
            "400",
            "--num-envs",
            "4",
            "--num-steps",
            "5",
            "--logdir",
            str(tmp_path),
            "--save",
            str(tmp_path / "ckpt"),
            "--quiet",
        ]
    )
    assert status == 0
    assert "a2c on CartPole-v1: 400 steps" in capsys.readouterr().out
    (run_dir,) = [d for d in tmp_path.iterdir() if d.name.startswith("CartPole-v1__a2c__1__")]
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "rewards",
        "episode_length",
        "explained_variance",
        "losses/value_loss",
        "charts/SPS",
        "charts/learning_rate",
    } <= tags
    assert [e.step for e in events.Scalars("explained_variance")][-1] == 400
    assert os.path.exists(tmp_path / "ckpt" / "meta.json")


def test_a_checkpoint_of_the_first_agents_format_exits_2_with_one_line(tmp_path):
    old = tmp_path / "old"  # what the first agents wrote: tf.train.Checkpoint files, no format
    old.mkdir()
    (old / "meta.json").write_text('{"env_id": "CartPole-v1", "hparams": {}, "seed": 0}')
    (old / "agent.index").write_text("")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfhparam.train",
            "--restore",
            str(old),
            "--total-timesteps",
            "1024",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    # TensorFlow is imported by then, and its start-up logging still comes first (issue 15)
    ours = [line for line in out.stderr.splitlines() if line.startswith("python -m tfhparam")]
    assert len(ours) == 1 and "older format" in ours[0], out.stderr
