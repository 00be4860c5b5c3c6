"""Lone agents reused across tests: one compiled program a shape for the whole suite.

``Population.reset`` starts new runs exactly as a new agent would (tested in
``test_population.py``), so a test that needs a fresh lone agent of a shape the suite has
already compiled takes the pooled one, reset. Use it only for an agent the test is done
with before it asks for another of the same shape.
"""

import agents
from agents import population

_POOL: dict[tuple, population.Population] = {}


def lone_agent(algo: str, env_id: str, hparams, seed: int, env_backend: str = "auto"):
    """``agents.load(algo).make_agent(env_id, hparams, seed, env_backend)``, reused."""
    key = population.shape_key(algo, env_id, env_backend, [hparams])
    if key in _POOL:
        _POOL[key].reset([hparams], [seed])
    else:
        _POOL[key] = agents.load(algo).make_agent(env_id, hparams, seed, env_backend)
    return _POOL[key]
