"""joingate.engine: snapshots, decisions over a real test DB, and the decision counters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from joingate.engine import (
    DAY,
    EMPTY,
    HORIZON_SECONDS,
    SESSION_MAX_ROOMS,
    Engine,
    Snapshot,
    build_snapshot,
    changed_rooms,
    pending,
)
from joingate.errors import InvalidInput
from joingate.geo import GeoReader
from joingate.restrictions import Restriction
from joingate.testing.geodb import address

NOW = datetime(2026, 6, 4, 12, 0, 0, tzinfo=UTC)
T = NOW.timestamp()
CN, HK, US, DE = address("CN"), address("HK"), address("US"), address("DE")
UNPLACED = "127.0.0.1"


def restriction(id: int, rooms: Iterable[str] = ("june4",), countries: Iterable[str] = ("CN",),
                *, starts: float = -3600, ends: float | None = None, mode: str = "block",
                revoked: bool = False) -> Restriction:
    """A stored restriction; `starts`/`ends` are seconds relative to NOW."""
    return Restriction(
        id=id, rooms=tuple(rooms), countries=tuple(countries),
        starts_at=NOW + timedelta(seconds=starts),
        ends_at=None if ends is None else NOW + timedelta(seconds=ends),
        reason="test", request=None, mode=mode, created_at=NOW - timedelta(days=1),
        created_by="admin", revoked_at=NOW - timedelta(seconds=1) if revoked else None)


def engine_with(geo: GeoReader, *restrictions: Restriction, unknown: str = "allow") -> Engine:
    engine = Engine(geo, unknown=unknown)
    engine.snapshot = build_snapshot(restrictions, NOW)
    return engine


# -- build_snapshot / changed_rooms ---------------------------------------------------------

def test_empty_snapshot() -> None:
    snap = build_snapshot([], NOW)
    assert snap.by_room == {}
    assert snap.everywhere == ()
    assert snap.active == {}
    assert snap.restricted == []
    assert snap.next_change is None
    assert snap.built_at == T
    assert EMPTY.restricted == []


def test_snapshot_indexes_rules_by_room() -> None:
    snap = build_snapshot([restriction(1, ["june4", "vigil"]), restriction(2, ["vigil"])], NOW)
    assert set(snap.by_room) == {"june4", "vigil"}
    assert [r.restriction for r in snap.by_room["vigil"]] == [1, 2]
    assert snap.active == {"june4": frozenset({1}), "vigil": frozenset({1, 2})}
    assert snap.restricted == ["june4", "vigil"]


def test_all_meetings_policy_applies_to_every_room() -> None:
    snap = build_snapshot([restriction(1, ["*"], ["DE"], mode="allow-only"),
                           restriction(2, ["june4"])], NOW)
    assert "*" not in snap.by_room
    assert [r.restriction for r in snap.everywhere] == [1]
    assert [r.restriction for r in snap.by_room["june4"]] == [2, 1]
    assert snap.active == {"*": frozenset({1}), "june4": frozenset({2})}
    assert snap.restricted == ["*", "june4"]


def test_ended_and_revoked_are_dropped() -> None:
    snap = build_snapshot([restriction(1, ["a"], starts=-7200, ends=-3600),
                           restriction(2, ["b"], starts=-7200, ends=0),
                           restriction(3, ["c"], revoked=True),
                           restriction(4, ["d"], starts=600, ends=1200, revoked=True)], NOW)
    assert snap.by_room == {}
    assert snap.active == {}
    assert snap.next_change is None


def test_pending_keeps_what_a_later_snapshot_can_need() -> None:
    kept = [restriction(5, ["e"], starts=-60, ends=1), restriction(6, ["f"], starts=7200),
            restriction(7, ["g"])]
    gone = [restriction(1, ["a"], starts=-7200, ends=-3600),
            restriction(2, ["b"], starts=-7200, ends=0), restriction(3, ["c"], revoked=True),
            restriction(4, ["d"], starts=600, ends=1200, revoked=True)]
    assert pending([*gone[:2], *kept, *gone[2:]], NOW) == kept


def test_scheduled_within_the_horizon_is_held_but_not_active() -> None:
    snap = build_snapshot([restriction(1, ["a"], starts=HORIZON_SECONDS - 1)], NOW)
    assert [r.restriction for r in snap.by_room["a"]] == [1]
    assert snap.active == {}
    assert snap.next_change == T + HORIZON_SECONDS - 1


def test_scheduled_beyond_the_horizon_is_left_out_but_bounds_next_change() -> None:
    snap = build_snapshot([restriction(1, ["a"], starts=HORIZON_SECONDS + 60)], NOW)
    assert snap.by_room == {}
    assert snap.next_change == T + HORIZON_SECONDS + 60


def test_next_change_is_the_nearest_future_boundary() -> None:
    snap = build_snapshot([
        restriction(1, ["a"], starts=-60, ends=900),    # ends in 900
        restriction(2, ["b"], starts=120, ends=5000),   # starts in 120
        restriction(3, ["c"], starts=-60),              # open-ended, no future boundary
        restriction(4, ["d"], starts=30, revoked=True),  # revoked: no boundary
        restriction(5, ["e"], starts=-600, ends=-60),   # ended
    ], NOW)
    assert snap.next_change == T + 120
    later = build_snapshot([restriction(1, ["a"], starts=-60, ends=900),
                            restriction(2, ["b"], starts=120, ends=5000)],
                           NOW + timedelta(seconds=120))
    assert later.next_change == T + 900
    assert later.active == {"a": frozenset({1}), "b": frozenset({2})}


def test_a_window_boundary_at_built_at_is_not_a_future_change() -> None:
    snap = build_snapshot([restriction(1, ["a"], starts=0, ends=60)], NOW)
    assert snap.active == {"a": frozenset({1})}
    assert snap.next_change == T + 60


def test_changed_rooms() -> None:
    old = build_snapshot([restriction(1, ["a", "b"]), restriction(2, ["c"])], NOW)
    new = build_snapshot([restriction(1, ["a", "b"]), restriction(3, ["c"]),
                          restriction(4, ["b"]), restriction(5, ["*"])], NOW)
    assert changed_rooms(old, new) == {"b", "c", "*"}
    assert changed_rooms(new, old) == {"b", "c", "*"}
    assert changed_rooms(old, old) == set()
    assert changed_rooms(EMPTY, old) == {"a", "b", "c"}


def test_changed_rooms_ignores_rules_not_yet_in_force() -> None:
    old = build_snapshot([restriction(1, ["a"])], NOW)
    new = build_snapshot([restriction(1, ["a"]), restriction(2, ["a", "b"], starts=60)], NOW)
    assert changed_rooms(old, new) == set()
    opened = build_snapshot([restriction(1, ["a"]), restriction(2, ["a", "b"], starts=60)],
                            NOW + timedelta(seconds=60))
    assert changed_rooms(new, opened) == {"a", "b"}


# -- decide -------------------------------------------------------------------------------------

def test_block_denies_only_the_listed_countries_in_the_listed_rooms(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"]))
    denied = engine.decide("june4", CN, T)
    assert (denied.decision, denied.country, denied.restriction, denied.rule) == (
        "deny", "CN", 1, "block")
    assert "CN" in denied.message
    assert "restriction 1" in denied.message
    for ip, country in ((HK, "HK"), (US, "US"), ("2001:db8:2::1", "HK")):
        v = engine.decide("june4", ip, T)
        assert (v.decision, v.country, v.restriction, v.rule) == (
            "allow", country, None, "not-covered")
    v = engine.decide("other", CN, T)
    assert (v.decision, v.country, v.restriction, v.rule) == (
        "allow", "CN", None, "no-restriction")


def test_block_applies_to_ipv6_and_mapped_addresses(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"]))
    for ip in ("2001:db8:1::7", "::ffff:127.0.1.9", "2001:db8:1::7%eth0"):
        assert engine.decide("june4", ip, T).decision == "deny"


def test_allow_only_admits_only_the_listed_countries(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["board"], ["DE", "US"], mode="allow-only"))
    for ip in (DE, US):
        v = engine.decide("board", ip, T)
        assert (v.decision, v.rule) == ("allow", "not-covered")
    v = engine.decide("board", CN, T)
    assert (v.decision, v.country, v.restriction, v.rule) == ("deny", "CN", 1, "allow-only")
    assert "DE, US" in v.message
    assert engine.decide("lobby", CN, T).decision == "allow"


def test_all_meetings_policy_decides_in_every_room(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["*"], ["DE"], mode="allow-only"),
                         restriction(2, ["june4"], ["HK"]))
    for room in ("june4", "any-room", "acme/other"):
        v = engine.decide(room, CN, T)
        assert (v.decision, v.restriction, v.rule) == ("deny", 1, "allow-only")
        assert engine.decide(room, DE, T).decision == "allow"
    # in june4 both rules apply
    assert engine.decide("june4", HK, T).decision == "deny"
    assert engine.decide("elsewhere", HK, T).restriction == 1


def test_several_rules_in_one_room(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["a"], ["HK"]), restriction(2, ["a"], ["CN"]))
    assert engine.decide("a", CN, T).restriction == 2
    assert engine.decide("a", HK, T).restriction == 1
    assert engine.decide("a", US, T).decision == "allow"


def test_scheduled_restriction_opens_on_time_without_a_rebuild(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"], starts=120, ends=240))
    assert engine.decide("june4", CN, T).decision == "allow"
    assert engine.decide("june4", CN, T + 119.999).decision == "allow"
    assert engine.decide("june4", CN, T + 120).decision == "deny"
    assert engine.decide("june4", CN, T + 239.999).decision == "deny"
    assert engine.decide("june4", CN, T + 240).decision == "allow"
    assert engine.snapshot.next_change == T + 120


def test_active_restriction_closes_on_time_without_a_rebuild(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"], starts=-60, ends=60))
    assert engine.decide("june4", CN, T + 59).decision == "deny"
    v = engine.decide("june4", CN, T + 60)
    assert (v.decision, v.rule) == ("allow", "no-restriction")


def test_scheduled_beyond_the_horizon_waits_for_a_rebuild(geo: GeoReader) -> None:
    late = restriction(1, ["june4"], ["CN"], starts=HORIZON_SECONDS + 60)
    engine = engine_with(geo, late)
    assert engine.decide("june4", CN, T + HORIZON_SECONDS + 60).decision == "allow"
    engine.snapshot = build_snapshot([late], NOW + timedelta(seconds=HORIZON_SECONDS + 60))
    assert engine.decide("june4", CN, T + HORIZON_SECONDS + 60).decision == "deny"


def test_ended_and_revoked_do_not_deny(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"], starts=-7200, ends=-1),
                         restriction(2, ["june4"], ["CN"], revoked=True))
    assert engine.decide("june4", CN, T).decision == "allow"


@pytest.mark.parametrize("ip", [UNPLACED, "::1", "2001:db8:3::1"])
def test_unknown_location_is_allowed_by_default(geo: GeoReader, ip: str) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"]),
                         restriction(2, ["board"], ["DE"], mode="allow-only"))
    for room in ("june4", "board", "open"):
        v = engine.decide(room, ip, T)
        assert (v.decision, v.country, v.restriction) == ("allow", None, None)


def test_unknown_denied_only_in_rooms_with_a_rule_in_force(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"]),
                         restriction(2, ["later"], ["CN"], starts=60), unknown="deny")
    v = engine.decide("june4", UNPLACED, T)
    assert (v.decision, v.country, v.restriction, v.rule) == (
        "deny", None, 1, "unknown-location")
    assert "restriction 1" in v.message
    assert engine.decide("open", UNPLACED, T).decision == "allow"
    assert engine.decide("later", UNPLACED, T).decision == "allow"  # not in force yet
    assert engine.decide("later", UNPLACED, T + 60).decision == "deny"
    assert engine.decide("june4", HK, T).decision == "allow"  # placed: unaffected


def test_unknown_deny_with_an_all_meetings_policy(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["*"], ["CN"]), unknown="deny")
    assert engine.decide("anything", UNPLACED, T).rule == "unknown-location"


def test_decide_refuses_garbage_ip(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1))
    with pytest.raises(InvalidInput) as info:
        engine.decide("june4", "not-an-ip", T)
    assert info.value.field == "ip"
    with pytest.raises(InvalidInput):
        engine.decide("unrestricted", "not-an-ip", T)


def test_verdict_as_json(geo: GeoReader) -> None:
    v = engine_with(geo, restriction(9)).decide("june4", CN, T)
    assert v.as_json() == {"decision": "deny", "country": "CN", "restriction": 9,
                           "rule": "block", "message": v.message}
    allow = Engine(geo).decide("june4", UNPLACED, T).as_json()
    assert allow == {"decision": "allow", "country": None, "restriction": None,
                     "rule": "no-restriction", "message": ""}


def test_a_fresh_engine_allows_everyone(geo: GeoReader) -> None:
    engine = Engine(geo)
    assert engine.snapshot is EMPTY
    assert isinstance(engine.snapshot, Snapshot)
    assert engine.decide("june4", CN, T).decision == "allow"


# -- counters -----------------------------------------------------------------------------------

def test_counts_by_day_restriction_country_outcome(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(4, ["june4"], ["CN"]))
    day = int(T // DAY)
    engine.count(engine.decide("june4", CN, T), T, "refused")
    engine.count(engine.decide("june4", address("CN", 11), T), T, "refused")
    engine.count(engine.decide("june4", CN, T), T, "removed")
    engine.count(engine.decide("june4", HK, T), T, "allowed")
    engine.count(engine.decide("june4", UNPLACED, T), T, "allowed")
    engine.count(engine.decide("june4", CN, T + DAY), T + DAY, "refused")
    counts = engine.take_counts()
    assert counts == {
        (day, 4, "CN", "refused"): 2,
        (day, 4, "CN", "removed"): 1,
        (day, 0, "HK", "allowed"): 1,
        (day, 0, "", "allowed"): 1,
        (day + 1, 4, "CN", "refused"): 1,
    }
    assert engine.take_counts() == {}
    engine.count(engine.decide("june4", CN, T), T, "refused")
    assert engine.take_counts() == {(day, 4, "CN", "refused"): 1}


def test_no_address_in_counts_or_verdicts(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"]),
                         restriction(2, ["board"], ["DE"], mode="allow-only"), unknown="deny")
    ips = [CN, address("CN", 123), HK, US, DE, UNPLACED, "::1", "2001:db8:1::42",
           "::ffff:127.0.2.77", "2001:db8:3::9"]
    texts: list[str] = []
    for room in ("june4", "board", "open"):
        for ip in ips:
            verdict = engine.decide(room, ip, T)
            engine.count(verdict, T, "refused" if verdict.decision == "deny" else "allowed")
            texts.append(repr(verdict.as_json()))
    counts = engine.take_counts()
    texts.extend(repr(k) + repr(v) for k, v in counts.items())
    texts.append(repr(engine.snapshot))  # memoised verdicts included
    assert counts  # something was counted
    blob = "\n".join(texts)
    for ip in ips:
        assert ip not in blob
    for key in counts:
        day, restriction_id, country, outcome = key
        assert isinstance(day, int) and isinstance(restriction_id, int)
        assert country == "" or (len(country) == 2 and country.isupper())
        assert outcome in ("allowed", "refused")


def test_verdicts_are_shared_per_snapshot_and_rebuilt_with_it(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"]))
    first = engine.decide("june4", CN, T)
    assert engine.decide("june4", address("CN", 99), T) is first
    engine.snapshot = build_snapshot([restriction(1, ["june4"], ["CN", "HK"])], NOW)
    assert engine.decide("june4", CN, T) == first
    v = engine.decide("june4", HK, T)
    assert (v.decision, v.country, v.restriction) == ("deny", "HK", 1)
    engine.snapshot = build_snapshot([restriction(2, ["june4"], ["DE"], mode="allow-only")], NOW)
    v = engine.decide("june4", HK, T)
    assert (v.decision, v.country, v.restriction, v.rule) == ("deny", "HK", 2, "allow-only")
    assert "DE" in v.message


# -- denied_rooms (the verdicts a session learns when it starts) ------------------------------

def test_denied_rooms_lists_the_restricted_meetings_that_refuse_the_address(
        geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4", "vigil"], ["CN"]),
                         restriction(2, ["board"], ["DE"], mode="allow-only"),
                         restriction(3, ["later"], ["CN"], starts=60))
    assert engine.denied_rooms(CN, T) == ("board", "june4", "vigil")
    assert engine.denied_rooms(HK, T) == ("board",)
    assert engine.denied_rooms(DE, T) == ()
    # Not located: allowed unless geoip.unknown says deny.
    assert engine.denied_rooms(UNPLACED, T) == ()
    strict = engine_with(geo, restriction(1, ["june4"], ["CN"]), unknown="deny")
    assert strict.denied_rooms(UNPLACED, T) == ("june4",)


def test_denied_rooms_agrees_with_decide_in_every_meeting(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["*"], ["CN"]),
                         restriction(2, ["june4"], ["HK"]),
                         restriction(3, ["board"], ["US", "CN"], mode="allow-only"),
                         restriction(4, ["soon"], ["DE"], starts=60))
    for ip in (CN, HK, US, DE, UNPLACED):
        denied = engine.denied_rooms(ip, T)
        assert denied is not None
        for room in ("june4", "board", "soon", "any-room"):
            named = room in engine.snapshot.active
            said = room in denied if named else "*" in denied
            assert said == (engine.decide(room, ip, T).decision == "deny"), (ip, room)


def test_denied_rooms_is_shared_per_snapshot_and_bounded_in_rooms(geo: GeoReader) -> None:
    engine = engine_with(geo, restriction(1, ["june4"], ["CN"]))
    first = engine.denied_rooms(CN, T)
    assert engine.denied_rooms(address("CN", 99), T) is first
    engine.snapshot = build_snapshot([restriction(1, ["june4"], ["HK"])], NOW)
    assert engine.denied_rooms(CN, T) == ()
    # Past the snapshot's validity (a window closes at T + 60): decided afresh, not kept.
    engine.snapshot = build_snapshot([restriction(1, ["june4"], ["CN"], ends=60)], NOW)
    assert engine.denied_rooms(CN, T + 61) == ()
    assert engine.denied_rooms(CN, T) == ("june4",)
    many = engine_with(geo, restriction(1, [f"m{i}" for i in range(SESSION_MAX_ROOMS)], ["CN"]))
    assert len(many.denied_rooms(CN, T) or ()) == SESSION_MAX_ROOMS
    more = engine_with(geo, restriction(1, [f"m{i}" for i in range(SESSION_MAX_ROOMS + 1)],
                                        ["CN"]))
    assert more.denied_rooms(CN, T) is None
    with pytest.raises(InvalidInput) as raised:
        engine.denied_rooms("not-an-ip", T)
    assert raised.value.field == "ip"
