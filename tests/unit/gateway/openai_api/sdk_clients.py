"""The official ``openai`` and ``ollama`` clients pointed at a test gateway (no retries)."""

from __future__ import annotations

import ollama
import openai


def openai_client(gateway_url: str, api_key: str, timeout: float = 10.0) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for the gateway's ``/v1`` API."""
    return openai.OpenAI(
        base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0, timeout=timeout
    )


def ollama_client(gateway_url: str, api_key: str, timeout: float = 10.0) -> ollama.Client:
    """An ``ollama.Client`` for the gateway's native ``/api`` routes, sending the bearer key."""
    return ollama.Client(
        host=gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout
    )
