"""Browser tests: Debian's /usr/bin/chromium driven by Playwright against a real `joingate serve`.

Never a downloaded browser. A missing chromium or playwright fails the suite (it does not skip):
these tests are how we know the pages work.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from joingate.testing.service import JoingateService

from .browser import ARGS, CHROMIUM


# Module scope, not session: sync Playwright keeps an event loop running in this thread while
# it lives, which would break the asyncio tests of other suites run after these.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package "
                    "(apt-get install chromium); browser tests never download a browser")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JoingateService]:
    with JoingateService(tmp_path / "svc") as svc:
        yield svc


@dataclass
class Watch:
    """What the pages asked for and complained about."""

    base: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        return [u for u in self.requests
                if not (u.startswith(self.base + "/") or u.startswith("data:"))]


@pytest.fixture
def watch(service: JoingateService) -> Watch:
    return Watch(service.url)


@pytest.fixture
def context(browser: Browser, watch: Watch) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB")
    ctx.on("request", lambda req: watch.requests.append(req.url))
    yield ctx
    ctx.close()
    # Every page loaded only what this server serves, and nothing broke the CSP.
    assert watch.foreign() == []
    assert watch.console_errors == []


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Page:
    page = context.new_page()

    def on_console(msg: object) -> None:
        text = getattr(msg, "text", "")
        kind = getattr(msg, "type", "")
        # A form answered with a 4xx is expected (e.g. a refused restriction): the browser
        # logs the status. Anything else — a CSP violation above all — is a failure.
        if kind == "error" and not re.search(r"status of (400|401|403|404|409|422|429)", text):
            watch.console_errors.append(text)

    page.on("console", on_console)
    return page
