"""``GET /v1/me``: the calling key's own limits, budgets and usage (README "Usage and budgets")."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.access.guard import Guard
from gateway.access.keytable import ApiKey
from gateway.access.middleware import API_KEY_STATE
from gateway.access.usage.ledger import UsageUnavailable
from gateway.access.usage.statement import statement
from gateway.errors import ServiceUnavailable

router = APIRouter(tags=["usage"])


@router.get("/v1/me")
async def me(request: Request) -> Response:
    """Name, id, limits, budgets, usage today and this month, what is left, expiry."""
    guard: Guard = request.app.state.guard
    key: ApiKey = getattr(request.state, API_KEY_STATE)
    try:
        payload = await statement(guard.usage, key, guard.quota_of(key))
    except UsageUnavailable:
        raise ServiceUnavailable(
            "Your usage cannot be read right now (the usage store cannot be reached). Retry "
            "shortly; if it persists, tell the operator.",
            retry_after=1,
            code="usage_store_unavailable",
        ) from None
    return Response(orjson.dumps(payload), media_type="application/json")
