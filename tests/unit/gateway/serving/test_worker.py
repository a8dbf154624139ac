"""The gateway's gunicorn worker class: its uvicorn settings and how it tells the master it leaves.

(The worker at work, in real gunicorn under load: test_gunicorn_leaving.py.)
"""

from __future__ import annotations

import tempfile
from types import SimpleNamespace

from gunicorn.config import Config
from gunicorn.glogging import Logger

from gateway.serving.arbiter import is_leaving
from gateway.serving.protocol import DrainingHttpToolsProtocol
from gateway.serving.worker import CLEANUP_SECONDS, GatewayWorker


def make_worker(**settings: object) -> GatewayWorker:
    """A worker object as the master builds it before forking (nothing started)."""
    cfg = Config()
    for name, value in settings.items():
        cfg.set(name, value)
    return GatewayWorker(1, 0, [], None, 30, cfg, Logger(cfg))


def test_the_worker_drains_with_the_draining_protocol_within_the_graceful_timeout() -> None:
    worker = make_worker(graceful_timeout=120, keepalive=75)
    try:
        assert worker.config.http is DrainingHttpToolsProtocol
        assert worker.config.timeout_graceful_shutdown == 120 - CLEANUP_SECONDS
        assert worker.config.timeout_keep_alive == 75
    finally:
        worker.tmp.close()


def test_a_tiny_graceful_timeout_still_leaves_a_second_to_drain() -> None:
    worker = make_worker(graceful_timeout=1)
    try:
        assert worker.config.timeout_graceful_shutdown == 1
    finally:
        worker.tmp.close()


def test_leaving_is_visible_to_the_master_through_the_shared_heartbeat_file() -> None:
    with tempfile.TemporaryFile() as heartbeat:
        worker_side = SimpleNamespace(tmp=heartbeat)
        master_side = SimpleNamespace(tmp=heartbeat)
        assert not is_leaving(master_side)

        GatewayWorker.leave(worker_side)  # type: ignore[arg-type]  # only its tmp is used

        assert is_leaving(master_side)
