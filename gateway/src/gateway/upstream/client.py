"""The Ollama upstream client: routing, admission, timeouts, streamed and whole answers.

Two ways to run a generation:

* :meth:`OllamaClient.generate` streams it (``stream: true``): a first-byte timeout and a
  between-chunks timeout instead of one long blind wait, a time cap that keeps what was produced,
  and the token count of a half-finished answer. Streamed answers always go this way.
* :meth:`OllamaClient.answer` fetches it in one piece (``stream: false``), for a caller that wants
  one JSON answer: Ollama sends one body instead of a chunk per token, which costs the gateway (and
  Ollama) far less per answer. A departed client still stops the GPU (the connection is closed);
  what a half-finished answer had produced is not known then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import orjson

from gateway.errors import (
    GatewayError,
    GenerationTimeCapped,
    InvalidRequest,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.settings import RATELIMIT_SCHEMES, Settings
from gateway.upstream.admission import Admission
from gateway.upstream.backends import Backend, upstream_timeout
from gateway.upstream.deadline import ReadDeadline
from gateway.upstream.failover import AnyBackendTransport, Routed, routed
from gateway.upstream.inflight_redis import SharedInFlight
from gateway.upstream.ollama_errors import OllamaErrors
from gateway.upstream.router import Router
from gateway.upstream.shared_model import SharedModel
from gateway.upstream.structured_output import PassGap

log = logging.getLogger("gateway.upstream")

DRAIN_SECONDS = 1.0
FIRST_BYTE_KNOB = "GATEWAY_FIRST_BYTE_TIMEOUT"
# Ollama's API has a few dozen paths; past this many (blob digests...) URLs are not kept.
MAX_CACHED_URLS = 64
# Base URL of the client that reaches any backend; the transport puts a backend's host in.
ANY_BACKEND = "http://ollama"


class BrokenStream(UpstreamError):
    """Ollama's answer broke off: the connection dropped, or it ended without its final chunk."""


class OllamaClient:
    """Talks to Ollama's native API and turns every failure into a :class:`GatewayError`.

    With several backends (``GATEWAY_OLLAMA_URLS``) each generation goes to the one the
    :class:`Router` picks, and to another while one fails before answering
    (:mod:`gateway.upstream.failover`); other calls go to any backend that is in (:attr:`http`).
    """

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        router: Router | None = None,
    ):
        """A client over ``router``'s backends (by default: ``settings.backend_urls``, reached
        through ``transport`` when one is given)."""
        self.settings = settings
        self.errors = OllamaErrors(settings)
        self.router = router or Router(
            settings,
            [Backend(url, settings, transport=transport) for url in settings.backend_urls],
            shared=shared_counts(settings),
        )
        # Read-only calls: any backend that is in. Its host is replaced by the backend's.
        self.http = httpx.AsyncClient(
            base_url=ANY_BACKEND,
            transport=AnyBackendTransport(self.router),
            timeout=upstream_timeout(settings),
        )
        self._urls: dict[tuple[str, str], httpx.URL] = {}
        # Native requests of non-admin keys cannot reload or unload the model for everyone.
        self.shared_model = SharedModel(settings.ollama_keep_alive)

    @property
    def admission(self) -> Admission | None:
        """The admission control of the first backend (of the only one, usually)."""
        return self.router.backends[0].admission

    async def aclose(self) -> None:
        """Close the backends' connection pools and admission stores (from the app lifespan)."""
        await self.router.aclose()
        await self.http.aclose()

    def routed(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None,
        request_id: str | None,
        model: str | None,
        queue_key: str | None,
        admitted: Callable[[float | None], None] | None = None,
        headers_within: tuple[float, GatewayError] | None = None,
    ) -> AbstractAsyncContextManager[Routed]:
        """A generation on the backend the router picks (another while one fails before it
        answers), holding one of that backend's slots (admission control) for the block.

        ``admitted`` is called with the seconds each attempt spent queued for a slot;
        ``headers_within`` replaces the first-byte timeout (see :meth:`open`).
        """

        def open_on(backend: Backend) -> AbstractAsyncContextManager[httpx.Response]:
            return self.open(
                method,
                path,
                content=content,
                request_id=request_id,
                model=model,
                backend=backend,
                headers_within=headers_within,
            )

        return routed(self.router, open_on, model=model, queue_key=queue_key, admitted=admitted)

    def _url(self, http: httpx.AsyncClient, path: str) -> httpx.URL:
        """The absolute URL of ``path`` on ``http``'s Ollama, parsed and merged once per path.

        A string URL costs httpx a parse and a merge with ``base_url`` on every request; an
        absolute :class:`httpx.URL` is taken as it is. The merge is httpx's own.
        """
        cache_key = (str(http.base_url), path)
        url = self._urls.get(cache_key)
        if url is None:
            url = http.build_request("GET", path).url
            if len(self._urls) < MAX_CACHED_URLS:
                self._urls[cache_key] = url
        return url

    @asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        request_id: str | None = None,
        model: str | None = None,
        backend: Backend | None = None,
        headers_within: tuple[float, GatewayError] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request (to ``backend``, else any backend that is in) and yield the streaming
        response once its headers arrived.

        Connection failures and the first-byte timeout (or ``headers_within``: seconds, and the
        error past them) raise :class:`GatewayError`; the response is closed when the block
        exits, which cancels the generation upstream.
        """
        http = backend.http if backend is not None else self.http
        request = self._request(http, method, path, content, request_id)
        seconds, too_late = headers_within or (self.settings.first_byte_timeout, None)
        try:
            async with asyncio.timeout(seconds):
                response = await http.send(request, stream=True)
        except TimeoutError as exc:
            raise (too_late or self.errors.first_byte_timeout()) from exc
        except httpx.PoolTimeout as exc:  # Ollama is reachable: this worker's pool is full
            raise self.errors.saturated() from exc
        except httpx.TransportError as exc:
            raise self.errors.unreachable(exc) from exc
        try:
            yield response
        finally:
            await response.aclose()

    def _request(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        content: bytes | None,
        request_id: str | None,
    ) -> httpx.Request:
        headers = {"Content-Type": "application/json"} if content is not None else {}
        if request_id:
            headers["X-Request-ID"] = request_id
        return http.build_request(method, self._url(http, path), content=content, headers=headers)

    async def json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        model: str | None = None,
    ) -> dict[str, Any]:
        """A non-streaming call returning Ollama's JSON object (error statuses raise)."""
        content = encode(body) if body is not None else None
        async with self.open(
            method, path, content=content, request_id=request_id, model=model
        ) as response:
            raw = await self._read_all(response)
            if response.status_code >= 400:
                raise self.errors.error_for(response.status_code, raw, model)
        return _decode_object(raw)

    async def generate(
        self,
        path: str,
        body: dict[str, Any],
        *,
        request_id: str | None = None,
        queue_key: str | None = None,
        admitted: Callable[[float | None], None] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream a generation (``/api/chat`` or ``/api/generate``), yielding each NDJSON object.

        The generation goes to the backend the router picks (another one while it fails before
        answering) and first waits for one of that backend's slots (admission control, fair
        across ``queue_key``s); ``admitted`` is then called with the seconds spent queued. Raises
        :class:`GatewayError` before the first object (overloaded, bad status, unreachable,
        timeout) and during the stream (error line, dropped connection, unreadable line, silence
        longer than the between-chunks timeout). Closing the iterator closes the upstream request
        and frees the slot.
        """
        model = body.get("model")
        opening = self._generation(
            path, body, stream=True, request_id=request_id, queue_key=queue_key, admitted=admitted
        )
        async with opening as answer:
            response = answer.response
            if response.status_code >= 400:
                raise self.errors.error_for(
                    response.status_code, await self._read_all(response), model
                )
            chunks = self._objects(response, body)
            try:
                async with contextlib.aclosing(chunks):
                    async for chunk in chunks:
                        yield chunk
            except BrokenStream:
                self.router.server_error(answer.backend, "broken_stream")
                raise

    async def answer(
        self,
        path: str,
        body: dict[str, Any],
        *,
        request_id: str | None = None,
        queue_key: str | None = None,
        admitted: Callable[[float | None], None] | None = None,
    ) -> dict[str, Any]:
        """Run a generation (``/api/chat`` or ``/api/generate``) and return Ollama's one object.

        Routing and admission as for :meth:`generate`. Ollama answers only once the generation
        is over, so one deadline bounds the whole call: the first-byte timeout (queue, model
        load) plus the time cap (``GATEWAY_MAX_GENERATION_SECONDS``), at most
        ``GATEWAY_TOTAL_TIMEOUT``. Cancelling the call closes the connection, which stops the
        generation upstream.
        """
        model = body.get("model")
        opening = self._generation(
            path,
            body,
            stream=False,
            request_id=request_id,
            queue_key=queue_key,
            admitted=admitted,
            headers_within=self._answer_deadline(),
        )
        async with opening as answer:
            response = answer.response
            try:
                raw = await self._read_all(response)
            except UpstreamError as error:
                self.router.server_error(answer.backend, "broken_stream")
                raise BrokenStream(error.message) from error
        if response.status_code >= 400:
            raise self.errors.error_for(response.status_code, raw, model)
        return _decode_object(raw)

    def _generation(
        self,
        path: str,
        body: dict[str, Any],
        *,
        stream: bool,
        request_id: str | None,
        queue_key: str | None,
        admitted: Callable[[float | None], None] | None,
        headers_within: tuple[float, GatewayError] | None = None,
    ) -> AbstractAsyncContextManager[Routed]:
        """A generation's request (output capped, ``stream`` as asked), routed and admitted."""
        self._log_prompt(path, body)
        payload = encode({**self._capped(body), "stream": stream})
        return self.routed(
            "POST",
            path,
            content=payload,
            request_id=request_id,
            model=body.get("model"),
            queue_key=queue_key,
            admitted=admitted,
            headers_within=headers_within,
        )

    def _answer_deadline(self) -> tuple[float, GatewayError]:
        """Seconds one whole answer may take, and the error once they are past."""
        total = self.settings.total_timeout
        cap = self.settings.max_generation_seconds
        if cap and self.settings.first_byte_timeout + cap < total:
            seconds = self.settings.first_byte_timeout + cap
            return seconds, GenerationTimeCapped(
                f"Ollama had not finished the answer after {seconds:g} s "
                "(GATEWAY_FIRST_BYTE_TIMEOUT for the queue and the model load, then "
                "GATEWAY_MAX_GENERATION_SECONDS for the generation), so the gateway stopped it: "
                "the model may have been looping, or Ollama may be stuck. Ask for less "
                '(max_tokens), or stream the answer ("stream": true), which keeps what was '
                'generated up to the cap and ends with finish_reason "length". If it keeps '
                "happening, operators should check `docker compose logs ollama`."
            )
        return total, UpstreamTimeout(
            f"Ollama did not finish answering within {total:g} s. Retry, stream the answer, or "
            "raise GATEWAY_TOTAL_TIMEOUT."
        )

    def _log_prompt(self, path: str, body: dict[str, Any]) -> None:
        if self.settings.log_prompts and log.isEnabledFor(logging.DEBUG):
            # Opt-in only (GATEWAY_LOG_PROMPTS=true with GATEWAY_LOG_LEVEL=DEBUG): prompts can
            # hold personal data, so they are never logged by default.
            log.debug(
                "prompt sent to Ollama",
                extra={
                    "path": path,
                    "model": body.get("model"),
                    "prompt": body.get("messages", body.get("prompt")),
                },
            )

    async def _objects(
        self, response: httpx.Response, body: dict[str, Any]
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Ollama's NDJSON objects of a generation whose headers arrived (status below 400)."""
        model = body.get("model")
        raw = response.aiter_bytes()
        partial = b""  # the start of a line whose newline has not arrived yet
        cutoff = self._cutoff()
        produced = 0
        # Structured output's second pass may start after the reasoning: the first-byte
        # timeout applies to that silence again (gateway.upstream.structured_output).
        gap = PassGap(body)
        gap_limit = max(self.settings.first_byte_timeout, self.settings.chunk_timeout)
        with (
            ReadDeadline(self.settings.chunk_timeout) as deadline,
            ReadDeadline(gap_limit) as gap_deadline,
        ):
            while True:
                if gap.between_passes:
                    data = await self._next_read(raw, gap_deadline, FIRST_BYTE_KNOB)
                else:
                    data = await self._next_read(raw, deadline)
                lines = (partial + data).split(b"\n") if partial else data.split(b"\n")
                partial = lines.pop() if data else b""  # at the end, the rest is a line
                for line in lines:
                    if not line or line.isspace():
                        continue
                    chunk = _decode_object(line)
                    if "error" in chunk:
                        raise self.errors.error_for(500, line, model)
                    gap.see(chunk)
                    yield chunk
                    if chunk.get("done"):
                        await _drain(raw)
                        return
                    produced += 1
                    if cutoff is not None and asyncio.get_running_loop().time() > cutoff:
                        # Closing the response (on return) stops the generation upstream.
                        yield self._cut_short(model, produced)
                        return
                if not data:
                    raise BrokenStream(
                        "Ollama ended the answer without its final chunk. Retry the request; "
                        "if it keeps happening check `docker compose logs ollama`."
                    )

    def _capped(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with ``num_predict`` at most ``GATEWAY_MAX_OUTPUT_TOKENS`` (runaway guard)."""
        cap = self.settings.max_output_tokens
        options = body.get("options") or {}
        asked = options.get("num_predict")
        if not cap or (isinstance(asked, int) and 0 < asked <= cap):
            return body
        return {**body, "options": {**options, "num_predict": cap}}

    def _cutoff(self) -> float | None:
        """Loop time at which a generation is cut (``GATEWAY_MAX_GENERATION_SECONDS``)."""
        limit = self.settings.max_generation_seconds
        return asyncio.get_running_loop().time() + limit if limit else None

    def _cut_short(self, model: str | None, produced: int) -> dict[str, Any]:
        """The final chunk the gateway writes for a generation it stopped at the time cap."""
        log.warning(
            "generation cut at GATEWAY_MAX_GENERATION_SECONDS",
            extra={"model": model, "chunks": produced},
        )
        return {"model": model, "done": True, "done_reason": "length", "eval_count": produced}

    async def _next_read(
        self,
        raw: AsyncIterator[bytes],
        deadline: ReadDeadline,
        knob: str = "GATEWAY_CHUNK_TIMEOUT",
    ) -> bytes:
        """The next piece of a streamed body, ``b""`` at its end; silence and breaks raise.

        ``knob`` names the setting of ``deadline``'s limit in the timeout's message.
        """
        try:
            return await deadline.read(anext(raw))
        except StopAsyncIteration:
            return b""
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"Ollama went silent for more than {deadline.seconds:g} s in the "
                f"middle of an answer. Retry, or raise {knob}."
            ) from exc
        except httpx.TransportError as exc:
            raise BrokenStream(
                f"The connection to Ollama broke in the middle of an answer "
                f"({type(exc).__name__}). Retry the request."
            ) from exc

    async def _read_all(self, response: httpx.Response) -> bytes:
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                return await response.aread()
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"Ollama did not finish answering within {self.settings.total_timeout:g} s. "
                "Retry, or raise GATEWAY_TOTAL_TIMEOUT."
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamError(
                f"The connection to Ollama broke while reading its answer ({type(exc).__name__})."
                " Retry the request."
            ) from exc


async def _drain(raw: AsyncIterator[bytes]) -> None:
    """Read the end of the chunked body after Ollama's final object.

    A response closed before its end closes the connection too; drained, the connection goes
    back to the pool and the next request skips a TCP connect (and a TIME_WAIT socket).
    """
    with contextlib.suppress(httpx.TransportError, TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in raw:
                pass


def _decode_object(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(
            "Ollama sent a reply the gateway could not read (not JSON). Retry the request."
        ) from exc
    if not isinstance(data, dict):
        raise UpstreamError("Ollama sent an unexpected reply (not a JSON object).")
    return data


def shared_counts(settings: Settings) -> SharedInFlight | None:
    """In-flight counts shared by every worker (in the rate limits' Redis), with several
    backends; None otherwise (this worker counts its own)."""
    redis = settings.ratelimit_storage.startswith(RATELIMIT_SCHEMES[1:])
    return SharedInFlight(settings) if redis and len(settings.backend_urls) > 1 else None


def encode(body: dict[str, Any]) -> bytes:
    """``body`` as JSON for Ollama; JSON too deep for the encoder is the client's 400.

    Bodies were decoded strictly (valid Unicode, finite numbers), so nesting deeper than
    orjson writes (254 levels, in tool parameters or a schema) is all that can fail here.
    """
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise InvalidRequest(
            f"The request cannot be forwarded to Ollama ({exc}): objects or arrays nested more "
            "than 254 levels deep (in tool parameters, a schema or arguments) are not supported. "
            "Flatten them.",
            code="invalid_json",
        ) from None
