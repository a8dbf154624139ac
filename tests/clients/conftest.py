"""Real client programs and libraries against a test gateway in front of the fake Ollama.

Every test here carries the ``clients`` marker (``make unit`` runs them). The JavaScript clients
(the Codex CLI, the ``openai`` JS SDK) come from ``tests/clients/node``, installed by
``make install`` (``npm ci``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``clients``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.clients)


def node_bin(name: str) -> Path:
    """A program of ``tests/clients/node/node_modules/.bin`` (fails with the fix if missing)."""
    program = NODE_DIR / "node_modules" / ".bin" / name
    if not program.exists():
        pytest.fail(f"{program} is missing: run `make install` (it runs npm ci in {NODE_DIR})")
    return program
