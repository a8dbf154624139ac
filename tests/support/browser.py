"""Headless Chromium driven by Selenium: Debian's ``chromium`` and ``chromium-driver``, nothing
downloaded (Selenium Manager is never asked: both executables are named)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.waiting import PATIENCE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
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
