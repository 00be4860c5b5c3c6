"""Tiny real training runs: episode boundaries, smoke, determinism, checkpoint continuity."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf
from pool import lone_agent

import agents
from agents import checkpoints
from agents.envs import COLUMNS, EnvError, EnvRunner, choose_backend, make_vec_env

agents.configure_threads()
TINY = {"num_envs": 2, "num_steps": 16, "hidden_size": 16}


def test_runner_masks_the_dummy_step_after_an_episode_ends():
    runner = EnvRunner(make_vec_env("CartPole-v1", 1), seed=0)
    cols = {name: i for i, name in enumerate(COLUMNS)}
    infos = [runner.step(np.array([1]))[1][0] for _ in range(40)]
    done_at = next(
        t for t, info in enumerate(infos) if info[cols["terminations"]] or info[cols["truncations"]]
    )
    ended, dummy, after = infos[done_at], infos[done_at + 1], infos[done_at + 2]
    assert ended[cols["masks"]] == 1.0
    assert ended[cols["episode_returns"]] == done_at + 1  # CartPole pays 1 a step
    assert ended[cols["episode_lengths"]] == done_at + 1
    assert dummy[cols["masks"]] == 0.0 and dummy[cols["rewards"]] == 0.0
    assert after[cols["masks"]] == 1.0
    assert all(info[cols["masks"]] == 1.0 for info in infos[: done_at + 1])


def test_unknown_env_and_unsupported_spaces_raise_env_error():
    with pytest.raises(EnvError, match="unknown env id"):
        make_vec_env("NoSuchEnv-v0", 1)
    with pytest.raises(EnvError, match="observations must be a flat Box"):
        make_vec_env("FrozenLake-v1", 1)
    with pytest.raises(EnvError, match="LunarLander-v3 has no TensorFlow version"):
        choose_backend("LunarLander-v3", "tf")
    with pytest.raises(EnvError, match="unknown env backend 'jax'"):
        choose_backend("CartPole-v1", "jax")
    assert choose_backend("CartPole-v1", "auto") == "tf"
    assert choose_backend("LunarLander-v3", "auto") == "gymnasium"


def test_both_env_backends_give_the_same_kind_of_rollout():
    ppo = agents.load("ppo")
    batches = {}
    for backend in ("tf", "gymnasium"):
        agent = ppo.make_agent(
            "CartPole-v1", {**TINY, "num_steps": 64}, seed=0, env_backend=backend
        )
        collect = tf.function(agent._collect)  # the rollout alone, as train() runs it
        batches[backend] = {k: v.numpy() for k, v in collect(tf.constant([True])).items()}
        agent.close()
    for backend, batch in batches.items():
        ended = batch["dones"] > 0
        assert ended.any(), backend  # a random policy ends CartPole episodes within 64 steps
        # the step after an episode's end is the masked autoreset step, paying nothing
        after = np.roll(ended, 1, axis=0)
        after[0] = False
        assert (batch["masks"][after] == 0).all() and (batch["rewards"][after] == 0).all()
        assert (batch["episode_lengths"][ended] == batch["episode_returns"][ended]).all()
        assert set(batch) == set(batches["tf"])


def test_a_checkpoint_restores_only_into_the_same_env_backend(tmp_path):
    ppo = agents.load("ppo")
    ppo.make_agent("CartPole-v1", TINY, seed=0, env_backend="tf").save(str(tmp_path / "c"))
    other = ppo.make_agent("CartPole-v1", TINY, seed=0, env_backend="gymnasium")
    with pytest.raises(ValueError, match="written for env_backend 'tf'"):
        other.restore(str(tmp_path / "c"))


def test_a_checkpoint_from_before_the_network_hparams_restores(tmp_path):
    """Checkpoints written before ``shared_network``, ``conv_channels`` and ``dense_units``
    existed hold none of them: they held the defaults, and restore."""
    ppo = agents.load("ppo")
    agent = ppo.make_agent("CartPole-v1", TINY, seed=0, env_backend="gymnasium")
    agent.save(str(tmp_path / "c"))
    meta_path = tmp_path / "c" / "meta.json"
    meta = json.loads(meta_path.read_text())
    for name in ("shared_network", "conv_channels", "dense_units"):
        del meta["hparams"][name]
    meta_path.write_text(json.dumps(meta))
    restored = checkpoints.load_agent(str(tmp_path / "c"))
    for saved, loaded in zip(agent.variables, restored.variables):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    shared_hparams = {**TINY, "shared_network": True}
    shared = ppo.make_agent("CartPole-v1", shared_hparams, seed=0, env_backend="gymnasium")
    with pytest.raises(ValueError, match="shared_network=False, not True"):
        shared.restore(str(tmp_path / "c"))


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke_training_yields_finite_metrics(algo, env_id):
    module = agents.load(algo)
    hparams = {**TINY, "norm_obs": True, "norm_reward": True}
    agent = module.make_agent(env_id, hparams, seed=3)
    batch = 2 * 16
    history = list(module.train(agent, total_timesteps=4 * batch))
    assert [m["global_step"] for m in history] == [batch, 2 * batch, 3 * batch, 4 * batch]
    for metrics in history:
        for key in (
            "explained_variance",
            "losses/value_loss",
            "losses/policy_loss",
            "losses/entropy",
            "charts/SPS",
            "charts/learning_rate",
        ):
            assert math.isfinite(metrics[key]), key
        # actor and critic, 2 hidden layers of 16 each (weights and biases): CartPole 4 ->
        # 16 -> 16 -> 2 and -> 1, 386 + 369; Pendulum 3 -> 16 -> 16 -> 1 twice, 353 + 353,
        # and one log-std
        assert metrics["charts/parameters"] == (755 if env_id == "CartPole-v1" else 707)
    if env_id == "Pendulum-v1":  # 200-step episodes: none end in 128 steps
        assert not any("rewards" in m for m in history)
    else:  # a random CartPole policy ends episodes within 128 steps
        assert any("rewards" in m and "episode_length" in m for m in history)
    agent.close()


def test_ppo_learning_rate_anneals_linearly_to_one_nth():
    ppo = agents.load("ppo")
    agent = ppo.make_agent("CartPole-v1", {**TINY, "learning_rate": 1e-3}, seed=0)
    rates = [m["charts/learning_rate"] for m in ppo.train(agent, 4 * 32)]
    np.testing.assert_allclose(rates, [1e-3, 0.75e-3, 0.5e-3, 0.25e-3], rtol=1e-5)


def run(algo, seed, total, anneal=None, restore=None, save=None, env_backend="auto"):
    module = agents.load(algo)
    agent = lone_agent(algo, "CartPole-v1", TINY, seed, env_backend)
    if restore:
        agent.restore(restore)
    history = list(module.train(agent, total, anneal))
    if save:
        agent.save(save)
    weights = [v.numpy() for v in agent.network.trainable_variables]
    return history, weights


def comparable(history):
    return [
        {k: v for k, v in m.items() if k not in ("charts/SPS", "episode_returns")} for m in history
    ]


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_same_seed_same_result_and_other_seed_differs(algo):
    first, w1 = run(algo, seed=5, total=96)
    second, w2 = run(algo, seed=5, total=96)
    other, w3 = run(algo, seed=6, total=96)
    assert comparable(first) == comparable(second)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(w1, w3))


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
@pytest.mark.parametrize("backend", ["tf", "gymnasium"])
def test_checkpoint_restore_continues_exactly(algo, backend, tmp_path):
    total = 6 * 32
    straight, w_straight = run(algo, seed=2, total=total, env_backend=backend)
    # stopped by its budget (3 iterations), annealed over the whole run's
    part1, _ = run(
        algo,
        seed=2,
        total=total // 2,
        anneal=total,
        save=str(tmp_path / "ckpt"),
        env_backend=backend,
    )
    part2, w_resumed = run(
        algo, seed=2, total=total, restore=str(tmp_path / "ckpt"), env_backend=backend
    )
    assert len(part1) == 3 and len(part2) == 3
    assert comparable(part1 + part2) == comparable(straight)
    for a, b in zip(w_straight, w_resumed):
        np.testing.assert_array_equal(a, b)


def test_restore_refuses_other_structural_hparams_and_takes_new_learning_rates(tmp_path):
    ppo = agents.load("ppo")
    agent = ppo.make_agent("CartPole-v1", TINY, seed=0)
    list(ppo.train(agent, 2 * 32))
    agent.save(str(tmp_path / "c"))
    wider = ppo.make_agent("CartPole-v1", {**TINY, "hidden_size": 32}, seed=0)
    with pytest.raises(ValueError, match="other hparams: hidden_size=16"):
        wider.restore(str(tmp_path / "c"))
    with pytest.raises(ValueError, match="written for env_id 'CartPole-v1'"):
        ppo.make_agent("Acrobot-v1", TINY, seed=0).restore(str(tmp_path / "c"))
    faster = ppo.make_agent("CartPole-v1", {**TINY, "learning_rate": 1e-3}, seed=0)
    faster.restore(str(tmp_path / "c"))  # PBT's exploit: same weights, new learning rate
    assert faster.global_step.numpy().tolist() == [64]
    for a, b in zip(agent.network.trainable_variables, faster.network.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    rates = [m["charts/learning_rate"] for m in ppo.train(faster, 4 * 32)]
    np.testing.assert_allclose(rates, [0.5e-3, 0.25e-3], rtol=1e-5)  # annealed from 1e-3


def test_continuous_actions_are_clipped_to_the_box_for_the_env():
    ppo = agents.load("ppo")
    agent = ppo.make_agent(
        "Pendulum-v1", {**TINY, "log_std_init": 1.0}, seed=0, env_backend="gymnasium"
    )  # the numpy runner, to watch its input
    seen = []
    runner = agent.runner.runners[0]
    step = runner.step
    runner.step = lambda action: (seen.append(action.copy()), step(action))[1]
    batch = tf.function(agent._collect)(tf.constant([True]))
    sent = np.concatenate(seen)
    assert sent.min() >= -2.0 and sent.max() <= 2.0
    assert np.abs(batch["actions"].numpy()).max() > 2.0  # stored unclipped for log-probs


def test_ppo_target_kl_stops_the_epochs_early():
    ppo = agents.load("ppo")
    full = {**TINY, "update_epochs": 8, "num_minibatches": 2, "learning_rate": 1e-2}
    updates = {}
    for target_kl in (0.0, 1e-6):
        agent = ppo.make_agent("CartPole-v1", {**full, "target_kl": target_kl}, seed=0)
        target, anneal = tf.constant([2], tf.int64), tf.constant([10.0])
        iterations = [it for it in agent.run_iterations(target, anneal)]
        assert len(iterations) == 2  # a call runs up to iterations_per_call, to the target
        _, stats, _ = iterations[1]
        updates[target_kl] = float(stats["updates"][0])
    assert updates[0.0] == 16  # 8 epochs x 2 minibatches
    assert 2 <= updates[1e-6] < 16 and updates[1e-6] % 2 == 0  # stops after a whole epoch


def test_a_diverged_lone_agent_reports_the_error_and_stops():
    ppo = agents.load("ppo")
    agent = ppo.make_agent("CartPole-v1", TINY, seed=0)
    w = agent.network.actor.weights[0]
    w.assign(tf.tensor_scatter_nd_update(w, [[0, 0, 0]], [np.nan]))
    history = list(ppo.train(agent, 4 * 32))
    assert len(history) == 1 and "diverged: non-finite weights" in history[0]["error"]
