"""The page at / in headless Chromium (Debian chromium + chromium-driver, Selenium)."""
