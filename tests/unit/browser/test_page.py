"""The page at / in a real (headless) Chromium, served by nginx in front of a gateway and the fake.

Also two pages on other origins calling the API with ``fetch``: one allowed by
``GATEWAY_CORS_ORIGINS``, one not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

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
    use_key,
    wait_for,
)
from tests.support.local_nginx import running_nginx
from tests.support.servers import TEST_ACCESS, TEST_API_KEY, running_gateway, serving

MODEL = "gpt-oss:20b"


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
    """nginx + gateway + fake; the gateway and nginx allow the first of two other web apps."""
    with ExitStack() as running:
        allowed_app = running.enter_context(serving(ANOTHER_WEB_APP))
        refused_app = running.enter_context(serving(ANOTHER_WEB_APP))
        gateway = running.enter_context(
            running_gateway(
                ollama_url=fake_ollama_process.url, log_level="WARNING", cors_origins=allowed_app
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


def test_usage_without_v1_me_is_a_plain_notice(page: webdriver.Chrome) -> None:
    """A plain notice where GET /v1/me answers 404 (or its fields once the server has it)."""
    use_key(page, TEST_API_KEY)

    def reported(driver: webdriver.Chrome) -> bool:
        usage = driver.find_element(By.ID, "usage")
        listed = bool(usage.find_elements(By.TAG_NAME, "dl"))
        return listed or "does not report usage" in usage.text

    assert wait_for(page, "usage or the 404 notice", reported)


def test_every_control_is_labelled_and_the_page_fits_a_phone(page: webdriver.Chrome) -> None:
    unlabelled = page.execute_script(
        "return [...document.querySelectorAll('input, select, textarea')]"
        ".filter((e) => e.labels.length === 0).map((e) => e.id)"
    )
    assert unlabelled == []
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


def test_usage_lists_every_field_the_server_reports(
    browser: webdriver.Chrome, fake_ollama: FakeOllamaProcess, tmp_path: Path
) -> None:
    """Whatever GET /v1/me answers (a stand-in here), the page lists its names and values."""
    app = create_app(Settings(**TEST_ACCESS, ollama_url=fake_ollama.url, log_level="WARNING"))

    @app.get("/v1/me")
    async def me() -> dict[str, object]:
        return {"name": "alice", "tokens_today": 1234, "models": ["gpt-oss:20b"]}

    with serving(app) as gateway, running_nginx(gateway.removeprefix("http://"), tmp_path) as url:
        open_page(browser, url + "/")
        use_key(browser, TEST_API_KEY)
        listed = wait_for(
            browser, "the usage list", lambda d: d.find_elements(By.CSS_SELECTOR, "#usage dl")
        )
        text = listed[0].text
    for shown in ("name", "alice", "tokens_today", "1234", '["gpt-oss:20b"]'):
        assert shown in text
