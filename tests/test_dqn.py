"""DQN: the math analytically, the replay buffer, and tiny real runs on CartPole."""

import math

import numpy as np
import pytest
import tensorflow as tf

import agents
from agents import dqn
from agents.envs import EnvError

agents.configure_threads()
TINY = {
    "hidden_size": 16,
    "buffer_size": 300,
    "batch_size": 16,
    "learning_starts": 100,
    "train_frequency": 2,
    "target_network_frequency": 50,
    "learning_rate": 1e-3,
}


def test_linear_schedule_falls_from_start_to_end_then_stays():
    at = [float(dqn.linear_schedule(1.0, 0.05, 100.0, float(t))) for t in (0, 50, 100, 400)]
    np.testing.assert_allclose(at, [1.0, 0.525, 0.05, 0.05], rtol=1e-6)
    assert float(dqn.linear_schedule(1.0, 0.05, 0.0, 0.0)) == pytest.approx(0.05)


def test_td_target_bootstraps_truncated_transitions_but_not_terminated_ones():
    rewards = tf.constant([1.0, 1.0, 1.0])
    terminations = tf.constant([0.0, 1.0, 0.0])  # the third ended by truncation: flag 0
    next_q = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
    target = dqn.td_target(rewards, terminations, next_q, 0.9)
    np.testing.assert_allclose(target.numpy(), [1.0 + 0.9 * 2.0, 1.0, 1.0 + 0.9 * 5.0])


def test_double_dqn_values_the_online_networks_choice_with_the_target_network():
    next_target = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    next_online = tf.constant([[9.0, 0.0], [0.0, 9.0]])  # picks action 0, then action 1
    target = dqn.td_target(tf.zeros(2), tf.zeros(2), next_target, 0.5, next_online)
    np.testing.assert_allclose(target.numpy(), [0.5 * 1.0, 0.5 * 4.0])


def test_td_losses():
    q, target = tf.constant([0.0, 0.0, 0.0]), tf.constant([0.5, -2.0, 3.0])
    assert float(dqn.td_loss(q, target, "mse")) == pytest.approx((0.25 + 4.0 + 9.0) / 3)
    huber = (0.5 * 0.25 + (2.0 - 0.5) + (3.0 - 0.5)) / 3
    assert float(dqn.td_loss(q, target, "huber")) == pytest.approx(huber)


def add(buffer, values, mask):
    """Adds rows whose obs are ``values`` (next_obs = -values, action = index)."""
    obs = tf.constant(values, tf.float32)[:, None]
    n = len(values)
    buffer.add(obs, tf.range(n), tf.ones(n), -obs, tf.zeros(n), tf.constant(mask, tf.float32))


def test_replay_buffer_drops_masked_rows_and_wraps_around():
    buffer = dqn.ReplayBuffer(capacity=5, obs_shape=[1])
    add(buffer, [10.0, 11.0, 12.0], [1, 0, 1])  # the dummy step (mask 0) is no transition
    assert int(buffer.size) == 2 and int(buffer.position) == 2
    np.testing.assert_array_equal(buffer.observations[:2, 0, 0].numpy(), [10.0, 12.0])
    np.testing.assert_array_equal(buffer.observations[:2, 1, 0].numpy(), [-10.0, -12.0])
    np.testing.assert_array_equal(buffer.rows[:2, 0].numpy(), [0.0, 2.0])  # the actions
    add(buffer, [20.0, 21.0, 22.0, 23.0], [1, 1, 1, 1])  # rows 2, 3, 4, then 0
    assert int(buffer.size) == 5 and int(buffer.position) == 1
    np.testing.assert_array_equal(
        buffer.observations[:5, 0, 0].numpy(), [23.0, 12.0, 20.0, 21.0, 22.0]
    )


def test_replay_buffer_stores_images_as_bytes():
    buffer = dqn.ReplayBuffer(capacity=4, obs_shape=[10, 10, 4], obs_dtype=tf.uint8)
    frames = tf.constant(np.arange(2 * 400).reshape(2, 10, 10, 4) % 256, tf.uint8)
    buffer.add(frames, tf.range(2), tf.ones(2), frames[::-1], tf.zeros(2), tf.ones(2))
    assert buffer.observations.dtype == tf.uint8
    batch = buffer.sample(tf.constant([0.0, 0.6], tf.float64))
    np.testing.assert_array_equal(batch["obs"].numpy(), frames.numpy())
    np.testing.assert_array_equal(batch["next_obs"].numpy(), frames.numpy()[::-1])


def test_a_checkpoint_of_the_one_matrix_buffer_is_converted():
    old = np.arange(2 * 7, dtype=np.float32).reshape(2, 7)  # obs_dim 2: [o, o, o', o', a, r, t]
    arrays = {"buffer/rows": old}
    dqn.ReplayBuffer.split_old_rows(arrays)
    np.testing.assert_array_equal(arrays["buffer/observations"][1], [[7, 8], [9, 10]])
    np.testing.assert_array_equal(arrays["buffer/rows"], old[:, 4:])


def test_replay_buffer_samples_only_rows_written():
    buffer = dqn.ReplayBuffer(capacity=100, obs_shape=[1])
    add(buffer, [1.0, 2.0, 3.0], [1, 1, 1])
    uniform = tf.constant(np.random.default_rng(0).uniform(size=2000))
    batch = buffer.sample(uniform)
    assert set(batch["obs"].numpy()[:, 0].tolist()) == {1.0, 2.0, 3.0}
    np.testing.assert_array_equal(batch["next_obs"].numpy(), -batch["obs"].numpy())
    np.testing.assert_array_equal(batch["actions"].numpy(), batch["obs"].numpy()[:, 0] - 1)


def test_agent_stores_real_transitions_only():
    agent = dqn.make_agent("CartPole-v1", {**TINY, "learning_starts": 10**6}, seed=0)
    history = list(dqn.train(agent, 250))
    ended = sum(len(m["episode_returns"]) for m in history)
    assert ended >= 5  # a random policy ends CartPole episodes within ~20 steps
    # one dummy step follows every ended episode (except perhaps the last): not stored
    assert int(agent.buffer.size) in (250 - ended, 250 - ended + 1)
    size = int(agent.buffer.size)
    rows = agent.buffer.unpack(agent.buffer.observations[:size], agent.buffer.rows[:size])
    assert float(tf.reduce_sum(rows["terminations"])) in (ended, ended - 1)
    assert int(agent.gradient_steps.numpy()) == 0
    agent.close()


def test_smoke_training_yields_finite_metrics_and_learns_after_learning_starts():
    agent = dqn.make_agent("CartPole-v1", {**TINY, "double_dqn": True, "loss": "huber"}, seed=3)
    history = list(dqn.train(agent, 2500))
    assert [m["global_step"] for m in history] == [1000, 2000, 2500]
    for metrics in history:
        for key in ("explained_variance", "losses/td_loss", "losses/q_values", "charts/epsilon"):
            assert math.isfinite(metrics[key]), key
        assert "rewards" in metrics and "episode_length" in metrics
        assert metrics["charts/parameters"] == 386  # 4 -> 16 -> 16 -> 2: the online network
    # (2500 - 100) / 2 training rounds of one gradient step, give or take one
    assert abs(int(agent.gradient_steps.numpy()) - 1200) <= 1
    assert history[-1]["charts/epsilon"] == pytest.approx(0.05)
    agent.close()


def test_no_statistics_before_learning_starts():
    agent = dqn.make_agent("CartPole-v1", {**TINY, "learning_starts": 1500}, seed=0)
    first, second = dqn.train(agent, 2000)
    assert "losses/td_loss" not in first and "explained_variance" not in first
    assert "losses/td_loss" in second
    agent.close()


def test_continuous_actions_are_refused():
    with pytest.raises(EnvError, match="DQN needs Discrete actions"):
        dqn.make_agent("Pendulum-v1", seed=0)


def state(agent):
    """Every variable: networks, optimizer, replay buffer, RNG, step counters."""
    return [v.numpy() for v in agent.variables if v is not agent.iteration]


def run(seed, total, anneal=None, stop_after=None, restore=None, save=None, backend="auto"):
    agent = dqn.make_agent("CartPole-v1", TINY, seed=seed, env_backend=backend)
    if restore:
        agent.restore(restore)
    history = []
    for metrics in dqn.train(agent, total, anneal):
        history.append(
            {k: v for k, v in metrics.items() if k not in ("charts/SPS", "episode_returns")}
        )
    if save:
        agent.save(save)
    variables = state(agent)
    agent.close()
    return history, variables


def test_same_seed_same_result_and_other_seed_differs():
    first, w1 = run(seed=5, total=1200)
    second, w2 = run(seed=5, total=1200)
    _, w3 = run(seed=6, total=1200)
    assert first == second
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(w1, w3))


@pytest.mark.parametrize("backend", ["tf", "gymnasium"])
def test_checkpoint_with_replay_buffer_continues_exactly(backend, tmp_path):
    straight, w_straight = run(seed=2, total=1800, backend=backend)
    run(seed=2, total=700, anneal=1800, save=str(tmp_path / "ckpt"), backend=backend)  # mid-chunk
    resumed, w_resumed = run(seed=2, total=1800, restore=str(tmp_path / "ckpt"), backend=backend)
    assert [m["global_step"] for m in resumed] == [1000, 1800]  # chunks keep their bounds
    assert resumed[-1] == {**straight[-1], "iteration": resumed[-1]["iteration"]}
    assert len(w_straight) == len(w_resumed) > 10
    for a, b in zip(w_straight, w_resumed):
        np.testing.assert_array_equal(a, b)


def test_hyperband_sweep_of_dqn_continues_promoted_trials(tmp_path, capsys):
    import json

    import yaml

    from tfhparam import sweep, train

    space = {name: value for name, value in TINY.items() if name != "learning_rate"}
    space["learning_rate"] = {"min": 1e-4, "max": 1e-2, "log": True}
    space["target_network_frequency"] = [25, 50]
    config_file = tmp_path / "dqn_hb.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "agent": "dqn",
                "strategy": "hyperband",
                "total_timesteps": 3000,
                "strategy_options": {"max_epochs": 3, "factor": 3},
                "space": space,
            }
        )
    )
    status = sweep.main(
        ["--config", str(config_file), "--logdir", str(tmp_path), "--workers", "1", "--quiet"]
    )
    assert status == 0
    with open(tmp_path / "dqn_hb" / "results.json") as f:
        rows = json.load(f)
    assert rows and all(r["status"] == "completed" for r in rows)
    promoted = [r for r in rows if r["parent"] is not None]
    assert promoted and all(r["steps"] == 3000 for r in promoted)
    assert set(rows[0]["hparams"]) == {"learning_rate", "target_network_frequency"}
    out = capsys.readouterr().out
    command = next(line for line in out.splitlines() if "tfhparam.train" in line).strip()
    args, hparams = train.parse(command.split()[3:])
    assert args.agent == "dqn" and hparams["batch_size"] == TINY["batch_size"]
