"""The admin pages as an operator deploys them: Chromium → a TLS-terminating reverse proxy
(https, X-Forwarded-For, X-Forwarded-Proto) → `joingate serve` trusting that proxy. The session
cookie is Secure, a guesser sharing the proxy cannot lock the admin out, and text carrying
bidirectional controls is refused next to its field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from joingate.testing.service import JoingateService
from tests.support.tls_proxy import TlsProxy

from .browser import shot

pytestmark = pytest.mark.integration
RLO = "\u202e"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JoingateService]:
    with JoingateService(tmp_path / "svc",
                         env={"JOINGATE_SERVER_TRUSTED_PROXIES": "127.0.0.1"}) as svc:
        yield svc


@pytest.fixture
def proxy(service: JoingateService, tmp_path: Path) -> Iterator[TlsProxy]:
    with TlsProxy(tmp_path / "proxy", service.url) as running:
        yield running


@pytest.fixture
def tls_page(browser: Browser) -> Iterator[tuple[BrowserContext, Page]]:
    ctx = browser.new_context(ignore_https_errors=True, locale="en-GB")
    yield ctx, ctx.new_page()
    ctx.close()


def _try(page: Page, token: str) -> int:
    page.get_by_label("Admin token").fill(token)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    return answer.value.status


def test_secure_cookie_and_no_lockout_behind_a_tls_proxy(
        tls_page: tuple[BrowserContext, Page], proxy: TlsProxy,
        service: JoingateService) -> None:
    ctx, page = tls_page
    page.goto(f"{proxy.url}/admin/")
    # Someone behind the same proxy guesses: five wrong tokens, then told to wait.
    assert [_try(page, "jg_guess") for _ in range(6)] == [401] * 5 + [429]
    expect(page.locator("#token-error")).to_contain_text("Wait")
    # The admin's right token still signs in...
    page.get_by_label("Admin token").fill(service.admin_token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    shot(page, "10-signed-in-behind-tls-proxy")
    # ...with cookies the browser keeps for https only.
    cookies = {c["name"]: c for c in ctx.cookies()}
    session = cookies["joingate_session"]
    assert session["secure"] is True and session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    # and the browser sends it back over https: the next page is signed in.
    page.goto(f"{proxy.url}/admin/requests")
    expect(page.get_by_role("heading", level=1)).to_have_text("Authority requests")


def test_direct_plain_http_cookie_is_not_secure(browser: Browser,
                                                service: JoingateService) -> None:
    """Without the proxy (plain HTTP from a peer that is the proxy's address but sends no
    X-Forwarded-Proto) the cookie is not marked Secure: the flag follows the browser's scheme."""
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(f"{service.url}/admin/")
        page.get_by_label("Admin token").fill(service.admin_token)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Overview", level=1).wait_for()
        session = next(c for c in ctx.cookies() if c["name"] == "joingate_session")
        assert session["secure"] is False
    finally:
        ctx.close()


def test_bidirectional_controls_are_refused_next_to_the_field(
        tls_page: tuple[BrowserContext, Page], proxy: TlsProxy,
        service: JoingateService) -> None:
    _, page = tls_page
    page.goto(f"{proxy.url}/admin/")
    page.get_by_label("Admin token").fill(service.admin_token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    page.goto(f"{proxy.url}/admin/requests/new")
    page.get_by_label("Authority").fill(f"Ministry{RLO} of Public Security")
    page.get_by_label("Jurisdiction").fill("CN")
    page.get_by_label("Reference").fill("MPS-0604")
    page.get_by_label("Meetings named").fill("june4-hk")
    page.get_by_label("Demand").fill("End it.")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Record the request").click()
    assert answer.value.status == 400
    expect(page.locator("#authority-error")).to_contain_text("U+202E")
    shot(page, "11-bidi-control-refused")
    status, listed = service.api("GET", "/v1/requests")
    assert status == 200 and listed["requests"] == []
