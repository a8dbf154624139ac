"""The master's side: a worker that leaves on its own is replaced at once.

gunicorn's master starts a replacement only once a worker has exited. A worker of ours that reaches
``max_requests`` drains first (:mod:`gateway.serving.worker`), which lasts until its clients gave
up their idle connections (nginx: ``keepalive_timeout`` of the upstream). Left alone, the pool would
serve with one worker less for that long, and with none if every worker drained at once.

So a leaving worker says so through the heartbeat file it already shares with the master (gunicorn's
``WorkerTmp``, whose modification time is the heartbeat): it sets the file's size to 1
(:func:`mark_leaving`). :class:`ReplacingArbiter` counts only the workers that do not, starts a
replacement for each one leaving, and never runs more than twice ``workers`` processes (leaving
ones included) so that a burst of recycling cannot multiply the processes. Everything else is
gunicorn's ``Arbiter``; :func:`install` (from the ``when_ready`` server hook) makes the running
master one.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from gunicorn.arbiter import Arbiter

LEAVING_SIZE = 1
"""Size of a worker's heartbeat file once it is leaving (gunicorn never writes to that file)."""
MAX_PROCESSES_PER_WORKER = 2
"""At most this many times ``workers`` worker processes at once, leaving ones included."""


def mark_leaving(heartbeat_fd: int) -> None:
    """Worker side: flag this worker as leaving, in its heartbeat file (open file descriptor)."""
    os.ftruncate(heartbeat_fd, LEAVING_SIZE)


def is_leaving(worker: Any) -> bool:
    """Master side: whether ``worker`` (gunicorn's ``Worker`` object) said it is leaving."""
    try:
        return os.fstat(worker.tmp.fileno()).st_size >= LEAVING_SIZE
    except (OSError, ValueError):  # its file is closed: it has exited
        return False


class ReplacingArbiter(Arbiter):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's master, except that workers which are leaving do not count as serving."""

    def manage_workers(self) -> None:
        """Keep ``num_workers`` serving workers: replace leaving ones, retire surplus ones."""
        workers: dict[int, Any] = self.WORKERS
        serving = sorted((w.age, pid) for pid, w in workers.items() if not is_leaving(w))
        room = MAX_PROCESSES_PER_WORKER * self.num_workers - len(workers)
        missing = min(self.num_workers - len(serving), room)
        if missing > 0 and len(serving) < len(workers):
            self.log.info(
                "%d worker(s) leaving (draining their connections): starting %d replacement(s)",
                len(workers) - len(serving),
                missing,
            )
        for _ in range(max(0, missing)):
            self.spawn_worker()
        # More serving workers than wanted (SIGTTOU, a reload): the oldest leave.
        for _age, pid in serving[: max(0, len(serving) - self.num_workers)]:
            self.kill_worker(pid, signal.SIGTERM)


def install(server: Any) -> None:
    """Make the running master (gunicorn's ``Arbiter``) a :class:`ReplacingArbiter`.

    Called from the ``when_ready`` hook, before the first worker starts. A master of another class
    (a gunicorn that subclasses its own) is left alone.
    """
    if type(server) is Arbiter:
        server.__class__ = ReplacingArbiter
