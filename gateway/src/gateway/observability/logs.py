"""Structured JSON logging: one object per line, aware timestamps, request ids, no secrets."""

from __future__ import annotations

import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.context import current_request

_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{6})[A-Za-z0-9_\-]+|(Bearer\s+)\S+", re.IGNORECASE)
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",
}


def redact(text: str) -> str:
    """Mask anything that looks like an API key or a bearer token."""
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "…", text)


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; ``extra=`` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise ``record`` (message redacted, request id attached when there is one)."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        ctx = current_request()
        if ctx is not None and "request_id" not in record.__dict__:
            entry["request_id"] = ctx.request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict sending gateway, gunicorn and uvicorn logs as JSON."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "gateway": {"level": level, "propagate": True},
            "uvicorn.access": {"level": "WARNING", "propagate": True},
            "uvicorn.error": {"level": "INFO", "propagate": True},
            "gunicorn.error": {"level": "INFO", "propagate": True},
            "gunicorn.access": {"level": "WARNING", "propagate": True},
            "httpx": {"level": "WARNING", "propagate": True},
        },
    }


def configure_logging(level: str) -> None:
    """Install the JSON configuration for this process."""
    logging.config.dictConfig(logging_config(level))
