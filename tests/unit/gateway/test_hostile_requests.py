"""The hostile-request corpus (tests/support/hostile.py) straight at the gateway, without nginx.

Each case goes out as raw bytes on its own keep-alive connection; its answer must be a 4xx (or a
2xx where the case allows it) in OpenAI's error envelope, never a 5xx or a hang, and an innocent
request right after it on the same connection must succeed: a request that makes uvicorn drop
the connection would make an innocent user behind nginx's keep-alive pool pay with a 502.
Framing the HTTP parser rejects may get uvicorn's plain-text 400 (the app never sees it).

One test per case runs against the in-process uvicorn gateway (so coverage sees the code); the
cases that exercise the server layers (all but the json and types classes) then run once more
against real gunicorn workers, and the gateway must be healthy afterwards.
"""

from __future__ import annotations

import pytest

from gateway.settings import Settings
from tests.support.gunicorn import running_gunicorn
from tests.support.hostile import Case, corpus, expect, judge
from tests.support.hostile_run import Target, healthy_after, run_case
from tests.support.rawhttp import Outcome, RawResponse
from tests.support.servers import TEST_ACCESS, TEST_API_KEY

MAX_BODY_BYTES: int = Settings.model_fields["max_body_bytes"].default
CASES = corpus(MAX_BODY_BYTES)
MODEL = "gpt-oss-20b"
# Under gunicorn: the classes where the server layers matter (HTTP parsing, sizes, encodings);
# the body validation of the json/types classes is the same code as in process.
GUNICORN_CASES = [case for case in CASES if case.klass not in ("json", "types")]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_is_contained(
    case: Case, session_gateway_url: str, gateway_api_key: str
) -> None:
    problems = run_case(case, Target.from_url(session_gateway_url, gateway_api_key), direct=True)

    assert not problems, f"{case.name} ({case.klass}): " + "; ".join(problems)


def test_gateway_is_healthy_after_the_corpus(gateway_url: str, gateway_api_key: str) -> None:
    problems = healthy_after(Target.from_url(gateway_url, gateway_api_key), MODEL)

    assert not problems, problems


def test_gunicorn_workers_contain_every_hostile_request(fake_ollama_url: str) -> None:
    env = {
        "GATEWAY_OLLAMA_URL": fake_ollama_url,
        **{f"GATEWAY_{name.upper()}": str(value) for name, value in TEST_ACCESS.items()},
    }
    failures: dict[str, list[str]] = {}
    with running_gunicorn(env, workers=2) as gunicorn:
        target = Target.from_url(gunicorn.url, TEST_API_KEY)
        for case in GUNICORN_CASES:
            problems = run_case(case, target, direct=True)
            if problems:
                failures[case.name] = problems
        health = healthy_after(target, MODEL)
        log = gunicorn.log()

    report = "\n".join(f"{name}: {'; '.join(problems)}" for name, problems in failures.items())
    assert not failures, (
        f"{len(failures)} of {len(GUNICORN_CASES)} cases failed:\n{report}\n{log[-4000:]}"
    )
    assert not health, health


# ---- the judge itself: it must catch what the corpus is for --------------------------------


def _outcome(status: int, body: bytes, content_type: str, **flags: bool) -> Outcome:
    headers = (("content-type", content_type), ("content-length", str(len(body))))
    return Outcome(RawResponse("HTTP/1.1", status, "", headers, body), None, 0.01, **flags)


ENVELOPE = (
    b'{"error": {"message": "m", "type": "invalid_request_error", "param": null, "code": null}}'
)
WELL_FRAMED = Case("x.bad-type", "types", expect(400), body=b"{}")
BAD_FRAMING = Case("x.bad-framing", "framing", expect(parser_may_reject=True), raw=b"x")


def test_judge_accepts_an_enveloped_400() -> None:
    assert judge(WELL_FRAMED, _outcome(400, ENVELOPE, "application/json"), direct=True) == []


@pytest.mark.parametrize(
    ("outcome", "complaint"),
    [
        (_outcome(500, ENVELOPE, "application/json"), "server error 500"),
        (_outcome(422, ENVELOPE, "application/json"), "status 422 not acceptable"),
        (_outcome(400, b"Bad Request", "text/plain"), "not JSON"),
        (_outcome(400, b'{"detail": "x"}', "application/json"), "not the error envelope"),
        (_outcome(400, ENVELOPE, "application/json", server_closed=True), "closed the keep-alive"),
        (Outcome(None, "timeout: no complete response within 30 s", 30.0), "no answer"),
    ],
)
def test_judge_flags_what_the_corpus_hunts(outcome: Outcome, complaint: str) -> None:
    problems = judge(WELL_FRAMED, outcome, direct=True)

    assert any(complaint in problem for problem in problems), problems


def test_uvicorns_plain_400_is_accepted_only_directly_and_only_for_framing() -> None:
    plain = _outcome(400, b"Invalid HTTP request received.", "text/plain", server_closed=True)

    assert judge(BAD_FRAMING, plain, direct=True) == []
    assert judge(BAD_FRAMING, plain, direct=False)
    assert judge(WELL_FRAMED, plain, direct=True)
