"""API keys: the key-store file format, key generation and hashing.

The key store is one JSON file (``GATEWAY_KEYS_FILE``) holding only SHA-256 digests, never keys::

    {
      "version": 1,
      "keys": [
        {
          "id": "key_5f0c9a3e21b7",           # stable identifier (rate-limit buckets, revoke)
          "name": "alice",                    # human label: logs and metric labels
          "sha256": "9f86d08...",             # hex SHA-256 of the key
          "created": "2025-01-31T12:00:00Z",
          "expires": null,                    # ISO 8601 UTC, or null for never
          "enabled": true,                    # false once revoked
          "admin": false,                     # may manage models (/api/pull, /api/delete, ...)
          "models": null,                     # allowed models, or null for every model
          "rpm": null,                        # requests/minute; null: GATEWAY_DEFAULT_RPM, 0: none
          "tpm": null,                        # tokens/minute; null: GATEWAY_DEFAULT_TPM, 0: none
          "max_concurrent": null,             # in flight; null: GATEWAY_DEFAULT_MAX_CONCURRENT
          "daily_tokens": null,               # budgets per UTC day / month; null or 0: none
          "monthly_tokens": null,             # (README "Usage and budgets")
          "daily_requests": null,
          "monthly_requests": null
        }
      ]
    }

The file is written by ``gateway keys`` (``gateway.access.keys_cli``) atomically (temporary file +
rename, mode 0600) and read by every gateway worker (``gateway.access.keytable``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

KEY_PREFIX = "sk-"
FORMAT_VERSION = 1
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class KeyStoreError(Exception):
    """The key store cannot be read or written; the message says why and what to do."""


class KeyRecord(BaseModel):
    """One API key as stored in the key file (its digest, never the key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    name: str = Field(pattern=NAME_PATTERN)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: datetime
    expires: datetime | None = None
    enabled: bool = True
    admin: bool = False
    models: list[str] | None = None
    rpm: int | None = Field(None, ge=0)
    tpm: int | None = Field(None, ge=0)
    max_concurrent: int | None = Field(None, ge=0)
    daily_tokens: int | None = Field(None, ge=0)
    monthly_tokens: int | None = Field(None, ge=0)
    daily_requests: int | None = Field(None, ge=0)
    monthly_requests: int | None = Field(None, ge=0)

    def expired(self, now: datetime) -> bool:
        """True when the key has an expiry and it has passed."""
        return self.expires is not None and self.expires <= now


class KeyFile(BaseModel):
    """The whole key-store file."""

    model_config = ConfigDict(extra="forbid")

    version: int = FORMAT_VERSION
    keys: list[KeyRecord] = Field(default_factory=list)


def generate_key() -> str:
    """A new secret key: ``sk-`` followed by 256 random bits (URL-safe base64)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest_of(key: str) -> str:
    """Hex SHA-256 of a key, the only form in which keys are stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_id() -> str:
    """A fresh, non-secret key identifier."""
    return "key_" + secrets.token_hex(6)


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC), to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def parse_expiry(text: str, now: datetime) -> datetime:
    """``30d``/``12h``/``90m``/``2w``/``45s`` from ``now``, or an ISO 8601 date or timestamp."""
    match = _DURATION.match(text.strip())
    if match:
        return now + timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"cannot read expiry {text!r}: use a duration like 30d, 12h, 2w or a date "
            "like 2026-01-31 (UTC)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_key_file(path: Path) -> KeyFile:
    """Parse and validate the key file; a missing file is an empty store."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return KeyFile()
    except OSError as exc:
        raise KeyStoreError(f"cannot read the keys file {path}: {exc.strerror}") from exc
    try:
        store = KeyFile.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise KeyStoreError(
            f"the keys file {path} is invalid at {where}: {first['msg']} "
            "(fix it or recreate it with `gateway keys create`)"
        ) from None
    if store.version != FORMAT_VERSION:
        raise KeyStoreError(f"the keys file {path} has version {store.version}, expected 1")
    return store


def write_key_file(path: Path, store: KeyFile) -> None:
    """Replace the key file atomically (temporary file in the same directory + rename), 0600."""
    data = store.model_dump_json(indent=2).encode() + b"\n"
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise KeyStoreError(
            f"cannot write the keys file {path}: {exc.strerror}. Is its directory writable "
            "(not mounted read-only)?"
        ) from exc
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock (``<file>.lock``) so that two ``gateway keys`` runs never race."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise KeyStoreError(
            f"cannot lock the keys file {path}: {exc.strerror}. Is its directory writable?"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
