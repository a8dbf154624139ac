"""One Ollama release everywhere: the image the stack builds on and the release the fake follows.

The Dockerfile's ARG default, compose's fallback, ``.env.example``, the README and the fake
Ollama's reported version (its ``version`` knob and the ``ollama-shim --version`` client) must
name the same release, or a bare ``docker build ollama/`` and ``make up`` would run different
Ollamas from the one the tests stand in for.
"""

from __future__ import annotations

import re

from fake_ollama.config import OLLAMA_RELEASE, Settings
from fake_ollama.shim import CLIENT_VERSION
from tests.support.paths import REPO_ROOT

IMAGE = re.compile(r"ollama/ollama:(\d+\.\d+\.\d+)")


def _images(relative: str) -> list[str]:
    """Every ``ollama/ollama:<version>`` the file names."""
    return IMAGE.findall((REPO_ROOT / relative).read_text())


def test_every_pin_names_the_same_ollama_release() -> None:
    pins = {
        "ollama/Dockerfile": _images("ollama/Dockerfile"),
        "docker-compose.yml": _images("docker-compose.yml"),
        ".env.example": _images(".env.example"),
        "README.md": _images("README.md"),
    }
    for where, found in pins.items():
        assert found, f"{where} names no ollama/ollama:<version> image"
        assert set(found) == {OLLAMA_RELEASE}, (
            f"{where} pins {found}, the fake follows {OLLAMA_RELEASE}"
        )
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"Ollama {OLLAMA_RELEASE}" in readme


def test_the_fake_reports_the_pinned_release() -> None:
    assert Settings().version == OLLAMA_RELEASE
    assert CLIENT_VERSION == OLLAMA_RELEASE
    fake_readme = (REPO_ROOT / "tests/fake_ollama/README.md").read_text()
    assert f"| `version` | {OLLAMA_RELEASE} |" in fake_readme
    assert f"**{OLLAMA_RELEASE}**" in fake_readme


def test_the_pinned_release_is_a_stable_one() -> None:
    # Upstream's release candidates are tagged vX.Y.Z-rcN; the stack pins only final releases.
    assert re.fullmatch(r"\d+\.\d+\.\d+", OLLAMA_RELEASE)
