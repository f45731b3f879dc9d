"""Helpers of the browser tests: the one way Chromium is launched, screenshots, sign-in."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

from joingate.testing.service import JoingateService

CHROMIUM = os.environ.get("JOINGATE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, service: JoingateService) -> None:
    page.goto(f"{service.url}/admin/")
    page.get_by_label("Admin token").fill(service.admin_token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()
