"""Search spaces: declaration, domain checks, CLI parsing. No TensorFlow."""

import subprocess
import sys

import pytest

import agents
from tfhparam.space import LogRealInterval, Space, SpaceError, hp, is_log, param


def small_space():
    return Space(
        [
            param("lr", LogRealInterval(1e-5, 1e-2), 3e-4, "step"),
            param("n", hp.IntInterval(1, 8), 2, "count"),
            param("act", hp.Discrete(["relu", "tanh"]), "tanh", "activation"),
            param("flag", hp.Discrete([False, True]), True, "switch"),
            param("size", hp.Discrete([16, 64]), 64, "width"),
        ]
    )


def test_defaults_and_resolve_check_domains():
    space = small_space()
    assert space.resolve() == {"lr": 3e-4, "n": 2, "act": "tanh", "flag": True, "size": 64}
    assert space.resolve({"n": 8.0})["n"] == 8 and isinstance(space.resolve({"n": 8.0})["n"], int)
    for bad, match in [
        ({"lr": 0.5}, "lr=0.5 is outside"),
        ({"n": 2.5}, "n=2.5"),
        ({"act": "gelu"}, "act='gelu'"),
        ({"flag": 1}, "flag=1"),
        ({"size": 32}, "size=32"),
        ({"nope": 1}, "unknown hparam 'nope'"),
        ({"lr": float("nan")}, "lr=nan"),
    ]:
        with pytest.raises(SpaceError, match=match):
            space.resolve(bad)


def test_parse_reads_command_line_strings():
    space = small_space()
    parsed = space.parse(
        [("lr", "1e-3"), ("n", "4"), ("act", "relu"), ("flag", "false"), ("size", "16")]
    )
    assert parsed == {"lr": 1e-3, "n": 4, "act": "relu", "flag": False, "size": 16}
    with pytest.raises(SpaceError, match="not a bool"):
        space.parse([("flag", "maybe")])
    with pytest.raises(SpaceError, match="not a float"):
        space.parse([("lr", "fast")])


def test_log_scale_is_carried_and_must_be_positive():
    assert is_log(small_space()["lr"].domain)
    assert not is_log(small_space()["n"].domain)
    with pytest.raises(ValueError):
        LogRealInterval(0.0, 1.0)


def test_defaults_must_lie_in_their_domain_and_names_are_unique():
    with pytest.raises(SpaceError):
        param("x", hp.RealInterval(0.0, 1.0), 2.0, "bad default")
    with pytest.raises(ValueError, match="declared twice"):
        Space([param("x", hp.IntInterval(0, 1), 0, ""), param("x", hp.IntInterval(0, 1), 0, "")])


def test_agent_spaces_use_cleanrl_names_and_log_scales():
    ppo = agents.space("ppo")
    for name in (
        "learning_rate",
        "num_envs",
        "num_steps",
        "gamma",
        "gae_lambda",
        "num_minibatches",
        "update_epochs",
        "clip_coef",
        "ent_coef",
        "vf_coef",
        "max_grad_norm",
        "anneal_lr",
        "norm_adv",
        "clip_vloss",
        "target_kl",
        "hidden_size",
        "num_layers",
        "activation",
    ):
        assert name in ppo
    assert is_log(ppo["learning_rate"].domain) and is_log(
        agents.space("a2c")["learning_rate"].domain
    )
    assert agents.space("a2c").defaults()["gae_lambda"] == 1.0
    with pytest.raises(ValueError, match="unknown agent"):
        agents.space("sac")


def test_spaces_and_agent_registry_do_not_import_tensorflow():
    code = (
        "import sys, agents, tfhparam.train, tfhparam.tensorboard; agents.space('ppo'); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
