"""gunicorn configuration (``gunicorn -c python:gateway.gunicorn_conf``), driven by the environment.

``WEB_CONCURRENCY`` workers of ``uvicorn_worker.UvicornWorker`` serving ``create_app()``; timeouts
sized for long generations; workers recycled with jitter; proxy headers trusted only from
``FORWARDED_ALLOW_IPS`` (nginx).
"""

from __future__ import annotations

import os

from gateway.logs import logging_config


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


wsgi_app = "gateway.app:create_app()"
worker_class = "uvicorn_worker.UvicornWorker"
bind = [os.environ.get("GATEWAY_BIND", "0.0.0.0:8000")]
workers = _int("WEB_CONCURRENCY", 2)
# Async workers: `timeout` only kills a worker whose event loop stopped heartbeating.
timeout = _int("GUNICORN_TIMEOUT", 60)
# In-flight generations get this long to finish on SIGTERM or a recycle (match stop_grace_period).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 120)
# Longer than nginx's upstream keepalive_timeout so nginx closes idle connections first.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 2000)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None  # the gateway writes its own structured access log
logconfig_dict = logging_config(os.environ.get("GATEWAY_LOG_LEVEL", "INFO").upper())
