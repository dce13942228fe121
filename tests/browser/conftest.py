"""The admin in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
which scripts/test.sh installs when missing) driven by Selenium against pytest-django's
``live_server``, at 1400 x 900. A failing test leaves a screenshot in tests/browser/screenshots/
(git-ignored)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDTH, HEIGHT = 1400, 900


def _chromium() -> tuple[str, str]:
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail(
            "headless Chromium is needed: apt-get install -y chromium chromium-driver "
            "(scripts/test.sh installs them when missing)"
        )
    return browser, driver


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WIDTH},{HEIGHT}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        driver = getattr(item, "funcargs", {}).get("browser")
        if driver is not None:
            SCREENSHOTS.mkdir(exist_ok=True)
            path = SCREENSHOTS / f"{item.name}.png"
            driver.save_screenshot(str(path))
            report.sections.append(("screenshot", str(path)))
    return report
