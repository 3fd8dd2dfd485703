"""Headless Chromium for the report tests (Selenium with Debian's chromium-driver); a missing browser fails the test
with the install command, never skips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

INSTALL = "apt-get install -y chromium chromium-driver"


def chrome_driver(screenshots: Path, width: int = 1280, height: int = 2000):  # noqa: ANN201 - selenium's WebDriver
    """Headless Chromium through Debian's chromedriver, the window `width` x `height` px, console logs kept."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if browser is None or not Path(driver_path).exists():
        pytest.fail(f"Chromium or chromedriver is missing; install them with: {INSTALL}")
    try:
        from selenium import webdriver  # deferred: selenium is a dev dependency, loaded only by browser tests
        from selenium.webdriver.chrome.service import Service  # deferred: as above
    except ImportError:
        pytest.fail("selenium is not installed: run `make venv` (it is in pyproject's dev extra)")

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    screenshots.mkdir(parents=True, exist_ok=True)
    return webdriver.Chrome(service=Service(driver_path), options=options)
