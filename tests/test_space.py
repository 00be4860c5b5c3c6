"""Search spaces: declaration, domain checks, CLI parsing. No TensorFlow."""

import os
import subprocess
import sys

import pytest

import agents
from agents.hparams import LogRealInterval, Space, SpaceError, hp, is_log, param


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


def test_every_declaration_has_a_known_role():
    with pytest.raises(ValueError, match="unknown role 'tensor'"):
        param("x", hp.IntInterval(0, 1), 0, "", role="tensor")
    space = Space(
        [param("a", hp.IntInterval(0, 1), 0, ""), param("b", hp.IntInterval(0, 1), 0, "", "shape")]
    )
    assert space.with_role("member") == ("a",) and space.with_role("shape", "init") == ("b",)
    with pytest.raises(ValueError, match="unknown roles"):
        space.with_role("tensor")


def test_the_agents_role_lists_are_derived_from_the_declarations():
    """Checkpoints, PBT and populations read these; they come from the roles in
    agents/spaces.py, so a new hparam is one declaration."""
    assert set(agents.STRUCTURAL_HPARAMS) == {
        "num_envs",
        "num_steps",
        "hidden_size",
        "num_layers",
        "activation",
        "norm_obs",
        "norm_reward",
        "buffer_size",
        "optimizer",
        "shared_network",
        "conv_channels",
        "dense_units",
    }
    assert set(agents.POPULATION_KEY_HPARAMS) == set(agents.STRUCTURAL_HPARAMS) - {
        "buffer_size"  # DQN's; DQN trains alone
    }
    assert agents.space("ppo").with_role("program") == ("num_minibatches",)
    assert agents.space("ppo").with_role("member") == (
        "learning_rate",
        "anneal_lr",
        "gamma",
        "gae_lambda",
        "update_epochs",
        "norm_adv",
        "clip_coef",
        "clip_vloss",
        "ent_coef",
        "vf_coef",
        "max_grad_norm",
        "target_kl",
    )
    assert agents.space("ppo").with_role("init") == ("log_std_init",)


def test_the_agents_import_nothing_of_the_engine():
    """Layers point down: tfhparam builds on agents, never the other way round."""
    import ast
    import pathlib

    package = pathlib.Path(agents.__file__).parent
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "tfhparam"]
    assert found == []


def test_the_xla_cache_keeps_its_newest_entries_within_its_size(tmp_path):
    for age, name in enumerate(["new", "mid", "old"]):
        path = tmp_path / f"xla_compile_cache__{name}.pb"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1e9 - age * 100, 1e9 - age * 100))
    (tmp_path / "other.txt").write_bytes(b"x" * 5000)  # not the cache's: never touched
    assert agents.prune_xla_cache(str(tmp_path), 2500) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other.txt",
        "xla_compile_cache__mid.pb",
        "xla_compile_cache__new.pb",
    ]
    assert agents.prune_xla_cache(str(tmp_path / "missing"), 0) == 0


def test_a_bad_cache_size_is_one_line_and_exit_2():
    env = {k: v for k, v in os.environ.items() if k != "TF_XLA_FLAGS"}  # set by our import
    env["TFHPARAM_XLA_CACHE_MB"] = "lots"
    out = subprocess.run(
        [sys.executable, "-c", "import agents"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "agents: error: TFHPARAM_XLA_CACHE_MB='lots' is not a size in megabytes"
    ]
