"""The `gptoss` command line (`chat`, `ask`, `models`, `health`)."""

from ._app import main

__all__ = ["main"]
