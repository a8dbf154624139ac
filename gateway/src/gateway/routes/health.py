"""Health endpoints, open without a key: liveness (the process answers)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> Response:
    """200 whenever this worker's event loop answers; checks no dependency."""
    return Response(b'{"status":"ok"}', media_type="application/json")
