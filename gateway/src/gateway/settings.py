"""Gateway settings, read from the environment (prefix ``GATEWAY_``) by pydantic-settings."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "gpt-oss:20b"


class Settings(BaseSettings):
    """Every knob of the gateway. ``GATEWAY_<NAME>`` in the environment sets ``<name>``."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    ollama_url: str = Field("http://127.0.0.1:11434", description="Base URL of Ollama.")
    default_model: str = Field(DEFAULT_MODEL, description="Model used when a request names none.")
    model_aliases: dict[str, str] = Field(
        default_factory=lambda: {"gpt-oss-20b": DEFAULT_MODEL},
        description='Extra public names for Ollama models, JSON: {"alias": "ollama:name"}.',
    )
    expected_models: list[str] = Field(
        default_factory=list,
        description="Models the deployment pulls at start (besides the default model); while "
        "one is missing upstream, requests for it get 503 'still downloading' instead of 404.",
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

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_prompts: bool = Field(False, description="Log prompt text at DEBUG (off by default).")

    @field_validator("ollama_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Public model name -> Ollama model name (includes the identity for the default model)."""
        return {self.default_model: self.default_model, **self.model_aliases}

    def resolve_model(self, requested: str | None) -> str:
        """The Ollama model name for a requested public name (default when none is given)."""
        if not requested:
            return self.default_model
        return self.aliases.get(requested, requested)

    def is_expected(self, ollama_model: str) -> bool:
        """True when the deployment is meant to have this model (it may still be downloading)."""
        return ollama_model == self.default_model or ollama_model in self.expected_models
