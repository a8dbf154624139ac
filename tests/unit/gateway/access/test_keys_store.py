"""The key-store file: key format, hashing, expiry parsing, atomic 0600 writes, validation."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.access.keys import (
    KeyFile,
    KeyStoreError,
    digest_of,
    generate_key,
    parse_expiry,
    read_key_file,
    write_key_file,
)
from tests.unit.gateway.access.ratelimit_support import key_record

NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


def test_generated_keys_are_sk_with_at_least_128_random_bits() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith("sk-")
        raw = base64.urlsafe_b64decode(key[3:] + "=" * (-len(key[3:]) % 4))
        assert len(raw) * 8 >= 128


def test_digest_is_hex_sha256_of_the_key() -> None:
    assert digest_of("sk-abc") == hashlib.sha256(b"sk-abc").hexdigest()


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_expiry_durations_count_from_now(text: str, delta: timedelta) -> None:
    assert parse_expiry(text, NOW) == NOW + delta


def test_expiry_dates_are_utc_unless_they_say_otherwise() -> None:
    assert parse_expiry("2026-01-31", NOW) == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_expiry("2026-01-31T10:00:00+02:00", NOW).utcoffset() == timedelta(hours=2)


def test_unreadable_expiry_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="30d"):
        parse_expiry("next tuesday", NOW)


def test_written_file_is_0600_holds_no_secret_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    secret = generate_key()
    store = KeyFile(keys=[key_record(secret, "alice", rpm=5, models=["gpt-oss:20b"])])
    write_key_file(path, store)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret not in path.read_text()
    assert read_key_file(path) == store
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"], "no temporary file left"


def test_rewrite_replaces_the_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, KeyFile())
    before = path.stat().st_ino
    write_key_file(path, KeyFile(keys=[key_record("sk-x", "bob")]))
    assert path.stat().st_ino != before, "a new file is renamed over the old one"
    assert [r.name for r in read_key_file(path).keys] == ["bob"]


def test_missing_file_is_an_empty_store(tmp_path: Path) -> None:
    assert read_key_file(tmp_path / "absent.json").keys == []


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ('{"keys": [{"id": "k", "name": "a"}]}', "keys.0.sha256"),
        ('{"keys": [], "extra": 1}', "extra"),
        ("not json", "the file"),
    ],
)
def test_invalid_file_names_the_problem(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(KeyStoreError, match=where.replace(".", r"\.")):
        read_key_file(path)


def test_unknown_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"version": 2, "keys": []}')
    with pytest.raises(KeyStoreError, match="version 2"):
        read_key_file(path)


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no-such-dir" / "keys.json"
    with pytest.raises(KeyStoreError, match="cannot write the keys file"):
        write_key_file(missing_dir, KeyFile())
