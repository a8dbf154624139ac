"""Gateway settings, read from the environment (prefix ``GATEWAY_``) by pydantic-settings."""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "gpt-oss:20b"
DEFAULT_TAG = ":latest"


def with_tag(name: str) -> str:
    """``name`` with ``:latest`` appended when it names no tag (Ollama's rule)."""
    return name if ":" in name.rsplit("/", 1)[-1] else name + DEFAULT_TAG


ANY_ORIGIN = "*"
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s?#@]+")
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def normalize_origin(origin: str) -> str:
    """``origin`` as a browser sends it: lower case, no trailing slash, no default port.

    Raises ``ValueError`` for anything that is not ``*`` or ``scheme://host[:port]``.
    """
    value = origin.strip().lower().rstrip("/")
    if value == ANY_ORIGIN:
        return value
    if not _ORIGIN.fullmatch(value):
        raise ValueError(
            f"GATEWAY_CORS_ORIGINS: '{origin}' is not an origin. Write scheme://host[:port] with "
            "no path, e.g. http://192.168.1.20:3000 or https://chat.example.org (* allows any)."
        )
    default_port = _DEFAULT_PORTS.get(value.split("://", 1)[0])
    return value.removesuffix(default_port) if default_port else value


BUILT_IN_ALIASES = {"gpt-oss-20b": DEFAULT_MODEL}
"""Public names every deployment answers to (the name OpenAI-style tools use for gpt-oss)."""
ALIASES_FORMAT = (
    "GATEWAY_MODEL_ALIASES must be alias=model pairs separated by commas "
    "(gpt-4o=gpt-oss:20b,text-embedding-3-small=nomic-embed-text) or a JSON object "
    '({"gpt-4o": "gpt-oss:20b"})'
)


def parse_aliases(text: str) -> dict[str, str]:
    """``alias=model`` pairs (comma-separated) or a JSON object as a dict, else ValueError."""
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{ALIASES_FORMAT}; the JSON is invalid: {error}") from error
        if isinstance(value, dict) and all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
        ):
            return value
        raise ValueError(f"{ALIASES_FORMAT}; every key and value must be a non-empty string")
    aliases: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        alias, sep, model = (side.strip() for side in pair.partition("="))
        if not sep or not alias or not model:
            raise ValueError(f"{ALIASES_FORMAT}; {pair!r} is not alias=model")
        aliases[alias] = model
    return aliases


RATELIMIT_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")


class Settings(BaseSettings):
    """Every knob of the gateway. ``GATEWAY_<NAME>`` in the environment sets ``<name>``."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    ollama_url: str = Field("http://127.0.0.1:11434", description="Base URL of Ollama.")
    # Several Ollama backends (gateway.upstream.router): GATEWAY_OLLAMA_URLS wins over ollama_url.
    ollama_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Base URLs of several Ollama servers, comma-separated (one per GPU or host); "
        "when set it replaces GATEWAY_OLLAMA_URL and each generation goes to the least busy one.",
    )
    backend_ejection_seconds: float = Field(
        5.0,
        gt=0,
        description="First time a failing Ollama backend is left out (doubles per ejection).",
    )
    backend_ejection_max_seconds: float = Field(
        60.0, gt=0, description="Longest time a failing Ollama backend is left out."
    )
    default_model: str = Field(DEFAULT_MODEL, description="Model used when a request names none.")
    model_aliases: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Extra public model names, as alias=model pairs, comma-separated "
        "(gpt-4o=gpt-oss:20b,text-embedding-3-small=nomic-embed-text), or a JSON object; "
        "gpt-oss-20b -> gpt-oss:20b is built in.",
    )
    model_aliases_listed: bool = Field(
        True, description="List the aliases in /v1/models next to the real model names."
    )
    expected_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Models the deployment pulls at start, comma-separated (the default model "
        "always counts); while one is missing upstream, requests for it get 503 'still "
        "downloading' instead of 404.",
    )
    embeddings_model: str = Field(
        "nomic-embed-text",
        min_length=1,
        description="Model /v1/embeddings uses when a request names no model or names the "
        "default (generation) model, which cannot embed; list it in OLLAMA_MODELS to pre-pull it.",
    )

    context_length: int = Field(
        8192,
        ge=256,
        description="Context window in tokens that Ollama runs the models with (its "
        "OLLAMA_CONTEXT_LENGTH; compose passes it). Shown in /v1/models and /health/ready; a "
        "longer prompt gets X-Prompt-Truncated: true, one over twice as long a 400.",
    )

    ollama_keep_alive: str = Field(
        "24h",
        min_length=1,
        description="How long Ollama keeps a model loaded (its OLLAMA_KEEP_ALIVE; compose passes "
        "it): a non-admin /api/* request asking for less (0 unloads) gets this instead.",
    )

    connect_timeout: float = Field(5.0, gt=0, description="Seconds to open a connection to Ollama.")
    first_byte_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for Ollama's first byte (includes model load)."
    )
    chunk_timeout: float = Field(
        120.0, gt=0, description="Longest silence between two streamed chunks, in seconds."
    )
    total_timeout: float = Field(
        900.0, gt=0, description="Upper bound on one upstream request, in seconds."
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, gt=0, description="Largest accepted request body, in bytes."
    )
    upstream_max_connections: int = Field(
        256, gt=0, description="Connection pool size towards Ollama, per worker."
    )
    retry_after_seconds: int = Field(
        5, ge=1, description="Retry-After sent with 503s when Ollama is unreachable or busy."
    )

    # Admission control and runaway guards (gateway.upstream.admission).
    ollama_parallel: int = Field(
        0,
        ge=0,
        description="Generations Ollama runs at once (its OLLAMA_NUM_PARALLEL; compose passes "
        "it). Beyond it requests wait in the gateway's fair queue; 0 turns admission control "
        "off.",
    )
    queue_max: int = Field(
        100, ge=0, description="Most requests waiting for a generation slot (all workers)."
    )
    queue_timeout: float = Field(
        60.0, gt=0, description="Seconds a request may wait for a slot before a 503."
    )
    admission_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="Lifetime of a slot or queue place that is not renewed (a dead worker's "
        "places free up after it).",
    )
    max_output_tokens: int = Field(
        32768,
        ge=0,
        description="Cap on output tokens (reasoning included) per generation, applied when a "
        "request asks for more or for nothing; 0 = no cap.",
    )
    max_generation_seconds: float = Field(
        600.0,
        ge=0,
        description="Wall-clock cap per generation; a streamed answer then ends with "
        "finish_reason 'length', a non-streamed one with 504 generation_time_limit (unless "
        "GATEWAY_STREAM_WHOLE_ANSWERS). 0 = no cap.",
    )
    stream_whole_answers: bool = Field(
        False,
        description="Fetch non-streamed answers from Ollama as a stream too (instead of in one "
        "piece, which costs the gateway far less): the time cap then returns the partial answer "
        "and a client that leaves is charged the tokens produced so far.",
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the JSON logs (DEBUG, INFO, WARNING, ERROR)."
    )
    log_prompts: bool = Field(False, description="Log prompt text at DEBUG (off by default).")

    ratelimit_storage: str = Field(
        "memory://",
        description="Rate-limit state store (limits URI), e.g. redis://redis:6379/0; a redis:// "
        "store is also checked by /health/ready.",
    )

    # Observability (metrics, readiness, the background Ollama probe).
    metrics_token: SecretStr | None = Field(
        None, description="When set, GET /metrics needs `Authorization: Bearer <token>`."
    )
    ready_cache_seconds: float = Field(
        1.5, ge=0, le=60, description="Seconds each worker reuses a /health/ready result."
    )
    probe_interval_seconds: float = Field(
        15.0, gt=0, description="Seconds between two background Ollama probes (per worker)."
    )
    health_timeout: float = Field(
        2.0, gt=0, description="Seconds a readiness check waits for Ollama or Redis."
    )
    git_sha: str = Field("unknown", description="Git commit of this build (gateway_build_info).")

    # API keys and rate limits (gateway.access: keys, keytable, ratelimit, guard).
    api_keys: SecretStr = Field(
        SecretStr(""), description="Quick path: plain API keys, comma-separated (hashed at start)."
    )
    keys_file: Path | None = Field(
        None, description="JSON key store managed by `gateway keys`; edits apply within seconds."
    )
    keys_reload_seconds: float = Field(
        1.0, gt=0, le=60, description="How often each worker looks at the keys file for changes."
    )
    auth_disabled: bool = Field(
        False, description="Serve without API keys (development only; logged loudly at start)."
    )
    ratelimit_fail_open: bool = Field(
        True, description="Store unreachable: let requests pass (true) or answer 503 (false)."
    )
    ratelimit_timeout: float = Field(
        0.25, gt=0, le=10, description="Seconds one call to the rate-limit store may take."
    )
    default_rpm: int = Field(60, ge=0, description="Requests per minute per key (0: no limit).")
    default_tpm: int = Field(
        100_000, ge=0, description="Tokens (prompt + completion) per minute per key (0: no limit)."
    )
    default_max_concurrent: int = Field(
        4, ge=0, description="In-flight requests per key (0: no limit)."
    )
    auth_failure_limit: int = Field(
        10, ge=0, description="Failed key checks per client IP per window before 429 (0: off)."
    )
    auth_failure_window: int = Field(
        60, gt=0, le=86_400, description="Window of the failed-auth limiter, in seconds."
    )
    usage_retention_days: int = Field(
        400,
        gt=0,
        le=36_500,
        description="Days the usage ledger keeps a day's or a month's counts after it ended.",
    )

    # Browser clients (gateway.access.cors).
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins of web pages that may call the API from a browser (CORS), "
        "comma-separated scheme://host[:port]; * allows any (logged as a warning). Empty: off.",
    )

    @field_validator("ollama_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("ollama_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            urls = [str(url).strip().rstrip("/") for url in value if str(url).strip()]
            for number, url in enumerate(urls, 1):  # not quoted: a URL may carry a password
                if not url.startswith(("http://", "https://")):
                    raise ValueError(
                        f"GATEWAY_OLLAMA_URLS: URL number {number} does not start with http:// "
                        "or https://"
                    )
            if len(set(urls)) != len(urls):
                raise ValueError("GATEWAY_OLLAMA_URLS names the same URL twice")
            return urls
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ratelimit_storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        if not value.startswith(RATELIMIT_SCHEMES):
            raise ValueError(
                "GATEWAY_RATELIMIT_STORAGE must be memory:// or redis://host:port/db "
                "(also rediss://, unix://)"
            )
        return value

    @field_validator("expected_models", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _normalize_origins(cls, value: list[str]) -> list[str]:
        return [normalize_origin(origin) for origin in value]

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _parse_aliases(cls, value: object) -> object:
        return parse_aliases(value) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def backend_urls(self) -> list[str]:
        """The Ollama servers to use: ``GATEWAY_OLLAMA_URLS``, else ``GATEWAY_OLLAMA_URL``."""
        return list(self.ollama_urls) or [self.ollama_url]

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Public model name -> Ollama model name (includes the identity for the default model)."""
        return {self.default_model: self.default_model, **BUILT_IN_ALIASES, **self.model_aliases}

    def resolve_model(self, requested: str | None) -> str:
        """The Ollama model name for a requested public name (default when none is given)."""
        if not requested:
            return self.default_model
        return self.aliases.get(requested, requested)

    def is_expected(self, ollama_model: str) -> bool:
        """True when the deployment is meant to have this model (it may still be downloading)."""
        wanted = {with_tag(self.default_model), *(with_tag(m) for m in self.expected_models)}
        return with_tag(ollama_model) in wanted
