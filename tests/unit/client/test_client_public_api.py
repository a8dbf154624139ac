"""The public surface of `gptoss`: what `__all__` promises, and the exception tree it documents."""

from __future__ import annotations

import pytest

import gptoss
from gptoss import _exceptions

PUBLIC_NAMES = {
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ChatOptions",
    "ChatResult",
    "Client",
    "ClientConfig",
    "CompletionResult",
    "ComponentHealth",
    "ContentDelta",
    "Done",
    "EmbeddingResult",
    "GatewayTimeoutError",
    "HealthReport",
    "InternalServerError",
    "Messages",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReasoningDelta",
    "RequestTooLargeError",
    "ServiceUnavailableError",
    "StreamEvent",
    "ToolCall",
    "Usage",
}


def test_all_is_exactly_the_documented_surface() -> None:
    assert set(gptoss.__all__) == PUBLIC_NAMES
    assert len(gptoss.__all__) == len(PUBLIC_NAMES), "duplicates in __all__"


@pytest.mark.parametrize("name", sorted(PUBLIC_NAMES))
def test_every_public_name_is_importable(name: str) -> None:
    assert getattr(gptoss, name) is not None


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (gptoss.APIStatusError, gptoss.APIError),
        (gptoss.BadRequestError, gptoss.APIStatusError),
        (gptoss.AuthenticationError, gptoss.APIStatusError),
        (gptoss.PermissionDeniedError, gptoss.APIStatusError),
        (gptoss.NotFoundError, gptoss.APIStatusError),
        (gptoss.RequestTooLargeError, gptoss.APIStatusError),
        (gptoss.RateLimitError, gptoss.APIStatusError),
        (gptoss.InternalServerError, gptoss.APIStatusError),
        (gptoss.BadGatewayError, gptoss.InternalServerError),
        (gptoss.ServiceUnavailableError, gptoss.InternalServerError),
        (gptoss.GatewayTimeoutError, gptoss.InternalServerError),
        (gptoss.APIStreamError, gptoss.APIError),
        (gptoss.APIConnectionError, gptoss.APIError),
        (gptoss.APITimeoutError, gptoss.APIConnectionError),
    ],
)
def test_exception_tree_matches_its_drawing(child: type, parent: type) -> None:
    assert issubclass(child, parent)
    assert child.__name__ in (_exceptions.__doc__ or "")


def test_cli_entry_point_is_importable() -> None:
    from gptoss.cli import main

    assert callable(main)
