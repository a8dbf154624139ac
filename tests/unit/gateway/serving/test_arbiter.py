"""The master replaces a worker that leaves on its own at once, and keeps the process count bounded.

``ReplacingArbiter.manage_workers`` runs against stand-in workers whose heartbeat files are real
temporary files (the flag a leaving worker sets is the file's size); spawning and killing are
recorded instead of done.
"""

from __future__ import annotations

import runpy
import signal
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from types import SimpleNamespace
from typing import IO, Any

import pytest
from gunicorn.arbiter import Arbiter

from gateway import gunicorn_conf
from gateway.serving.arbiter import ReplacingArbiter, install, is_leaving, mark_leaving
from tests.support.paths import REPO_ROOT


class Master(ReplacingArbiter):
    """A ReplacingArbiter that records what it would spawn and kill."""

    def __init__(self, num_workers: int, files: ExitStack) -> None:  # no gunicorn set-up
        self.WORKERS: dict[int, Any] = {}
        self._num_workers = num_workers
        self.cfg = SimpleNamespace(nworkers_changed=lambda *_: None)
        self.log = SimpleNamespace(info=lambda *_: None)
        self.files = files
        self.spawned = 0
        self.killed: list[tuple[int, int]] = []
        self.next_pid = 100

    def add(self) -> Any:
        """A serving worker, as gunicorn's spawn_worker would add it."""
        self.next_pid += 1
        tmp: IO[bytes] = self.files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        worker = SimpleNamespace(age=self.next_pid, pid=self.next_pid, tmp=tmp)
        self.WORKERS[worker.pid] = worker
        return worker

    def spawn_worker(self) -> None:
        self.spawned += 1
        self.add()

    def kill_worker(self, pid: int, sig: int) -> None:
        self.killed.append((pid, sig))


@pytest.fixture
def files() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_a_leaving_worker_is_replaced_at_once(files: ExitStack) -> None:
    master = Master(2, files)
    first, _second = master.add(), master.add()

    mark_leaving(first.tmp.fileno())
    master.manage_workers()

    assert is_leaving(first)
    assert master.spawned == 1
    assert len(master.WORKERS) == 3  # the leaving one drains next to its replacement
    assert master.killed == []


def test_nothing_happens_while_every_worker_serves(files: ExitStack) -> None:
    master = Master(2, files)
    master.add(), master.add()

    master.manage_workers()

    assert (master.spawned, master.killed) == (0, [])


def test_leaving_workers_never_make_more_than_twice_the_pool(files: ExitStack) -> None:
    master = Master(2, files)
    for _ in range(2):
        master.add()
    for _round in range(5):  # every worker recycles again and again before the old ones are gone
        for worker in list(master.WORKERS.values()):
            mark_leaving(worker.tmp.fileno())
        master.manage_workers()

    assert len(master.WORKERS) <= 4


def test_surplus_serving_workers_leave_oldest_first(files: ExitStack) -> None:
    # What a reload does: new workers next to the old ones, then the oldest are told to leave.
    master = Master(2, files)
    old = [master.add(), master.add()]
    master.add(), master.add()

    master.manage_workers()

    assert master.killed == [(old[0].pid, signal.SIGTERM), (old[1].pid, signal.SIGTERM)]
    assert master.spawned == 0


def test_a_worker_whose_file_is_closed_is_not_leaving(files: ExitStack) -> None:
    master = Master(1, files)
    worker = master.add()
    worker.tmp.close()

    assert not is_leaving(worker)


def test_install_turns_the_stock_master_into_a_replacing_one() -> None:
    class OtherArbiter(Arbiter):  # type: ignore[misc]  # gunicorn is untyped
        """A master of its own class."""

    stock = Arbiter.__new__(Arbiter)
    other = OtherArbiter.__new__(OtherArbiter)

    install(stock)
    install(other)

    assert type(stock) is ReplacingArbiter
    assert type(other) is not ReplacingArbiter


def test_the_gunicorn_config_installs_it_and_uses_the_draining_worker() -> None:
    stock = Arbiter.__new__(Arbiter)

    gunicorn_conf.when_ready(stock)

    assert type(stock) is ReplacingArbiter
    assert gunicorn_conf.worker_class == "gateway.serving.worker.GatewayWorker"


def test_the_container_config_installs_it_too() -> None:
    config = runpy.run_path(str(REPO_ROOT / "gateway" / "gunicorn.conf.py"))

    assert config["when_ready"] is gunicorn_conf.when_ready
    assert config["worker_class"] == "gateway.serving.worker.GatewayWorker"
