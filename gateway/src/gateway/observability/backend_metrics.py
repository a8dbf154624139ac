"""Prometheus metrics of the Ollama backends the gateway routes over (prefix ``gateway_backend_``).

The ``backend`` label is ``host:port`` of a configured backend (never the URL: it may carry a
password), so the label set is bounded by ``GATEWAY_OLLAMA_URLS``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

IN_FLIGHT = Gauge(
    "gateway_backend_in_flight",
    "Generations sent to an Ollama backend and not finished yet, all workers.",
    ["backend"],
    multiprocess_mode="livesum",
)
EJECTED = Gauge(
    "gateway_backend_ejected",
    "Workers that leave the backend out of their picks right now (0: every worker uses it).",
    ["backend"],
    multiprocess_mode="livesum",
)
REQUESTS = Counter(
    "gateway_backend_requests",
    "Generation attempts sent to an Ollama backend, by outcome (ok, failed, busy, client_error, "
    "timeout).",
    ["backend", "outcome"],
)
FAILURES = Counter(
    "gateway_backend_failures",
    "Failures counted against an Ollama backend, by reason (refused, status_5xx, broken_stream).",
    ["backend", "reason"],
)
EJECTIONS = Counter(
    "gateway_backend_ejections",
    "Times a worker ejected an Ollama backend, by reason.",
    ["backend", "reason"],
)
RETRIES = Counter(
    "gateway_backend_retries",
    "Generations sent again to another backend before anything reached the client, by reason.",
    ["reason"],
)
