"""The in-memory table of API keys each worker verifies against, kept in step with the key file.

Verification hashes the presented key once (SHA-256) and compares the digest with **every** stored
digest using ``compare_digest``, with no early exit, so the time taken does not depend on which
key matched or how many leading bytes agreed. The table holds the keys of ``GATEWAY_API_KEYS``
(hashed at start) and of ``GATEWAY_KEYS_FILE``. The file is looked at (one ``stat``) at most once
per ``GATEWAY_KEYS_RELOAD_SECONDS`` on the request path and re-read only when its modification
time, size or inode changed, so an edit reaches every worker within about a second without a
restart; a broken edit is logged and the previous table stays in force.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from secrets import compare_digest

from gateway.access.keys import KeyRecord, KeyStoreError, read_key_file

log = logging.getLogger("gateway.keys")

ENV_KEY_PREFIX = "env-"
ANONYMOUS_ID = "anonymous"
_Signature = tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as the hot path needs it: identity, status, rights and limit overrides."""

    id: str
    name: str
    digest: bytes
    enabled: bool = True
    expires: float | None = None  # Unix time
    admin: bool = False
    models: frozenset[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None
    daily_tokens: int | None = None
    monthly_tokens: int | None = None
    daily_requests: int | None = None
    monthly_requests: int | None = None


def anonymous_key() -> ApiKey:
    """The identity of every request when auth is disabled: full rights, default limits."""
    return ApiKey(id=ANONYMOUS_ID, name=ANONYMOUS_ID, digest=b"", admin=True)


def _from_record(record: KeyRecord, normalise: Callable[[str], str]) -> ApiKey:
    models = None if record.models is None else frozenset(normalise(m) for m in record.models)
    return ApiKey(
        id=record.id,
        name=record.name,
        digest=bytes.fromhex(record.sha256),
        enabled=record.enabled,
        expires=None if record.expires is None else record.expires.timestamp(),
        admin=record.admin,
        models=models,
        rpm=record.rpm,
        tpm=record.tpm,
        max_concurrent=record.max_concurrent,
        daily_tokens=record.daily_tokens,
        monthly_tokens=record.monthly_tokens,
        daily_requests=record.daily_requests,
        monthly_requests=record.monthly_requests,
    )


def _from_plain(key: str) -> ApiKey:
    digest = hashlib.sha256(key.encode()).digest()
    key_id = ENV_KEY_PREFIX + digest.hex()[:10]
    return ApiKey(id=key_id, name=key_id, digest=digest)


def split_plain_keys(text: str) -> list[str]:
    """The keys of a comma-separated ``GATEWAY_API_KEYS`` value (blanks dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


class KeyTable:
    """All known keys of this worker; :meth:`lookup` is the constant-time check."""

    def __init__(
        self,
        *,
        plain_keys: Iterable[str] = (),
        path: Path | None = None,
        reload_seconds: float = 1.0,
        normalise_model: Callable[[str], str] = str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Load the keys now; an unreadable or invalid key file raises :class:`KeyStoreError`."""
        self._plain = [_from_plain(key) for key in plain_keys]
        self._path = path
        self._reload_seconds = reload_seconds
        self._normalise = normalise_model
        self._clock = clock
        self._next_check = clock() + reload_seconds
        self._signature: _Signature = self._stat()
        self._keys: tuple[ApiKey, ...] = self._build(path)

    def __len__(self) -> int:
        """How many keys (enabled or not) the table holds."""
        return len(self._keys)

    def lookup(self, presented: str) -> ApiKey | None:
        """The key whose digest equals that of ``presented``, compared against every key."""
        if self._path is not None and self._clock() >= self._next_check:
            self.refresh()
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for key in self._keys:
            if compare_digest(key.digest, digest):
                found = key
        return found

    def refresh(self) -> None:
        """Re-read the key file if it changed since the last look; keep the old table on error."""
        self._next_check = self._clock() + self._reload_seconds
        signature = self._stat()
        if signature == self._signature:
            return
        self._signature = signature
        try:
            self._keys = self._build(self._path)
        except KeyStoreError as exc:
            log.error("keys file not reloaded, the previous keys stay in force: %s", exc)
            return
        log.info("keys file reloaded", extra={"keys": len(self._keys)})

    def _stat(self) -> _Signature:
        if self._path is None:
            return None
        try:
            st = os.stat(self._path)
        except OSError:  # missing or unreadable: the read that follows says which
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _build(self, path: Path | None) -> tuple[ApiKey, ...]:
        records = read_key_file(path).keys if path is not None else []
        return (*(_from_record(r, self._normalise) for r in records), *self._plain)
