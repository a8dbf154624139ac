"""Parse ``OLLAMA_HOST`` the way Ollama does (stdlib only: the ``ollama`` shim imports it).

Accepted forms: ``host``, ``host:port``, ``:port``, ``[::1]:port`` and any of them prefixed with
``http://`` or ``https://``. Missing parts default to ``127.0.0.1`` and ``11434``.
"""

from __future__ import annotations

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11434


def parse_ollama_host(value: str | None) -> tuple[str, int]:
    """Return ``(host, port)`` for an ``OLLAMA_HOST`` value; raise ``ValueError`` if malformed."""
    text = (value or "").strip()
    for scheme in ("http://", "https://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
    text = text.split("/", 1)[0]
    if not text:
        return DEFAULT_HOST, DEFAULT_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not port_text:
        return host or DEFAULT_HOST, DEFAULT_PORT
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"invalid port in OLLAMA_HOST={value!r}: expected host:port, e.g. 0.0.0.0:11434"
        )
    return host or DEFAULT_HOST, int(port_text)


def base_url(host: str, port: int) -> str:
    """HTTP base URL a client uses to reach a server bound to ``host:port``."""
    if host in ("0.0.0.0", "", "::"):  # a wildcard bind is reached through loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
