"""``gateway keys create|update|list|revoke|rotate``: manage the key store (``GATEWAY_KEYS_FILE``);
``gateway keys usage`` (:mod:`gateway.access.usage.report_cli`) reports the usage ledger.

A new key is printed once, alone on stdout (so ``KEY=$(gateway keys create --name ci)`` works);
everything else goes to stderr. Only the key's SHA-256 is stored. Running gateways pick up every
change within a couple of seconds, without a restart.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import orjson

from gateway.access.keys import (
    NAME_PATTERN,
    KeyFile,
    KeyRecord,
    KeyStoreError,
    digest_of,
    generate_key,
    locked,
    new_key_id,
    parse_expiry,
    read_key_file,
    utcnow,
    write_key_file,
)
from gateway.access.usage import report_cli
from gateway.settings import Settings

USAGE_ERROR = 2
BUDGET_FIELDS = ("daily_tokens", "monthly_tokens", "daily_requests", "monthly_requests")
LIMIT_FIELDS = ("rpm", "tpm", "max_concurrent", *BUDGET_FIELDS)


class CommandError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (no limit) or more")
    return value


def _name(text: str) -> str:
    if not re.fullmatch(NAME_PATTERN, text):
        raise argparse.ArgumentTypeError("use 1-64 letters, digits, '.', '_' or '-'")
    return text


def _models(text: str) -> list[str]:
    models = [part.strip() for part in text.split(",") if part.strip()]
    if not models:
        raise argparse.ArgumentTypeError("name at least one model, e.g. gpt-oss:20b")
    return models


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and its sub-commands to the ``gateway`` parser."""
    keys = commands.add_parser("keys", help="manage API keys (GATEWAY_KEYS_FILE)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", type=Path, help="key store (default: $GATEWAY_KEYS_FILE)")
    actions = keys.add_subparsers(dest="keys_command", required=True)

    create = actions.add_parser("create", parents=[common], help="create a key and print it once")
    create.add_argument(
        "--name", required=True, type=_name, help="label for logs and metrics, e.g. alice"
    )
    _add_limit_options(create)
    create.add_argument("--admin", action="store_true", help="may pull and delete models")
    create.set_defaults(handler=_run(_create))

    update = actions.add_parser(
        "update", parents=[common], help="change a key's limits, budgets, models or expiry"
    )
    update.add_argument("key", metavar="ID|NAME")
    _add_limit_options(update)
    update.set_defaults(handler=_run(_update))

    listing = actions.add_parser("list", parents=[common], help="list keys (never the secrets)")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_run(_list))

    revoke = actions.add_parser("revoke", parents=[common], help="disable a key at once")
    revoke.add_argument("key", metavar="ID|NAME")
    revoke.set_defaults(handler=_run(_revoke))

    rotate = actions.add_parser(
        "rotate", parents=[common], help="give a key a new secret (same limits)"
    )
    rotate.add_argument("key", metavar="ID|NAME")
    rotate.set_defaults(handler=_run(_rotate))
    report_cli.register(actions)


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    """The options ``create`` and ``update`` share: limits, budgets, models, expiry."""
    parser.add_argument("--rpm", type=_non_negative, help="requests per minute (0: no limit)")
    parser.add_argument("--tpm", type=_non_negative, help="tokens per minute (0: no limit)")
    parser.add_argument("--max-concurrent", type=_non_negative, help="requests in flight (0: any)")
    for period in ("daily", "monthly"):
        for unit in ("tokens", "requests"):
            parser.add_argument(
                f"--{period}-{unit}",
                type=_non_negative,
                help=f"{unit} per UTC {'day' if period == 'daily' else 'month'} (0: no budget)",
            )
    parser.add_argument("--models", type=_models, help="allowed models, comma-separated")
    parser.add_argument("--expires", help="lifetime (30d, 12h, 2w) or date (2026-01-31)")


def _run(action: Callable[[argparse.Namespace, Path], int]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        try:
            return action(args, _store_path(args))
        except (CommandError, KeyStoreError, ValueError) as exc:
            print(f"gateway keys: {exc}", file=sys.stderr)
            return USAGE_ERROR

    return handler


def _store_path(args: argparse.Namespace) -> Path:
    path: Path | None = args.file or Settings().keys_file
    if path is None:
        raise CommandError(
            "no key store: set GATEWAY_KEYS_FILE (e.g. /var/lib/gateway/keys.json) or pass --file"
        )
    return path


def _find(store: KeyFile, wanted: str) -> int:
    for index, record in enumerate(store.keys):
        if wanted in (record.id, record.name):
            return index
    raise CommandError(f"no key with id or name {wanted!r} (see `gateway keys list`)")


def _announce(secret: str, what: str) -> None:
    print(f"{what}. This is the only time the key is shown; store it now:", file=sys.stderr)
    print(secret)


def _create(args: argparse.Namespace, path: Path) -> int:
    now = utcnow()
    secret = generate_key()
    with locked(path):
        store = read_key_file(path)
        clash = next((r for r in store.keys if r.name == args.name), None)
        if clash is not None:
            raise CommandError(
                f"a key named {args.name!r} exists ({clash.id}); rotate it with "
                f"`gateway keys rotate {args.name}` or choose another name"
            )
        record = KeyRecord(
            id=new_key_id(),
            name=args.name,
            sha256=digest_of(secret),
            created=now,
            expires=_expiry(args.expires, now),
            admin=args.admin,
            models=args.models,
            **{name: getattr(args, name) for name in LIMIT_FIELDS},
        )
        store.keys.append(record)
        write_key_file(path, store)
    _announce(secret, f"created key {record.name!r} ({record.id}) in {path}")
    return 0


def _expiry(text: str | None, now: datetime) -> datetime | None:
    expires = parse_expiry(text, now) if text else None
    if expires is not None and expires <= now:
        raise CommandError(f"the expiry {text!r} is in the past")
    return expires


def _update(args: argparse.Namespace, path: Path) -> int:
    changes: dict[str, object] = {
        name: getattr(args, name) for name in LIMIT_FIELDS if getattr(args, name) is not None
    }
    if args.models is not None:
        changes["models"] = args.models
    if args.expires:
        changes["expires"] = _expiry(args.expires, utcnow())
    if not changes:
        raise CommandError("nothing to change: pass --daily-tokens, --rpm, --models, ...")
    with locked(path):
        store = read_key_file(path)
        index = _find(store, args.key)
        record = store.keys[index]
        store.keys[index] = KeyRecord.model_validate({**record.model_dump(), **changes})
        write_key_file(path, store)
    done = ", ".join(f"{name}={value}" for name, value in changes.items())
    print(
        f"updated key {record.name!r} ({record.id}): {done}; gateways apply it within seconds "
        "(the key itself is unchanged)",
        file=sys.stderr,
    )
    return 0


def _revoke(args: argparse.Namespace, path: Path) -> int:
    with locked(path):
        store = read_key_file(path)
        index = _find(store, args.key)
        record = store.keys[index]
        store.keys[index] = record.model_copy(update={"enabled": False})
        write_key_file(path, store)
    print(
        f"revoked key {record.name!r} ({record.id}); gateways refuse it within seconds",
        file=sys.stderr,
    )
    return 0


def _rotate(args: argparse.Namespace, path: Path) -> int:
    secret = generate_key()
    with locked(path):
        store = read_key_file(path)
        index = _find(store, args.key)
        record = store.keys[index]
        store.keys[index] = record.model_copy(update={"sha256": digest_of(secret), "enabled": True})
        write_key_file(path, store)
    _announce(
        secret, f"new secret for key {record.name!r} ({record.id}); the old one stops working"
    )
    return 0


def _limit(value: int | None) -> str:
    if value is None:
        return "default"
    return "none" if value == 0 else str(value)


def _budgets(record: KeyRecord) -> str:
    """The key's budgets in short (``200000tok/day,3000req/month``), ``none`` without any."""
    parts = [
        f"{value}{unit}/{period}"
        for value, unit, period in (
            (record.daily_tokens, "tok", "day"),
            (record.monthly_tokens, "tok", "month"),
            (record.daily_requests, "req", "day"),
            (record.monthly_requests, "req", "month"),
        )
        if value
    ]
    return ",".join(parts) or "none"


def _status(record: KeyRecord, now: datetime) -> str:
    if not record.enabled:
        return "revoked"
    return "expired" if record.expired(now) else "active"


def _list(args: argparse.Namespace, path: Path) -> int:
    store = read_key_file(path)
    now = utcnow()
    if args.json:
        rows = [
            {**record.model_dump(mode="json", exclude={"sha256"}), "status": _status(record, now)}
            for record in store.keys
        ]
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    header = ("ID", "NAME", "STATUS", "ADMIN", "RPM", "TPM", "CONC", "BUDGETS", "MODELS", "EXPIRES")
    rows_text = [header] + [
        (
            r.id,
            r.name,
            _status(r, now),
            "yes" if r.admin else "no",
            _limit(r.rpm),
            _limit(r.tpm),
            _limit(r.max_concurrent),
            _budgets(r),
            ",".join(r.models) if r.models is not None else "all",
            r.expires.strftime("%Y-%m-%d %H:%M") if r.expires else "never",
        )
        for r in store.keys
    ]
    widths = [max(len(row[i]) for row in rows_text) for i in range(len(header))]
    for row in rows_text:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if not store.keys:
        print(
            f"no keys in {path}; create one with `gateway keys create --name NAME`", file=sys.stderr
        )
    return 0
