"""``GET /v1/models`` and ``GET /v1/models/{model_id}`` (ids may contain ``:`` and ``/``)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gateway.deps import get_context, get_ollama, get_settings
from gateway.openai_api.catalog import ModelCatalog

router = APIRouter(tags=["models"])


async def get_catalog(request: Request) -> ModelCatalog:
    """The model catalog as seen by this request's key (async: no thread-pool hop)."""
    return ModelCatalog(get_settings(request), get_ollama(request), get_context(request))


CatalogDep = Annotated[ModelCatalog, Depends(get_catalog)]


def _json(payload: object) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


@router.get("/v1/models")
async def list_models(catalog: CatalogDep) -> Response:
    """Every model Ollama has, plus the configured aliases (``data`` is ``[]`` when empty)."""
    return _json({"object": "list", "data": await catalog.list()})


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, catalog: CatalogDep) -> Response:
    """One model by id or alias; 404 ``model_not_found`` when this server does not have it."""
    return _json(await catalog.get(model_id))
