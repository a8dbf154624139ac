"""``gateway keys usage``: the ledger as a table, JSON or CSV, for the operator.

Reads the Redis the gateways charge (``--redis``, default ``$GATEWAY_RATELIMIT_STORAGE``): one
row per day, key and model from ``--since`` to ``--until`` (UTC days, default this month so
far), optionally only one key (id or name) or model, and a TOTAL row.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import orjson

from gateway.access.usage.ledger import Ledger, Usage, UsageUnavailable, day_of, total
from gateway.access.usage.meter import utc_now
from gateway.access.usage.redis_store import RedisUsageStore
from gateway.settings import Settings

HEADER = (
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
)
MAX_DAYS = 3_660
CLI_TIMEOUT = 10.0
_DAYS_AGO = re.compile(r"^(\d+)d$")
Row = tuple[date, str, str, str, Usage]


class ReportError(Exception):
    """A problem the operator can fix; printed without a traceback."""


def parse_day(text: str) -> date:
    """``2026-12-01``, ``today``, ``yesterday`` or ``7d`` (seven days ago), in UTC."""
    today = day_of(utc_now())
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    if text in named:
        return named[text]
    if match := _DAYS_AGO.match(text):
        return today - timedelta(days=int(match.group(1)))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a day: use YYYY-MM-DD, today, yesterday or Nd (N days ago)"
        ) from None


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``usage`` to the ``gateway keys`` sub-commands."""
    usage = actions.add_parser("usage", help="usage per day, key and model (from Redis)")
    usage.add_argument("--since", type=parse_day, help="first UTC day (default: the 1st)")
    usage.add_argument("--until", type=parse_day, help="last UTC day (default: today)")
    usage.add_argument("--key", help="only this key (id or name)")
    usage.add_argument("--model", help="only this model (e.g. gpt-oss:20b)")
    output = usage.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON rows instead of a table")
    output.add_argument("--csv", action="store_true", help="CSV instead of a table")
    usage.add_argument("--redis", help="Redis URL (default: $GATEWAY_RATELIMIT_STORAGE)")
    usage.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``gateway keys usage`` handler."""
    try:
        rows = asyncio.run(_rows(args))
    except (ReportError, UsageUnavailable) as exc:
        print(f"gateway keys usage: {exc}", file=sys.stderr)
        return 2
    render: Callable[[Sequence[Row]], None] = (
        _print_json if args.json else _print_csv if args.csv else _print_table
    )
    render(rows)
    if not rows:
        print("no usage recorded for these days, keys and models", file=sys.stderr)
    return 0


def _redis_url(args: argparse.Namespace) -> str:
    url: str = args.redis or Settings().ratelimit_storage
    if url.startswith("memory://"):
        raise ReportError(
            "the ledger is in Redis only when GATEWAY_RATELIMIT_STORAGE is redis://...: pass "
            "--redis redis://host:6379/0 (a memory:// ledger lives inside each gateway worker; "
            "see GET /v1/me)"
        )
    return url


async def _rows(args: argparse.Namespace) -> list[Row]:
    today = day_of(utc_now())
    until: date = args.until or today
    since: date = args.since or until.replace(day=1)
    if since > until:
        raise ReportError(f"--since {since} is after --until {until}")
    if (until - since).days > MAX_DAYS:
        raise ReportError(f"ask for at most {MAX_DAYS} days at a time")
    store = RedisUsageStore(_redis_url(args), timeout=CLI_TIMEOUT)
    try:
        days = await Ledger(store, retention_days=1).days(since, until)
    finally:
        await store.aclose()
    return [
        (day, name, key_id, model, usage)
        for day, key_id, name, models in days
        if args.key in (None, key_id, name)
        for model, usage in models.items()
        if args.model in (None, model)
    ]


def _cells(usage: Usage) -> list[int]:
    return [
        usage.requests,
        usage.prompt,
        usage.completion,
        usage.reasoning,
        usage.total,
        usage.errors,
    ]


def _print_table(rows: Sequence[Row]) -> None:
    lines = [list(HEADER)]
    lines += [[str(d), n, i, m, *map(str, _cells(u))] for d, n, i, m, u in rows]
    lines.append(["TOTAL", "", "", "", *map(str, _cells(total(r[4] for r in rows)))])
    widths = [max(len(line[col]) for line in lines) for col in range(len(HEADER))]
    for line in lines:
        cells = [
            cell.rjust(width) if col >= 4 else cell.ljust(width)
            for col, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _print_csv(rows: Sequence[Row]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([name.lower() for name in HEADER])
    writer.writerows([str(d), n, i, m, *_cells(u)] for d, n, i, m, u in rows)


def _print_json(rows: Sequence[Row]) -> None:
    payload = [
        {
            "day": str(d),
            "key": n,
            "id": i,
            "model": m,
            **dict(zip([h.lower() for h in HEADER[4:]], _cells(u), strict=True)),
        }
        for d, n, i, m, u in rows
    ]
    print(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
