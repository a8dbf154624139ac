"""Through nginx, under continuous keep-alive load: gateway workers recycled every 500 requests, a
``SIGHUP`` reload of gunicorn, and ``make upgrade`` (a new gateway container takes over) fail no
request; streams in flight finish; nginx retries only what the gateway never received, so no
generation runs twice.

One stack of its own (module scope): gunicorn recycles workers every 500 (+0..50) requests, the
key has no limits, and the fake Ollama answers quickly (its knobs are set at run time) so that
recycling happens within seconds. The load (``tests/support/load.py``) is 8 clients with one
keep-alive connection each, sending chats and streams back to back and retrying nothing; the fake
Ollama's request log tells how often each request's generation ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.stack import REPO_ROOT, Stack, StackSettings, build_fake_ollama_image, wait_until
from tests.support.load import Load, LoadResult, running_load

pytestmark = pytest.mark.e2e

MAX_REQUESTS = 500
# A wait for something that should happen within seconds, on a busy 2-core machine.
DEADLINE = 300.0
HISTORY = 200_000
LOAD_CLIENTS = 8
ROLLOUT = REPO_ROOT / "gateway" / "rollout.sh"
SLOW_MODEL = "fault-slow"  # the fake's `slow` fault: a long stream that still ends

FAKE_ADMIN = """
import json, sys, urllib.request
method, path, body = sys.argv[1], sys.argv[2], sys.argv[3]
data = body.encode() if body else None
request = urllib.request.Request("http://127.0.0.1:11434" + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(request, timeout=60))
if path.startswith("/_fake/requests"):
    ids = {}
    for record in answer["requests"]:
        rid = record.get("request_id") or ""
        ids[rid] = ids.get(rid, 0) + 1
    answer = ids
print(json.dumps(answer))
"""


def fake_admin(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the fake Ollama's ``/_fake/`` API from inside its container (it is not published).

    ``/_fake/requests`` comes back as ``{request_id: how many records}``.
    """
    payload = json.dumps(body) if body is not None else ""
    done = stack.run("exec", "-T", "ollama", "python", "-c", FAKE_ADMIN, method, path, payload)
    return json.loads(done.stdout)


def generations(stack: Stack) -> Counter[str]:
    """How many times the fake Ollama ran a chat for each request id."""
    return Counter(fake_admin(stack, "GET", "/_fake/requests?path=/api/chat"))


def worker_pids(stack: Stack) -> set[int]:
    """The gunicorn workers of the (current) gateway container: the master's children."""
    done = stack.run("exec", "-T", "gateway", "cat", "/proc/1/task/1/children")
    return {int(pid) for pid in done.stdout.split()}


def gateway_containers(stack: Stack) -> list[str]:
    """The ids of the gateway service's containers."""
    return stack.run("ps", "-q", "gateway").stdout.split()


def assert_no_generation_ran_twice(stack: Stack, result: LoadResult) -> None:
    """Every answered request reached Ollama exactly once; no request reached it twice."""
    seen = generations(stack)
    twice = {rid: seen[rid] for rid in result.request_ids if seen[rid] > 1}
    assert not twice, f"generations ran more than once: {twice}"
    missing = [rid for rid in result.answered_chat_ids if seen[rid] != 1]
    assert not missing, f"answered without reaching Ollama once: {missing[:5]}"


def wait_while_loaded(what: str, check: Any, load: Load) -> None:
    """Poll ``check()`` until true while the load runs; fail after DEADLINE saying how it went."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE:g} s: {what}; {load.result.summary()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def busy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own whose gateway recycles workers every 500 requests, without limits."""
    build_fake_ollama_image()
    settings = StackSettings(pull_seconds=0.5)
    env_file = settings.write_env_file(tmp_path_factory.mktemp("busy") / "e2e.env")
    with env_file.open("a") as extra:
        extra.write(
            f"GUNICORN_MAX_REQUESTS={MAX_REQUESTS}\n"
            f"GUNICORN_MAX_REQUESTS_JITTER={MAX_REQUESTS // 10}\n"
            "GATEWAY_DEFAULT_RPM=0\nGATEWAY_DEFAULT_TPM=0\nGATEWAY_DEFAULT_MAX_CONCURRENT=0\n"
        )
    stack = Stack(settings, env_file)
    try:
        stack.start()
    except subprocess.CalledProcessError as exc:
        logs = stack.logs()
        stack.stop()
        pytest.fail(f"the stack did not come up: {exc.stderr.decode(errors='replace')}\n{logs}")
    try:
        wait_until(
            lambda: True if _chat(stack).status_code == 200 else None,
            timeout=120,
            what="the first chat (model pulled)",
        )
        fake_admin(
            stack,
            "POST",
            "/_fake/config",
            {
                "history": HISTORY,
                "token_delay": 0.002,
                "slow_tokens": 300,
                "slow_token_delay": 0.1,
            },
        )
        yield stack
    finally:
        stack.stop()


def _chat(stack: Stack, model: str | None = None, timeout: float = 60) -> httpx.Response:
    body = {
        "model": model or stack.settings.model,
        "messages": [{"role": "user", "content": "ping"}],
    }
    try:
        return httpx.post(
            f"{stack.base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {stack.settings.api_key}"},
            timeout=timeout,
        )
    except httpx.TransportError as exc:
        return httpx.Response(599, text=repr(exc))


def test_recycling_every_500_requests_fails_no_request(busy_stack: Stack) -> None:
    first = worker_pids(busy_stack)
    seen = set(first)

    def both_workers_recycled() -> bool:
        now = worker_pids(busy_stack)
        seen.update(now)
        return len(seen) >= len(first) + 2 and not first & now

    with running_load(
        busy_stack.base_url, busy_stack.settings.api_key, clients=LOAD_CLIENTS
    ) as load:
        wait_while_loaded("both workers to be recycled", both_workers_recycled, load)
        load.wait_for_answers(20, timeout=DEADLINE)
    result = load.result

    assert result.failed == 0, result.summary()
    assert result.sent >= MAX_REQUESTS * 2
    assert result.streams_answered > 0
    assert_no_generation_ran_twice(busy_stack, result)


def test_sighup_reload_of_gunicorn_fails_no_request(busy_stack: Stack) -> None:
    with running_load(
        busy_stack.base_url, busy_stack.settings.api_key, clients=LOAD_CLIENTS
    ) as load:
        load.wait_for_answers(50, timeout=DEADLINE)
        old = worker_pids(busy_stack)

        busy_stack.run("kill", "-s", "HUP", "gateway")
        wait_while_loaded(
            "the workers from before the reload to leave",
            lambda: not old & worker_pids(busy_stack),
            load,
        )
        load.wait_for_answers(50, timeout=DEADLINE)
    result = load.result

    assert result.failed == 0, result.summary()
    assert_no_generation_ran_twice(busy_stack, result)


class LongStream(threading.Thread):
    """A long streamed chat (the fake's ``slow`` fault) through nginx, read to its end."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.first_chunk = threading.Event()
        self.text = ""
        self.error: httpx.HTTPError | None = None
        self.ended: float | None = None

    def run(self) -> None:
        body = {
            "model": SLOW_MODEL,
            "messages": [{"role": "user", "content": "a long answer"}],
            "stream": True,
        }
        headers = {"Authorization": f"Bearer {self.stack.settings.api_key}"}
        try:
            with httpx.stream(
                "POST",
                f"{self.stack.base_url}/v1/chat/completions",
                json=body,
                headers=headers,
                timeout=DEADLINE,
            ) as response:
                for chunk in response.iter_text():
                    self.text += chunk
                    self.first_chunk.set()
        except httpx.HTTPError as exc:  # reported by the test
            self.error = exc
        finally:
            self.ended = time.monotonic()
            self.first_chunk.set()


def rollout_env(stack: Stack) -> dict[str, str]:
    """The environment of gateway/rollout.sh for the test's compose project."""
    return {**os.environ, "COMPOSE": " ".join(stack.compose.compose_command_property)}


def rollout(stack: Stack, step: str = "all") -> subprocess.CompletedProcess[str]:
    """``make upgrade``'s procedure (gateway/rollout.sh ``step``) on the test's compose project."""
    return subprocess.run(
        [str(ROLLOUT), step],
        cwd=REPO_ROOT,
        env=rollout_env(stack),
        capture_output=True,
        text=True,
        timeout=DEADLINE * 2,
        check=False,
    )


def rollout_finish(stack: Stack) -> tuple[int, str, float | None]:
    """``rollout.sh finish``: exit status, its log, and when it began to stop the old container."""
    lines: list[str] = []
    stopping: float | None = None
    with subprocess.Popen(
        [str(ROLLOUT), "finish"],
        cwd=REPO_ROOT,
        env=rollout_env(stack),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:  # ends when the script exits (every wait in it is bounded)
            lines.append(line)
            if "stopping the old container" in line:
                stopping = time.monotonic()
        status = process.wait(timeout=DEADLINE)
    return status, "".join(lines), stopping


def test_upgrade_during_load_fails_no_request_and_streams_in_flight_finish(
    busy_stack: Stack,
) -> None:
    # `make upgrade` is `rollout.sh prepare` (new container up and healthy) then `finish`
    # (takeover, old container stopped and removed). The long streams (30 s) start in between, on
    # the old container, so that they are still running when it is told to stop.
    old_container = gateway_containers(busy_stack)
    with running_load(
        busy_stack.base_url, busy_stack.settings.api_key, clients=LOAD_CLIENTS
    ) as load:
        load.wait_for_answers(50, timeout=DEADLINE)
        prepared = rollout(busy_stack, "prepare")
        assert prepared.returncode == 0, prepared.stderr
        assert len(gateway_containers(busy_stack)) == 2
        streams = [LongStream(busy_stack) for _ in range(2)]
        for stream in streams:
            stream.start()
        for stream in streams:
            assert stream.first_chunk.wait(DEADLINE)

        status, log, stopping = rollout_finish(busy_stack)
        assert status == 0, log
        load.wait_for_answers(50, timeout=DEADLINE)
        for stream in streams:
            stream.join(DEADLINE)
    result = load.result

    assert result.failed == 0, result.summary()
    assert stopping is not None, log
    for stream in streams:
        assert stream.error is None, stream.error
        assert stream.text.rstrip().endswith("data: [DONE]"), stream.text[-300:]
        assert stream.ended is not None
        assert stream.ended > stopping, "the stream ended before the old container was stopped"
    new_container = gateway_containers(busy_stack)
    assert len(new_container) == 1
    assert new_container != old_container
    assert_no_generation_ran_twice(busy_stack, result)


def test_nginx_never_sends_a_post_the_gateway_received_again(busy_stack: Stack) -> None:
    # The gateway's workers die under a chat they received (a crash mid-request). nginx's upstream
    # connection was a kept-alive one (the same client connection sent chats just before), the case
    # in which nginx would try again on a fresh connection if POSTs were retried (non_idempotent):
    # it answers 502 instead, and the generation ran exactly once.
    request_id = f"killed-{time.monotonic_ns()}"
    headers = {"Authorization": f"Bearer {busy_stack.settings.api_key}"}
    with httpx.Client(base_url=busy_stack.base_url, headers=headers, timeout=DEADLINE) as client:
        body = {"model": busy_stack.settings.model, "messages": [{"role": "user", "content": "x"}]}
        for _ in range(3):
            assert client.post("/v1/chat/completions", json=body).status_code == 200
        killer = threading.Thread(
            target=_kill_workers_once_generating, args=(busy_stack, worker_pids(busy_stack))
        )
        killer.start()
        answer = client.post(
            "/v1/chat/completions",
            json={**body, "model": SLOW_MODEL},
            headers={"X-Request-ID": request_id},
        )
        killer.join(DEADLINE)

    assert answer.status_code == 502, answer.text
    assert generations(busy_stack)[request_id] == 1


def test_nginx_retries_only_what_the_gateway_never_received() -> None:
    directives = {
        line.split()[0]: line.split()[1:]
        for line in (REPO_ROOT / "nginx" / "gptoss" / "proxy.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    assert directives["proxy_next_upstream"] == ["error", "timeout;"]  # never non_idempotent


def _kill_workers_once_generating(stack: Stack, workers: set[int]) -> None:
    """SIGKILL the gateway's workers once the fake Ollama is generating (a crash mid-request)."""

    def generating() -> bool | None:
        stats = fake_admin(stack, "GET", "/_fake/requests?path=/api/chat&limit=1")
        return True if any(rid.startswith("killed-") for rid in stats) else None

    wait_until(generating, timeout=DEADLINE, what="the slow generation to start")
    kill = "import os, signal, sys; [os.kill(int(p), signal.SIGKILL) for p in sys.argv[1:]]"
    stack.run("exec", "-T", "gateway", "python", "-c", kill, *map(str, workers))


def test_the_rollout_script_refuses_to_run_twice_at_once(busy_stack: Stack) -> None:
    # A second gateway container (a rollout under way): the script stops before touching anything.
    before = set(gateway_containers(busy_stack))
    scale = ["up", "-d", "--no-deps", "--no-recreate", "--no-build", "--scale", "gateway=2"]
    busy_stack.run(*scale, "gateway")
    try:
        done = rollout(busy_stack)
    finally:
        extra = set(gateway_containers(busy_stack)) - before
        subprocess.run(["docker", "rm", "-f", *extra], capture_output=True, check=False)

    assert done.returncode == 1
    assert "more than one gateway container" in done.stderr
    assert set(gateway_containers(busy_stack)) == before
