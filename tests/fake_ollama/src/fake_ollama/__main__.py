"""``python -m fake_ollama [--host H] [--port P] [--<knob> VALUE ...]``.

Bind address: ``--host``/``--port``, else ``FAKE_OLLAMA_HOST``/``FAKE_OLLAMA_PORT``, else
``OLLAMA_HOST`` (``host:port``, like real Ollama), else ``127.0.0.1:11434``. Every knob of
:class:`fake_ollama.config.Settings` is also a flag and a ``FAKE_OLLAMA_*`` variable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from fake_ollama.config import ConfigError, add_arguments, settings_from_args, settings_from_env
from fake_ollama.hostport import parse_ollama_host
from fake_ollama.server import serve


def bind_address(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, int]:
    """Host and port from the flags, then the environment (see module docstring)."""
    host, port = parse_ollama_host(env.get("OLLAMA_HOST"))
    host = args.host or env.get("FAKE_OLLAMA_HOST") or host
    port_text = args.port or env.get("FAKE_OLLAMA_PORT")
    if port_text is not None:
        if not str(port_text).isdigit():
            raise ValueError(f"invalid port {port_text!r}: expected an integer 0-65535")
        port = int(port_text)
    return host, port


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags and environment, then serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="fake-ollama", description=__doc__)
    parser.add_argument("--host", default=None, help="bind host (default from OLLAMA_HOST)")
    parser.add_argument("--port", default=None, help="bind port (default from OLLAMA_HOST)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args, settings_from_env(os.environ))
        host, port = bind_address(args, os.environ)
    except (ConfigError, ValueError) as exc:
        parser.error(str(exc))
    return serve(settings, host, port)


if __name__ == "__main__":
    sys.exit(main())
