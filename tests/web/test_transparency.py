"""The public transparency page in a real browser, over counts the service really made."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService, http, wait_until

from .browser import shot

pytestmark = pytest.mark.integration


def report(service: JoingateService, query: str = "") -> dict[str, Any]:
    status, body = http("GET", f"{service.url}/v1/report{query}")
    assert status == 200, body
    return dict(body)


def test_public_page_shows_requests_and_counts(page: Page,
                                               service: JoingateService) -> None:
    request_id = service.cli("request", "add", "--authority", "Ministry of Public Security",
                             "--jurisdiction", "CN", "--reference", "MPS-0604",
                             "--room", "june4-hk", "--room", "june4-us",
                             "--demand", "End the commemorations.").stdout.strip()
    service.cli("restrict", "add", "--room", "june4-hk", "--country", "CN",
                "--request", request_id, "--reason", "MPS-0604, mainland only")
    service.cli("request", "decide", request_id, "--outcome", "partially", "--note", "CN only")
    wait_until(lambda: service.authorize("june4-hk", address("CN"))["decision"] == "deny",
               what="the restriction to reach the service")
    for host in (11, 12):  # two more refused joins from CN: 3 in all
        assert service.authorize("june4-hk", address("CN", host))["decision"] == "deny"
    assert service.authorize("june4-hk", address("HK"))["decision"] == "allow"
    status, body = http("POST", f"{service.url}/v1/authorize/batch", {
        "purpose": "sweep", "checks": [{"room": "june4-hk", "ip": address("CN", 20)},
                                       {"room": "june4-hk", "ip": address("CN", 21)},
                                       {"room": "june4-hk", "ip": address("US", 22)}]},
        service.plugin_token)
    assert status == 200, body
    data = wait_until(lambda: (lambda r: r if r["participants"]["removed"] else None)(
        report(service)), timeout=10, what="the counters to be flushed")
    assert data["participants"] == {"refused": {"CN": 3}, "removed": {"CN": 2}}

    answer = page.goto(f"{service.url}/transparency")
    assert answer is not None and answer.status == 200
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_have_text("Transparency report")
    figures = page.locator("dl.figures")
    expect(figures).to_contain_text("Authority requests received1")
    expect(figures).to_contain_text("Participants refused entry3")
    expect(figures).to_contain_text("Participants removed2")
    expect(figures).to_contain_text("Host accounts suspended0")
    expect(figures).to_contain_text("Meetings ended0")
    requests_table = page.get_by_role("table", name="Every request received in this period")
    expect(requests_table.get_by_role("row", name="MPS-0604")).to_contain_text("partially")
    countries = page.get_by_role("table", name="Participants refused and removed, by country")
    expect(countries.get_by_role("row", name="China (CN)")).to_have_text("China (CN)32")
    chart = page.get_by_role("img", name="Participants refused and removed, by country")
    expect(chart).to_be_visible()
    assert chart.evaluate("el => el.tagName") == "svg"
    expect(page.get_by_role("img", name="Authority requests by jurisdiction and outcome")
           ).to_be_visible()
    expect(page.get_by_role("heading", name="Never done")).to_be_visible()
    expect(page.get_by_text("No host account was suspended.")).to_be_visible()
    expect(page.get_by_role("link", name="IP Geolocation by DB-IP")).to_have_attribute(
        "href", "https://db-ip.com")
    text = page.content()
    for secret in ("june4-hk", "june4-us", "End the commemorations", "127.0."):
        assert secret not in text, secret
    shot(page, "09-transparency")

    # The page's JSON link gives the same numbers.
    page.get_by_role("link", name="this report as JSON").click()
    assert '"MPS-0604"' in page.content()


def test_period_form_and_bad_dates(page: Page, service: JoingateService) -> None:
    page.goto(f"{service.url}/transparency")
    page.get_by_label("From").fill("2026-13-01")
    with page.expect_response(lambda r: "/transparency" in r.url) as answer:
        page.get_by_role("button", name="Show this period").click()
    assert answer.value.status == 400
    since = page.get_by_label("From")
    expect(since).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#since-error")).to_contain_text("YYYY-MM-DD")
    shot(page, "10-transparency-bad-date")
    page.get_by_label("From").fill("2001-01-01")
    page.get_by_label("To").fill("2001-12-31")
    page.get_by_role("button", name="Show this period").click()
    expect(page.locator(".period")).to_contain_text("2001-01-01 to 2001-12-31")
    expect(page.get_by_text("No participant was refused or removed in this period."
                            )).to_be_visible()
