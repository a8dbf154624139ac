"""The `gptoss` command line: options, subcommands, exit codes, and errors without tracebacks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import TextIO

from rich.console import Console
from rich.text import Text

from .._client import Client
from .._config import DEFAULT_BASE_URL, DEFAULT_MODEL
from .._exceptions import APIError
from ._errors import print_error
from ._health import print_checks, run_checks
from ._oneshot import ask, error_document, list_models, read_prompt, write_json
from ._repl import EFFORTS, Conversation, Repl

ClientFactory = Callable[[argparse.Namespace], Client]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the timeout must be more than 0 seconds")
    return seconds


def _add_connection_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """Global options. Subcommands repeat them with SUPPRESS defaults, so both orders work."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--base-url",
        default=default,
        help=f"gateway URL, with or without /v1 (env GPTOSS_BASE_URL or OPENAI_BASE_URL; "
        f"default {DEFAULT_BASE_URL})",
    )
    group.add_argument(
        "--api-key", default=default, help="API key (env GPTOSS_API_KEY or OPENAI_API_KEY)"
    )
    group.add_argument(
        "--model", default=default, help=f"model (env GPTOSS_MODEL; default {DEFAULT_MODEL})"
    )
    group.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=default,
        metavar="SECONDS",
        help="how long to wait for an answer (default 600)",
    )


def _add_answer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--effort", choices=EFFORTS, help="reasoning effort")
    parser.add_argument("--system", metavar="TEXT", help="system prompt")
    parser.add_argument(
        "--show-reasoning", action="store_true", help="show the model's thinking, dimmed"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `gptoss`."""
    parser = argparse.ArgumentParser(
        prog="gptoss",
        description="Talk to a gpt-oss-20b API gateway from the terminal.",
    )
    _add_connection_options(parser, default=None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_connection_options(sub, default=argparse.SUPPRESS)
        return sub

    chat = command("chat", "interactive conversation with streamed answers")
    _add_answer_options(chat)

    ask_parser = command("ask", "ask one question (also reads piped stdin); exit 1 on error")
    ask_parser.add_argument("prompt", nargs="*", help="the question")
    _add_answer_options(ask_parser)
    ask_parser.add_argument("--max-tokens", type=int, metavar="N", help="limit the answer length")
    ask_parser.add_argument("--json", action="store_true", help="print the result as JSON")

    models = command("models", "list the models your key may use")
    models.add_argument("--json", action="store_true", help="print the list as JSON")

    command("health", "check the deployment end to end (exit 1 if any part fails)")
    return parser


def default_client(args: argparse.Namespace, *, max_retries: int = 2) -> Client:
    """A client configured from the options (unset ones fall back to the environment)."""
    return Client(
        base_url=args.base_url,
        api_key=args.api_key,
        model=args.model,
        timeout=args.timeout,
        max_retries=max_retries,
    )


def _run(args: argparse.Namespace, client: Client, stdin: TextIO) -> int:
    out, err = Console(), Console(stderr=True)
    as_json = bool(getattr(args, "json", False))
    try:
        if args.command == "chat":
            conversation = Conversation(system=args.system, effort=args.effort)
            repl = Repl(client, out, conversation=conversation, show_reasoning=args.show_reasoning)
            return repl.run()
        if args.command == "models":
            list_models(client, out, as_json=as_json)
            return EXIT_OK
        if args.command == "health":
            return EXIT_OK if print_checks(out, run_checks(client)) else EXIT_ERROR
        prompt = read_prompt(args.prompt, stdin)
        if not prompt:
            err.print('error: nothing to ask; give a question (gptoss ask "...") or pipe text in')
            return EXIT_USAGE
        ask(
            client,
            out,
            err,
            prompt=prompt,
            system=args.system,
            effort=args.effort,
            max_tokens=args.max_tokens,
            show_reasoning=args.show_reasoning,
            as_json=as_json,
        )
        return EXIT_OK
    except APIError as error:
        if as_json:
            write_json(out, error_document(error))
        print_error(err, error, client.config)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print(Text("interrupted", style="dim"))
        return EXIT_INTERRUPTED


def main(
    argv: Sequence[str] | None = None,
    *,
    client_factory: ClientFactory | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Entry point of the `gptoss` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    if client_factory is None:
        # `health` reports problems instead of waiting them out.
        retries = 0 if args.command == "health" else 2
        client_factory = partial(default_client, max_retries=retries)
    try:
        client = client_factory(args)
    except ValueError as exc:  # e.g. a base URL without http://
        Console(stderr=True).print(Text.assemble(("error: ", "bold red"), str(exc)))
        return EXIT_USAGE
    with client:
        return _run(args, client, stdin or sys.stdin)
