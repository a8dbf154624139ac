"""The OpenAI face: wire models, translation to and from Ollama, and the endpoint services.

Owns ``/v1/chat/completions``, ``/v1/completions``, ``/v1/responses``, ``/v1/embeddings`` and
``/v1/models``: :mod:`.protocol` (request models), :mod:`.translate` (OpenAI <-> Ollama bodies),
one ``*_service`` module per endpoint, the Responses builder and SSE framing. Only the routes
import it. It may import :mod:`gateway.upstream` (to reach Ollama), :mod:`gateway.access` (what a
key may use) and the core (``errors``, ``settings``, ``context``); never ``routes`` or ``app``.
"""
