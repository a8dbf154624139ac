"""Where the client connects and how: arguments first, then the environment, then defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

DEFAULT_BASE_URL = "http://localhost:8080"
DEFAULT_MODEL = "gpt-oss:20b"
DEFAULT_MAX_RETRIES = 2
#: Generous read timeout: a reasoning model can think for minutes before answering.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)

BASE_URL_VARS = ("GPTOSS_BASE_URL", "OPENAI_BASE_URL")
API_KEY_VARS = ("GPTOSS_API_KEY", "OPENAI_API_KEY")
MODEL_VARS = ("GPTOSS_MODEL",)


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def server_root(base_url: str) -> str:
    """The server's root URL: trailing slashes and a trailing `/v1` are removed.

    Users copy base URLs from OpenAI SDK settings (`http://box:8080/v1`) as often as from the
    README (`http://box:8080`); both mean the same gateway, and health checks live outside `/v1`.
    """
    root = base_url.strip().rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")].rstrip("/")
    if not root.startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://, got {base_url!r}")
    return root


def as_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    """A number means "this many seconds to read an answer" (connecting keeps its short default)."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(float(timeout), connect=min(float(timeout), 5.0))


@dataclass(frozen=True, repr=False)
class ClientConfig:
    """Resolved connection settings shared by `Client` and `AsyncClient`."""

    base_url: str
    api_key: str | None
    model: str
    timeout: httpx.Timeout
    max_retries: int

    @classmethod
    def resolve(
        cls,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Take each setting from its argument, else `GPTOSS_*`, else `OPENAI_*`, else a default."""
        env = os.environ if environ is None else environ
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        return cls(
            base_url=server_root(base_url or _first_set(env, BASE_URL_VARS) or DEFAULT_BASE_URL),
            api_key=api_key or _first_set(env, API_KEY_VARS),
            model=model or _first_set(env, MODEL_VARS) or DEFAULT_MODEL,
            timeout=as_timeout(timeout),
            max_retries=max_retries,
        )

    def headers(self) -> dict[str, str]:
        """Headers sent with every request (the key only when one is configured)."""
        headers = {"Accept": "application/json", "User-Agent": "gptoss-python"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        return f"ClientConfig(base_url={self.base_url!r}, api_key=<{key}>, model={self.model!r})"
