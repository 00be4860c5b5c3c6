"""The TensorFlow classic-control envs against gymnasium's own, step for step."""

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from agents import common, tf_envs


def random_actions(space, rng, n):
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=n)
    low, high = space.low, space.high  # 1.5 x the bounds: the envs must clip
    return rng.uniform(1.5 * low, 1.5 * high, size=(n, *low.shape)).astype(np.float32)


@pytest.mark.parametrize("env_id", sorted(tf_envs.SPECS))
def test_same_states_rewards_and_terminations_as_gymnasium(env_id):
    spec = tf_envs.SPECS[env_id]
    dynamics = tf.function(spec.dynamics)
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    steps = ends = 0
    for episode in range(3 if env_id != "MountainCarContinuous-v0" else 1):
        obs, _ = env.reset(seed=episode)
        state = np.asarray(env.unwrapped.state, np.float64)[None]
        np.testing.assert_allclose(spec.observe(tf.constant(state)).numpy()[0], obs, atol=1e-6)
        for action in random_actions(env.action_space, rng, spec.max_episode_steps):
            obs, reward, terminated, truncated, _ = env.step(action)
            batch_action = tf.constant(np.asarray(action)[None])
            state, our_reward, our_terminated = dynamics(tf.constant(state), batch_action)
            state = state.numpy()
            np.testing.assert_allclose(state[0], np.asarray(env.unwrapped.state), atol=1e-5)
            np.testing.assert_allclose(spec.observe(tf.constant(state)).numpy()[0], obs, atol=1e-5)
            assert our_reward.numpy()[0] == pytest.approx(reward, abs=1e-5)
            assert bool(our_terminated.numpy()[0]) == terminated
            steps += 1
            if terminated or truncated:
                ends += 1
                break
    assert steps > 40 and ends >= 1
    env.close()


def test_mountain_car_reaches_the_flag_and_terminates_like_gymnasium():
    spec = tf_envs.SPECS["MountainCar-v0"]
    env = gym.make("MountainCar-v0")
    env.reset(seed=0)
    state = np.asarray(env.unwrapped.state, np.float64)[None]
    for _ in range(200):  # push with the velocity: a known way up
        action = 2 if state[0, 1] >= 0 else 0
        _, reward, terminated, _, _ = env.step(action)
        state, _, ours = spec.dynamics(tf.constant(state), tf.constant([action]))
        state = state.numpy()
        assert bool(ours.numpy()[0]) == terminated
        if terminated:
            break
    assert terminated


def test_vector_env_resets_on_the_step_after_an_episode_ends():
    env = tf_envs.TFVectorEnv("Pendulum-v1", num_envs=2, seeds=0)
    zero = tf.zeros([1, 2, 1])
    for t in range(200):
        obs, reward, terminated, truncated, valid = env.step(zero)
        assert bool(tf.reduce_all(valid)) and not bool(tf.reduce_any(terminated))
        assert bool(tf.reduce_all(truncated)) == (t == 199)
    obs, reward, terminated, truncated, valid = env.step(zero)  # the autoreset step
    assert not bool(tf.reduce_any(valid)) and float(tf.reduce_sum(tf.abs(reward))) == 0.0
    assert not bool(tf.reduce_any(truncated)) and int(env.elapsed[0, 0]) == 0
    obs, reward, terminated, truncated, valid = env.step(zero)
    assert bool(tf.reduce_all(valid)) and int(env.elapsed[0, 0]) == 1


def test_vector_env_terminations_and_a_checkpoint_continue_exactly(tmp_path):
    env = tf_envs.TFVectorEnv("CartPole-v1", num_envs=3, seeds=1)
    push_right = tf.ones([1, 3], tf.int32)
    ended = 0
    for _ in range(40):  # pushing one way ends every episode within ~10 steps
        _, _, terminated, _, _ = env.step(push_right)
        ended += int(tf.reduce_sum(tf.cast(terminated, tf.int32)))
    assert ended >= 6
    tf.train.Checkpoint(env=env).write(str(tmp_path / "env"))
    after = [env.step(push_right)[0].numpy() for _ in range(20)]
    other = tf_envs.TFVectorEnv("CartPole-v1", num_envs=3, seeds=99)
    tf.train.Checkpoint(env=other).read(str(tmp_path / "env")).assert_consumed()
    again = [other.step(push_right)[0].numpy() for _ in range(20)]
    np.testing.assert_array_equal(np.array(after), np.array(again))


def test_counter_uniform_rows_are_their_members_own():
    keys, counters = tf.constant([3, 4], tf.int64), tf.constant([0, 7], tf.int64)
    draws = common.counter_uniform(keys, counters, 0, [1000, 2], -0.5, 2.0).numpy()
    assert draws.shape == (2, 1000, 2) and draws.min() >= -0.5 and draws.max() < 2.0
    assert abs(draws.mean() - 0.75) < 0.05  # uniform on [-0.5, 2): mean 0.75, sd ~0.72/sqrt(n)
    alone = common.counter_uniform(keys[1:], counters[1:], 0, [1000, 2], -0.5, 2.0).numpy()
    np.testing.assert_array_equal(alone[0], draws[1])  # whoever else draws alongside
    for other in ((keys, counters + 1, 0), (keys + 1, counters, 0), (keys, counters, 1)):
        moved = common.counter_uniform(*other, [1000, 2], -0.5, 2.0).numpy()
        assert not np.isclose(moved, draws).any(axis=-1).all()  # new key, count or stream


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_a_member_of_a_vector_env_steps_as_the_env_of_its_seed_alone(env_id):
    """Start states (at creation and at every reset) are the member's own: the same as an
    env of its seed alone, whatever its neighbours do."""
    members = tf_envs.TFVectorEnv(env_id, num_envs=2, seeds=[7, 8, 9])
    alone = tf_envs.TFVectorEnv(env_id, num_envs=2, seeds=8)
    rng = np.random.default_rng(0)
    discrete = env_id == "CartPole-v1"
    resets = 0
    for _ in range(400):
        if discrete:
            mine = np.ones(2, np.int32)  # pushing one way: an episode ends every ~10 steps
            others = rng.integers(0, 2, size=2).astype(np.int32)
            action = np.stack([others, mine, others[::-1]])
        else:
            mine = np.zeros((2, 1), np.float32)
            action = np.stack([rng.uniform(-2, 2, (2, 1)), mine, mine])
        obs, *_, valid = members.step(
            tf.constant(action, dtype=tf.int32 if discrete else tf.float32)
        )
        want, *_, want_valid = alone.step(tf.constant(mine[None]))
        np.testing.assert_array_equal(obs.numpy()[1], want.numpy()[0])
        np.testing.assert_array_equal(valid.numpy()[1], want_valid.numpy()[0])
        resets += int((~want_valid.numpy()).sum())
    assert resets >= 2 and int(members.draws[1]) == int(alone.draws[0]) >= 2


def test_the_agents_package_names_exactly_the_envs_that_have_a_tensorflow_version():
    import agents

    assert sorted(agents.TF_ENV_IDS) == sorted(tf_envs.SPECS)
    assert agents.runs_in_graph("CartPole-v1") and agents.runs_in_graph("CartPole-v1", "tf")
    assert not agents.runs_in_graph("CartPole-v1", "gymnasium")
    assert not agents.runs_in_graph("LunarLander-v3")
