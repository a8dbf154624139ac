"""The in-memory key table: constant-time lookup, GATEWAY_API_KEYS, reloading the key file."""

from __future__ import annotations

import logging
import os
import secrets
from functools import partial
from pathlib import Path

import pytest

from gateway.access.keys import KeyStoreError
from gateway.access.keytable import KeyTable, split_plain_keys
from gateway.access.rights import normalise_model
from gateway.settings import Settings
from tests.support.clock import ManualClock
from tests.unit.gateway.access.ratelimit_support import key_record, write_keys


def test_every_stored_digest_is_compared_even_after_a_match(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, *(key_record(f"sk-file-{i}", f"k{i}") for i in range(5)))
    table = KeyTable(plain_keys=["sk-env-a", "sk-env-b"], path=path)
    calls: list[tuple[bytes, bytes]] = []

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return secrets.compare_digest(a, b)

    monkeypatch.setattr("gateway.access.keytable.compare_digest", spy)
    assert table.lookup("sk-wrong") is None
    assert len(calls) == 7, "a wrong key is compared with every stored digest"
    calls.clear()
    first = table.lookup("sk-file-0")
    assert first is not None
    assert first.name == "k0"
    assert len(calls) == 7, "no early exit after the first (matching) digest"
    assert all(len(a) == len(b) == 32 for a, b in calls), "digests, never raw keys, are compared"


def test_plain_keys_get_stable_non_secret_ids() -> None:
    assert split_plain_keys(" sk-a, ,sk-b ,") == ["sk-a", "sk-b"]
    table = KeyTable(plain_keys=["sk-a", "sk-b"])
    a, b = table.lookup("sk-a"), table.lookup("sk-b")
    assert a is not None
    assert b is not None
    assert a.id.startswith("env-")
    assert a.id != b.id
    assert "sk-a" not in a.id
    assert a.name == a.id
    assert not a.admin
    assert a.models is None
    assert KeyTable(plain_keys=["sk-a"]).lookup("sk-a") == a, "same key, same id (same bucket)"


def test_records_carry_rights_and_limits(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    settings = Settings(model_aliases={"gpt-oss-20b": "gpt-oss:20b", "big": "gpt-oss:120b"})
    write_keys(
        path,
        key_record(
            "sk-1",
            "alice",
            admin=True,
            models=["gpt-oss-20b", "big", "qwen3"],
            rpm=3,
            tpm=0,
            max_concurrent=1,
            enabled=False,
        ),
    )
    table = KeyTable(path=path, normalise_model=partial(normalise_model, settings))
    key = table.lookup("sk-1")
    assert key is not None
    assert key.models == frozenset({"gpt-oss:20b", "gpt-oss:120b", "qwen3:latest"})
    assert (key.admin, key.enabled, key.rpm, key.tpm, key.max_concurrent) == (
        True,
        False,
        3,
        0,
        1,
    )


def test_edits_are_seen_after_the_reload_interval_without_a_stat_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, key_record("sk-old", "old"))
    clock = ManualClock()
    table = KeyTable(path=path, reload_seconds=1.0, clock=clock)
    stats: list[Path] = []
    real_stat = os.stat

    def counting_stat(target: Path) -> os.stat_result:
        stats.append(target)
        return real_stat(target)

    monkeypatch.setattr("gateway.access.keytable.os.stat", counting_stat)
    write_keys(path, key_record("sk-new", "new"))
    for _ in range(50):
        assert table.lookup("sk-old") is not None, "within the interval the table stands"
    assert stats == [], "no stat on the request path before the interval is over"
    clock.now += 1.0
    assert table.lookup("sk-new") is not None
    assert table.lookup("sk-old") is None
    assert len(stats) == 1


def test_unchanged_file_is_not_re_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, key_record("sk-1", "one"))
    clock = ManualClock()
    table = KeyTable(path=path, clock=clock)
    reads: list[Path] = []
    monkeypatch.setattr("gateway.access.keytable.read_key_file", reads.append)
    clock.now += 5
    assert table.lookup("sk-1") is not None
    assert reads == []


def test_broken_edit_keeps_the_previous_keys_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, key_record("sk-1", "one"))
    clock = ManualClock()
    table = KeyTable(path=path, clock=clock)
    path.write_text('{"keys": [{"broken": true}]}')
    clock.now += 2
    with caplog.at_level(logging.ERROR, logger="gateway.keys"):
        assert table.lookup("sk-1") is not None
    assert "previous keys stay in force" in caplog.text
    write_keys(path, key_record("sk-2", "two"))
    clock.now += 2
    assert table.lookup("sk-2") is not None
    assert table.lookup("sk-1") is None


def test_deleted_file_means_no_file_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, key_record("sk-1", "one"))
    clock = ManualClock()
    table = KeyTable(plain_keys=["sk-env"], path=path, clock=clock)
    path.unlink()
    clock.now += 2
    assert table.lookup("sk-1") is None
    assert table.lookup("sk-env") is not None
    assert len(table) == 1


def test_invalid_file_at_start_raises(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("[]")
    with pytest.raises(KeyStoreError):
        KeyTable(path=path)
