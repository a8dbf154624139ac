"""The page at / in headless Chromium driven by Selenium, for the unit and the e2e browser tests.

Debian's ``chromium`` and ``chromium-driver`` (elsewhere the Chrome a runner ships); nothing is
downloaded: both executables are named, so Selenium Manager is never asked. What a person does on
the page (type a key, send a prompt) and what another web app does (a streaming ``fetch``) are
here once, for both suites.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.support.waiting import PATIENCE

# Debian's packages; elsewhere (GitHub's Ubuntu runners) the Chrome and chromedriver they ship.
CHROMIUM = next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
    "/usr/bin/chromium",
)
CHROMEDRIVER = shutil.which("chromedriver") or os.path.join(
    os.environ.get("CHROMEWEBDRIVER", "/usr/bin"), "chromedriver"
)
DESKTOP = (1280, 900)
PHONE = (375, 740)


@contextmanager
def headless_chromium() -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own profile, so its own local storage); quit at the end."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # runs as root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_script_timeout(PATIENCE)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: webdriver.Chrome, what: str, condition: Any) -> Any:
    """Wait (generously) until ``condition(driver)`` is truthy; the failure names ``what``."""
    return WebDriverWait(driver, PATIENCE, poll_frequency=0.05).until(condition, message=what)


def text_of(driver: webdriver.Chrome, element_id: str) -> str:
    """The visible text of the element with this id."""
    return str(driver.find_element(By.ID, element_id).text)


def health_state(driver: webdriver.Chrome) -> str:
    """``ok``, ``bad`` or ``unknown``: the colour of the health summary."""
    return str(driver.find_element(By.ID, "health-summary").get_attribute("data-state"))


def open_page(driver: webdriver.Chrome, url: str) -> None:
    """Load the page at ``url`` with no key stored, at desktop size."""
    driver.set_window_size(*DESKTOP)
    driver.get(url)
    driver.execute_script("localStorage.clear()")
    driver.refresh()


def use_key(driver: webdriver.Chrome, key: str) -> None:
    """Type the key into the key box and press Enter, as a person would."""
    box = driver.find_element(By.ID, "api-key")
    box.clear()
    box.send_keys(key, Keys.ENTER)


@dataclass(frozen=True)
class Answer:
    """What the page showed for one prompt: the answer, and its length at every change."""

    text: str
    lengths: list[int]

    def pieces(self) -> int:
        """How many partial answers were on screen before the whole one."""
        return len({n for n in self.lengths if 0 < n < len(self.text)})


# Records the answer's length at every change, to see it grow token by token.
_WATCH_ANSWER = """
const answer = document.getElementById("answer");
window.answerLengths = [];
new MutationObserver(() => window.answerLengths.push(answer.textContent.length))
  .observe(answer, {childList: true, characterData: true, subtree: true});
"""


def ask(driver: webdriver.Chrome, prompt: str) -> Answer:
    """Type ``prompt``, send it with Ctrl+Enter and wait for the whole streamed answer."""
    driver.execute_script(_WATCH_ANSWER)
    box = driver.find_element(By.ID, "prompt")
    box.clear()
    box.send_keys(prompt)
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for(driver, "the usage line after the answer", lambda d: text_of(d, "answer-meta"))
    return Answer(text_of(driver, "answer"), driver.execute_script("return window.answerLengths"))


async def _blank(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>another web app</title>")


ANOTHER_WEB_APP = Starlette(routes=[Route("/", _blank)])
"""A web app on another origin: a blank page from which :func:`streaming_fetch` runs."""

_STREAMING_FETCH = """
const [url, key, done] = arguments;
fetch(url + "/v1/chat/completions", {
  method: "POST",
  headers: {Authorization: `Bearer ${key}`, "Content-Type": "application/json"},
  body: JSON.stringify({stream: true, messages: [{role: "user", content: "Hi"}]}),
}).then(async (response) => {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let reads = 0, text = "";
  for (;;) {
    const {value, done: end} = await reader.read();
    if (end) break;
    reads += 1;
    text += decoder.decode(value, {stream: true});
  }
  done({status: response.status, reads, text, requestId: response.headers.get("x-request-id")});
}).catch((error) => done({error: String(error)}));
"""


def streaming_fetch(driver: webdriver.Chrome, api_url: str, key: str) -> dict[str, Any]:
    """A streaming chat request by ``fetch`` from the page the driver shows, read chunk by chunk.

    Returns ``status``, ``reads`` (chunks read), ``text`` and ``requestId`` (an exposed header),
    or ``error`` when the browser refused (CORS).
    """
    result: dict[str, Any] = driver.execute_async_script(_STREAMING_FETCH, api_url, key)
    return result


_TABLE = """
const table = document.getElementById(arguments[0]);
if (!table) return null;
const texts = (cells) => [...cells].map((c) => c.textContent.trim());
const rows = {};
for (const row of table.tBodies[0].rows) {
  rows[row.querySelector("th[scope=row]").textContent.trim()] = texts(row.querySelectorAll("td"));
}
const columns = texts(table.querySelectorAll("thead th"));
return {caption: table.caption.textContent, columns, rows};
"""


def usage_table(driver: webdriver.Chrome, table_id: str) -> dict[str, Any] | None:
    """One table of the usage panel (``usage-key``, ``usage-budgets``, …), or None while absent.

    ``caption``, ``columns`` (the column headers) and ``rows``: each row's header → its cells.
    """
    table: dict[str, Any] | None = driver.execute_script(_TABLE, table_id)
    return table
