"""Opt-in "is the model any good" checks against a real deployment (`make smoke`).

Needs BASE_URL (e.g. http://gpu-host:8080) and API_KEY; skipped otherwise. SMOKE_MODEL picks the
model (default gpt-oss-20b). Deterministic settings (temperature 0) and a generous max_tokens,
because gpt-oss reasons before answering; only the final answer is checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import openai
import pytest

pytestmark = pytest.mark.smoke

QUESTIONS = [
    pytest.param("What is 2+2? Reply with the number only.", r"\b4\b", id="arithmetic"),
    pytest.param(
        "What is the capital of France? Reply with the city name only.", r"paris", id="geography"
    ),
    pytest.param(
        "A farmer has 17 sheep. All but 9 run away. How many sheep does the farmer have left? "
        "Reply with the number only.",
        r"\b9\b",
        id="reasoning",
    ),
]


@pytest.fixture(scope="module")
def deployment() -> Iterator[openai.OpenAI]:
    """An OpenAI client for the deployment named by BASE_URL and API_KEY."""
    base_url = os.environ.get("BASE_URL", "").rstrip("/")
    api_key = os.environ.get("API_KEY", "")
    if not base_url or not api_key:
        pytest.skip("needs a real deployment: make smoke BASE_URL=http://host:8080 API_KEY=sk-...")
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, timeout=600) as client:
        yield client


@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
def test_model_answers_correctly(deployment: openai.OpenAI, question: str, expected: str) -> None:
    completion = deployment.chat.completions.create(
        model=os.environ.get("SMOKE_MODEL", "gpt-oss-20b"),
        messages=[{"role": "user", "content": question}],
        temperature=0,
        max_tokens=4096,
    )

    answer = completion.choices[0].message.content or ""
    assert re.search(expected, answer, re.IGNORECASE), f"unexpected answer: {answer!r}"
