"""An ``ollama`` command-line stand-in (stdlib only, starts fast; /bin/ollama in the fake image).

``serve`` | ``list``/``ls`` | ``ps`` | ``show MODEL`` | ``pull MODEL`` | ``rm MODEL`` |
``run MODEL [PROMPT]`` | ``--version``/``-v``/``version``. The server is found through
``OLLAMA_HOST`` like the real CLI. Errors print ``Error: <message>`` on stderr and exit 1;
``--version`` exits 0 even when no server answers (as the real one does).
"""

from __future__ import annotations

import calendar
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

from fake_ollama.config import OLLAMA_RELEASE
from fake_ollama.hostport import base_url, parse_ollama_host

CLIENT_VERSION = OLLAMA_RELEASE
UNREACHABLE = "could not connect to ollama server, run 'ollama serve' to start it"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxies


class ShimError(Exception):
    """Printed as ``Error: <message>``; exit status 1."""


def _url(path: str) -> str:
    host, port = parse_ollama_host(os.environ.get("OLLAMA_HOST"))
    return base_url(host, port) + path


def _open(method: str, path: str, body: dict[str, Any] | None, timeout: float | None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(_url(path), data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        return _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise ShimError(_error_text(exc.read(), exc.code)) from None
    except (urllib.error.URLError, OSError):
        raise ShimError(UNREACHABLE) from None


def _error_text(raw: bytes, status: int) -> str:
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return f"{status}: {raw.decode(errors='replace').strip()}"


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    with _open(method, path, body, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else None


def _stream(path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with _open("POST", path, body, timeout=None) as response:
        for line in response:
            if line.strip():
                item = json.loads(line)
                if "error" in item:
                    raise ShimError(str(item["error"]))
                yield item


def human_bytes(size: int) -> str:
    """Ollama's ``format.HumanBytes`` (decimal units)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            return (
                f"{value:.1f} {unit}"
                if value < 10 and value != int(value)
                else f"{int(value)} {unit}"
            )
    return f"{size} B"


def _ago(stamp: str, future: bool = False) -> str:
    """Rough "2 minutes ago" / "4 minutes from now" for an RFC 3339 timestamp."""
    then = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    delta = abs(time.time() - then)
    suffix = "from now" if future else "ago"
    for unit, seconds in (
        ("year", 31536000),
        ("week", 604800),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if delta >= seconds:
            count = int(delta // seconds)
            return f"{count} {unit}{'s' if count > 1 else ''} {suffix}"
    return "Less than a minute " + suffix


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "    ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def cmd_list(_: Sequence[str]) -> None:
    """``ollama list``."""
    models = _call("GET", "/api/tags")["models"]
    rows = [["NAME", "ID", "SIZE", "MODIFIED"]]
    rows += [
        [m["name"], m["digest"][:12], human_bytes(m["size"]), _ago(m["modified_at"])]
        for m in models
    ]
    print(_table(rows))


def cmd_ps(_: Sequence[str]) -> None:
    """``ollama ps``."""
    models = _call("GET", "/api/ps")["models"]
    rows = [["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]]
    rows += [
        [
            m["name"],
            m["digest"][:12],
            human_bytes(m["size"]),
            "100% GPU",
            str(m.get("context_length", "")),
            _ago(m["expires_at"], future=True),
        ]
        for m in models
    ]
    print(_table(rows))


def cmd_show(args: Sequence[str]) -> None:
    """``ollama show MODEL``."""
    info = _call("POST", "/api/show", {"model": _one_model(args, "show")})
    details, model_info = info.get("details", {}), info.get("model_info", {})
    family = details.get("family", "")
    lines = [
        "  Model",
        f"    architecture        {model_info.get('general.architecture', family)}",
        f"    parameters          {details.get('parameter_size', '')}",
        f"    context length      {model_info.get(family + '.context_length', '')}",
        f"    embedding length    {model_info.get(family + '.embedding_length', '')}",
        f"    quantization        {details.get('quantization_level', '')}",
        "",
        "  Capabilities",
    ]
    lines += [f"    {c}" for c in info.get("capabilities", [])]
    if info.get("parameters"):
        lines += ["", "  Parameters", *(f"    {p}" for p in info["parameters"].splitlines())]
    print("\n".join(lines) + "\n")


def cmd_pull(args: Sequence[str]) -> None:
    """``ollama pull MODEL``: one line per status (layers when complete)."""
    last = ""
    for item in _stream("/api/pull", {"model": _one_model(args, "pull")}):
        status, total, done = item.get("status", ""), item.get("total"), item.get("completed")
        if total and done != total:
            continue
        line = f"{status}: 100% {human_bytes(total)}" if total else status
        if line != last:
            print(line, flush=True)
            last = line


def cmd_rm(args: Sequence[str]) -> None:
    """``ollama rm MODEL``."""
    model = _one_model(args, "rm")
    _call("DELETE", "/api/delete", {"model": model})
    print(f"deleted '{model}'")


def cmd_run(args: Sequence[str]) -> None:
    """``ollama run MODEL [PROMPT]`` (non-interactive; an empty prompt only loads the model)."""
    if not args:
        raise ShimError("accepts at least 1 arg(s), received 0")
    prompt = " ".join(args[1:])
    for item in _stream("/api/generate", {"model": args[0], "prompt": prompt, "think": "low"}):
        print(item.get("response", ""), end="", flush=True)
    if prompt:
        print()


def cmd_version(_: Sequence[str]) -> None:
    """``ollama --version`` (warns, but exits 0, when the server is down)."""
    try:
        server = _call("GET", "/api/version")["version"]
    except ShimError:
        print("Warning: could not connect to a running Ollama instance")
        print(f"Warning: client version is {CLIENT_VERSION}")
        return
    print(f"ollama version is {server}")
    if server != CLIENT_VERSION:
        print(f"Warning: client version is {CLIENT_VERSION}")


def cmd_serve(_: Sequence[str]) -> None:
    """``ollama serve``: the fake server on ``OLLAMA_HOST`` (knobs from ``FAKE_OLLAMA_*``)."""
    from fake_ollama.__main__ import main as fake_main  # only serve needs uvicorn

    host, port = parse_ollama_host(os.environ.get("OLLAMA_HOST"))
    sys.exit(fake_main(["--host", host, "--port", str(port)]))


def _one_model(args: Sequence[str], command: str) -> str:
    if len(args) != 1:
        raise ShimError(f"accepts 1 arg(s), received {len(args)}")
    return args[0]


COMMANDS = {
    "serve": cmd_serve,
    "list": cmd_list,
    "ls": cmd_list,
    "ps": cmd_ps,
    "show": cmd_show,
    "pull": cmd_pull,
    "rm": cmd_rm,
    "run": cmd_run,
    "version": cmd_version,
    "--version": cmd_version,
    "-v": cmd_version,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch a command; 0 on success, 1 with ``Error: ...`` on stderr otherwise."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(
            "Usage:\n  ollama [command]\n\nAvailable Commands:\n  "
            + "\n  ".join(sorted(set(COMMANDS) - {"-v", "--version"}))
        )
        return 0
    command = COMMANDS.get(args[0])
    try:
        if command is None:
            raise ShimError(f'unknown command "{args[0]}" for "ollama"')
        command(args[1:])
    except ShimError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
