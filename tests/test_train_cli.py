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
        (["--eval-every", "0"], "--eval-every must be positive, got 0"),
        (["--eval-episodes", "-1"], "--eval-episodes must be positive, got -1"),
        (["--env", "CartPole-v1[wind=3]"], "unexpected keyword argument 'wind'"),
        (
            ["--num-envs", "1", "--num-steps", "8", "--num-minibatches", "16"],
            "num_minibatches=16 exceeds the 8 samples of a rollout",
        ),
        (["--env", "CartPole-v1[wind"], "one pair of brackets at the end"),
        (
            ["--env", "CartPole-v1[sutton_barto_reward=true]", "--env-backend", "tf"],
            "env options need gymnasium's env",
        ),
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
    """Also the quiet start: TensorFlow is imported by then, and without the user's own
    TF_CPP_MIN_LOG_LEVEL our line is all of stderr; --verbose lets TensorFlow's through."""
    old = tmp_path / "old"  # what the first agents wrote: tf.train.Checkpoint files, no format
    old.mkdir()
    (old / "meta.json").write_text('{"env_id": "CartPole-v1", "hparams": {}, "seed": 0}')
    (old / "agent.index").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [
        sys.executable,
        "-m",
        "tfhparam.train",
        "--restore",
        str(old),
        "--total-timesteps",
        "1024",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("python -m tfhparam.train: error: checkpoint")
    assert "older format" in out.stderr
    verbose = subprocess.run(
        [*command, "--verbose"], capture_output=True, text=True, timeout=120, env=env
    )
    assert verbose.returncode == 2 and "Traceback" not in verbose.stderr
    assert len(verbose.stderr.splitlines()) > 1  # TensorFlow's start-up lines, let through
    assert verbose.stderr.splitlines()[-1] == out.stderr.strip()


def test_tensorflow_start_up_notices_are_filtered_and_its_warnings_kept():
    from tfhparam import quiet

    dropped = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796169401.460306   25849 port.cc:153] oneDNN custom operations are on.",
        "I1201 23:56:47.867562   25849 service.cc:153] XLA service 0x55cd initialized",
        "I0000 00:00:1796169401.513882   25849 cpu_feature_guard.cc:227] This TensorFlow binary "
        "is optimized to use available CPU instructions in performance-critical operations.",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild "
        "TensorFlow with the appropriate compiler flags.",
        "E0000 00:00:1796169418.527444   25849 text_format.cc:378] Error parsing text-format "
        "tensorflow.XlaSerializedCacheEntry: 2:1: Expected identifier, got: 5",
        "E0000 00:00:1796169418.713775   25849 cpu_aot_loader.cc:220] Loading XLA:CPU AOT result. "
        "Target machine feature +prefer-no-gather is not  supported on the host machine.",
        "E0000 00:00:1796614459.753081   18739 util.cc:131] oneDNN supports DT_UINT8 only on "
        "platforms with AVX-512. Falling back to the default Eigen-based implementation if "
        "present.",
        "[2026-12-02 18:57:36,865 W 18685 18685] gcs_client.cc:210: Failed to get cluster ID "
        "from GCS server: Unauthenticated: RPC error: InvalidAuthToken: Authentication token",
    ]
    kept = [
        "E0000 00:00:1796169418.713775   25849 cpu_aot_loader.cc:220] Loading XLA:CPU AOT result. "
        "Target machine feature +avx512fp16 is not  supported on the host machine.",
        "W1201 23:56:47.867562   25849 bfc_allocator.cc:290] Allocator ran out of memory",
        "UserWarning: something a user should read",
        "python -m tfhparam.train: error: unknown env id 'X'",
    ]
    assert [line for line in dropped if not quiet.is_noise(line)] == []
    assert [line for line in kept if quiet.is_noise(line)] == []


@pytest.mark.slow
def test_a_run_prints_only_its_own_lines(tmp_path):
    """Start-up and compilation (XLA's persistent cache included) print nothing of
    TensorFlow's without the user's own TF_CPP_MIN_LOG_LEVEL."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [
        sys.executable,
        "-m",
        "tfhparam.train",
        "--total-timesteps",
        "512",
        "--num-envs",
        "2",
        "--quiet",
        "--logdir",
        str(tmp_path),
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.startswith("ppo on CartPole-v1: 512 steps")
