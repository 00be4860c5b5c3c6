"""Evaluation episodes (agents.evaluation): they learn nothing and change nothing, play
envs of their own, and a member evaluates as the lone agent of its weights."""

import numpy as np
import pytest
import tensorflow as tf
from pool import lone_agent

import agents
from agents import dqn, population
from agents.evaluation import EVAL_SEED_START, Evaluator, evaluation_seeds
from agents.population import Population

agents.configure_threads()
TINY = {"num_envs": 2, "num_steps": 32, "hidden_size": 16}


def snapshot(agent):
    return [v.numpy().copy() for v in agent.variables]


def test_evaluation_seeds_are_their_own_and_repeat():
    first = evaluation_seeds([0, 1, 2], 0)
    assert first == evaluation_seeds([0, 1, 2], 0)
    assert len(set(first)) == 3 and all(EVAL_SEED_START <= s < 2**31 - 2**16 for s in first)
    assert evaluation_seeds([0], 1) != evaluation_seeds([0], 0)


@pytest.mark.parametrize("backend", ["tf", "gymnasium"])
def test_an_evaluation_changes_nothing_of_the_agent_and_repeats(backend):
    agent = lone_agent("ppo", "CartPole-v1", TINY, seed=4, env_backend=backend)
    for _ in population.train_one(agent, 2 * 64):
        pass
    before = snapshot(agent)
    evaluator = Evaluator(agent, episodes=3)
    greedy, again = evaluator(0), evaluator(0)
    stochastic, stochastic_again = evaluator(0, greedy=False), evaluator(0, greedy=False)
    other_round = evaluator(1)
    for old, new in zip(before, snapshot(agent)):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(greedy.returns, again.returns)
    np.testing.assert_array_equal(stochastic.returns, stochastic_again.returns)
    assert greedy.returns.shape == (1, 3) and greedy.complete.all()
    # CartPole pays 1 a step: every return is its episode's length
    np.testing.assert_array_equal(greedy.returns, greedy.lengths)
    assert not np.array_equal(greedy.returns, other_round.returns)
    assert not np.array_equal(greedy.returns, stochastic.returns)
    evaluator.close()


@pytest.mark.parametrize("backend", ["tf", "gymnasium"])
def test_a_run_evaluated_as_it_trains_trains_bit_for_bit_as_one_that_is_not(backend):
    steps = 4 * 64
    plain = lone_agent("a2c", "CartPole-v1", TINY, seed=2, env_backend=backend)
    plain_metrics = list(population.train_one(plain, steps))
    plain_weights = snapshot(plain)
    evaluated = lone_agent("a2c", "CartPole-v1", TINY, seed=2, env_backend=backend)
    evaluator = Evaluator(evaluated, episodes=2)
    metrics = list(population.train_one(evaluated, steps, evaluator=evaluator, eval_every=128))
    for old, new in zip(plain_weights, snapshot(evaluated)):
        np.testing.assert_array_equal(old, new)
    assert [m["global_step"] for m in metrics] == [m["global_step"] for m in plain_metrics]
    at = [m["global_step"] for m in metrics if "eval/return" in m]
    assert at == [128, 256]  # every 128 steps, the end among them
    last = metrics[-1]
    assert last["eval/returns"].shape == (2,)
    assert last["eval/return"] == pytest.approx(last["eval/returns"].mean())
    # the final evaluation is evaluation "iteration 4" of the final weights
    np.testing.assert_array_equal(evaluator(4).returns[0], last["eval/returns"])
    evaluator.close()


def test_without_eval_every_only_the_end_is_evaluated():
    agent = lone_agent("ppo", "CartPole-v1", TINY, seed=0)
    evaluator = Evaluator(agent, episodes=2)
    metrics = list(population.train_one(agent, 3 * 64, evaluator=evaluator))
    assert ["eval/return" in m for m in metrics] == [False, False, True]
    evaluator.close()


def test_a_member_evaluates_as_the_lone_agent_of_its_weights(tmp_path):
    group = Population("ppo", "CartPole-v1", [TINY] * 3, seeds=[5, 6, 7])
    for _ in population.train(group, 64):
        pass
    group.save(str(tmp_path / "member"), member=1)
    members = Evaluator(group, episodes=4)(0, greedy=False)
    lone = lone_agent("ppo", "CartPole-v1", TINY, seed=6)
    lone.restore(str(tmp_path / "member"))
    alone = Evaluator(lone, episodes=4)(0, greedy=False)
    np.testing.assert_array_equal(members.returns[1], alone.returns[0])
    # each member plays episodes of its own seed
    assert not np.array_equal(members.returns[0], members.returns[1])
    # and per-member rounds are each member's own
    mixed = Evaluator(group, episodes=4)([3, 0, 3], greedy=False)
    np.testing.assert_array_equal(mixed.returns[1], members.returns[1])
    group.close()


def test_continuous_actions_stay_in_the_box_and_cut_episodes_are_marked():
    agent = lone_agent("ppo", "Pendulum-v1", {**TINY, "norm_obs": True}, seed=0)
    result = Evaluator(agent, episodes=2)(0, greedy=False)
    assert result.complete.all() and (result.lengths == 200).all()
    assert np.isfinite(result.returns).all() and (result.returns < 0).all()  # Pendulum costs
    cut = Evaluator(agent, episodes=2, max_steps=5)(0)
    assert (cut.lengths == 5).all() and not cut.complete.any()
    summary = cut.summary()
    assert summary["episodes"] == 2 and summary["complete"] == 0
    with pytest.raises(ValueError, match="episodes must be at least 1"):
        Evaluator(agent, episodes=0)


def test_dqn_is_evaluated_greedily_and_keeps_training_unchanged():
    tiny = {"hidden_size": 16, "learning_starts": 100, "buffer_size": 500}
    plain = dqn.make_agent("CartPole-v1", tiny, seed=3)
    list(dqn.train(plain, 2000))
    evaluated = dqn.make_agent("CartPole-v1", tiny, seed=3)
    evaluator = Evaluator(evaluated, episodes=3)
    metrics = list(dqn.train(evaluated, 2000, evaluator=evaluator, eval_every=1000))
    for old, new in zip(snapshot(plain), snapshot(evaluated)):
        np.testing.assert_array_equal(old, new)
    assert [m["global_step"] for m in metrics if "eval/return" in m] == [1000, 2000]
    greedy = evaluator(0)
    np.testing.assert_array_equal(greedy.returns, greedy.lengths)
    # epsilon-greedy at 0.05 reproduces itself
    np.testing.assert_array_equal(
        evaluator(0, greedy=False).returns, evaluator(0, greedy=False).returns
    )
    action = evaluated.act(tf.zeros([1, 3, 4]), True, tf.constant([1], tf.int64), tf.constant(0))
    assert action.shape == (1, 3) and action.dtype == tf.int32
    evaluator.close()


def test_a_real_sweep_scores_each_run_by_its_final_evaluation(tmp_path):
    import glob
    import json
    import os

    from tfhparam import config
    from tfhparam.tensorboard import read_scalars
    from tfhparam.tuner import RLTuner

    sweep = config.build(
        {"name": "e", "trials": 2, "total_timesteps": 256, "score_from": "eval"},
        {"set": ["num_envs=2", "num_steps=64", "hidden_size=16"], "eval_episodes": 3},
    )
    tuner = RLTuner.from_sweep(sweep, str(tmp_path), verbose=False, population=2)
    tuner.search()
    for trial in tuner.oracle.trials.values():
        with open(os.path.join(tuner.trial_dir(trial.trial_id), "result.json")) as f:
            (run,) = json.load(f)["runs"]
        assert trial.score == run["eval_return"] == run["value"]
        (events,) = glob.glob(os.path.join(tuner.trial_dir(trial.trial_id), "*", "seed_0"))
        scalars = read_scalars(events, ["eval/return"])
        assert scalars["eval/return"][-1][1] == pytest.approx(trial.score)
