"""Every error nginx answers by itself is OpenAI's JSON envelope, never nginx's HTML page.

Malformed requests go out as raw bytes (no HTTP library would send them) to the nginx image run on
its own: none of these answers needs the gateway. Each must come back with its status,
``Content-Type: application/json`` and ``{"error": {"message", "type", "param", "code"}}``; then
nginx must still serve: on the same connection where it keeps it open (its own 405 and 401
checks), on a new one where it closes it (unparseable requests). The last test goes through the
whole stack: a trailing slash is served, not redirected.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.nginx_alone import (
    Answer,
    Nginx,
    RawClient,
    build_nginx_image,
    nginx_container,
    self_signed_certificate,
)
from tests.e2e.stack import Stack, StackSettings

pytestmark = pytest.mark.e2e

CHAT = b"POST /v1/chat/completions HTTP/1.1\r\nHost: api\r\n"
ALLOWED_METHODS = "GET, HEAD, POST, DELETE, OPTIONS"


@dataclass(frozen=True)
class Malformed:
    """A request nginx must refuse: its bytes, the status and error code it must answer."""

    name: str
    raw: bytes
    status: int
    code: str
    keeps_connection: bool = False  # nginx keeps the connection open after this answer


def _get(target: bytes, *headers: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    lines = [b"GET " + target + b" " + version, b"Host: api", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


MALFORMED = [
    # Framing and syntax: nginx cannot parse these and closes the connection after answering.
    Malformed(
        "duplicate Content-Length",
        CHAT + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
        "malformed_request",
    ),
    Malformed(
        "invalid Content-Length", CHAT + b"Content-Length: 1x\r\n\r\n", 400, "malformed_request"
    ),
    Malformed(
        "Content-Length with Transfer-Encoding",
        CHAT + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "malformed_request",
    ),
    Malformed(
        "bad chunk size",
        CHAT + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
        "malformed_request",
    ),
    Malformed(
        "NUL in a header name", _get(b"/v1/models", b"X-A\x00b: 1"), 400, "malformed_request"
    ),
    Malformed("space in a header name", _get(b"/v1/models", b"X A: 1"), 400, "malformed_request"),
    Malformed("obs-fold", _get(b"/v1/models", b"X-A: 1", b"  folded"), 400, "malformed_request"),
    Malformed("missing Host", b"GET /v1/models HTTP/1.1\r\n\r\n", 400, "malformed_request"),
    Malformed("duplicate Host", _get(b"/v1/models", b"Host: other"), 400, "malformed_request"),
    Malformed("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "malformed_request"),
    Malformed("bad request line", b"GET\r\nHost: api\r\n\r\n", 400, "malformed_request"),
    Malformed("bad percent-escape", _get(b"/v1/%zz"), 400, "malformed_request"),
    Malformed("long URL", _get(b"/v1/" + b"a" * 9000), 414, "uri_too_long"),
    Malformed(
        "header line too large",
        _get(b"/", b"X-Big: " + b"a" * 9000),
        431,
        "request_header_too_large",
    ),
    Malformed(
        "headers too large in total",
        _get(b"/", *(b"X-H%d: %s" % (i, b"a" * 7000) for i in range(6))),
        431,
        "request_header_too_large",
    ),
    Malformed(
        "HTTP/2.5", _get(b"/v1/models", version=b"HTTP/2.5"), 505, "http_version_not_supported"
    ),
    Malformed(
        "Transfer-Encoding gzip",
        CHAT + b"Transfer-Encoding: gzip\r\n\r\n",
        501,
        "unsupported_transfer_encoding",
    ),
    Malformed(
        "body too large", CHAT + b"Content-Length: 99999999\r\n\r\n", 413, "request_too_large"
    ),
    # nginx refuses TRACE while reading the headers, and closes.
    Malformed("TRACE", b"TRACE / HTTP/1.1\r\nHost: api\r\n\r\n", 405, "method_not_allowed"),
    # What the gateway's HTTP parser would refuse as text/plain, refused by nginx instead.
    Malformed("raw non-ASCII path", _get("/v1/models/modèle".encode()), 400, "invalid_path"),
    Malformed("raw non-ASCII query", _get("/v1/models?q=é".encode()), 400, "invalid_path"),
    Malformed(
        "control character in Content-Type",
        _get(b"/v1/models", b"Content-Type: a\x01b"),
        400,
        "invalid_header",
    ),
    Malformed(
        "control character in User-Agent",
        _get(b"/v1/models", b"User-Agent: a\x1bb"),
        400,
        "invalid_header",
    ),
    # Refused by nginx's own checks, after a complete request: the connection stays open.
    Malformed(
        "unknown method",
        b"FOO /v1/models HTTP/1.1\r\nHost: api\r\n\r\n",
        405,
        "method_not_allowed",
        True,
    ),
    Malformed(
        "PUT with a body",
        b"PUT /v1/models HTTP/1.1\r\nHost: api\r\nContent-Length: 2\r\n\r\n{}",
        405,
        "method_not_allowed",
        True,
    ),
    Malformed(
        "control character in Authorization",
        _get(b"/v1/models", b"Authorization: Bearer sk-\x01abc"),
        401,
        "invalid_api_key",
        True,
    ),
    Malformed(
        "DEL in X-API-Key",
        _get(b"/v1/models", b"X-API-Key: sk-\x7fabc"),
        401,
        "invalid_api_key",
        True,
    ),
]


@pytest.fixture(scope="module")
def nginx() -> Iterator[Nginx]:
    """The nginx image, built from nginx/ and run alone (its upstream is down)."""
    with nginx_container(build_nginx_image()) as running:
        yield running


def assert_envelope(
    answer: Answer, status: int, code: str, error_type: str = "invalid_request_error"
) -> dict[str, object]:
    """``answer`` is ``status`` with OpenAI's envelope of ``error_type``/``code``; returns it."""
    summary = f"{answer.status} {answer.headers.get('content-type')} {answer.body[:300]!r}"
    assert answer.status == status, summary
    assert answer.headers.get("content-type") == "application/json", summary
    error = json.loads(answer.body)["error"]
    assert set(error) == {"message", "type", "param", "code"}, summary
    assert isinstance(error["message"], str), summary
    assert len(error["message"]) > 30, summary
    assert error["param"] is None
    assert (error["type"], error["code"]) == (error_type, code), summary
    assert answer.headers.get("x-request-id"), "nginx's request id is on its own errors too"
    return dict(error)


def assert_still_serving(nginx: Nginx, client: RawClient | None = None) -> None:
    """nginx answers /nginx-health (on ``client``'s connection when given, else a new one)."""
    connection = client or RawClient(nginx.ports[80])
    try:
        connection.send(_get(b"/nginx-health"))
        answer = connection.response()
    finally:
        connection.close()
    assert (answer.status, answer.body) == (200, b'{"status":"ok"}')


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.name)
def test_malformed_request_gets_the_json_envelope(nginx: Nginx, case: Malformed) -> None:
    client = RawClient(nginx.ports[80])
    try:
        client.send(case.raw)
        answer = client.response()
        assert_envelope(answer, case.status, case.code)
        if case.keeps_connection:
            assert answer.headers.get("connection") == "keep-alive"
            assert_still_serving(nginx, client)
            return
    finally:
        client.close()
    assert_still_serving(nginx)


def test_method_not_allowed_names_the_allowed_methods(nginx: Nginx) -> None:
    client = RawClient(nginx.ports[80])
    try:
        client.send(b"PATCH /v1/models HTTP/1.1\r\nHost: api\r\n\r\n")
        answer = client.response()
    finally:
        client.close()

    error = assert_envelope(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == ALLOWED_METHODS
    assert "PATCH" in str(error["message"])


def test_head_refused_by_nginx_has_no_body(nginx: Nginx) -> None:
    client = RawClient(nginx.ports[80])
    try:
        client.send(b"HEAD /v1/mod\xe8le HTTP/1.1\r\nHost: api\r\n\r\n")
        answer = client.response(head_only=True)
        assert (answer.status, answer.headers.get("content-type")) == (400, "application/json")
        assert client.wait_closed() == b"", "no body follows the head"
    finally:
        client.close()


def test_api_key_with_a_control_character_answers_like_a_wrong_key(nginx: Nginx) -> None:
    client = RawClient(nginx.ports[80])
    try:
        client.send(_get(b"/v1/models", b"Authorization: Bearer sk-abc\x1b[0m"))
        answer = client.response()
    finally:
        client.close()

    assert_envelope(answer, 401, "invalid_api_key")
    assert answer.headers["www-authenticate"] == "Bearer"


def test_error_page_uris_are_not_reachable_from_outside(nginx: Nginx) -> None:
    response = httpx.get(nginx.url("/_gptoss/error/400"), timeout=30)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == "not_found_error"


def test_unreachable_gateway_is_a_502_envelope(nginx: Nginx) -> None:
    response = httpx.post(nginx.url("/v1/chat/completions"), json={}, timeout=30)

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "gateway_unavailable"
    assert response.headers["retry-after"] == "5"


def test_tab_and_non_ascii_in_headers_are_passed_on(nginx: Nginx) -> None:
    """Bytes HTTP allows in values (TAB, obs-text) are not refused: the request is proxied."""
    client = RawClient(nginx.ports[80])
    try:
        client.send(_get(b"/v1/models", b"Authorization: Bearer sk-\tabc", b"User-Agent: caf\xe9"))
        answer = client.response()
    finally:
        client.close()

    assert_envelope(answer, 502, "gateway_unavailable", "server_error")


def test_stalled_request_is_closed_without_an_html_page(tmp_path: Path) -> None:
    """nginx answers its header and body timeouts (408) by closing, without any bytes."""
    timeouts = tmp_path / "zz-timeouts.conf"
    timeouts.write_text("client_header_timeout 1s;\nclient_body_timeout 1s;\n")
    timeouts.chmod(0o644)
    mount = f"{timeouts}:/etc/nginx/conf.d/zz-timeouts.conf:ro"
    stalled = {
        "headers": b"GET /v1/models HTTP/1.1\r\nHost: api\r\n",
        "body": CHAT + b"Content-Length: 10\r\n\r\n{}",
    }
    with nginx_container(build_nginx_image(), "-v", mount) as alone:
        for what, raw in stalled.items():
            client = RawClient(alone.ports[80], timeout=60)
            try:
                client.send(raw)
                assert client.wait_closed() == b"", f"stalled {what}: closed without a page"
            finally:
                client.close()
            assert_still_serving(alone)


def test_plain_http_on_the_https_port_gets_the_envelope(tmp_path: Path) -> None:
    certificates = self_signed_certificate(tmp_path)
    trust = ssl.create_default_context(cafile=str(certificates / "tls.crt"))
    with nginx_container(build_nginx_image(), "-v", f"{certificates}:/etc/nginx/certs:ro") as tls:
        client = RawClient(tls.ports[443])
        try:
            client.send(_get(b"/v1/models"))
            answer = client.response()
        finally:
            client.close()
        method_refused = httpx.request(
            "PUT", tls.url("/v1/models", port=443), verify=trust, timeout=30
        )

    assert_envelope(answer, 400, "https_required")
    assert "strict-transport-security" not in answer.headers, "no HSTS over plain HTTP"
    assert method_refused.status_code == 405
    assert method_refused.headers["strict-transport-security"].startswith("max-age=")


def test_trailing_slash_is_served_through_the_stack(
    ready_stack: Stack, stack_settings: StackSettings
) -> None:
    """``POST /v1/chat/completions/`` answers like the path without the slash (no 307)."""
    body = {"model": stack_settings.model, "messages": [{"role": "user", "content": "ping"}]}
    headers = {"Authorization": f"Bearer {stack_settings.api_key}"}

    response = httpx.post(
        f"{ready_stack.base_url}/v1/chat/completions/", json=body, headers=headers, timeout=60
    )

    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"
