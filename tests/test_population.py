"""Population training: a lone agent is a population of one, so a member runs the lone
agent's code; these tests prove what that leaves open: batched kernels give a member the
lone run's numbers (to float error, or in distribution over long runs), members never
touch each other, checkpoints move between a lone agent and any slot, and a reused
population starts its new runs exactly as a new one would."""

import os

import numpy as np
import pytest
import tensorflow as tf
from pool import lone_agent
from scipy import stats

import agents
from agents import population
from agents.population import Population
from tfhparam import oracles
from tfhparam.space import hp
from tfhparam.tensorboard import read_scalars

agents.configure_threads()
TINY = {"num_envs": 2, "num_steps": 32, "hidden_size": 16}
# Members that differ in every kind of per-member hparam, shape-changing ones aside;
# their minibatch counts too (8 at most: minibatches of 2 and 4 are added up from chunks).
PPO_MEMBERS = [
    {
        **TINY,
        "learning_rate": 1e-3,
        "update_epochs": 2,
        "clip_coef": 0.1,
        "ent_coef": 0.0,
        "num_minibatches": 2,
    },
    {
        **TINY,
        "learning_rate": 3e-4,
        "update_epochs": 4,
        "gamma": 0.9,
        "max_grad_norm": 0.1,
        "norm_adv": False,
        "clip_vloss": False,
    },
    {
        **TINY,
        "learning_rate": 5e-3,
        "update_epochs": 3,
        "gae_lambda": 0.8,
        "vf_coef": 1.0,
        "target_kl": 0.001,
        "anneal_lr": False,
        "num_minibatches": 8,
    },
]
A2C_MEMBERS = [
    {**TINY, "num_steps": 8, "learning_rate": 7e-4},
    {
        **TINY,
        "num_steps": 8,
        "learning_rate": 3e-3,
        "ent_coef": 0.05,
        "norm_adv": True,
        "gae_lambda": 0.9,
        "log_std_init": -1.0,
    },
]


def weights(module) -> list[np.ndarray]:
    """The network's variables (a population's have a leading member axis)."""
    return [v.numpy() for v in module.network.trainable_variables]


def test_members_must_share_shape_changing_hparams():
    with pytest.raises(ValueError, match="must share num_steps"):
        Population("ppo", "CartPole-v1", [TINY, {**TINY, "num_steps": 64}], seeds=[0, 1])
    with pytest.raises(ValueError, match="supports"):
        Population("dqn", "CartPole-v1", [{}], seeds=[0])
    few_samples = {**TINY, "num_envs": 1, "num_steps": 8, "num_minibatches": 16}
    with pytest.raises(ValueError, match="num_minibatches=16 exceeds the 8 samples"):
        Population("ppo", "CartPole-v1", [few_samples], seeds=[0])


def test_minibatch_counts_differ_within_a_population_built_for_the_largest():
    """Members may differ in num_minibatches (a ``program`` hparam): the program is built
    for the largest count, so that is part of the key a reset must match."""
    group = Population("ppo", "CartPole-v1", PPO_MEMBERS, seeds=[0, 1, 2])
    assert group.largest("num_minibatches") == 8
    assert "num_minibatches" not in agents.POPULATION_KEY_HPARAMS
    fewer = [{**m, "num_minibatches": 2} for m in PPO_MEMBERS]
    with pytest.raises(ValueError, match="same shape"):
        group.reset(fewer, [0, 1, 2])
    group.reset(PPO_MEMBERS[::-1], [3, 4, 5])  # the same largest count: reused
    assert [group.hparams(p)["num_minibatches"] for p in range(3)] == [8, 4, 2]
    group.close()


MEMBER_CASES = {
    "ppo-discrete": ("ppo", "CartPole-v1", PPO_MEMBERS),
    "ppo-continuous": ("ppo", "Pendulum-v1", PPO_MEMBERS[:2]),
    "a2c-continuous": ("a2c", "Pendulum-v1", A2C_MEMBERS),
    "a2c-discrete": ("a2c", "CartPole-v1", A2C_MEMBERS),
    "ppo-normalized": (
        "ppo",
        "Pendulum-v1",
        [{**m, "norm_obs": True, "norm_reward": True} for m in PPO_MEMBERS[:2]],
    ),
}
# Every case on TensorFlow's envs; on gymnasium's, one discrete and one continuous: its
# runner is the same for every algorithm and normalization.
GYMNASIUM_CASES = ("ppo-discrete", "ppo-continuous")


@pytest.mark.parametrize(
    "algo, env_id, members, backend",
    [
        pytest.param(*case, backend, id=f"{backend}-{name}")
        for backend in ("gymnasium", "tf")
        for name, case in MEMBER_CASES.items()
        if backend == "tf" or name in GYMNASIUM_CASES
    ],
)
def test_members_match_lone_agents_of_the_same_seed_and_hparams(algo, env_id, members, backend):
    """A member is the lone run of its seed, to float error. The code is the same (a lone
    agent is a population of one); what this proves is that batched kernels over P members
    give each member the numbers of P = 1, and that no member's draws, episodes, losses,
    clipping or optimizer state depend on its neighbours."""
    module = agents.load(algo)
    seeds = [11, 12, 13][: len(members)]
    group = Population(algo, env_id, members, seeds, env_backend=backend)
    start = lone_agent(algo, env_id, members[1], seeds[1], env_backend=backend)
    for m, w in zip(weights(group), weights(start)):
        np.testing.assert_array_equal(m[1].reshape(w.shape), w)  # the same initial weights
    pop_metrics = list(population.train(group, 3 * 2 * TINY["num_envs"] * members[0]["num_steps"]))
    for p, (hparams, seed) in enumerate(zip(members, seeds)):
        agent = lone_agent(algo, env_id, hparams, seed, env_backend=backend)
        lone_metrics = list(module.train(agent, 3 * 2 * hparams["num_envs"] * hparams["num_steps"]))
        assert len(lone_metrics) == len(pop_metrics) == 6
        for lone, pop in zip(lone_metrics, (step[p] for step in pop_metrics)):
            assert pop["global_step"] == lone["global_step"]
            np.testing.assert_allclose(pop["episode_returns"], lone["episode_returns"], rtol=1e-4)
            for key in (
                "losses/loss",
                "losses/entropy",
                "explained_variance",
                "charts/learning_rate",
            ):
                assert pop[key] == pytest.approx(lone[key], rel=2e-3, abs=2e-4), key
        for m, w in zip(weights(group), weights(agent)):
            np.testing.assert_allclose(m[p].reshape(w.shape), w, rtol=2e-3, atol=2e-4)
    group.close()


def test_a_diverged_member_fails_alone_and_the_others_are_untouched():
    members, seeds = PPO_MEMBERS, [1, 2, 3]
    clean = Population("ppo", "CartPole-v1", members, seeds, env_backend="gymnasium")
    broken = Population("ppo", "CartPole-v1", members, seeds, env_backend="gymnasium")
    w = broken.network.actor.weights[0]  # [P, in, out]
    w.assign(tf.tensor_scatter_nd_update(w, [[1, 0, 0]], [np.nan]))
    budget = 4 * TINY["num_envs"] * TINY["num_steps"]
    clean_metrics, broken_metrics = (list(population.train(g, budget)) for g in (clean, broken))
    first = broken_metrics[0]
    assert "diverged: non-finite weights" in first[1]["error"]
    assert all(step[1] is None for step in broken_metrics[1:])  # stopped after its failure
    assert not broken.active.numpy()[1]
    for p in (0, 2):
        assert all("error" not in step[p] for step in broken_metrics)
        assert [s[p]["losses/loss"] for s in broken_metrics] == [
            s[p]["losses/loss"] for s in clean_metrics
        ]
        for a, b in zip(weights(clean), weights(broken)):
            np.testing.assert_array_equal(a[p], b[p])
            assert np.isfinite(b[p]).all()


@pytest.mark.parametrize("backend", ["tf"])  # (the runner does not touch checkpoints)
def test_member_checkpoints_are_single_agent_checkpoints(backend, tmp_path):
    ppo = agents.load("ppo")
    members, seeds = PPO_MEMBERS[:2], [5, 6]
    group = Population("ppo", "CartPole-v1", members, seeds, env_backend=backend)
    budget = 2 * TINY["num_envs"] * TINY["num_steps"]
    list(population.train(group, budget))
    group.save(str(tmp_path / "member"), member=1)

    # a lone agent continues the member
    agent = ppo.make_agent("CartPole-v1", members[1], seed=6, env_backend=backend)
    agent.restore(str(tmp_path / "member"))
    for m, w in zip(weights(group), weights(agent)):
        np.testing.assert_array_equal(m[1].reshape(w.shape), w)
    assert agent.global_step.numpy().tolist() == [budget]
    assert agent.iteration.numpy().tolist() == [2]
    assert agent.rng_counter.numpy().tolist() == [int(group.rng_counter[1])] == [2]

    # and a lone run's checkpoint goes into a population slot (a Hyperband promotion)
    agent.save(str(tmp_path / "lone"))
    other = Population("ppo", "CartPole-v1", [members[1], members[1]], [6, 7], env_backend=backend)
    other.restore(str(tmp_path / "lone"), member=0)
    for m, w in zip(weights(other), weights(agent)):
        np.testing.assert_array_equal(m[0].reshape(w.shape), w)
    assert other.global_step.numpy().tolist() == [budget, 0]
    # the member then trains as the lone agent does, episodes included
    lone_next = next(ppo.train(agent, 2 * budget))
    pop_next = next(population.train(other, 2 * budget))[0]
    assert pop_next["global_step"] == lone_next["global_step"] == budget + budget // 2
    np.testing.assert_allclose(pop_next["episode_returns"], lone_next["episode_returns"])
    assert pop_next["losses/loss"] == pytest.approx(lone_next["losses/loss"], rel=1e-3)
    with pytest.raises(ValueError, match="other hparams: num_steps"):
        wide = Population(
            "ppo", "CartPole-v1", [{**TINY, "num_steps": 64}], [0], env_backend=backend
        )
        wide.restore(str(tmp_path / "lone"))


@pytest.mark.parametrize("backend", ["tf", "gymnasium"])
def test_a_reset_population_trains_its_new_members_as_a_new_population_would(backend):
    """Reuse pays compilation once a shape: reset() must leave nothing of the old runs."""
    members, seeds = PPO_MEMBERS[:2], [5, 6]
    budget = 2 * TINY["num_envs"] * TINY["num_steps"]
    reused = Population("ppo", "CartPole-v1", members[::-1], [1, 2], env_backend=backend)
    list(population.train(reused, budget))
    reused.stop(0)  # a stopped member and non-zero counters: all must go
    reused.reset(members, seeds)
    fresh = Population("ppo", "CartPole-v1", members, seeds, env_backend=backend)
    again, first = list(population.train(reused, budget)), list(population.train(fresh, budget))
    for a, b in zip(again, first):
        for p in range(2):
            assert a[p]["losses/loss"] == b[p]["losses/loss"]
            np.testing.assert_array_equal(a[p]["episode_returns"], b[p]["episode_returns"])
    for a, b in zip(weights(reused), weights(fresh)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="same shape"):
        reused.reset([{**TINY, "num_steps": 64}] * 2, seeds)


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_a_population_learns_like_the_same_runs_one_at_a_time(algo):
    """Identical configs, different seeds: the population's returns and the lone runs'
    returns come from the same distribution (TensorFlow's CartPole, not bitwise). The lone
    runs use the members' seeds: each member starts as its lone run and may drift from it
    with float rounding (batched kernels), which must change nothing in distribution.
    (With other seeds for the lone runs, seed luck alone gave p = 0.04 at eight runs a
    side: returns at these budgets spread from ~50 to 500.) Both must learn."""
    module = agents.load(algo)
    hparams = {
        "ppo": {"learning_rate": 1e-3, "num_envs": 4, "num_steps": 64},
        "a2c": {"learning_rate": 1e-3, "num_envs": 8, "num_steps": 5},
    }[algo]
    budget, seeds = {"ppo": 25_600, "a2c": 40_000}[algo], list(range(8))

    def final(history):  # mean return of the last 5 iterations that saw an episode end
        rewards = [m["rewards"] for m in history if m and "rewards" in m]
        return float(np.mean(rewards[-5:]))

    group = Population(algo, "CartPole-v1", [hparams] * len(seeds), seeds)
    steps = list(population.train(group, budget))
    together = [final([s[p] for s in steps]) for p in range(len(seeds))]
    alone = []
    for seed in seeds:
        agent = lone_agent(algo, "CartPole-v1", hparams, seed)
        alone.append(final(list(module.train(agent, budget))))
    untrained = 22.0  # CartPole's mean return under a uniform random policy
    assert min(np.mean(together), np.mean(alone)) > 3 * untrained, (together, alone)
    assert stats.mannwhitneyu(together, alone).pvalue > 0.01, (together, alone)


def search_with_populations(tmp_path, oracle_class, space, seeds, **options):
    """Runs a real PPO search (TINY runs, 3 x 256 steps) through populations; returns the
    tuner, its results, and the size of every population it trained, in order."""
    from tfhparam.space import to_keras_tuner
    from tfhparam.tuner import RLTuner, score_objective, train_population

    sizes = []

    def recording(specs, stopped):
        sizes.append(len(specs))
        yield from train_population(specs, stopped)

    oracle = oracle_class(
        objective=score_objective(), hyperparameters=to_keras_tuner(space), **options
    )
    tuner = RLTuner(
        oracle,
        agent="ppo",
        seeds=seeds,
        total_timesteps=3 * 256,
        last_n=2,
        fixed_hparams=TINY,
        directory=str(tmp_path),
        project_name="s",
        population=8,
        population_runner=recording,
        verbose=False,
    )
    tuner.search()
    return tuner, tuner.results(), sizes


def first_and_last_step(tuner, trial: str, seed: int) -> tuple[int, int]:
    run = os.path.join(tuner.trial_dir(trial), "CartPole-v1", f"seed_{seed}")
    steps = [step for step, _ in read_scalars(run, ["charts/SPS"])["charts/SPS"]]
    return steps[0], steps[-1]


def test_a_hyperband_sweep_trains_its_rounds_as_populations_and_promotions_continue(tmp_path):
    """Real PPO through the tuner: rounds train as populations; a promoted trial's runs
    restore their parent's checkpoints into their slots and continue from its step."""
    tuner, rows, sizes = search_with_populations(
        tmp_path,
        oracles.HyperbandOracle,
        {"learning_rate": hp.RealInterval(1e-4, 1e-2)},
        seeds=2,
        max_epochs=3,
        factor=3,
        seed=2,
    )
    assert rows and all(r["status"] == "completed" for r in rows), rows
    assert max(sizes) > 2  # several trials x 2 seeds in one population
    promoted = [r for r in rows if r["parent"] is not None]
    assert promoted
    for row in promoted:
        parent = next(r for r in rows if r["trial"] == row["parent"])
        for seed in (0, 1):  # from the parent's step, plus one rollout, to its own budget
            assert first_and_last_step(tuner, row["trial"], seed) == (
                parent["steps"] + 64,
                row["steps"],
            )


def test_pbt_generations_train_as_populations_and_exploit_into_their_slots(tmp_path):
    """Real PPO, PBT batched: each generation is one population; an exploiting member
    restores its parent's checkpoint into its slot under its own perturbed hparams."""
    space = {"learning_rate": hp.RealInterval(1e-4, 1e-2), "ent_coef": hp.RealInterval(0.0, 0.05)}
    tuner, rows, sizes = search_with_populations(
        tmp_path,
        oracles.PBTOracle,
        space,
        seeds=1,
        population_size=4,
        generations=3,
        quantile=0.25,
        resample_probability=0.0,
        seed=3,
    )
    assert len(rows) == 12 and all(r["status"] == "completed" for r in rows), rows
    assert sizes == [4, 4, 4]  # one population a generation
    exploited = [r for r in rows if r["parent"] is not None and r["generation"] > 0]
    assert exploited
    for row in exploited:
        parent = next(r for r in rows if r["trial"] == row["parent"])
        assert first_and_last_step(tuner, row["trial"], 0) == (parent["steps"] + 64, row["steps"])
    # some continued from another member's checkpoint with perturbed hparams
    by_trial = {r["trial"]: r for r in rows}
    assert any(r["hparams"] != by_trial[r["parent"]]["hparams"] for r in exploited)
