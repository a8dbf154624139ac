"""The page at / of the compose stack in headless Chromium, and web apps on other origins (CORS).

Screenshots of the page go to tests/e2e/artifacts/ (listed under "e2e measurements").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.e2e.conftest import chat_request
from tests.e2e.stack import REPO_ROOT, Stack, StackSettings, wait_until
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
from tests.support.servers import serving

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO_ROOT / "tests" / "e2e" / "artifacts"
Measured = Callable[[str, str], None]


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the module."""
    with headless_chromium() as driver:
        yield driver


@pytest.fixture
def screenshot(browser: webdriver.Chrome, measured: Measured) -> Callable[[str], Path]:
    """Save what the browser shows as ``artifacts/<name>.png`` and note the path."""

    def save(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        browser.save_screenshot(str(path))
        measured(f"screenshot {name}", str(path.relative_to(REPO_ROOT)))
        return path

    return save


def test_the_page_shows_health_errors_and_a_streamed_answer(
    ready_stack: Stack,
    stack_settings: StackSettings,
    browser: webdriver.Chrome,
    screenshot: Callable[[str], Path],
    measured: Measured,
) -> None:
    open_page(browser, ready_stack.base_url + "/")
    wait_for(browser, "the stack Ready", lambda d: text_of(d, "health-summary") == "Ready")
    components = text_of(browser, "health-components")
    for name in ("gateway: ok", "ollama: ok", "model: ok", "redis: ok"):
        assert name in components
    screenshot("page-ready")

    use_key(browser, "sk-not-a-key")
    message = wait_for(browser, "the 401 message", lambda d: d.find_element(By.ID, "error").text)
    assert "Incorrect API key" in message
    screenshot("page-wrong-key")

    use_key(browser, stack_settings.api_key)
    wait_for(browser, "the models", lambda d: stack_settings.model in text_of(d, "models"))
    answer = ask(browser, "Say hello")
    assert answer.pieces() >= 3, f"the answer did not grow token by token: {answer.lengths}"
    assert not browser.find_element(By.ID, "error").is_displayed()
    browser.find_element(By.CSS_SELECTOR, "#reasoning-box summary").click()
    assert text_of(browser, "reasoning")
    screenshot("page-answer")
    measured(
        "page: streamed answer",
        f"{len(answer.text)} characters, on screen in {answer.pieces()} growing pieces first",
    )
    browser.set_window_size(*PHONE)
    screenshot("page-phone")


def test_web_apps_on_other_origins_stream_only_when_allowed(
    ready_stack: Stack, stack_settings: StackSettings, browser: webdriver.Chrome, measured: Measured
) -> None:
    with ExitStack() as running:
        allowed = running.enter_context(
            serving(ANOTHER_WEB_APP, port=urlsplit(stack_settings.web_app_origin).port)
        )
        refused = running.enter_context(serving(ANOTHER_WEB_APP))
        browser.get(allowed + "/")
        streamed = streaming_fetch(browser, ready_stack.base_url, stack_settings.api_key)
        browser.get(refused + "/")
        blocked = streaming_fetch(browser, ready_stack.base_url, stack_settings.api_key)
    assert "error" not in streamed, streamed
    assert streamed["status"] == 200
    assert streamed["reads"] >= 2
    assert streamed["text"].rstrip().endswith("data: [DONE]")
    assert streamed["requestId"]
    assert blocked == {"error": "TypeError: Failed to fetch"}
    measured("CORS: allowed origin", f"streamed in {streamed['reads']} reads")
    measured("CORS: origin not listed", blocked["error"])


def test_the_health_panel_turns_red_when_the_gateway_stops(
    ready_stack: Stack,
    stack_settings: StackSettings,
    browser: webdriver.Chrome,
    screenshot: Callable[[str], Path],
) -> None:
    open_page(browser, ready_stack.base_url + "/")
    wait_for(browser, "the stack Ready", lambda d: health_state(d) == "ok")
    ready_stack.run("stop", "gateway")
    try:
        wait_for(browser, "the health panel turning red", lambda d: health_state(d) == "bad")
        assert "gateway: unreachable" in text_of(browser, "health-components")
        screenshot("page-gateway-down")
    finally:
        ready_stack.run("start", "gateway")
        wait_until(
            lambda: True if chat_request(ready_stack, stack_settings).status_code == 200 else None,
            timeout=120,
            what="the gateway back",
        )
    wait_for(browser, "the health panel green again", lambda d: health_state(d) == "ok")
