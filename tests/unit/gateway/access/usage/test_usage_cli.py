"""`gateway keys create/update` with budgets, and `gateway keys usage` reading the ledger that a
real gateway on Redis wrote."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from gateway.access.keys import read_key_file
from gateway.cli import main
from tests.support.waiting import wait_until
from tests.unit.gateway.access.ratelimit_support import (
    RedisServer,
    key_record,
    running_redis,
    write_keys,
)
from tests.unit.gateway.access.usage.usage_support import chat, secret

MODEL = "gpt-oss:20b"
BUDGET_FLAGS = ["--daily-tokens=1000", "--monthly-tokens=20000", "--daily-requests=50"]


@pytest.fixture
def keys_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GATEWAY_KEYS_FILE pointing into a fresh temporary directory."""
    path = tmp_path / "keys.json"
    monkeypatch.setenv("GATEWAY_KEYS_FILE", str(path))
    return path


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """The redis-server of the module's gateways."""
    with running_redis() as server:
        yield server


def test_create_stores_budgets_and_update_changes_them_without_a_new_key(
    keys_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--name", "alice", *BUDGET_FLAGS]) == 0
    (created,) = read_key_file(keys_file).keys
    budgets = (created.daily_tokens, created.monthly_tokens, created.daily_requests)
    assert budgets == (1000, 20000, 50)
    assert created.monthly_requests is None
    capsys.readouterr()
    assert main(["keys", "update", "alice", "--daily-tokens", "0", "--monthly-requests=9"]) == 0
    (updated,) = read_key_file(keys_file).keys
    assert (updated.daily_tokens, updated.monthly_requests) == (0, 9)
    assert updated.monthly_tokens == 20000, "what is not named stays"
    assert (updated.id, updated.sha256) == (created.id, created.sha256), "same key, no re-issue"
    output = capsys.readouterr()
    assert output.out == "", "no secret printed"
    assert "monthly_requests=9" in output.err
    assert main(["keys", "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert "BUDGETS" in header.split()
    assert "20000tok/month,50req/day,9req/month" in row.split()


def test_update_says_what_is_wrong(keys_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--name", "alice"]) == 0
    capsys.readouterr()
    assert main(["keys", "update", "alice"]) == 2
    assert "nothing to change" in capsys.readouterr().err
    assert main(["keys", "update", "carol", "--rpm", "5"]) == 2
    assert "no key with id or name 'carol'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["keys", "update", "alice", "--daily-tokens", "-5"])
    assert "must be 0 (no limit) or more" in capsys.readouterr().err


def test_a_budget_set_on_a_running_gateway_applies_within_seconds(
    gateway_factory: Callable[..., str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, key_record(secret("alice"), "alice"))
    url = gateway_factory(api_keys="", keys_file=path)
    assert chat(url, "alice").status_code == 200
    assert main(["keys", "update", "alice", "--daily-requests", "1", "--file", str(path)]) == 0
    refused = wait_until(lambda: chat(url, "alice").status_code == 429, "the new budget applied")
    assert refused


@pytest.fixture(scope="module")
def charged(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """A gateway on Redis that served alice 2 chats and bob 1 (plus one 404); their usage."""
    from fake_ollama.testing import FakeOllamaProcess
    from tests.support.servers import running_gateway

    redis.Redis.from_url(redis_server.url).flushall()
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    write_keys(path, key_record(secret("alice"), "alice"), key_record(secret("bob"), "bob"))
    with (
        FakeOllamaProcess() as fake,
        running_gateway(
            ollama_url=fake.url,
            api_keys="",
            keys_file=path,
            ratelimit_storage=redis_server.url,
            log_level="WARNING",
        ) as url,
    ):
        totals = {"alice": 0, "bob": 0}
        for name in ("alice", "alice", "bob"):
            reply = chat(url, name)
            assert reply.status_code == 200
            totals[name] += reply.json()["usage"]["total_tokens"]
        assert chat(url, "bob", model="no-such-model").status_code == 404
        yield totals


def usage(capsys: pytest.CaptureFixture[str], redis_url: str, *args: str) -> str:
    """Run `gateway keys usage --redis URL ...`; its stdout."""
    capsys.readouterr()
    assert main(["keys", "usage", "--redis", redis_url, *args]) == 0
    return capsys.readouterr().out


def test_the_table_has_a_row_per_day_key_and_model_and_a_total(
    charged: dict[str, int], redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    table = usage(capsys, redis_server.url).splitlines()
    print("\n".join(table))  # the sample in README "Usage and budgets"
    day = datetime.now(UTC).date().isoformat()
    assert table[0].split() == [
        "DAY",
        "KEY",
        "ID",
        "MODEL",
        "REQUESTS",
        "PROMPT",
        "COMPLETION",
        "REASONING",
        "TOTAL",
        "ERRORS",
    ]
    rows = [line.split() for line in table[1:-1]]
    assert [row[:5] for row in rows] == [
        [day, "alice", "key_alice", MODEL, "2"],
        [day, "bob", "key_bob", MODEL, "1"],
        [day, "bob", "key_bob", "other", "1"],
    ]
    assert [int(row[8]) for row in rows[:2]] == [charged["alice"], charged["bob"]]
    assert rows[2][9] == "1", "the 404 is an error"
    total = table[-1].split()
    assert total[0] == "TOTAL"
    assert total[1] == "4"
    assert int(total[5]) == charged["alice"] + charged["bob"]


def test_json_and_csv_filtered_by_key_and_model(
    charged: dict[str, int], redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = json.loads(usage(capsys, redis_server.url, "--json", "--key", "bob", "--model", MODEL))
    assert len(rows) == 1
    assert (rows[0]["key"], rows[0]["model"], rows[0]["requests"]) == ("bob", MODEL, 1)
    assert rows[0]["total"] == charged["bob"]
    table = usage(capsys, redis_server.url, "--csv", "--key", "key_alice", "--since", "7d")
    parsed = list(csv.DictReader(io.StringIO(table)))
    assert [(r["key"], r["model"], r["requests"]) for r in parsed] == [("alice", MODEL, "2")]


def test_days_without_usage_print_just_the_total(
    charged: dict[str, int], redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "usage", "--redis", redis_server.url, "--until", "2001-01-31"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].split()[:2] == ["TOTAL", "0"]
    assert "no usage recorded" in err


def test_usage_explains_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "usage", "--redis", "memory://"]) == 2
    assert "the ledger is in Redis only" in capsys.readouterr().err
    args = ["keys", "usage", "--redis", "redis://127.0.0.1:1/0"]
    assert main([*args, "--since", "2026-02-01", "--until", "2026-01-01"]) == 2
    assert "is after --until" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--since", "last tuesday"])
    assert "is not a day" in capsys.readouterr().err
    assert main(args) == 2
    assert "ConnectionError" in capsys.readouterr().err, "a dead Redis is named, no traceback"
