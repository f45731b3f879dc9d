"""Census (counts per meeting and country from the plugin) and impact preview."""

from __future__ import annotations

import pytest

from joingate.testing.service import JoingateService, http

pytestmark = pytest.mark.integration


def report(svc: JoingateService, body: object) -> tuple[int, object]:
    return http("POST", f"{svc.url}/v1/census", body, token=svc.plugin_token)


def test_census_and_impact_preview(service: JoingateService) -> None:
    assert report(service, {"source": "shard-1", "rooms": {
        "June4-HK": {"CN": 40, "HK": 25, "US": 3, "": 2}, "june4-us": {"US": 10, "CN": 1}}}
    ) == (200, {"rooms": 2})
    assert report(service, {"source": "shard-2", "rooms": {"june4-hk": {"cn": 5}}})[0] == 200
    status, census = service.api("GET", "/v1/census")
    assert status == 200
    assert census["rooms"] == {"june4-hk": {"": 2, "CN": 45, "HK": 25, "US": 3},
                               "june4-us": {"CN": 1, "US": 10}}
    assert [s["source"] for s in census["sources"]] == ["shard-1", "shard-2"]

    _, req = service.api("POST", "/v1/requests", {
        "authority": "MPS", "jurisdiction": "CN", "reference": "R", "rooms": ["june4-hk"],
        "demand": "d"})
    draft = {"rooms": ["june4-hk"], "countries": ["CN"], "request": req["id"], "reason": "R"}
    status, impact = service.api("POST", "/v1/restrictions/preview", draft)
    assert status == 200
    assert impact == {"rooms": {"june4-hk": {"CN": 45}}, "total": 45, "disputed": {},
                      "disputed_total": 0}
    # The preview validates like a create, and writes nothing either way.
    status, refused = service.api("POST", "/v1/restrictions/preview",
                                  {**draft, "countries": ["CN", "HK"]})
    assert status == 422 and refused["error"]["field"] == "countries"
    assert service.api("GET", "/v1/restrictions")[1] == {"restrictions": []}
    status, everywhere = service.api("POST", "/v1/restrictions/preview", {
        "rooms": ["*"], "countries": ["US"], "mode": "allow-only", "reason": "policy"})
    assert everywhere == {"rooms": {"june4-hk": {"CN": 45, "HK": 25},
                                    "june4-us": {"CN": 1}}, "total": 71,
                      "disputed": {}, "disputed_total": 0}

    # A new report from a source replaces its previous one.
    report(service, {"source": "shard-1", "rooms": {}})
    assert service.api("GET", "/v1/census")[1]["rooms"] == {"june4-hk": {"CN": 5}}


@pytest.mark.parametrize(("body", "field"), [
    ({"rooms": {"r": {"China": 1}}}, "rooms.r.China"),
    ({"rooms": {"r": {"CN": -1}}}, "rooms.r.CN"),
    ({"rooms": {"": {"CN": 1}}}, "rooms."),
    ({"rooms": {"r": {"CN": "1"}}}, "rooms.r.CN"),
    ({"room": {}}, "rooms"),
    # Only ISO 3166-1 codes: "ß" upper-cases to "SS", "XX" is assigned to nobody.
    ({"rooms": {"r": {"ß": 1}}}, "rooms.r.ß"),
    ({"rooms": {"r": {"XX": 1}}}, "rooms.r.XX"),
    ({"rooms": {"r": {"cn": 1, "\uff23\uff2e": 1}}}, "rooms.r.\uff23\uff2e"),  # full-width CN
    ({"rooms": {f"room-{i}": {"CN": 1} for i in range(5001)}}, "rooms"),
])
def test_census_bad_input(service: JoingateService, body: object, field: str) -> None:
    status, answer = report(service, body)
    assert status == 400 and answer["error"]["field"] == field, answer  # type: ignore[index]


def test_census_country_codes(service: JoingateService) -> None:
    """ISO codes in any case, "" (not placed) and "XK" (how GeoIP DBs place Kosovo)."""
    assert report(service, {"rooms": {"r": {"cn": 1, "Hk": 2, "": 3, "XK": 4}}}) == \
        (200, {"rooms": 1})
    assert service.api("GET", "/v1/census")[1]["rooms"] == {
        "r": {"": 3, "CN": 1, "HK": 2, "XK": 4}}


def test_census_scopes(service: JoingateService) -> None:
    assert http("POST", f"{service.url}/v1/census", {"rooms": {}},
                token=service.admin_token)[0] == 403
    assert http("GET", f"{service.url}/v1/census", token=service.plugin_token)[0] == 403
