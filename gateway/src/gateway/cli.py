"""The ``gateway`` command: ``gateway serve`` runs gunicorn + uvicorn workers outside Docker."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.access import keys_cli


def _serve(args: argparse.Namespace) -> int:
    """Run gunicorn with the packaged config; settings come from ``GATEWAY_*`` variables."""
    from gunicorn.app.wsgiapp import WSGIApplication

    argv = ["gunicorn", "-c", "python:gateway.gunicorn_conf", "--bind", f"{args.host}:{args.port}"]
    if args.workers is not None:
        argv += ["--workers", str(args.workers)]
    sys.argv = argv
    WSGIApplication("%(prog)s [OPTIONS]").run()
    return 0


def _takeover(args: argparse.Namespace) -> int:
    """Make this container's gateway the one nginx connects to (``make upgrade``, step 3)."""
    from gateway.serving import handoff

    if not args.socket_dir:
        print("gateway takeover: GATEWAY_SOCKET_DIR is not set (see README 'Upgrading')")
        return 2
    directory = Path(args.socket_dir)
    own = handoff.own_socket(directory)
    if not handoff.serves(own):
        print(f"gateway takeover: this gateway does not listen on {own}: nothing taken over")
        return 1
    link = handoff.publish(directory)
    print(f"gateway takeover: {link} -> {own.name}: new connections come here")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gateway`` command and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="gateway", description="OpenAI-compatible gateway for gpt-oss:20b on Ollama."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway (gunicorn + uvicorn workers)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers", type=int, default=None, help="worker processes (default $WEB_CONCURRENCY or 2)"
    )
    serve.set_defaults(handler=_serve)
    takeover = commands.add_parser(
        "takeover",
        help="point nginx's gateway socket at this gateway (make upgrade runs it in the new one)",
    )
    takeover.add_argument(
        "--socket-dir",
        default=os.environ.get("GATEWAY_SOCKET_DIR", ""),
        help="the socket directory shared with nginx (default $GATEWAY_SOCKET_DIR)",
    )
    takeover.set_defaults(handler=_takeover)
    keys_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script."""
    args = build_parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
