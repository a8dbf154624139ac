"""A raw HTTP/1.1 client for hostile tests: exact bytes on a socket, bounded waits, keep-alive.

``httpx`` and friends refuse to send malformed framing, bad header bytes or duplicate
``Content-Length`` headers; this client writes whatever bytes it is given and parses what comes
back just enough to tell where one response ends (``Content-Length``, chunked, or close), so the
next request can go out on the same keep-alive connection. Sending and receiving are interleaved
(``select``), so a server that answers early (413) and closes is read, not lost to a broken pipe.
Every wait is bounded by a deadline; nothing here ever blocks for longer.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

MAX_HEAD_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20
_RECV_SIZE = 65536


class ProtocolViolation(Exception):
    """The server's bytes are not a well-formed HTTP/1.x response."""


@dataclass(frozen=True)
class RawResponse:
    """One parsed response: status, lower-cased header names, the de-chunked body."""

    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), if present."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters (``""`` when absent)."""
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    @property
    def closes(self) -> bool:
        """True when the server announced it closes the connection after this response."""
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens

    def summary(self, limit: int = 160) -> str:
        """``status content-type body-prefix`` on one line, for failure reports."""
        text = self.body[:limit].decode("utf-8", "replace").replace("\n", "\\n")
        return f"{self.status} {self.content_type or '-'} {text!r}"


@dataclass(frozen=True)
class Outcome:
    """What one exchange produced: a response, or why there is none (``error``)."""

    response: RawResponse | None
    error: str | None
    elapsed: float
    # The server closed the connection (EOF or reset) during or right after this exchange.
    server_closed: bool = False
    # Every byte of the request went out (an early answer, e.g. a 413, may stop the sending: the
    # connection is then out of step and must not carry another request).
    sent_all: bool = True

    def summary(self) -> str:
        """The response summary, or the error."""
        if self.response is not None:
            return self.response.summary()
        return f"no response: {self.error}"


NO_BODY_STATUSES = frozenset({204, 304})


def _parse_head(head: bytes) -> tuple[str, int, str, tuple[tuple[str, str], ...]]:
    lines = head.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolViolation(f"bad status line {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolViolation(f"bad header line {line[:80]!r}")
        headers.append((name.decode("latin-1").strip().lower(), value.decode("latin-1").strip()))
    reason = parts[2] if len(parts) > 2 else ""
    return parts[0], int(parts[1]), reason, tuple(headers)


def _dechunk(data: bytes, start: int) -> tuple[bytes, int] | None:
    """The body of a chunked message starting at ``start`` and where it ends, or None if cut."""
    body = bytearray()
    pos = start
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_text = data[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolViolation(f"bad chunk size {size_text[:40]!r}") from None
        pos = line_end + 2
        if size == 0:
            # Trailers, then an empty line.
            while True:
                trailer_end = data.find(b"\r\n", pos)
                if trailer_end < 0:
                    return None
                if trailer_end == pos:
                    return bytes(body), pos + 2
                pos = trailer_end + 2
        if len(data) < pos + size + 2:
            return None
        body += data[pos : pos + size]
        pos += size + 2
        if len(body) > MAX_BODY_BYTES:
            raise ProtocolViolation("chunked body too large")


def parse_response(data: bytes, method: str, eof: bool) -> tuple[RawResponse, int] | None:
    """Parse one final response (1xx are skipped) from ``data``; None if it is incomplete.

    Returns the response and how many bytes of ``data`` it used.
    """
    offset = 0
    while True:
        head_end = data.find(b"\r\n\r\n", offset)
        if head_end < 0:
            if len(data) - offset > MAX_HEAD_BYTES:
                raise ProtocolViolation("response head too large")
            if eof and len(data) > offset:
                raise ProtocolViolation(f"truncated response head {data[offset:][:80]!r}")
            return None
        version, status, reason, headers = _parse_head(data[offset:head_end])
        body_start = head_end + 4
        if 100 <= status < 200:
            offset = body_start
            continue
        break
    values = dict(headers)
    if method == "HEAD" or status in NO_BODY_STATUSES:
        return RawResponse(version, status, reason, headers, b""), body_start
    if "chunked" in values.get("transfer-encoding", "").lower():
        dechunked = _dechunk(data, body_start)
        if dechunked is None:
            if eof:
                raise ProtocolViolation("chunked body cut off by the server closing")
            return None
        body, end = dechunked
        return RawResponse(version, status, reason, headers, body), end
    if "content-length" in values:
        length = int(values["content-length"])
        if len(data) - body_start < length:
            if eof:
                raise ProtocolViolation("body shorter than Content-Length")
            return None
        end = body_start + length
        return RawResponse(version, status, reason, headers, data[body_start:end]), end
    if not eof:
        return None  # delimited by the server closing the connection
    return RawResponse(version, status, reason, headers, data[body_start:]), len(data)


@dataclass
class RawConnection:
    """One TCP connection to ``host:port``; requests go out as given, responses are parsed."""

    host: str
    port: int
    connect_timeout: float = 10.0
    sock: socket.socket | None = None
    _pending: bytes = b""
    eof: bool = False
    write_closed: bool = False
    exchanges: int = field(default=0)

    def __post_init__(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), self.connect_timeout)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @property
    def usable(self) -> bool:
        """Open on both sides as far as we know (another request may be sent)."""
        return self.sock is not None and not self.eof and not self.write_closed

    def exchange(
        self, request: bytes, method: str, *, timeout: float, half_close: bool = False
    ) -> Outcome:
        """Send ``request`` (then shut our side down if ``half_close``) and read one response.

        Never waits longer than ``timeout`` seconds in total. ``method`` tells whether a body
        follows (HEAD has none).
        """
        assert self.sock is not None, "connection closed"
        self.exchanges += 1
        started = time.monotonic()
        deadline = started + timeout
        out = memoryview(request)
        data = bytearray(self._pending)
        self._pending = b""
        send_error: str | None = None
        while True:
            parsed = self._try_parse(data, method)
            elapsed = time.monotonic() - started
            if isinstance(parsed, str):
                return Outcome(None, parsed, elapsed, self.eof, not out)
            if parsed is not None:
                response, used = parsed
                self._pending = bytes(data[used:])
                return Outcome(response, None, elapsed, self.eof, not out)
            if self.eof:
                error = send_error or "the server closed the connection without answering"
                return Outcome(None, error, elapsed, True, not out)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                sent = len(request) - len(out)
                return Outcome(
                    None,
                    f"timeout: no complete response within {timeout:g} s "
                    f"(sent {sent}/{len(request)} bytes, received {len(data)})",
                    time.monotonic() - started,
                    sent_all=not out,
                )
            writers = [self.sock] if out and send_error is None else []
            readable, writable, _ = select.select([self.sock], writers, [], min(remaining, 1.0))
            if writable and out:
                try:
                    count = self.sock.send(out[:_RECV_SIZE])
                    out = out[count:]
                except BlockingIOError:
                    pass
                except OSError as exc:  # the server closed while we were still sending
                    send_error = f"send failed: {exc.__class__.__name__}"
                    out = out[len(out) :]
            if not out and half_close and not self.write_closed:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)
                self.write_closed = True
            if readable:
                self._receive(data)

    def _try_parse(self, data: bytearray, method: str) -> tuple[RawResponse, int] | str | None:
        try:
            return parse_response(bytes(data), method, self.eof)
        except ProtocolViolation as exc:
            self.eof = True  # the stream cannot be trusted any more
            return f"malformed response: {exc}"
        except ValueError as exc:
            self.eof = True
            return f"malformed response: {exc}"

    def _receive(self, data: bytearray) -> None:
        assert self.sock is not None
        try:
            chunk = self.sock.recv(_RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:  # reset by the server
            self.eof = True
            return
        if not chunk:
            self.eof = True
        data += chunk
        if len(data) > MAX_BODY_BYTES + MAX_HEAD_BYTES:
            raise ProtocolViolation("response too large")

    def peer_closed(self, wait: float = 0.05) -> bool:
        """True when the server has closed its side (EOF or reset seen within ``wait`` s)."""
        if self.sock is None or self.eof:
            return True
        readable, _, _ = select.select([self.sock], [], [], wait)
        if not readable:
            return False
        try:
            peeked = self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            self.eof = True
            return True
        if not peeked:
            self.eof = True
        return self.eof


def request_bytes(
    method: str,
    target: str | bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes | None = None,
    *,
    version: bytes = b"HTTP/1.1",
) -> bytes:
    """A request as bytes; ``Content-Length`` is *not* added (put it in ``headers``)."""
    raw_target = target.encode("latin-1") if isinstance(target, str) else target
    lines = [method.encode("latin-1") + b" " + raw_target + b" " + version]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")
