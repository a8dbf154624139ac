"""The model list of ``/v1/models``: Ollama's ``/api/tags`` in OpenAI's shape, aliases included."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.access.rights import authorize_model, model_allowed
from gateway.context import RequestContext
from gateway.errors import NotFound
from gateway.settings import Settings, with_tag
from gateway.upstream.client import OllamaClient
from gateway.upstream.fanout import merged_list


def owner_of(name: str) -> str:
    """OpenAI's ``owned_by``: the namespace of ``[host/][namespace/]model[:tag]`` (``library``)."""
    path = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    parts = path.split("/")
    return parts[-2] if len(parts) > 1 else "library"


def unix_time(timestamp: object) -> int:
    """Seconds since the epoch of an RFC 3339 timestamp (0 when missing or unreadable)."""
    if not isinstance(timestamp, str):
        return 0
    try:
        return int(datetime.fromisoformat(timestamp).timestamp())
    except ValueError:
        return 0


def model_object(public_id: str, tag: dict[str, Any], context_length: int) -> dict[str, Any]:
    """One OpenAI model object for an ``/api/tags`` entry, listed under ``public_id``.

    ``context_length`` is the window Ollama runs the model with (``GATEWAY_CONTEXT_LENGTH``).
    """
    return {
        "id": public_id,
        "object": "model",
        "created": unix_time(tag.get("modified_at")),
        "owned_by": owner_of(str(tag.get("name") or public_id)),
        "context_length": context_length,
    }


class ModelCatalog:
    """Reads the models Ollama has and names them the way clients may ask for them."""

    def __init__(self, settings: Settings, ollama: OllamaClient, ctx: RequestContext) -> None:
        self.settings = settings
        self.ollama = ollama
        self.ctx = ctx

    async def _tags(self) -> dict[str, dict[str, Any]]:
        """Ollama's local models by name (of every backend, when there are several)."""
        if self.ollama.router.several:
            data = await merged_list(self.ollama.router, "/api/tags")
        else:
            data = await self.ollama.json("GET", "/api/tags", request_id=self.ctx.request_id)
        models = data.get("models") or []
        return {
            str(entry["name"]): entry
            for entry in models
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)
        }

    async def list(self) -> list[dict[str, Any]]:
        """Every model the key may use, then the aliases of those (each id listed once) unless
        ``GATEWAY_MODEL_ALIASES_LISTED`` is off (they still resolve)."""
        tags = {
            name: tag for name, tag in (await self._tags()).items() if model_allowed(self.ctx, name)
        }
        window = self.settings.context_length
        listed = [model_object(name, tag, window) for name, tag in tags.items()]
        if not self.settings.model_aliases_listed:
            return listed
        for alias, target in self.settings.aliases.items():
            if alias not in tags and target in tags:
                listed.append(model_object(alias, tags[target], window))
        return listed

    async def get(self, model_id: str) -> dict[str, Any]:
        """The model object for ``model_id`` (a name, an alias, or a name without ``:latest``)."""
        target = self.settings.resolve_model(model_id)
        authorize_model(self.ctx, target)
        tags = await self._tags()
        tag = tags.get(target) or tags.get(with_tag(target))
        if tag is None:
            raise self.not_found(model_id, target)
        return model_object(model_id, tag, self.settings.context_length)

    def not_found(self, model_id: str, target: str) -> NotFound:
        """The 404 for a model this server does not have (mentions a pending download)."""
        if self.settings.is_expected(target):
            detail = (
                f"The model '{model_id}' is configured but not downloaded yet; it should appear "
                "once `docker compose logs -f ollama` shows the pull finished."
            )
        else:
            detail = (
                f"The model '{model_id}' does not exist on this server. "
                "GET /v1/models lists the models you can use."
            )
        return NotFound(detail, code="model_not_found", param="model")
