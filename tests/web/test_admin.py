"""The admin pages in a real browser: sign in, record a CN request, make a CN-only restriction
from it, see the HK widening refused next to the countries field (and nothing written), preview
the impact, revoke, decide, sign out; CSRF, cookies and the sign-in limiter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService, http

from .browser import ARGS, shot, sign_in

pytestmark = pytest.mark.integration


def restrictions(service: JoingateService) -> list[dict[str, Any]]:
    status, body = service.api("GET", "/v1/restrictions")
    assert status == 200, body
    return list(body["restrictions"])


def requests_(service: JoingateService) -> list[dict[str, Any]]:
    status, body = service.api("GET", "/v1/requests")
    assert status == 200, body
    return list(body["requests"])


def post_census(service: JoingateService, rooms: dict[str, dict[str, int]]) -> None:
    status, body = http("POST", f"{service.url}/v1/census", {"rooms": rooms},
                        service.plugin_token)
    assert status == 200, body


def test_request_restriction_widening_refused_revoke(page: Page, context: BrowserContext,
                                                     service: JoingateService) -> None:
    sign_in(page, service)
    shot(page, "01-signed-in")
    session = next(c for c in context.cookies() if c["name"] == "joingate_session")
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/admin"

    # Record the authority request.
    page.get_by_role("navigation", name="Admin").get_by_role(
        "link", name="Authority requests").click()
    page.get_by_role("link", name="Record a request").click()
    page.get_by_label("Authority").fill("Ministry of Public Security")
    page.get_by_label("Jurisdiction").fill("cn")
    page.get_by_label("Reference").fill("MPS-0604")
    page.get_by_label("Meetings named").fill("june4-hk\njune4-us")
    page.get_by_label("Demand").fill("End the June 4th commemorations.")
    page.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request MPS-0604")
    expect(page.get_by_role("status")).to_contain_text("was recorded")
    shot(page, "02-request-recorded")
    [recorded] = requests_(service)
    assert recorded["jurisdiction"] == "CN" and recorded["rooms"] == ["june4-hk", "june4-us"]
    assert recorded["recorded_by"] == "web:admin"

    # Create a restriction from it, first widened to HK: refused next to the field.
    post_census(service, {"june4-hk": {"CN": 3, "HK": 12, "US": 4},
                          "june4-us": {"CN": 2, "US": 30}})
    page.get_by_role("link", name="Create a restriction for this request").click()
    expect(page.get_by_label("Authority request")).to_have_value(str(recorded["id"]))
    page.get_by_label("Meetings").fill("june4-hk")
    page.get_by_label("Countries").fill("CN, HK")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Create the restriction").click()
    assert answer.value.status == 422
    countries = page.get_by_label("Countries")
    expect(countries).to_have_attribute("aria-invalid", "true")
    error = page.locator("#countries-error")
    expect(error).to_contain_text("HK is outside it")
    described = countries.get_attribute("aria-describedby") or ""
    assert "countries-error" in described.split()
    # The message sits in the countries field's own block, right under its label.
    field_block = page.locator(".field", has=page.locator("#countries"))
    expect(field_block.locator(".error")).to_contain_text("outside")
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(countries).to_have_value("CN, HK")  # what was typed is kept
    shot(page, "03-hk-widening-refused")
    assert restrictions(service) == []

    # Preview the CN-only restriction: 3 current participants in june4-hk would be removed.
    countries.fill("CN")
    page.get_by_role("button", name="Preview the impact").click()
    preview = page.get_by_role("region", name="Impact preview")
    expect(preview).to_contain_text("would remove 3 current participants")
    expect(preview.get_by_role("link", name="IP Geolocation by DB-IP")).to_have_attribute(
        "href", "https://db-ip.com")
    shot(page, "04-impact-preview")
    assert restrictions(service) == []

    page.get_by_role("button", name="Create the restriction").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Restriction #1")
    expect(page.get_by_role("status")).to_contain_text("was created")
    shot(page, "05-restriction-created")
    [made] = restrictions(service)
    assert made["countries"] == ["CN"] and made["rooms"] == ["june4-hk"]
    assert made["request"] == recorded["id"] and made["state"] == "active"
    assert made["created_by"] == "web:admin"
    assert service.authorize("june4-hk", address("CN"))["decision"] == "deny"
    assert service.authorize("june4-hk", address("HK"))["decision"] == "allow"

    page.get_by_role("link", name="Restrictions", exact=True).click()
    row = page.get_by_role("row", name="#1")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("request 1")

    # Revoke: a reason is required, and its error is tied to the field.
    page.get_by_role("link", name="#1").click()
    page.get_by_role("button", name="Revoke restriction #1").click()
    expect(page.locator("#reason-error")).to_be_visible()
    assert restrictions(service)[0]["state"] == "active"
    page.get_by_label("Reason for revoking").fill("The commemorations are over.")
    page.get_by_role("button", name="Revoke restriction #1").click()
    expect(page.get_by_role("status")).to_contain_text("was revoked")
    shot(page, "06-restriction-revoked")
    assert restrictions(service)[0]["state"] == "revoked"
    assert restrictions(service)[0]["revoked_by"] == "web:admin"
    assert service.authorize("june4-hk", address("CN"))["decision"] == "allow"

    # Decide the request.
    page.goto(f"{service.url}/admin/requests/{recorded['id']}")
    page.get_by_label("Partially complied").check()
    page.get_by_label("Note").fill("Mainland participants only; Hong Kong is outside its "
                                   "jurisdiction.")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status")).to_contain_text("decision was recorded")
    assert requests_(service)[0]["outcome"] == "partially"

    # Census page: counts by meeting and country, with the attribution.
    page.get_by_role("link", name="Census").click()
    expect(page.get_by_role("row", name="june4-hk")).to_contain_text("19")
    expect(page.get_by_role("link", name="IP Geolocation by DB-IP")).to_have_attribute(
        "href", "https://db-ip.com")
    shot(page, "07-census")

    # Sign out: the session is gone for good.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    page.goto(f"{service.url}/admin/restrictions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_post_without_csrf_token_is_refused(page: Page, service: JoingateService) -> None:
    sign_in(page, service)
    page.goto(f"{service.url}/admin/requests/new")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    form = {"authority": "A", "jurisdiction": "CN", "reference": "R-1", "rooms": "room-a",
            "demand": "d"}
    for extra in ({}, {"csrf": ""}, {"csrf": "not-the-token"}):
        answer = page.request.post(f"{service.url}/admin/requests", form={**form, **extra},
                                   max_redirects=0)
        assert answer.status == 403, extra
        assert "nothing was changed" in answer.text()
    for path in ("/admin/restrictions", "/admin/restrictions/1/revoke",
                 "/admin/requests/1/decision", "/admin/signout"):
        answer = page.request.post(f"{service.url}{path}", form={"reason": "x"},
                                   max_redirects=0)
        assert answer.status == 403, path
    assert requests_(service) == []
    # Still signed in (sign-out without a token was refused too), and the right token works.
    answer = page.request.post(f"{service.url}/admin/requests", form={**form, "csrf": token},
                               max_redirects=0)
    assert answer.status == 303
    assert [r["reference"] for r in requests_(service)] == ["R-1"]


def test_post_without_session_is_refused(browser: Browser, service: JoingateService) -> None:
    ctx = browser.new_context()
    try:
        answer = ctx.request.post(f"{service.url}/admin/requests", max_redirects=0, form={
            "authority": "A", "jurisdiction": "CN", "reference": "R", "rooms": "r",
            "demand": "d", "csrf": "x"})
        assert answer.status == 403
        answer = ctx.request.get(f"{service.url}/admin/restrictions", max_redirects=0)
        assert answer.status == 303 and answer.headers["location"] == "/admin/"
    finally:
        ctx.close()
    assert requests_(service) == []


def test_sign_in_refusals_and_limit(page: Page, service: JoingateService) -> None:
    page.goto(f"{service.url}/admin/")
    page.get_by_label("Admin token").fill(service.plugin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text("plugin token")
    expect(page.get_by_label("Admin token")).to_have_attribute("aria-invalid", "true")
    for _ in range(4):
        page.get_by_label("Admin token").fill("jg_wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#token-error")).to_contain_text("not a token")
    # Five failures: a sixth wrong token is told to wait...
    page.get_by_label("Admin token").fill("jg_wrong")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 429
    assert int(answer.value.headers["retry-after"]) > 0
    expect(page.locator("#token-error")).to_contain_text("too many wrong tokens")
    shot(page, "08-sign-in-limited")
    # ...and the right one still signs in: nobody's failures lock an admin out.
    page.get_by_label("Admin token").fill(service.admin_token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()


def test_sign_in_form_needs_its_token(browser: Browser, service: JoingateService) -> None:
    """A sign-in posted from elsewhere (no sign-in cookie) is refused: no login CSRF."""
    ctx = browser.new_context()
    try:
        answer = ctx.request.post(f"{service.url}/admin/signin", max_redirects=0,
                                  form={"token": service.admin_token, "csrf": "forged"})
        assert answer.status == 403
        assert not [c for c in ctx.cookies() if c["name"] == "joingate_session"]
    finally:
        ctx.close()


def test_security_headers_and_accessible_markup(page: Page, browser: Browser,
                                                service: JoingateService) -> None:
    status, made = service.api("POST", "/v1/requests", {
        "authority": "Ministry of Public Security", "jurisdiction": "CN",
        "reference": "MPS-1", "rooms": ["june4-hk"], "demand": "End it."})
    assert status == 201, made
    signed_out = ["/admin/", "/transparency"]
    signed_in = ["/admin/", "/admin/restrictions", "/admin/restrictions/new",
                 f"/admin/restrictions/new?request={made['id']}", "/admin/requests",
                 "/admin/requests/new", f"/admin/requests/{made['id']}", "/admin/census",
                 "/transparency"]
    for path in signed_out:
        check_page(page, service, path)
    # The first Tab reaches the skip link, and it leads to the content.
    page.goto(f"{service.url}/admin/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    sign_in(page, service)
    for path in signed_in:
        check_page(page, service, path)
    # The pages were checked in the browser the suite promises: Debian's, with its flags.
    command_line, executable = browser_process(browser)
    assert set(ARGS) <= set(command_line), command_line
    assert "ms-playwright" not in str(executable), executable


def browser_process(browser: Browser) -> tuple[list[str], Path]:
    """The running browser process's command line and executable (from /proc, by the pid
    Chromium reports over CDP)."""
    session = browser.new_browser_cdp_session()
    try:
        processes = session.send("SystemInfo.getProcessInfo")["processInfo"]
    finally:
        session.detach()
    pid = next(p["id"] for p in processes if p["type"] == "browser")
    command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return command_line, Path(f"/proc/{pid}/exe").resolve()


def check_page(page: Page, service: JoingateService, path: str) -> None:
    answer = page.goto(f"{service.url}{path}")
    assert answer is not None and answer.status == 200, path
    headers = answer.headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp, path
    assert "script-src 'none'" in csp, path
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    problems = page.evaluate("""() => {
        const out = [];
        for (const el of document.querySelectorAll('input, select, textarea')) {
            if (el.type === 'hidden') continue;
            if (!el.labels || el.labels.length === 0) out.push('no label: ' + el.name);
        }
        for (const el of document.querySelectorAll('[aria-describedby]')) {
            for (const id of el.getAttribute('aria-describedby').split(/\\s+/)) {
                if (!document.getElementById(id)) out.push('missing ' + id);
            }
        }
        for (const th of document.querySelectorAll('th')) {
            if (!th.getAttribute('scope')) out.push('th without scope: ' + th.textContent);
        }
        if (document.querySelectorAll('h1').length !== 1) out.push('not one h1');
        if (document.querySelectorAll('script').length) out.push('script present');
        if (!document.documentElement.lang) out.push('no lang');
        for (const el of document.querySelectorAll('[style]')) out.push('inline style');
        return out;
    }""")
    assert problems == [], (path, problems)
    assert "127.0." not in page.content(), path
