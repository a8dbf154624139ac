"""Where the repository's files are, for tests that read configs, docs or scripts."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
