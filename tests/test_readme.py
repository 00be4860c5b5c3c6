"""The README's hyperparameter tables are the agents' spaces."""

import agents


def test_readme_tables_match_the_agent_spaces():
    with open("README.md", encoding="utf-8") as f:
        readme = f.read()
    for name in agents.AGENTS:
        assert agents.space(name).table() in readme, f"README table of {name} is stale"
