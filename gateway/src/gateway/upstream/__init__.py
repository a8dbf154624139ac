"""The Ollama side: the client and its connection pool, read deadlines, cancellation when the
client leaves, the byte-for-byte relay of Ollama's native API (``/api/*``), and the routing over
several Ollama backends (backends, router, failover, fan-out of model management).

Imported by the services and routes above it. It may import :mod:`gateway.access` (the relay
checks which models a key may use) and the core (``errors``, ``settings``, ``context``); never
:mod:`gateway.openai_api`, ``routes`` or ``app``.
"""
