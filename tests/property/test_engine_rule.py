"""engine.decide against a model of the contract: a participant is refused only by a rule in
force in that meeting (or on all meetings) that covers their country — nobody else, and no
meeting without a rule, is ever touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from joingate.engine import HORIZON_SECONDS, Engine, Verdict, build_snapshot
from joingate.geo import GeoReader
from joingate.restrictions import ALL_MEETINGS, Restriction
from joingate.testing.geodb import LOOPBACK_COUNTRY, address

NOW = datetime(2026, 6, 4, 12, 0, 0, tzinfo=UTC)
ROOMS = ["june4-hk", "june4-us", "acme/vigil", "town-hall"]
UNRESTRICTED = "book-club"  # never named by any generated restriction
PLACES = sorted(LOOPBACK_COUNTRY)  # countries the test DB places
# (address, country or None): every placed country, and two unplaced addresses.
PARTICIPANTS = [(address(c, 20), c) for c in PLACES] + [("127.0.0.1", None), ("10.1.2.3", None)]


@st.composite
def restrictions(draw: st.DrawFn, ident: int) -> Restriction:
    everywhere = draw(st.integers(0, 5)) == 0
    rooms = (ALL_MEETINGS,) if everywhere else tuple(
        draw(st.lists(st.sampled_from(ROOMS), min_size=1, max_size=3, unique=True)))
    starts = draw(st.integers(-7200, 7200))
    length = draw(st.one_of(st.none(), st.integers(1, 7200)))
    return Restriction(
        id=ident, rooms=rooms,
        countries=tuple(draw(st.lists(st.sampled_from([*PLACES, "FR", "JP"]), min_size=1,
                                      max_size=3, unique=True))),
        starts_at=NOW + timedelta(seconds=starts),
        ends_at=None if length is None else NOW + timedelta(seconds=starts + length),
        reason="test", request=None, mode=draw(st.sampled_from(["block", "block", "allow-only"])),
        created_at=NOW - timedelta(days=1), created_by="test",
        revoked_at=NOW - timedelta(seconds=5) if draw(st.integers(0, 6)) == 0 else None)


policies = st.integers(0, 6).flatmap(
    lambda n: st.tuples(*[restrictions(i + 1) for i in range(n)]))


def _in_force(r: Restriction, at: datetime) -> bool:
    return r.state(at) == "active"


def _applies(r: Restriction, room: str) -> bool:
    return room in r.rooms or ALL_MEETINGS in r.rooms


def _denies(r: Restriction, country: str | None, deny_unknown: bool) -> bool:
    if country is None:
        return deny_unknown
    if r.mode == "allow-only":
        return country not in r.countries
    return country in r.countries


@given(policies, st.sampled_from([*ROOMS, UNRESTRICTED]), st.sampled_from(PARTICIPANTS),
       st.integers(0, int(HORIZON_SECONDS)), st.booleans())
def test_decide_refuses_exactly_whom_a_rule_in_force_in_that_meeting_covers(
        geo: GeoReader, rules: tuple[Restriction, ...], room: str,
        participant: tuple[str, str | None], later: int, deny_unknown: bool) -> None:
    ip, country = participant
    engine = Engine(geo, "deny" if deny_unknown else "allow")
    engine.snapshot = build_snapshot(rules, NOW)
    at = NOW + timedelta(seconds=later)  # within the horizon the snapshot is built for
    _check_against_model(engine.decide(room, ip, at.timestamp()), rules, room, country, at,
                         deny_unknown)


@given(policies, st.lists(st.integers(0, int(HORIZON_SECONDS)), min_size=1, max_size=8),
       st.booleans())
def test_one_engine_asked_again_and_again_across_windows_still_follows_the_model(
        geo: GeoReader, rules: tuple[Restriction, ...], laters: list[int],
        deny_unknown: bool) -> None:
    """The verdicts an engine remembers per (room, country) never outlive a window opening or
    closing: every room and participant asked at each moment, in any order of moments."""
    engine = Engine(geo, "deny" if deny_unknown else "allow")
    engine.snapshot = build_snapshot(rules, NOW)
    for later in laters:
        at = NOW + timedelta(seconds=later)
        for room in [*ROOMS, UNRESTRICTED]:
            for ip, country in PARTICIPANTS:
                _check_against_model(engine.decide(room, ip, at.timestamp()), rules, room,
                                     country, at, deny_unknown)


def _check_against_model(verdict: Verdict, rules: tuple[Restriction, ...], room: str,
                         country: str | None, at: datetime, deny_unknown: bool) -> None:
    assert verdict.country == country
    in_room = [r for r in rules if _applies(r, room) and _in_force(r, at)]
    deniers = [r for r in in_room if _denies(r, country, deny_unknown)]
    if deniers:
        assert verdict.decision == "deny"
        assert verdict.restriction in {r.id for r in deniers}
        denier = next(r for r in deniers if r.id == verdict.restriction)
        assert verdict.rule == ("unknown-location" if country is None else denier.mode)
        assert verdict.message
    else:
        assert verdict.decision == "allow"
        assert verdict.restriction is None
        assert verdict.rule == ("not-covered" if in_room else "no-restriction")


@given(policies, st.sampled_from(PARTICIPANTS), st.integers(0, int(HORIZON_SECONDS)),
       st.booleans())
def test_a_meeting_without_a_rule_is_never_affected(
        geo: GeoReader, rules: tuple[Restriction, ...], participant: tuple[str, str | None],
        later: int, deny_unknown: bool) -> None:
    ip, _ = participant
    engine = Engine(geo, "deny" if deny_unknown else "allow")
    engine.snapshot = build_snapshot(rules, NOW)
    at = NOW + timedelta(seconds=later)
    verdict = engine.decide(UNRESTRICTED, ip, at.timestamp())
    everywhere = [r for r in rules if ALL_MEETINGS in r.rooms and _in_force(r, at)]
    if not everywhere:
        assert verdict.decision == "allow" and verdict.rule == "no-restriction"
    elif verdict.decision == "deny":
        assert verdict.restriction in {r.id for r in everywhere}


@given(policies, st.sampled_from([*ROOMS, UNRESTRICTED]), st.sampled_from(PARTICIPANTS),
       st.integers(0, int(HORIZON_SECONDS)))
def test_a_block_rule_never_refuses_a_country_it_does_not_name(
        geo: GeoReader, rules: tuple[Restriction, ...], room: str,
        participant: tuple[str, str | None], later: int) -> None:
    """With only blocking rules (every authority restriction), a participant is refused only
    where their own country is named — never a neighbour's (HK for CN, GU for US)."""
    blocking = tuple(r for r in rules if r.mode == "block")
    ip, country = participant
    engine = Engine(geo, "allow")
    engine.snapshot = build_snapshot(blocking, NOW)
    at = NOW + timedelta(seconds=later)
    verdict = engine.decide(room, ip, at.timestamp())
    if verdict.decision == "deny":
        assert country is not None
        named = [r for r in blocking if _applies(r, room) and _in_force(r, at)
                 and country in r.countries]
        assert named
