"""The page at / in a real (headless) Chromium, served by nginx in front of a gateway and the fake.

The gateway knows the test key and, from a key file, ``budget``: a key with a daily token budget
whose usage panel must follow its chats. Also two pages on other origins calling the API with
``fetch``: one allowed by ``GATEWAY_CORS_ORIGINS``, one not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from fake_ollama.testing import FakeOllamaProcess
from gateway.app import create_app
from gateway.settings import Settings
from tests.support.browser import (
    ANOTHER_WEB_APP,
    PHONE,
    ask,
    headless_chromium,
    health_state,
    open_page,
    streaming_fetch,
    text_of,
    usage_table,
    use_key,
    wait_for,
)
from tests.support.local_nginx import running_nginx
from tests.support.servers import TEST_ACCESS, TEST_API_KEY, running_gateway, serving
from tests.unit.gateway.access.ratelimit_support import bearer, key_record, write_keys
from tests.unit.gateway.access.usage.usage_support import secret

MODEL = "gpt-oss:20b"
BUDGET_KEY = secret("budget")
DAILY_TOKENS = 100_000


@dataclass(frozen=True)
class Stack:
    """Where the page (nginx) and the two other web apps are."""

    url: str
    allowed_app: str
    refused_app: str


@pytest.fixture(scope="module")
def stack(
    fake_ollama_process: FakeOllamaProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """nginx + gateway + fake; the gateway and nginx allow the first of two other web apps.

    Its keys: the test key (no limits) and ``budget`` (a daily token budget) from a key file.
    """
    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    write_keys(keys, key_record(BUDGET_KEY, "budget", daily_tokens=DAILY_TOKENS))
    with ExitStack() as running:
        allowed_app = running.enter_context(serving(ANOTHER_WEB_APP))
        refused_app = running.enter_context(serving(ANOTHER_WEB_APP))
        gateway = running.enter_context(
            running_gateway(
                ollama_url=fake_ollama_process.url,
                log_level="WARNING",
                cors_origins=allowed_app,
                keys_file=keys,
            )
        )
        url = running.enter_context(
            running_nginx(
                gateway.removeprefix("http://"),
                tmp_path_factory.mktemp("nginx"),
                GATEWAY_CORS_ORIGINS=allowed_app,
            )
        )
        yield Stack(url, allowed_app, refused_app)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the module."""
    with headless_chromium() as driver:
        yield driver


@pytest.fixture
def token_by_token(fake_ollama: FakeOllamaProcess) -> Iterator[None]:
    """The fake streams its tokens 20 ms apart (reset afterwards, for the modules that follow)."""
    httpx.post(f"{fake_ollama.url}/_fake/config", json={"token_delay": 0.02}).raise_for_status()
    yield
    httpx.post(f"{fake_ollama.url}/_fake/reset").raise_for_status()


@pytest.fixture
def page(browser: webdriver.Chrome, stack: Stack, token_by_token: None) -> webdriver.Chrome:
    """The page, freshly loaded with no key stored."""
    open_page(browser, stack.url + "/")
    return browser


def test_the_page_shows_the_stack_ready(page: webdriver.Chrome) -> None:
    summary = wait_for(page, "health summary", lambda d: text_of(d, "health-summary") == "Ready")
    assert summary
    components = text_of(page, "health-components")
    for name in ("gateway: ok", "ollama: ok", "model: ok"):
        assert name in components


def test_a_wrong_key_shows_the_apis_401_message(page: webdriver.Chrome) -> None:
    use_key(page, "sk-wrong")
    message = wait_for(page, "an error message", lambda d: d.find_element(By.ID, "error").text)
    assert "Incorrect API key" in message
    assert "HTTP 401" in message


def test_a_right_key_streams_an_answer_that_grows(page: webdriver.Chrome) -> None:
    use_key(page, TEST_API_KEY)
    wait_for(page, "the model list", lambda d: MODEL in text_of(d, "models"))
    assert page.execute_script("return localStorage.getItem('gptoss.apiKey')") == TEST_API_KEY
    answer = ask(page, "Say hello")
    assert answer.text
    assert answer.pieces() >= 3, f"the answer did not grow piece by piece: {answer.lengths}"
    assert answer.lengths == sorted(answer.lengths)
    reasoning = page.find_element(By.ID, "reasoning-box")
    assert reasoning.is_displayed()
    assert reasoning.get_attribute("open") is None, "the reasoning starts folded"
    reasoning.find_element(By.TAG_NAME, "summary").click()
    assert text_of(page, "reasoning")
    assert not page.find_element(By.ID, "error").is_displayed()


def test_a_budget_shows_the_tokens_used_and_left_after_a_chat(
    page: webdriver.Chrome, stack: Stack
) -> None:
    use_key(page, BUDGET_KEY)

    def budgets(driver: webdriver.Chrome) -> dict[str, list[str]] | None:
        table = usage_table(driver, "usage-budgets")
        return None if table is None else table["rows"]

    before = wait_for(page, "the budgets of the key", budgets)
    assert before["Token budget"] == [f"{DAILY_TOKENS:,}", "no limit"]
    assert before["Tokens used"][0] == "0"
    assert before["Tokens left"] == [f"{DAILY_TOKENS:,}", "—"], "no monthly budget: nothing left"
    assert before["Request budget"] == ["no limit", "no limit"]
    key = usage_table(page, "usage-key")
    assert key is not None
    assert key["rows"]["Name"] == ["budget"]
    assert key["rows"]["Expires"] == ["never"]

    ask(page, "Say hello")
    counts = re.fullmatch(r"(\d+) prompt \+ (\d+) completion tokens", text_of(page, "answer-meta"))
    assert counts, text_of(page, "answer-meta")
    used = int(counts[1]) + int(counts[2])
    assert used > 0
    # No reload: the page reads /v1/me again once the answer is charged.
    after = wait_for(
        page,
        f"{used} tokens used on the budget",
        lambda d: (rows := budgets(d)) and rows["Tokens used"][0] == f"{used:,}" and rows,
    )
    assert after["Tokens left"][0] == f"{DAILY_TOKENS - used:,}"
    me = httpx.get(f"{stack.url}/v1/me", headers=bearer(BUDGET_KEY), timeout=30).json()
    resets = datetime.fromtimestamp(me["usage"]["day"]["resets_at"], UTC)
    assert resets.time().isoformat() == "00:00:00", "days reset at midnight UTC"
    assert after["Resets at (UTC)"][0].startswith(resets.strftime("%Y-%m-%dT%H:%M:%SZ"))
    usage = usage_table(page, "usage-periods")
    assert usage is not None
    assert usage["rows"]["Requests"][0] == "1"
    assert usage["rows"]["Total tokens"][0] == f"{used:,}"
    assert usage["columns"][0] == f"Today {me['usage']['day']['period']}"
    limits = usage_table(page, "usage-limits")
    assert limits is not None
    assert limits["rows"]["Requests per minute"] == ["no limit"]


def test_every_control_is_labelled_and_the_page_fits_a_phone(page: webdriver.Chrome) -> None:
    unlabelled = page.execute_script(
        "return [...document.querySelectorAll('input, select, textarea')]"
        ".filter((e) => e.labels.length === 0).map((e) => e.id)"
    )
    assert unlabelled == []
    use_key(page, BUDGET_KEY)
    wait_for(page, "the usage tables", lambda d: usage_table(d, "usage-budgets"))
    tables: list[dict[str, Any]] = page.execute_script(
        "return [...document.querySelectorAll('#usage table')].map((t) => ({"
        " caption: t.caption && t.caption.textContent,"
        " unscoped: [...t.querySelectorAll('th')].filter((h) => !h.scope).length}))"
    )
    assert len(tables) >= 4
    for table in tables:
        assert table["caption"], table
        assert table["unscoped"] == 0, table
    page.set_window_size(*PHONE)
    overflow: dict[str, Any] = page.execute_script(
        "return {page: document.documentElement.scrollWidth, screen: window.innerWidth}"
    )
    assert overflow["page"] <= overflow["screen"], overflow


def test_another_allowed_origin_streams_with_fetch(
    browser: webdriver.Chrome, stack: Stack, token_by_token: None
) -> None:
    browser.get(stack.allowed_app + "/")
    result = streaming_fetch(browser, stack.url, TEST_API_KEY)
    assert "error" not in result, result
    assert result["status"] == 200
    assert result["reads"] >= 2, "the stream arrived in pieces"
    assert result["text"].rstrip().endswith("data: [DONE]")
    assert result["requestId"], "the exposed X-Request-ID is readable"


def test_another_origin_not_listed_is_refused(browser: webdriver.Chrome, stack: Stack) -> None:
    browser.get(stack.refused_app + "/")
    assert streaming_fetch(browser, stack.url, TEST_API_KEY) == {
        "error": "TypeError: Failed to fetch"
    }


def test_health_turns_red_when_the_gateway_stops(
    browser: webdriver.Chrome, fake_ollama: FakeOllamaProcess, tmp_path: Path
) -> None:
    with ExitStack() as proxy:
        with running_gateway(ollama_url=fake_ollama.url, log_level="WARNING") as gateway:
            url = proxy.enter_context(running_nginx(gateway.removeprefix("http://"), tmp_path))
            open_page(browser, url + "/")
            wait_for(browser, "Ready", lambda d: text_of(d, "health-summary") == "Ready")
        # the gateway has stopped; nginx answers 502 for it
        wait_for(browser, "the health panel turning red", lambda d: health_state(d) == "bad")
        summary = text_of(browser, "health-summary")
    assert "not reachable" in summary
    assert "gateway: unreachable" in text_of(browser, "health-components")


@contextmanager
def page_with_me(
    browser: webdriver.Chrome, fake_ollama: FakeOllamaProcess, tmp_path: Path, me: Any
) -> Iterator[None]:
    """The page of a gateway whose GET /v1/me answers ``me`` (None: a 404, no /v1/me)."""
    app = create_app(Settings(**TEST_ACCESS, ollama_url=fake_ollama.url, log_level="WARNING"))
    stand_in = (
        JSONResponse({"error": {"message": "Not Found", "code": "not_found"}}, status_code=404)
        if me is None
        else JSONResponse(me)
    )

    async def gateway_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/me":
            await stand_in(scope, receive, send)
        else:
            await app(scope, receive, send)

    with (
        serving(gateway_app) as gateway,
        running_nginx(gateway.removeprefix("http://"), tmp_path) as url,
    ):
        open_page(browser, url + "/")
        use_key(browser, TEST_API_KEY)
        yield


def test_usage_without_v1_me_is_a_plain_notice(
    browser: webdriver.Chrome, fake_ollama: FakeOllamaProcess, tmp_path: Path
) -> None:
    with page_with_me(browser, fake_ollama, tmp_path, None):
        notice = wait_for(
            browser,
            "the 404 notice",
            lambda d: "does not report usage" in text_of(d, "usage") and text_of(d, "usage"),
        )
        assert browser.find_elements(By.CSS_SELECTOR, "#usage table") == []
    assert notice == "This server does not report usage (no /v1/me)."


def test_usage_shows_missing_limits_as_none_and_still_lists_unknown_fields(
    browser: webdriver.Chrome, fake_ollama: FakeOllamaProcess, tmp_path: Path
) -> None:
    """A /v1/me (a stand-in here) with fields missing, nulls and fields the page does not know."""

    me = {
        "name": "alice",
        "models": ["gpt-oss:20b"],
        "expires_at": 1798761600,
        "limits": {
            "requests_per_minute": 0,
            "tokens_per_minute": 20000,
            "max_concurrent": None,
        },
        "tokens_today": 1234,
        "plan": {"tier": "gold"},
    }

    with page_with_me(browser, fake_ollama, tmp_path, me):
        other = wait_for(browser, "the other fields", lambda d: usage_table(d, "usage-other"))
        key = usage_table(browser, "usage-key")
        limits = usage_table(browser, "usage-limits")
        periods = usage_table(browser, "usage-periods")
    assert other["rows"] == {"tokens_today": ["1,234"], "plan": ['{"tier":"gold"}']}
    assert key is not None
    assert key["rows"] == {
        "Name": ["alice"],
        "Models": ["gpt-oss:20b"],
        "Expires": ["2027-01-01T00:00:00Z"],
    }
    assert limits is not None
    assert limits["rows"] == {
        "Requests per minute": ["no limit"],
        "Tokens per minute": ["20,000"],
        "Requests at once": ["no limit"],
    }
    assert periods is None, "no usage reported: no usage table"
