"""The gunicorn workers inside the gateway container: pids, resident memory, requests in flight.

Read by one ``docker exec`` of a short Python script in the container: the workers are the
children of the gunicorn master (PID 1), their resident set comes from ``/proc/<pid>/status``
and the requests each one is serving from its own file of the multiprocess in-flight gauge
(``gauge_livesum_<pid>.db`` in ``PROMETHEUS_MULTIPROC_DIR``), read with prometheus-client's own
reader. That tells a test which worker serves which share of the streams in flight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tests.e2e.stack import Stack

IN_FLIGHT = "gateway_http_requests_in_flight"
PROBE = f"""
import json, os
from prometheus_client.mmap_dict import MmapedDict
with open("/proc/1/task/1/children") as children:
    pids = [int(pid) for pid in children.read().split()]
workers = {{}}
for pid in pids:
    try:
        with open(f"/proc/{{pid}}/status") as status:
            rss = next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        continue  # exited meanwhile
    in_flight = 0.0
    path = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"gauge_livesum_{{pid}}.db")
    if os.path.exists(path):
        for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(path):
            if json.loads(key)[1] == "{IN_FLIGHT}":
                in_flight += value
    workers[pid] = {{"rss_kb": rss, "in_flight": in_flight}}
print(json.dumps(workers))
"""


@dataclass(frozen=True)
class Worker:
    """One gunicorn worker process as seen at one moment."""

    pid: int
    rss_kb: int
    in_flight: int


def workers(stack: Stack) -> dict[int, Worker]:
    """The gateway's gunicorn workers right now, by pid (inside the container's pid namespace)."""
    raw = json.loads(stack.exec("gateway", "python", "-c", PROBE).stdout)
    return {
        int(pid): Worker(int(pid), int(seen["rss_kb"]), round(seen["in_flight"]))
        for pid, seen in raw.items()
    }


def kill_worker(stack: Stack, pid: int) -> None:
    """``kill -9`` one worker from inside the container (the master then forks a new one)."""
    stack.exec("gateway", "sh", "-c", f"kill -9 {int(pid)}")
