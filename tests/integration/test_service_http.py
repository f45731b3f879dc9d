"""A real `joingate serve` driven over HTTP: decisions, rules, enforcement, windows."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import HeldRequest, JoingateService, http, wait_until

pytestmark = pytest.mark.integration


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cn_request(svc: JoingateService, rooms: list[str]) -> dict[str, Any]:
    status, body = svc.api("POST", "/v1/requests", {
        "authority": "Ministry of Public Security", "jurisdiction": "CN",
        "reference": "MPS-2020-0604", "rooms": rooms,
        "demand": "Stop the commemorations named."})
    assert status == 201, body
    return dict(body)


def test_restriction_touches_only_covered_participants(service: JoingateService) -> None:
    req = cn_request(service, ["june4-hk", "june4-us"])
    status, made = service.api("POST", "/v1/restrictions", {
        "rooms": ["June4-HK"], "countries": ["cn"], "request": req["id"],
        "reason": "order MPS-2020-0604"})
    assert status == 201, made
    assert made["rooms"] == ["june4-hk"] and made["countries"] == ["CN"]
    assert made["state"] == "active" and made["mode"] == "block"

    denied = service.authorize("june4-hk", address("CN"))
    assert denied["decision"] == "deny"
    assert denied["country"] == "CN" and denied["restriction"] == made["id"]
    assert "CN" in denied["message"]
    for country in ("HK", "MO", "TW", "US"):
        verdict = service.authorize("june4-hk", address(country))
        assert verdict == {**verdict, "decision": "allow", "country": country}
    # Another meeting, and the same person: untouched.
    assert service.authorize("june4-us", address("CN"))["decision"] == "allow"
    # Unplaced address: allowed by default.
    assert service.authorize("june4-hk", "127.0.0.1")["decision"] == "allow"


def test_widening_beyond_jurisdiction_is_refused_and_writes_nothing(
        service: JoingateService) -> None:
    req = cn_request(service, ["june4-hk"])
    before_audit = service.cli("audit", "verify").stdout
    status, body = service.api("POST", "/v1/restrictions", {
        "rooms": ["june4-hk"], "countries": ["CN", "HK"], "request": req["id"],
        "reason": "widen"})
    assert status == 422
    assert body["error"]["field"] == "countries"
    assert body["error"]["code"] == "outside_jurisdiction"
    assert "HK" in body["error"]["message"]
    assert service.api("GET", "/v1/restrictions")[1] == {"restrictions": []}
    assert service.cli("audit", "verify").stdout == before_audit
    assert service.authorize("june4-hk", address("HK"))["decision"] == "allow"


@pytest.mark.parametrize(("body", "field"), [
    ({"rooms": [], "countries": ["CN"], "reason": "r"}, "rooms"),
    ({"rooms": ["a"], "countries": ["XX"], "reason": "r"}, "countries"),
    ({"rooms": ["a"], "countries": ["CN"], "reason": " "}, "reason"),
    ({"rooms": ["a"], "countries": ["CN"]}, "reason"),
    ({"rooms": ["a"], "countries": ["CN"], "reason": "r", "mode": "kick"}, "mode"),
    ({"rooms": ["a"], "countries": ["CN"], "reason": "r", "ends_at": "tomorrow"}, "ends_at"),
    ({"rooms": ["a"], "countries": ["CN"], "reason": "r",
      "starts_at": "2030-01-01T00:00:00"}, "starts_at"),
    ({"rooms": ["a"], "countries": ["CN"], "reason": "r", "request": 99}, "request"),
    ({"rooms": ["50%25 off"], "countries": ["CN"], "reason": "r"}, "rooms"),
    ({"rooms": "a", "countries": ["CN"], "reason": "r"}, "rooms"),
    ({"rooms": ["a"], "country": ["CN"], "reason": "r"}, "country"),
])
def test_bad_restriction_names_the_field_and_writes_nothing(
        service: JoingateService, body: dict[str, Any], field: str) -> None:
    status, answer = service.api("POST", "/v1/restrictions", body)
    assert 400 <= status < 500
    assert answer["error"]["field"] == field, answer
    assert answer["error"]["message"]
    assert service.api("GET", "/v1/restrictions")[1] == {"restrictions": []}


def test_tokens_and_scopes(service: JoingateService) -> None:
    url = service.url
    assert http("POST", f"{url}/v1/authorize", {"room": "a", "ip": "127.0.0.1"})[0] == 401
    assert http("POST", f"{url}/v1/authorize", {"room": "a", "ip": "127.0.0.1"},
                token="jg_wrong")[0] == 401
    status, body = http("POST", f"{url}/v1/authorize", {"room": "a", "ip": "127.0.0.1"},
                        token=service.admin_token)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert http("GET", f"{url}/v1/restrictions", token=service.plugin_token)[0] == 403
    assert http("GET", f"{url}/v1/restrictions", token=service.admin_token)[0] == 200
    # Only hashes at rest.
    raw = service.db.read_bytes() + b"".join(
        p.read_bytes() for p in service.db.parent.glob("joingate.db-*"))
    assert service.plugin_token.encode() not in raw
    assert service.admin_token.encode() not in raw


def test_authorize_input_errors(service: JoingateService) -> None:
    url, tok = service.url, service.plugin_token
    cases = [({"room": "a"}, "ip"), ({"ip": "127.0.0.1"}, "room"),
             ({"room": "a", "ip": "not-an-ip"}, "ip"), ({"room": 5, "ip": "127.0.0.1"}, "room"),
             (b"{not json", "body")]
    for body, field in cases:
        status, answer = http("POST", f"{url}/v1/authorize", body, token=tok)
        assert status == 400, (body, answer)
        assert answer["error"]["field"] == field, (body, answer)
    status, answer = http("POST", f"{url}/v1/authorize/batch", {"checks": [
        {"room": "a", "ip": "127.0.0.1"}, {"room": "a", "ip": "bad"}]}, token=tok)
    assert status == 400 and answer["error"]["field"] == "checks[1].ip"


def test_batch_answers_in_order(service: JoingateService) -> None:
    service.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                              "reason": "policy"})
    checks = [{"room": "r", "ip": address(c)} for c in ("HK", "CN", "US", "CN")]
    status, body = http("POST", f"{service.url}/v1/authorize/batch", {"checks": checks},
                        token=service.plugin_token)
    assert status == 200
    assert [r["decision"] for r in body["results"]] == ["allow", "deny", "allow", "deny"]
    assert [r["country"] for r in body["results"]] == ["HK", "CN", "US", "CN"]


def test_ipv4_mapped_and_ipv6(service: JoingateService) -> None:
    service.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                              "reason": "policy"})
    assert service.authorize("r", "::ffff:" + address("CN"))["decision"] == "deny"
    assert service.authorize("r", "2001:db8:1::7")["country"] == "CN"
    assert service.authorize("r", "2001:db8:2::7") == {**service.authorize(
        "r", "2001:db8:2::7"), "decision": "allow", "country": "HK"}


def test_allow_only_policy_and_all_meetings(service: JoingateService) -> None:
    status, made = service.api("POST", "/v1/restrictions", {
        "rooms": ["*"], "countries": ["DE", "US"], "mode": "allow-only",
        "reason": "operator policy: this server serves DE and US only"})
    assert status == 201, made
    assert service.authorize("any-room", address("DE"))["decision"] == "allow"
    verdict = service.authorize("other", address("CN"))
    assert verdict["decision"] == "deny" and verdict["rule"] == "allow-only"
    req = cn_request(service, ["x"])
    status, body = service.api("POST", "/v1/restrictions", {
        "rooms": ["*"], "countries": ["CN"], "request": req["id"], "reason": "r"})
    assert status == 422 and body["error"]["field"] == "rooms"
    status, body = service.api("POST", "/v1/restrictions", {
        "rooms": ["x"], "countries": ["CN"], "request": req["id"], "mode": "allow-only",
        "reason": "r"})
    assert status == 422 and body["error"]["field"] == "mode"


def poll(svc: JoingateService, after: int, wait: float) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    status, body = http("GET", f"{svc.url}/v1/enforcement?after={after}&wait={wait}",
                        token=svc.plugin_token, timeout=wait + 10)
    assert status == 200, body
    return time.monotonic() - started, body


def test_enforcement_long_poll(service: JoingateService) -> None:
    _, first = poll(service, 0, 5)
    assert first["rooms"] == ["*"] and first["restricted"] == []
    epoch = first["epoch"]
    took, same = poll(service, epoch, 0.5)
    assert same == {"epoch": epoch, "rooms": [], "restricted": []}
    assert took >= 0.45

    # A long-poll held by the service is answered as soon as restrictions change.
    held = HeldRequest(service.url, f"/v1/enforcement?after={epoch}&wait=50",
                       service.plugin_token)
    wait_until(held.received, timeout=10, what="the long-poll to reach the service")
    started = time.monotonic()
    service.api("POST", "/v1/restrictions", {"rooms": ["june4-a"], "countries": ["CN"],
                                              "reason": "r"})
    status, woke = held.response()
    # Generous: the point is "at the change", not at the end of the 50 s wait.
    assert status == 200 and time.monotonic() - started < 10
    assert woke["epoch"] > epoch
    assert woke["rooms"] == ["june4-a"] and woke["restricted"] == ["june4-a"]

    # A change made by the CLI (another process) reaches the long-poll through the store.
    restriction_id = service.api("GET", "/v1/restrictions")[1]["restrictions"][0]["id"]
    service.cli("restrict", "revoke", str(restriction_id), "--reason", "lifted")
    _, revoked = poll(service, woke["epoch"], 10)
    assert revoked["rooms"] == ["june4-a"] and revoked["restricted"] == []
    assert service.authorize("june4-a", address("CN"))["decision"] == "allow"

    status, body = http("GET", f"{service.url}/v1/enforcement?after=x",
                        token=service.plugin_token)
    assert status == 400 and body["error"]["field"] == "after"


def test_window_opens_and_closes_on_time(service: JoingateService) -> None:
    _, first = poll(service, 0, 1)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    end = start + timedelta(seconds=2)
    status, made = service.api("POST", "/v1/restrictions", {
        "rooms": ["vigil"], "countries": ["CN"], "reason": "window",
        "starts_at": iso(start), "ends_at": iso(end)})
    assert status == 201 and made["state"] == "scheduled"
    assert service.authorize("vigil", address("CN"))["decision"] == "allow"

    _, opened = poll(service, first["epoch"], 10)
    assert opened["rooms"] == ["vigil"] and opened["restricted"] == ["vigil"]
    late = datetime.now(UTC) - start
    assert timedelta(0) <= late < timedelta(seconds=1), late
    assert service.authorize("vigil", address("CN"))["decision"] == "deny"
    assert service.api("GET", f"/v1/restrictions/{made['id']}")[1]["state"] == "active"

    _, closed = poll(service, opened["epoch"], 10)
    assert closed["rooms"] == ["vigil"] and closed["restricted"] == []
    assert datetime.now(UTC) - end < timedelta(seconds=1)
    assert service.authorize("vigil", address("CN"))["decision"] == "allow"
    assert service.api("GET", f"/v1/restrictions/{made['id']}")[1]["state"] == "ended"


def test_request_lifecycle(service: JoingateService) -> None:
    req = cn_request(service, ["june4-hk"])
    assert req["outcome"] is None and req["restrictions"] == []
    status, made = service.api("POST", "/v1/restrictions", {
        "rooms": ["june4-hk"], "countries": ["CN"], "request": req["id"], "reason": "r"})
    assert status == 201
    status, decided = service.api("POST", f"/v1/requests/{req['id']}/decision", {
        "outcome": "partially", "note": "restricted to mainland participants only"})
    assert status == 200 and decided["outcome"] == "partially"
    assert decided["restrictions"] == [made["id"]]
    status, again = service.api("POST", f"/v1/requests/{req['id']}/decision", {
        "outcome": "refused", "note": "x"})
    assert status == 409 and again["error"]["field"] == "outcome"
    status, bad = service.api("POST", f"/v1/requests/{req['id']}/decision", {
        "outcome": "maybe", "note": "x"})
    assert status == 400 and bad["error"]["field"] == "outcome"
    assert service.api("GET", "/v1/requests/999")[0] == 404
    status, listed = service.api("GET", "/v1/requests")
    assert [r["id"] for r in listed["requests"]] == [req["id"]]


def test_revoke(service: JoingateService) -> None:
    _, made = service.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                                        "reason": "r"})
    status, body = service.api("POST", f"/v1/restrictions/{made['id']}/revoke", {})
    assert status == 400 and body["error"]["field"] == "reason"
    status, body = service.api("POST", f"/v1/restrictions/{made['id']}/revoke",
                               {"reason": "order lifted"})
    assert status == 200 and body["state"] == "revoked"
    assert service.authorize("r", address("CN"))["decision"] == "allow"
    status, body = service.api("POST", f"/v1/restrictions/{made['id']}/revoke",
                               {"reason": "again"})
    assert status == 409
    assert service.api("POST", "/v1/restrictions/77/revoke", {"reason": "x"})[0] == 404


def test_health_ready_and_unknown_routes(service: JoingateService) -> None:
    assert http("GET", f"{service.url}/healthz")[1] == {"status": "ok"}
    status, ready = http("GET", f"{service.url}/readyz")
    assert status == 200 and ready["ready"] is True
    assert ready["geoip"]["database_type"] == "GeoLite2-Country"
    status, body = http("GET", f"{service.url}/v1/nothing")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_unknown_deny_applies_only_in_restricted_meetings(tmp_path: Any) -> None:
    with JoingateService(tmp_path / "svc", unknown="deny") as svc:
        svc.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                              "reason": "r"})
        verdict = svc.authorize("r", "127.0.0.1")
        assert verdict["decision"] == "deny" and verdict["rule"] == "unknown-location"
        assert svc.authorize("open-room", "127.0.0.1")["decision"] == "allow"


def test_geoip_file_replaced_while_serving(service: JoingateService, tmp_path: Any) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    service.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                              "reason": "r"})
    assert service.authorize("r", address("DE"))["country"] == "DE"
    writer = MMDBWriter(6, "GeoLite2-Country", ipv4_compatible=True)
    writer.insert_network(IPSet(["127.0.7.0/24"]), {"country": {"iso_code": "CN"}})
    fresh = tmp_path / "fresh.mmdb"
    writer.to_db_file(str(fresh))
    fresh.replace(service.geoip)
    wait_until(lambda: service.authorize("r", address("DE"))["decision"] == "deny",
               timeout=10, what="the replaced DB to be used")
    # A corrupt replacement: the current DB stays in use and readiness reports the error.
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"this is not a MaxMind DB")
    broken.replace(service.geoip)
    wait_until(lambda: http("GET", f"{service.url}/readyz")[1]["geoip"]["reload_error"],
               timeout=10, what="the reload error to be reported")
    assert service.authorize("r", address("DE"))["decision"] == "deny"


def test_shutdown_answers_open_long_polls(service: JoingateService) -> None:
    _, first = poll(service, 0, 1)
    held = HeldRequest(service.url, f"/v1/enforcement?after={first['epoch']}&wait=50",
                       service.plugin_token)
    wait_until(held.received, timeout=10, what="the long-poll to reach the service")
    started = time.monotonic()
    service.stop()
    # The process ended well before the poll's 50 s (generous: a busy machine, not 50 s)...
    assert time.monotonic() - started < 10, "shutdown must not wait for the long-poll's end"
    # ...and answered the open poll first: nothing changed, so the same epoch and no rooms.
    status, body = held.response()
    assert status == 200, body
    assert body["epoch"] == first["epoch"] and body["rooms"] == []
