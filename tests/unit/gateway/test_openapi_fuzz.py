"""schemathesis against the gateway's own OpenAPI document: generated requests, no server error.

The document is built in process with ``create_app(settings).openapi()`` when this module is
collected (schemathesis parametrizes at collection; its fixture-based loader does not work with
this pytest); a separate test checks the running gateway serves the same document at
``GET /openapi.json``. The requests go to the running test gateway. Every operation gets valid and
invalid (negative) requests with a valid key; none may get a 5xx, and every error must be JSON in
OpenAI's envelope (Ollama's own ``{"error": "..."}`` is fine on the relayed ``/api/*`` routes).

Bounded for a 2-core CI run: a few examples per operation, no shrinking, no deadline (a busy
machine is not a failure), and deterministic (derandomized, fixed seed, no example database).
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.hostile import envelope_problem
from tests.support.servers import TEST_ACCESS

EXAMPLES_PER_OPERATION = 12
SEED = 20251204
OPENAPI_PATH = "/openapi.json"


def in_process_document() -> dict[str, Any]:
    """``create_app(settings).openapi()``; FastAPI's warnings (duplicate ids, ...) are ignored."""
    settings_ = Settings(**TEST_ACCESS, ollama_url="http://127.0.0.1:9", log_level="WARNING")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_app(settings_).openapi()


def test_openapi_document_is_served_without_warnings(session_gateway_url: str) -> None:
    # FastAPI warns while building the document (e.g. a duplicate operation id); in this test
    # session warnings are errors, so the route would answer 500. Switched off it would be 404.
    served = httpx.get(f"{session_gateway_url}{OPENAPI_PATH}", timeout=10)

    assert served.status_code in (200, 404), served.text[:300]
    if served.status_code == 200:
        assert served.json()["paths"].keys() == in_process_document()["paths"].keys()


def loaded_schema() -> schemathesis.BaseSchema:
    """The document as a schemathesis schema: both generation modes, bounded, deterministic."""
    schema = schemathesis.openapi.from_dict(in_process_document())
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES_PER_OPERATION,
        deterministic=True,
    )
    # The coverage phase (hundreds of boundary cases per operation) takes minutes here.
    schema.config.phases.update(phases=["examples", "fuzzing"])
    schema.config.seed = SEED
    return schema


@schemathesis.check
def openai_error_envelope(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """Every 4xx/5xx is JSON in OpenAI's envelope (Ollama's own shape on ``/api/*``)."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    content_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    if content_type != "application/json":
        raise AssertionError(f"{response.status_code} with Content-Type {content_type!r}")
    problem = envelope_problem(response.content, ollama_shape_ok=case.path.startswith("/api/"))
    if problem:
        raise AssertionError(f"{response.status_code}: {problem}: {response.content[:200]!r}")
    return None


schema = loaded_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_no_server_error(
    case: schemathesis.Case[Any], session_gateway_url: str, gateway_api_key: str
) -> None:
    case.call_and_validate(
        base_url=session_gateway_url,
        headers={"Authorization": f"Bearer {gateway_api_key}"},
        checks=[not_a_server_error, openai_error_envelope],
        timeout=30,
    )
