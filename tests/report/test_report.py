"""The transparency report, field by field, over a scenario written through a real store.

The scenario (days relative to today, D):
  request 1  CN  MPS-0604  received D-10, 3 meetings named, partially  → restriction 1 (CN)
  request 2  HK  HKP-9     received D-5,  1 meeting named,  complied   → restriction 2 (HK)
  request 3  CN  CAC-17    received D-3,  1 meeting named,  refused
  request 4  US  FBI-1     received D-40, 1 meeting named,  undecided
  restriction 3: operator policy, all meetings, KP
  counts D-2: r1 CN refused 7, r1 CN removed 3, r1 unplaced refused 2, r2 HK refused 4,
              r3 KP refused 1, (allowed rows, never reported); D-45: r1 CN refused 100
  checkpoints: D-20 (after request 4 only), and D
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from joingate import actions
from joingate.errors import InvalidInput, OutsideJurisdiction
from joingate.report import build_report, render_html, render_markdown
from joingate.restrictions import utc_now
from joingate.store import Store, open_store
from joingate.store.base import CountRow

ADMIN = "test:admin"


def day(offset: int) -> str:
    return (utc_now() + timedelta(days=offset)).strftime("%Y-%m-%d")


def at(offset: int, hour: int = 9) -> str:
    moment = (utc_now() + timedelta(days=offset)).replace(hour=hour, minute=0, second=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Scenario:
    store: Store
    now: datetime
    early_checkpoint: dict[str, Any]
    late_checkpoint: dict[str, Any]
    mps_decided: tuple[datetime, datetime]  # the clock just before and just after deciding

    async def report(self, since: str | None, until: str | None) -> dict[str, Any]:
        s = self.store
        return build_report(await s.list_requests(), await s.list_restrictions(),
                            await s.counts(since, until), await s.checkpoints(), since, until,
                            self.now)


@pytest.fixture
async def scenario(tmp_path: Path) -> AsyncIterator[Scenario]:
    store = open_store("sqlite:///" + str(tmp_path / "db"))
    await store.open()
    try:
        us = await actions.add_request(store, {
            "authority": "Federal Bureau of Investigation", "jurisdiction": "us",
            "reference": "FBI-1", "rooms": ["Town-Hall"], "demand": "Identify participants.",
            "received_at": at(-40)}, ADMIN)
        early = await actions.add_checkpoint(store, datetime.fromisoformat(at(-20)))
        assert early is not None
        mps = await actions.add_request(store, {
            "authority": "Ministry of Public Security", "jurisdiction": "CN",
            "reference": "MPS-0604", "rooms": ["june4-hk", "june4-us", "june4-tw"],
            "demand": "End the commemorations.", "received_at": at(-10)}, ADMIN)
        hkp = await actions.add_request(store, {
            "authority": "Hong Kong Police Force", "jurisdiction": "HK",
            "reference": "HKP-9", "rooms": ["vigil"], "demand": "Close the vigil.",
            "received_at": at(-5)}, ADMIN)
        cac = await actions.add_request(store, {
            "authority": "Cyberspace Administration of China", "jurisdiction": "CN",
            "reference": "CAC-17", "rooms": ["june4-us"], "demand": "End it.",
            "received_at": at(-3)}, ADMIN)
        r1 = await actions.add_restriction(store, {
            "rooms": ["june4-hk"], "countries": ["cn"], "request": mps.id,
            "reason": "MPS-0604, mainland participants only"}, ADMIN)
        # The widening is refused and writes nothing: the report must not see it.
        with pytest.raises(OutsideJurisdiction):
            await actions.add_restriction(store, {
                "rooms": ["june4-hk"], "countries": ["CN", "HK"], "request": mps.id,
                "reason": "wider"}, ADMIN)
        r2 = await actions.add_restriction(store, {
            "rooms": ["vigil"], "countries": ["HK"], "request": hkp.id,
            "reason": "HKP-9"}, ADMIN)
        r3 = await actions.add_restriction(store, {
            "rooms": ["*"], "countries": ["KP"], "reason": "Operator policy"}, ADMIN)
        deciding = utc_now().replace(microsecond=0)  # the store keeps whole seconds
        await actions.decide_request(store, mps.id, "partially", "Only mainland.", ADMIN)
        mps_decided = (deciding, utc_now())
        await actions.decide_request(store, hkp.id, "complied", "Court order.", ADMIN)
        await actions.decide_request(store, cac.id, "refused", "Not ours to end.", ADMIN)
        assert (us.id, mps.id, hkp.id, cac.id, r1.id, r2.id, r3.id) == (1, 2, 3, 4, 1, 2, 3)
        await store.add_counts([
            CountRow(day(-2), r1.id, "CN", "refused", 7),
            CountRow(day(-2), r1.id, "CN", "removed", 3),
            CountRow(day(-2), r1.id, "", "refused", 2),
            CountRow(day(-2), r1.id, "HK", "allowed", 20),
            CountRow(day(-2), r2.id, "HK", "refused", 4),
            CountRow(day(-2), r3.id, "KP", "refused", 1),
            CountRow(day(-2), 0, "US", "allowed", 50),
            CountRow(day(-45), r1.id, "CN", "refused", 100),
        ])
        now = utc_now()
        late = await actions.add_checkpoint(store, now)
        assert late is not None
        yield Scenario(store, now, early.as_json(), late.as_json(), mps_decided)
    finally:
        await store.close()


async def test_every_field(scenario: Scenario) -> None:
    report = await scenario.report(day(-30), None)
    assert report["period"] == {"since": day(-30), "until": day(0)}
    assert report["accounts_suspended"] == 0
    assert report["meetings_ended"] == 0

    assert [r["reference"] for r in report["requests"]] == ["MPS-0604", "HKP-9", "CAC-17"]
    mps = report["requests"][0]
    assert mps == {
        "id": 2, "jurisdiction": "CN", "authority": "Ministry of Public Security",
        "reference": "MPS-0604", "received_at": at(-10), "outcome": "partially",
        "meetings_named": 3, "decided_at": mps["decided_at"], "restrictions": [1],
        "restricted_countries": ["CN"]}
    # decided_at is when the decision was recorded, in the report's UTC spelling.
    assert mps["decided_at"].endswith("Z")
    decided_at = datetime.fromisoformat(mps["decided_at"])
    assert scenario.mps_decided[0] <= decided_at <= scenario.mps_decided[1], decided_at
    assert [r["outcome"] for r in report["requests"]] == ["partially", "complied", "refused"]
    assert report["requests"][2]["restrictions"] == []

    assert set(report["by_jurisdiction"]) == {"CN", "HK"}
    cn = report["by_jurisdiction"]["CN"]
    assert cn["requests_received"] == 2
    assert cn["meetings_named"] == 3  # june4-us was named twice, counted once
    assert cn["outcomes"] == {"complied": 0, "partially": 1, "refused": 1, "undecided": 0}
    assert cn["restrictions_created"] == 1
    assert cn["restricted_countries"] == ["CN"]
    assert cn["covers"] == ["CN"]
    assert cn["restrictions_outside_jurisdiction"] == 0
    assert cn["participants"] == {"refused": {"CN": 7, "ZZ": 2}, "removed": {"CN": 3}}
    assert cn["accounts_suspended"] == 0 and cn["meetings_ended"] == 0
    hk = report["by_jurisdiction"]["HK"]
    assert (hk["requests_received"], hk["meetings_named"], hk["restrictions_created"]) == (1, 1, 1)
    assert hk["outcomes"] == {"complied": 1, "partially": 0, "refused": 0, "undecided": 0}
    assert hk["restricted_countries"] == ["HK"]
    assert hk["participants"] == {"refused": {"HK": 4}, "removed": {}}

    assert report["participants"] == {"refused": {"CN": 7, "HK": 4, "ZZ": 2, "KP": 1},
                                      "removed": {"CN": 3}}
    assert report["participants_total"] == {"refused": 14, "removed": 3}
    assert report["operator_policies"] == {
        "restrictions_created": 1, "restricted_countries": ["KP"],
        "participants": {"refused": {"KP": 1}, "removed": {}}}

    assert report["audit_checkpoint"] == scenario.late_checkpoint
    assert report["geolocation"]["url"] == "https://db-ip.com"
    assert [s["id"] for s in report["never_done"]] == [
        "accounts_suspended", "meetings_ended", "outside_jurisdiction", "meetings_not_named",
        "refused_requests", "participants_outside", "addresses_recorded"]
    assert all(s["statement"] and s["basis"] for s in report["never_done"])


async def test_period_filters_requests_counts_and_checkpoint(scenario: Scenario) -> None:
    everything = await scenario.report(None, None)
    assert everything["period"]["since"] is None
    assert [r["reference"] for r in everything["requests"]] == [
        "FBI-1", "MPS-0604", "HKP-9", "CAC-17"]
    assert everything["by_jurisdiction"]["US"]["outcomes"]["undecided"] == 1
    assert everything["participants"]["refused"]["CN"] == 107

    old = await scenario.report(day(-60), day(-30))
    assert [r["reference"] for r in old["requests"]] == ["FBI-1"]
    # Restrictions were all made today: none in this period, but old counts still belong to
    # the jurisdiction whose restriction made them.
    assert old["by_jurisdiction"]["CN"]["requests_received"] == 0
    assert old["by_jurisdiction"]["CN"]["restrictions_created"] == 0
    assert old["by_jurisdiction"]["CN"]["participants"]["refused"] == {"CN": 100}
    assert old["operator_policies"]["restrictions_created"] == 0
    assert old["audit_checkpoint"] is None  # the first checkpoint is from D-20

    middle = await scenario.report(day(-20), day(-1))
    assert middle["audit_checkpoint"] == scenario.early_checkpoint
    assert [r["reference"] for r in middle["requests"]] == ["MPS-0604", "HKP-9", "CAC-17"]
    assert middle["participants"]["refused"] == {"CN": 7, "HK": 4, "ZZ": 2, "KP": 1}

    # Both ends are inclusive.
    edge = await scenario.report(day(-10), day(-10))
    assert [r["reference"] for r in edge["requests"]] == ["MPS-0604"]
    assert edge["participants"] == {"refused": {}, "removed": {}}


@pytest.mark.parametrize(("since", "until", "field"), [
    ("2026-13-01", None, "since"), ("yesterday", None, "since"), ("20260101", None, "since"),
    (None, "2026-02-30", "until"), (None, "2026-1-1", "until"),
    ("2026-06-05", "2026-06-04", "since"),
])
async def test_bad_dates_name_the_field(scenario: Scenario, since: str | None,
                                        until: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await scenario.report(since, until)
    assert caught.value.field == field


async def test_never_done_withholds_what_the_data_contradicts(scenario: Scenario) -> None:
    """A restriction that reaches past its jurisdiction cannot be made through joingate; one
    written behind its back (here: built by hand) must make the report drop the statement."""
    s = scenario.store
    restrictions = await s.list_restrictions()
    widened = replace(restrictions[0], countries=("CN", "HK"), rooms=("june4-hk", "other"))
    counts = [*await s.counts(None, None), CountRow(day(-1), 1, "TW", "removed", 1)]
    report = build_report(await s.list_requests(), [widened, *restrictions[1:]], counts,
                          await s.checkpoints(), None, None, scenario.now)
    ids = [x["id"] for x in report["never_done"]]
    assert "outside_jurisdiction" not in ids
    assert "meetings_not_named" not in ids
    assert "participants_outside" not in ids
    assert "accounts_suspended" in ids and "addresses_recorded" in ids
    assert report["by_jurisdiction"]["CN"]["restrictions_outside_jurisdiction"] == 1


async def test_restrictions_ended_by_a_refusal(scenario: Scenario) -> None:
    """A restriction made for a request that is then refused: the report may no longer say no
    refused request produced one, and says instead that the refusal ended it — unless the data
    (here: a restriction altered by hand) says otherwise."""
    s = scenario.store
    req = await actions.add_request(s, {
        "authority": "Ministry of State Security", "jurisdiction": "CN",
        "reference": "MSS-4", "rooms": ["vigil-2"], "demand": "End it."}, ADMIN)
    await actions.add_restriction(s, {"rooms": ["vigil-2"], "countries": ["CN"],
                                      "request": req.id, "reason": "MSS-4"}, ADMIN)
    await actions.decide_request(s, req.id, "refused", "No lawful basis.", ADMIN)
    report = await scenario.report(None, None)
    ids = [x["id"] for x in report["never_done"]]
    assert "refused_requests" not in ids and "refusals_ended" in ids
    assert "ended when the refusal was recorded" in render_markdown(report)
    restrictions = await s.list_restrictions()
    kept = [replace(r, revoked_at=None) if r.request == req.id else r for r in restrictions]
    report = build_report(await s.list_requests(), kept, await s.counts(None, None),
                          await s.checkpoints(), None, None, scenario.now)
    ids = [x["id"] for x in report["never_done"]]
    assert "refused_requests" not in ids and "refusals_ended" not in ids


async def test_markdown(scenario: Scenario) -> None:
    text = render_markdown(await scenario.report(day(-30), None))
    assert text.startswith("# Transparency report")
    assert "| China (CN) | 2 | 3 | 0 | 1 | 1 | 0 | 1 | CN | 9 | 3 |" in text
    assert "| Hong Kong (HK) | 1 | 1 | 1 | 0 | 0 | 0 | 1 | HK | 4 | 0 |" in text
    assert "CN (People's Republic of China (mainland)) covers CN; HK (Hong Kong SAR) covers HK" \
        in text
    assert "| China (CN) | 7 | 3 |" in text
    assert "| location unknown | 2 | 0 |" in text
    assert "MPS-0604" in text and "Host accounts suspended: **0**" in text
    assert "No host account was suspended." in text
    assert scenario.late_checkpoint["head"] in text
    assert "IP Geolocation by DB-IP" in text and "https://db-ip.com" in text
    # Meeting names are meeting addresses; demands may name people: neither is published.
    for secret in ("june4-hk", "vigil", "town-hall", "End the commemorations", "Court order"):
        assert secret not in text


async def test_html_has_charts_numbers_and_tables(scenario: Scenario) -> None:
    report = await scenario.report(day(-30), None)
    html = render_html(report, stylesheet="body{color:#000}")
    assert html.startswith("<!doctype html>") and "<style>" in html
    assert html.count("<svg") == 2
    assert 'id="chart-participants"' in html and 'id="chart-requests"' in html
    assert 'role="img"' in html and "<title id=\"chart-participants-title\">" in html
    assert 'style="' not in html  # a strict CSP would drop inline style attributes
    # The bars carry their numbers, and the table repeats them as text.
    for number in (">7<", ">3<", ">4<", ">2<", ">14<"):
        assert number in html, number
    assert '<th scope="row">China (CN)</th><td class="num">7</td><td class="num">3</td>' in html
    assert '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>' in html
    for secret in ("june4-hk", "vigil", "End the commemorations"):
        assert secret not in html


async def test_empty_period_renders_without_charts(scenario: Scenario) -> None:
    report = await scenario.report("2001-01-01", "2001-01-31")
    assert report["requests"] == [] and report["by_jurisdiction"] == {}
    assert report["audit_checkpoint"] is None
    html = render_html(report)
    assert "<svg" not in html and "No participant was refused or removed" in html
    assert "No authority request was received" in render_markdown(report)


def test_build_report_is_pure_over_plain_values() -> None:
    now = datetime(2026, 6, 5, 12, tzinfo=UTC)
    report = build_report([], [], [], [], "2026-06-01", "2026-06-04", now)
    assert report["period"] == {"since": "2026-06-01", "until": "2026-06-04"}
    assert report["participants"] == {"refused": {}, "removed": {}}
