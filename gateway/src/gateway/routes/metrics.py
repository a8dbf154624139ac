"""``GET /metrics``: Prometheus text format, optionally behind a bearer token.

A plain route (never a mounted sub-app, which would answer 307 to ``/metrics/`` and make
Prometheus silently store nothing).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.deps import get_settings
from gateway.errors import AuthenticationFailed
from gateway.observability import metrics
from gateway.observability.request_metrics import METRICS_PATH
from gateway.settings import Settings

router = APIRouter(tags=["monitoring"])


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def check_metrics_token(settings: Settings, authorization: str | None) -> None:
    """Raise 401 unless ``authorization`` is ``Bearer <GATEWAY_METRICS_TOKEN>`` (when one is set).

    Digests of equal length are compared in constant time, so the answer time says nothing
    about the token.
    """
    if settings.metrics_token is None:
        return
    scheme, _, presented = (authorization or "").partition(" ")
    expected = _digest(settings.metrics_token.get_secret_value())
    matches = hmac.compare_digest(_digest(presented.strip()), expected)
    if not (matches and scheme.lower() == "bearer"):
        raise AuthenticationFailed(
            "GET /metrics needs `Authorization: Bearer <token>` with the value of "
            "GATEWAY_METRICS_TOKEN. In Prometheus, put the token in the scrape job's "
            "`authorization.credentials_file`.",
            code="invalid_metrics_token",
        )


@router.get(METRICS_PATH, include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Every worker's metrics, merged, in the Prometheus text exposition format."""
    check_metrics_token(get_settings(request), request.headers.get("authorization"))
    body = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE)
