"""gunicorn configuration (``gunicorn -c python:gateway.gunicorn_conf``), driven by the environment.

``WEB_CONCURRENCY`` workers of ``gateway.serving.worker.GatewayWorker`` (uvicorn's worker, which
leaves without failing a request) serving ``create_app()``; timeouts sized for long generations;
no recycling unless ``GUNICORN_MAX_REQUESTS`` is set; proxy headers trusted only from
``FORWARDED_ALLOW_IPS`` (nginx). Prometheus multiprocess mode: the master prepares an empty
``PROMETHEUS_MULTIPROC_DIR`` before forking and drops a dead worker's live gauges. Each worker
tunes its garbage collector once the app is loaded (see :func:`post_worker_init`).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gateway.observability.logs import logging_config
from gateway.serving import arbiter, handoff

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Allocations between two young-generation collections (CPython's default: 700).
GC_GEN0_THRESHOLD = 7000


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


wsgi_app = "gateway.app:create_app()"
# uvicorn_worker.UvicornWorker that leaves without failing a request (gateway.serving).
worker_class = "gateway.serving.worker.GatewayWorker"
bind = [os.environ.get("GATEWAY_BIND", "0.0.0.0:8000")]
# compose: also a Unix socket in a volume shared with nginx, which a new container takes over
# during `make upgrade` (gateway.serving.handoff).
SOCKET_DIR = os.environ.get("GATEWAY_SOCKET_DIR", "")
if SOCKET_DIR:
    bind.append(handoff.bind_address(Path(SOCKET_DIR)))
workers = _int("WEB_CONCURRENCY", 2)
# Async workers: `timeout` only kills a worker whose event loop stopped heartbeating.
timeout = _int("GUNICORN_TIMEOUT", 60)
# In-flight generations get this long to finish on SIGTERM or a recycle (match stop_grace_period).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 120)
# Idle keep-alive timeout: longer than nginx's upstream keepalive_timeout (10 s) so that nginx
# always closes an idle connection first; also the longest a leaving worker keeps an idle
# connection whose client does not close it (gateway.serving.protocol).
keepalive = _int("GUNICORN_KEEPALIVE", 20)
# No recycling by default: a 30-minute soak (95,000 requests) grew a worker by 0.5 MiB (README
# "Worker recycling"). When set, a recycled worker drains and is replaced at once (gateway.serving);
# the jitter defaults to a tenth so that workers do not recycle together.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None  # the gateway writes its own structured access log
# gunicorn's control socket wants a writable home; the container's root filesystem is read-only.
control_socket_disable = True
logconfig_dict = logging_config(os.environ.get("GATEWAY_LOG_LEVEL", "INFO").upper())


def on_starting(server: Any) -> None:
    """Master, before the first fork: give prometheus-client an empty multiprocess directory.

    Uses ``PROMETHEUS_MULTIPROC_DIR`` when set (its ``*.db`` files from an earlier run are
    removed), else a fresh temporary directory removed again on exit. Must run before any worker
    imports prometheus-client, which reads the variable at import.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
        os.environ[MULTIPROC_ENV] = str(directory)
        server.gateway_metrics_tempdir = directory


def when_ready(server: Any) -> None:
    """Master, listening, before the first fork.

    - Replace a worker that leaves on its own at once (:mod:`gateway.serving.arbiter`: a worker
      recycled after ``max_requests`` drains its connections before it exits).
    - With ``GATEWAY_SOCKET_DIR``: publish this container's socket to nginx unless another live
      gateway has it (:mod:`gateway.serving.handoff`; ``make upgrade`` hands it over later).
    """
    arbiter.install(server)
    directory = Path(SOCKET_DIR)
    if not SOCKET_DIR or not handoff.own_socket(directory).is_socket():
        return
    if handoff.publish_unless_served(directory):
        server.log.info("Published %s to nginx", handoff.own_socket(directory))
    elif handoff.published_target(directory) != handoff.own_socket(directory).name:
        server.log.info("Another gateway serves nginx: this one waits for `gateway takeover`")


def post_worker_init(worker: Any) -> None:
    """Worker, once the app is loaded: keep the collector off the long-lived objects.

    ``gc.freeze()`` moves everything allocated so far (modules, the app, its schemas) out of the
    collector's sight: a full collection then scans only what requests allocated, a few ms
    instead of ~40 ms of stalled event loop. A young generation of 7000 allocations instead of
    700 makes collections ten times rarer; short-lived request objects are freed by reference
    counting long before one runs.
    """
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def child_exit(server: Any, worker: Any) -> None:
    """Master, after a worker exited: drop its live gauges (in-flight requests, probe results)."""
    from prometheus_client import multiprocess  # after on_starting set the directory

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Master, at shutdown: remove the metrics directory if it was a temporary one."""
    tempdir = getattr(server, "gateway_metrics_tempdir", None)
    if tempdir is not None:
        shutil.rmtree(tempdir, ignore_errors=True)
