"""THE rule: a restriction tied to an authority request reaches only that authority's
jurisdiction (seeds/jurisdictions.json), only the meetings it names, only by blocking, and a
refused request yields nothing. No generated request + restriction may break it, and every
refusal names the field to fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from joingate.errors import InvalidInput, OutsideJurisdiction, RuleViolation
from joingate.restrictions import AuthorityRequest, build_request, build_restriction
from tests.property.strategies import COUNTRIES, JURISDICTIONS, TABLE

NOW = datetime(2026, 6, 4, 12, 0, 0, tzinfo=UTC)
ROOMS = ["june4-hk", "june4-us", "vigil", "acme/june4", "other", "town-hall"]
# Codes a CN, US, FR... request must never reach, whatever the spelling.
NEIGHBOURS = ["CN", "HK", "MO", "TW", "US", "GU", "PR", "FR", "NC", "NL", "AW", "DE", "GB"]

countries = st.one_of(st.sampled_from(NEIGHBOURS), st.sampled_from(COUNTRIES))
spelled = st.tuples(countries, st.sampled_from([str.upper, str.lower, str.title])).map(
    lambda cf: cf[1](cf[0]))


@st.composite
def authority_requests(draw: st.DrawFn) -> AuthorityRequest:
    draft = build_request(
        authority=draw(st.sampled_from(["Ministry of Public Security", "FBI", "Police"])),
        jurisdiction=draw(st.sampled_from(JURISDICTIONS).flatmap(
            lambda c: st.sampled_from([c, c.lower()]))),
        reference="REF-1", rooms=draw(st.lists(st.sampled_from(ROOMS), min_size=1, max_size=3)),
        demand="End the meetings.", received_at=None, now=NOW, table=TABLE)
    return AuthorityRequest(
        id=draw(st.integers(1, 3)), authority=draft.authority, jurisdiction=draft.jurisdiction,
        reference=draft.reference, rooms=draft.rooms, demand=draft.demand,
        received_at=draft.received_at, recorded_by="test",
        outcome=draw(st.sampled_from([None, None, "complied", "partially", "refused"])))


@st.composite
def restriction_inputs(draw: st.DrawFn, request: AuthorityRequest) -> dict[str, object]:
    covers = sorted(TABLE.get(request.jurisdiction).covers)
    inside = st.sampled_from(covers).flatmap(lambda c: st.sampled_from([c, c.lower()]))
    return {
        "rooms": draw(st.lists(st.one_of(st.sampled_from(request.rooms),
                                         st.sampled_from([*ROOMS, "*"]).map(str.upper)),
                               min_size=1, max_size=3)),
        "countries": draw(st.lists(st.one_of(inside, inside, spelled), min_size=1,
                                   max_size=4)),
        "mode": draw(st.sampled_from([None, "block", "block", "allow-only"])),
        "request_id": draw(st.one_of(st.just(request.id), st.integers(1, 4))),
    }


def _build(request: AuthorityRequest | None, rooms: object, countries: object, mode: object,
           request_id: int | None) -> object:
    return build_restriction(
        rooms=rooms, countries=countries, starts_at=None,  # type: ignore[arg-type]
        ends_at=NOW + timedelta(hours=2), reason="ordered", request=request,
        request_id=request_id, mode=mode, now=NOW, table=TABLE)


@given(authority_requests().flatmap(lambda r: st.tuples(st.just(r), restriction_inputs(r))))
def test_no_request_ever_yields_a_restriction_outside_its_jurisdiction(
        case: tuple[AuthorityRequest, dict[str, object]]) -> None:
    request, fields = case
    try:
        draft = _build(request, **fields)  # type: ignore[arg-type]
    except InvalidInput as exc:
        assert exc.field in ("countries", "rooms", "mode", "request")
        if isinstance(exc, OutsideJurisdiction):
            assert exc.field == "countries"
            codes = {str(c).upper() for c in fields["countries"]}  # type: ignore[attr-defined]
            assert codes - TABLE.get(request.jurisdiction).covers
        return
    covers = TABLE.get(request.jurisdiction).covers
    assert set(draft.countries) <= covers  # type: ignore[attr-defined]
    assert set(draft.rooms) <= set(request.rooms)  # type: ignore[attr-defined]
    assert draft.mode == "block"  # type: ignore[attr-defined]
    assert draft.request == request.id  # type: ignore[attr-defined]
    assert request.outcome != "refused"


@example("CN", "HK")
@example("CN", "MO")
@example("CN", "TW")
@example("US", "CA")
@example("NL", "AW")
@given(st.sampled_from(JURISDICTIONS), countries)
def test_any_country_outside_is_refused_naming_countries(jurisdiction: str,
                                                         outside: str) -> None:
    covers = TABLE.get(jurisdiction).covers
    if outside in covers:
        return
    request = AuthorityRequest(1, "Authority", jurisdiction, "REF", ("june4",), "demand",
                               NOW, "test")
    for countries in ([outside], [jurisdiction, outside], [outside.lower(), jurisdiction]):
        with pytest.raises(OutsideJurisdiction) as caught:
            _build(request, ["june4"], countries, None, 1)
        assert caught.value.field == "countries"
        assert caught.value.http_status == 422


# One defect at a time on a valid base: the refusal names that defect's field.
DEFECTS = {
    "country outside": ("countries", OutsideJurisdiction),
    "country not a code": ("countries", InvalidInput),
    "no country": ("countries", InvalidInput),
    "room not named by the request": ("rooms", RuleViolation),
    "all meetings": ("rooms", RuleViolation),
    "room malformed": ("rooms", InvalidInput),
    "allow-only": ("mode", RuleViolation),
    "unknown mode": ("mode", InvalidInput),
    "unknown request": ("request", RuleViolation),
    "refused request": ("request", RuleViolation),
}


@given(authority_requests(), st.sampled_from(sorted(DEFECTS)), st.data())
def test_each_defect_is_refused_naming_its_field(request: AuthorityRequest, defect: str,
                                                 data: st.DataObject) -> None:
    request = replace(request, outcome=None)
    covers = sorted(TABLE.get(request.jurisdiction).covers)
    rooms: list[str] = data.draw(st.lists(st.sampled_from(request.rooms), min_size=1))
    codes: list[str] = data.draw(st.lists(st.sampled_from(covers), min_size=1))
    mode: str | None = data.draw(st.sampled_from([None, "block"]))
    request_id: int = request.id
    stored: AuthorityRequest | None = request
    if defect == "country outside":
        codes.append(data.draw(st.sampled_from(COUNTRIES).filter(lambda c: c not in covers)))
    elif defect == "country not a code":
        codes.append(data.draw(st.sampled_from(["XX", "C", "CHN", "", "1A", "ZZ"])))
    elif defect == "no country":
        codes = []
    elif defect == "room not named by the request":
        rooms.append(data.draw(st.sampled_from(ROOMS).filter(lambda r: r not in request.rooms)
                               .map(lambda r: r + "-x")))
    elif defect == "all meetings":
        rooms = ["*"]
    elif defect == "room malformed":
        rooms.append(data.draw(st.sampled_from(
            [" a", "x\\2fy", "a/b/c", "", "50%25 off", "caf%c3%89", "t's"])))
    elif defect == "allow-only":
        mode = "allow-only"
    elif defect == "unknown mode":
        mode = data.draw(st.sampled_from(["deny", "BLOCK", "", "allow"]))
    elif defect == "unknown request":
        stored = None
    elif defect == "refused request":
        stored = replace(request, outcome="refused")
    field, kind = DEFECTS[defect]
    with pytest.raises(kind) as caught:
        _build(stored, rooms, codes, mode, request_id)
    assert caught.value.field == field, (defect, caught.value.message)


@given(st.lists(spelled, min_size=1, max_size=4), st.sampled_from([None, "block", "allow-only"]),
       st.lists(st.sampled_from([*ROOMS, "*"]), min_size=1, max_size=3))
def test_an_operator_policy_may_name_any_country_any_meeting_and_allow_only(
        codes: list[str], mode: str | None, rooms: list[str]) -> None:
    try:
        draft = _build(None, rooms, codes, mode, None)
    except InvalidInput as exc:
        assert exc.field == "rooms" and "*" in rooms and len(set(rooms)) > 1
        return
    assert draft.countries == tuple(dict.fromkeys(c.upper() for c in codes))  # type: ignore[attr-defined]
    assert draft.request is None  # type: ignore[attr-defined]


@given(st.one_of(st.sampled_from(JURISDICTIONS), spelled, st.text(max_size=4)),
       st.lists(st.one_of(st.sampled_from([*ROOMS, "*"]), st.text(max_size=5)), max_size=3),
       st.one_of(st.none(), st.integers(-86400, 86400)),
       st.sampled_from(["Police", "", " ", "x" * 201]))
def test_a_request_names_one_iso_jurisdiction_and_meetings_or_is_refused_naming_the_field(
        jurisdiction: str, rooms: list[str], received: int | None, authority: str) -> None:
    fields = {"authority", "jurisdiction", "reference", "rooms", "demand", "received_at"}
    try:
        draft = build_request(
            authority=authority, jurisdiction=jurisdiction, reference="REF", rooms=rooms,
            demand="End it.", now=NOW, table=TABLE,
            received_at=None if received is None else NOW + timedelta(seconds=received))
    except InvalidInput as exc:
        assert exc.field in fields
        return
    assert TABLE.is_country(draft.jurisdiction)
    assert draft.jurisdiction == jurisdiction.strip().upper()
    assert "*" not in draft.rooms  # only operator policies cover all meetings
    assert draft.received_at <= NOW
