"""Browser tests: Playwright (sync API) driving the system's chromium against pytest-django's live_server.

Chromium comes from the OS (`apt-get install chromium`, as .ci/run does), not from Playwright's own
download, which needs the internet. Without it the tests fail rather than skip: a skipped browser
test would hide a broken page in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in the test's thread, so Django thinks the test's ORM
    # calls are made from async code and refuses them. They are not: the loop only drives the browser.
    # Set for the browser tests only, so that it does not leak into other tests' subprocesses.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install chromium` (see .ci/run).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose page fails the test on any script error or any
    request that leaves the live server (the pages must not fetch from a CDN)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    def on_request(request: Request) -> None:
        if not request.url.startswith((live_server.url, "data:")):
            errors.append(f"request to another site: {request.url}")

    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", on_console)
    page.on("request", on_request)
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest):
    """screenshot("home") saves var/screenshots/<test name>-home.png (git-ignored), to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
