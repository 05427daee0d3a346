"""A real browser for page tests: Playwright driving Debian's Chromium (``apt install chromium``,
done by ``./run test``), headless, as a lobby kiosk runs it.

Playwright's own browser downloads are not used: the machine's Chromium is what a Raspberry Pi
kiosk runs, and the tests must not need the internet. The sync API fits plain (non-async) test
functions; the hub runs in its own thread (:mod:`tests.support.hub_server`) as in production.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.support.hub_server import SITE_ZONE

CHROMIUM = Path(os.environ.get("VIVANT_TEST_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FULL_HD: ViewportSize = {"width": 1920, "height": 1080}


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Chromium for one test.

    Not shared across tests: while Playwright's sync API is open it holds an event loop marked as
    running in this thread, which would break every asyncio test that runs after it.
    """
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (./run test does it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh 1920×1080 page (its own context: no cookies or cache shared between tests)."""
    context = browser.new_context(viewport=FULL_HD, locale="fr-FR", timezone_id=SITE_ZONE)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of *page* as ``test-artifacts/<name>.png`` (to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
