"""Python client for the gpt-oss-20b API gateway: `Client`, `AsyncClient`, typed results, errors.

```python
from gptoss import Client

with Client() as client:  # GPTOSS_BASE_URL / GPTOSS_API_KEY from the environment
    answer = client.chat("Why is the sky blue?", reasoning_effort="low")
    print(answer.content)
```
"""

from ._async_client import AsyncClient
from ._base import ChatOptions, Messages
from ._client import Client
from ._config import DEFAULT_BASE_URL, DEFAULT_MODEL, ClientConfig
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    GatewayTimeoutError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ServiceUnavailableError,
)
from ._types import (
    ChatResult,
    CompletionResult,
    ComponentHealth,
    ContentDelta,
    Done,
    EmbeddingResult,
    HealthReport,
    Model,
    ReasoningDelta,
    StreamEvent,
    ToolCall,
    Usage,
)

__all__ = [
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
]
