"""The agents' math on tiny tensors with answers worked out by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from agents import common
from agents.a2c import a2c_loss
from agents.ppo import ppo_loss


def col(*xs):
    """A [T, 1] rollout column."""
    return tf.constant([[x] for x in xs], tf.float32)


def gae(rewards, values, bootstrap, term=(0, 0, 0), trunc=(0, 0, 0), gamma=0.9, lam=0.5):
    adv = common.gae(
        col(*rewards), col(*values), tf.constant([bootstrap]), col(*term), col(*trunc), gamma, lam
    )
    return adv.numpy()[:, 0]


def test_gae_without_episode_end_is_the_discounted_sum_of_deltas():
    # deltas: 1 + .9*.4 - .5 = .86, 1 + .9*.3 - .4 = .87, 1 + .9*.2 - .3 = .88
    adv = gae([1, 1, 1], [0.5, 0.4, 0.3], 0.2)
    np.testing.assert_allclose(adv, [0.86 + 0.45 * 1.266, 0.87 + 0.45 * 0.88, 0.88], rtol=1e-6)


def test_gae_termination_neither_bootstraps_nor_carries_over():
    # Step 1 terminates; step 2 is the next-step-autoreset dummy (reward 0).
    adv = gae([1, 1, 0], [0.5, 0.4, 0.3], 0.2, term=(0, 1, 0))
    np.testing.assert_allclose(adv[:2], [0.86 + 0.45 * 0.6, 1 - 0.4], rtol=1e-6)


def test_gae_truncation_bootstraps_from_the_final_observation():
    # values[2] is V(final obs) of the truncated episode: used, but the chain stops there.
    adv = gae([1, 1, 0], [0.5, 0.4, 0.3], 0.2, trunc=(0, 1, 0))
    np.testing.assert_allclose(adv[:2], [0.86 + 0.45 * 0.87, 0.87], rtol=1e-6)


def test_gae_lambda_one_gives_n_step_returns_minus_values():
    adv = gae([1, 2, 3], [0.0, 0.0, 0.0], 10.0, gamma=0.5, lam=1.0)
    np.testing.assert_allclose(adv, [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 10, 2 + 1.5 + 2.5, 3 + 5])


def test_explained_variance():
    y = tf.constant([1.0, 2.0, 3.0, 4.0])
    ones = tf.ones(4)
    assert float(common.explained_variance(y, y, ones)) == pytest.approx(1.0)
    assert float(common.explained_variance(tf.fill([4], 2.5), y, ones)) == pytest.approx(0.0)
    pred = y + tf.constant([0.5, -0.5, 0.5, -0.5])
    assert float(common.explained_variance(pred, y, ones)) == pytest.approx(1 - 0.25 / 1.25)
    assert float(common.explained_variance(y, tf.fill([4], 3.0), ones)) == 0.0
    # masked entries do not count
    mask = tf.constant([1.0, 1.0, 1.0, 0.0])
    pred = tf.constant([1.0, 2.0, 3.0, 100.0])
    assert float(common.explained_variance(pred, y, mask)) == pytest.approx(1.0)


def test_masked_normalize_uses_only_masked_entries():
    x = tf.constant([1.0, 3.0, 1000.0])
    out = common.masked_normalize(x, tf.constant([1.0, 1.0, 0.0])).numpy()
    np.testing.assert_allclose(out[:2], [-1.0, 1.0], rtol=1e-6)


def ppo_inputs(mask=(1.0, 1.0), clip_vloss=True):
    return dict(
        new_logprob=tf.math.log(tf.constant([1.5, 0.5])),
        old_logprob=tf.zeros(2),
        advantages=tf.constant([1.0, -1.0]),
        new_values=tf.constant([1.0, 2.0]),
        old_values=tf.constant([0.0, 2.5]),
        returns=tf.constant([1.5, 1.0]),
        entropy=tf.constant([0.6, 0.4]),
        mask=tf.constant(mask),
        clip_coef=0.2,
        vf_coef=0.5,
        ent_coef=0.01,
        clip_vloss=tf.constant(clip_vloss),
    )


def test_ppo_loss_on_known_inputs():
    out = {k: float(v) for k, v in ppo_loss(**ppo_inputs()).items()}
    # ratios 1.5 and 0.5, both clipped: max(-1.5, -1.2) = -1.2 and max(0.5, 0.8) = 0.8
    assert out["policy_loss"] == pytest.approx(-0.2)
    # clipped values 0.2 and 2.3 are both 1.3 from their returns: 0.5 * 1.69
    assert out["value_loss"] == pytest.approx(0.845)
    assert out["entropy"] == pytest.approx(0.5)
    assert out["loss"] == pytest.approx(-0.2 - 0.01 * 0.5 + 0.5 * 0.845)
    assert out["clipfrac"] == pytest.approx(1.0)
    kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5))) / 2
    assert out["approx_kl"] == pytest.approx(kl, rel=1e-5)
    assert out["old_approx_kl"] == pytest.approx(-(math.log(1.5) + math.log(0.5)) / 2, rel=1e-5)


def test_ppo_loss_without_value_clipping_and_with_mask():
    out = ppo_loss(**ppo_inputs(clip_vloss=False))
    assert float(out["value_loss"]) == pytest.approx(0.5 * (0.25 + 1.0) / 2)
    out = ppo_loss(**ppo_inputs(mask=(1.0, 0.0)))
    assert float(out["policy_loss"]) == pytest.approx(-1.2)
    assert float(out["entropy"]) == pytest.approx(0.6)


def test_a2c_loss_on_known_inputs():
    out = a2c_loss(
        logprob=tf.constant([-1.0, -2.0]),
        advantages=tf.constant([2.0, -1.0]),
        values=tf.constant([1.0, 0.0]),
        returns=tf.constant([3.0, 1.0]),
        entropy=tf.constant([0.5, 0.7]),
        mask=tf.ones(2),
        vf_coef=0.5,
        ent_coef=0.1,
    )
    out = {k: float(v) for k, v in out.items()}
    assert out["policy_loss"] == pytest.approx(-((-2.0) + 2.0) / 2)
    assert out["value_loss"] == pytest.approx((4.0 + 1.0) / 2)
    assert out["loss"] == pytest.approx(0.0 - 0.1 * 0.6 + 0.5 * 2.5)


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_optimizer_first_step(name):
    g = np.array([[0.3, -2.0]], np.float32)
    var = tf.Variable([[1.0, 1.0]])
    if name == "adam":
        opt = common.Adam([var], eps=1e-5)
        expected = 1.0 - 0.1 * math.sqrt(0.001) * g / (math.sqrt(0.001) * abs(g) + 1e-5)
    else:
        opt = common.RMSprop([var], alpha=0.99, eps=1e-5)
        expected = 1.0 - 0.1 * g / (math.sqrt(0.01) * abs(g) + 1e-5)
    opt.apply([tf.constant(g)], [var], tf.constant([0.1]))
    np.testing.assert_allclose(var.numpy(), expected, rtol=1e-5)
    assert opt.step.numpy().tolist() == [1]


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_member_optimizer_steps_only_active_members_as_lone_optimizers(name):
    """Members step as lone optimizers (one member each) of their own learning rate; an
    inactive member's weights, state and step count stay exactly as they were."""
    optimizer = common.OPTIMIZERS[name]
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(3)]
    rates = np.array([0.1, 0.2, 0.3], np.float32)
    actives = [[True, True, True], [True, False, True], [True, True, True]]
    stacked = tf.Variable(tf.ones([3, 2]))
    population = optimizer([stacked])
    for g, active in zip(grads, actives):
        population.apply([tf.constant(g)], [stacked], tf.constant(rates), tf.constant(active))
    for member in range(3):
        lone_var = tf.Variable(tf.ones([1, 2]))
        lone = optimizer([lone_var])
        for g, active in zip(grads, actives):
            if active[member]:
                lone.apply(
                    [tf.constant(g[member : member + 1])],
                    [lone_var],
                    tf.constant(rates[member : member + 1]),
                )
        np.testing.assert_allclose(stacked.numpy()[member], lone_var.numpy()[0], rtol=1e-6)
        assert int(population.step[member]) == int(lone.step[0])
    assert [int(s) for s in population.step.numpy()] == [3, 2, 3]


def test_clip_by_member_norm_is_clip_by_global_norm_per_member():
    rng = np.random.default_rng(0)
    grads = [
        tf.constant(rng.normal(size=(3, 4, 2)), tf.float32),
        tf.constant(rng.normal(size=(3, 2)), tf.float32),
    ]
    limits = tf.constant([0.5, 100.0, 1.0])
    clipped, norms = common.clip_by_member_norm(grads, limits)
    for p in range(3):
        expected, norm = tf.clip_by_global_norm([g[p] for g in grads], limits[p])
        assert float(norms[p]) == pytest.approx(float(norm), rel=1e-6)
        for got, want in zip(clipped, expected):
            np.testing.assert_allclose(got[p].numpy(), want.numpy(), rtol=1e-6)
    assert float(norms[1]) < 100.0  # member 1 under its limit: unchanged
    np.testing.assert_array_equal(clipped[0][1].numpy(), grads[0][1].numpy())


def test_running_mean_std_matches_numpy_over_masked_rows():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3, 2, (50, 2)), rng.normal(-1, 0.5, (30, 2))
    rms = common.RunningMeanStd(2, [2])  # member 1 sees the batches reversed
    junk = np.vstack([b, np.full((5, 2), 1e6)])[None]
    junk_mask = tf.constant([[1.0] * 30 + [0.0] * 5])
    rms.update(tf.constant(np.stack([a, a[::-1]])), tf.ones([2, 50]))
    rms.update(
        tf.constant(np.concatenate([junk, junk[:, ::-1]])),
        tf.concat([junk_mask, junk_mask[:, ::-1]], 0),
    )
    both = np.vstack([a, b])
    for member in range(2):
        np.testing.assert_allclose(rms.mean.numpy()[member], both.mean(0), rtol=1e-4)
        np.testing.assert_allclose(rms.var.numpy()[member], both.var(0), rtol=1e-4)


def test_distributions_match_closed_forms():
    logits = tf.constant([[0.0, math.log(3.0)]])
    np.testing.assert_allclose(
        common.categorical_log_prob(logits, tf.constant([1])).numpy(), [math.log(0.75)], rtol=1e-6
    )
    ent = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    np.testing.assert_allclose(common.categorical_entropy(logits).numpy(), [ent], rtol=1e-6)
    mean, log_std = tf.constant([[0.0, 1.0]]), tf.constant([0.0, math.log(2.0)])
    lp = common.gaussian_log_prob(mean, log_std, tf.constant([[1.0, 1.0]])).numpy()
    expected = (-0.5 - 0.5 * math.log(2 * math.pi)) + (-math.log(2.0) - 0.5 * math.log(2 * math.pi))
    np.testing.assert_allclose(lp, [expected], rtol=1e-6)


def test_orthogonal_init_is_orthogonal():
    w = common.orthogonal((8, 3), 2.0, np.random.default_rng(0))
    np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(3), atol=1e-5)
