"""A real `joingate serve`: a meeting named as people see it or as its Jitsi room node is one
meeting for restrictions, requests, joins, the enforcement feed, the census and the CLI; names
Jitsi can never produce, or that are ambiguous, are refused with 400 naming `rooms`."""

from __future__ import annotations

import json

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService, http

pytestmark = pytest.mark.integration


def restrict(svc: JoingateService, rooms: list[str], **over: object) -> tuple[int, dict]:
    status, body = svc.api("POST", "/v1/restrictions", {
        "rooms": rooms, "countries": ["CN"], "reason": "operator policy", **over})
    return status, dict(body)


def test_a_restriction_in_either_form_gates_the_joins_of_that_meeting(
        service: JoingateService) -> None:
    status, seen = restrict(service, ["Café Vigil"])
    assert status == 201 and seen["rooms"] == ["caf%c3%a9%20vigil"], seen
    # The plugin sends the room node Jitsi's client made from "Café Vigil".
    assert service.authorize("caf%c3%a9%20vigil", address("CN"))["restriction"] == seen["id"]
    assert service.authorize("caf%c3%a9%20vigil", address("US"))["decision"] == "allow"
    # Other meetings: another name, and a node Jitsi never makes (a plain XMPP client's room).
    for other in ("caf%c3%a9", "café vigil", "caf%c3%a9%20vigil2"):
        assert service.authorize(other, address("CN"))["decision"] == "allow", other

    # The other way round: a restriction on the node matches the same joins.
    status, node = restrict(service, ["my%20meeting"])
    assert status == 201 and node["rooms"] == ["my%20meeting"]
    assert service.authorize("my%20meeting", address("CN"))["restriction"] == node["id"]
    status, both = restrict(service, ["My Meeting", "MY%20MEETING"], countries=["HK"])
    assert status == 201 and both["rooms"] == ["my%20meeting"]
    assert service.authorize("my%20meeting", address("HK"))["restriction"] == both["id"]

    # Tenants: tenant/room, and the node [tenant]room the domain mapper makes, are one meeting;
    # tenant\2froom is another room (Jitsi never makes it) that no restriction can name.
    status, tenant = restrict(service, ["[acme]vigil"])
    assert status == 201 and tenant["rooms"] == ["acme/vigil"]
    for room in ("acme/vigil", "[acme]vigil"):
        assert service.authorize(room, address("CN"))["restriction"] == tenant["id"], room
    assert service.authorize("acme\\2fvigil", address("CN"))["decision"] == "allow"
    status, body = http("POST", f"{service.url}/v1/authorize/batch", {"checks": [
        {"room": "[acme]vigil", "ip": address("CN")},
        {"room": "caf%c3%a9%20vigil", "ip": address("CN")},
        {"room": "acme\\2fvigil", "ip": address("CN")}]}, service.plugin_token)
    assert status == 200
    assert [r["decision"] for r in body["results"]] == ["deny", "deny", "allow"]

    # The feed lists the canonical names, as the plugin computes them.
    status, feed = http("GET", f"{service.url}/v1/enforcement?after=0&wait=0", None,
                        service.plugin_token)
    assert status == 200
    assert {"caf%c3%a9%20vigil", "my%20meeting", "acme/vigil"} <= set(feed["restricted"])


def test_a_request_and_its_restriction_may_name_the_meeting_in_either_form(
        service: JoingateService) -> None:
    status, req = service.api("POST", "/v1/requests", {
        "authority": "MPS", "jurisdiction": "CN", "reference": "MPS-0604",
        "rooms": ["Café Vigil", "acme/June 4"], "demand": "End them."})
    assert status == 201 and req["rooms"] == ["caf%c3%a9%20vigil", "acme/june%204"], req
    status, made = restrict(service, ["caf%c3%a9%20vigil", "[acme]june%204"],
                            request=req["id"], reason="MPS-0604")
    assert status == 201, made
    assert made["rooms"] == ["caf%c3%a9%20vigil", "acme/june%204"]
    status, refused = restrict(service, ["CAFÉ"], request=req["id"], reason="MPS-0604")
    assert status == 422 and refused["error"]["field"] == "rooms"


@pytest.mark.parametrize("name", [
    "tenant3\\2froom9",   # an XMPP escape: Jitsi's nodes never carry one
    "50%25 off",          # a node or a title? ambiguous
    "Café%20Vigil",       # ambiguous too
    "caf%c3%89",          # Jitsi lower-cases before encoding: it makes caf%c3%a9
    "%ff",                # not UTF-8
    "Tom's room",         # Prosody refuses an apostrophe in an address
    "a/b/c",
    "[acme]Café Vigil",   # a node form whose room part is not a node
    " vigil",
    "r" * 1024,
])
def test_names_jitsi_never_produces_are_refused_naming_rooms(service: JoingateService,
                                                            name: str) -> None:
    status, body = restrict(service, ["vigil", name])
    assert status == 400 and body["error"]["field"] == "rooms", body
    status, body = service.api("POST", "/v1/requests", {
        "authority": "MPS", "jurisdiction": "CN", "reference": "R", "rooms": [name],
        "demand": "d"})
    assert status == 400 and body["error"]["field"] == "rooms", body
    status, body = service.api("POST", "/v1/restrictions/preview", {
        "rooms": [name], "countries": ["CN"], "reason": "r"})
    assert status == 400 and body["error"]["field"] == "rooms", body
    assert service.api("GET", "/v1/restrictions")[1] == {"restrictions": []}
    assert service.api("GET", "/v1/requests")[1] == {"requests": []}


def test_census_and_preview_key_meetings_by_canonical_name(service: JoingateService) -> None:
    status, _ = http("POST", f"{service.url}/v1/census", {"source": "prosody", "rooms": {
        "caf%c3%a9%20vigil": {"CN": 2, "US": 1}, "[acme]vigil": {"CN": 1},
        "café vigil": {"CN": 5}}}, service.plugin_token)
    assert status == 200
    status, census = service.api("GET", "/v1/census")
    assert census["rooms"] == {"acme/vigil": {"CN": 1}, "caf%c3%a9%20vigil": {"CN": 2, "US": 1},
                               "café vigil": {"CN": 5}}
    status, impact = service.api("POST", "/v1/restrictions/preview", {
        "rooms": ["Café Vigil", "acme/Vigil"], "countries": ["CN"], "reason": "r"})
    assert status == 200
    assert impact["rooms"] == {"caf%c3%a9%20vigil": {"CN": 2}, "acme/vigil": {"CN": 1}}
    assert impact["total"] == 3


def test_the_cli_takes_either_form_and_lists_canonical_names(service: JoingateService) -> None:
    service.cli("restrict", "add", "--room", "Café Vigil", "--room", "[acme]vigil",
                "--country", "CN", "--reason", "policy")
    listed = json.loads(service.cli("restrict", "list", "--json").stdout)
    assert listed["restrictions"][0]["rooms"] == ["caf%c3%a9%20vigil", "acme/vigil"]
    assert "caf%c3%a9%20vigil,acme/vigil" in service.cli("restrict", "list").stdout
    for room in ("Café Vigil", "caf%c3%a9%20vigil", "acme/vigil"):
        verdict = json.loads(service.cli("check", "--room", room, "--ip", address("CN"),
                                         "--json").stdout)
        assert verdict["decision"] == "deny", room
    bad = service.cli("restrict", "add", "--room", "tenant\\2froom", "--country", "CN",
                      "--reason", "p", check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "rooms" in bad.stderr
    bad = service.cli("check", "--room", "50%25 off", "--ip", address("CN"), check=False)
    assert bad.returncode == 2 and "room" in bad.stderr
    assert len(json.loads(service.cli("restrict", "list", "--json").stdout)
               ["restrictions"]) == 1
