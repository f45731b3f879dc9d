"""POST /v1/authorize/session on a real `joingate serve`: an address's verdicts over every
meeting with a restriction in force, with the epoch they hold for; nothing counted."""

from __future__ import annotations

from typing import Any

import pytest

from joingate.engine import SESSION_MAX_ROOMS
from joingate.testing.geodb import address
from joingate.testing.service import JoingateService, http
from tests.integration.test_metrics import sample, scrape

pytestmark = pytest.mark.integration


def session(svc: JoingateService, ip: str) -> dict[str, Any]:
    status, body = http("POST", f"{svc.url}/v1/authorize/session", {"ip": ip},
                        svc.plugin_token)
    assert status == 200, body
    return dict(body)


def feed_epoch(svc: JoingateService) -> int:
    status, body = svc.api("GET", "/v1/enforcement?after=0&wait=0", token=svc.plugin_token)
    assert status == 200, body
    return int(body["epoch"])


def restrict(svc: JoingateService, rooms: list[str], countries: list[str],
             mode: str = "block") -> None:
    status, body = svc.api("POST", "/v1/restrictions", {
        "rooms": rooms, "countries": countries, "reason": "policy", "mode": mode})
    assert status == 201, body


def test_verdicts_over_the_restricted_meetings_with_the_feeds_epoch(
        service: JoingateService) -> None:
    assert session(service, address("CN")) == {"epoch": feed_epoch(service), "denied": []}
    restrict(service, ["june4", "vigil"], ["CN"])
    restrict(service, ["board"], ["DE"], mode="allow-only")
    epoch = feed_epoch(service)
    assert session(service, address("CN")) == {"epoch": epoch,
                                               "denied": ["board", "june4", "vigil"]}
    assert session(service, address("HK")) == {"epoch": epoch, "denied": ["board"]}
    assert session(service, address("DE")) == {"epoch": epoch, "denied": []}
    # Each one what /v1/authorize answers for that meeting.
    for room in ("june4", "vigil", "board"):
        for country in ("CN", "HK", "DE"):
            verdict = service.authorize(room, address(country))
            assert (room in session(service, address(country))["denied"]) == (
                verdict["decision"] == "deny")

    # A policy on all meetings: "*" stands for every meeting not listed by name.
    restrict(service, ["*"], ["HK"])
    later = feed_epoch(service)
    assert later > epoch
    assert session(service, address("HK")) == {"epoch": later,
                                               "denied": ["*", "board", "june4", "vigil"]}
    assert session(service, address("CN"))["denied"] == ["board", "june4", "vigil"]
    assert service.authorize("anything-else", address("HK"))["decision"] == "deny"
    assert service.authorize("anything-else", address("CN"))["decision"] == "allow"


def test_nothing_is_counted_and_no_address_is_kept(service: JoingateService) -> None:
    restrict(service, ["june4"], ["CN"])
    for country in ("CN", "HK", "CN"):
        session(service, address(country))
    text = scrape(service)
    assert "joingate_decisions_total{" not in text
    assert sample(text, "joingate_authorize_seconds_count") == 0
    assert address("CN") not in service.log_path.read_text()


def test_more_restricted_meetings_than_the_bound_says_ask_per_join(
        service: JoingateService) -> None:
    restrict(service, [f"m{i}" for i in range(SESSION_MAX_ROOMS)], ["CN"])
    assert len(session(service, address("CN"))["denied"]) == SESSION_MAX_ROOMS
    restrict(service, ["one-more"], ["CN"])
    assert session(service, address("CN")) == {"epoch": feed_epoch(service), "denied": None}
    assert session(service, address("DE"))["denied"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({}, "ip"), ({"ip": "not-an-ip"}, "ip"), ({"ip": 5}, "ip"), ({"ip": ""}, "ip"),
    ({"ip": "127.0.1.10", "rooms": ["june4"]}, "rooms"), (b"{not json", "body"), ([], "body"),
])
def test_bad_input_names_the_field(service: JoingateService, body: Any, field: str) -> None:
    status, answer = http("POST", f"{service.url}/v1/authorize/session", body,
                          service.plugin_token)
    assert status == 400, answer
    assert answer["error"]["field"] == field, answer
    assert answer["error"]["message"]


def test_plugin_token_only(service: JoingateService) -> None:
    url = f"{service.url}/v1/authorize/session"
    assert http("POST", url, {"ip": address("CN")})[0] == 401
    status, body = http("POST", url, {"ip": address("CN")}, service.admin_token)
    assert status == 403 and body["error"]["field"] == "Authorization"
