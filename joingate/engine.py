"""decide(room, ip, now) over an immutable snapshot of the restrictions in force.

Pure core: no I/O, no asyncio. The service rebuilds the snapshot whenever restrictions change
and whenever a window opens or closes; each rebuild that changes which rules are active in some
room advances the enforcement epoch (see `Enforcement`). Every verdict names its reason.
Decision counters are kept here by (day, restriction, country, outcome) — never by address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .geo import GeoReader
from .policy import ALL_MEETINGS, Restriction

# How far ahead a scheduled restriction is put in the snapshot: decide() checks each rule's
# window against the clock, so a window opens on time even if the rebuild timer runs late.
HORIZON_SECONDS = 300.0
DAY = 86400


@dataclass(frozen=True, slots=True)
class Rule:
    """One restriction, flattened for the hot path."""

    restriction: int
    countries: frozenset[str]
    allow_only: bool
    starts: float
    ends: float  # +inf when open-ended

    def in_force(self, now: float) -> bool:
        return self.starts <= now < self.ends


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: str  # "allow" | "deny"
    country: str | None
    restriction: int | None
    rule: str  # no-restriction | not-covered | block | allow-only | unknown-location
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "country": self.country,
                "restriction": self.restriction, "rule": self.rule, "message": self.message}


def _rule_of(r: Restriction) -> Rule:
    return Rule(r.id, frozenset(r.countries), r.mode == "allow-only", r.starts_at.timestamp(),
                r.ends_at.timestamp() if r.ends_at is not None else float("inf"))


@dataclass(frozen=True)
class Snapshot:
    """Rules by room at one moment. `active` maps each room with a rule in force at `built_at`
    to the ids in force there (ALL_MEETINGS for operator policies on every meeting)."""

    by_room: dict[str, tuple[Rule, ...]]
    everywhere: tuple[Rule, ...]
    active: dict[str, frozenset[int]]
    built_at: float
    next_change: float | None  # the next time a window opens or closes

    @property
    def restricted(self) -> list[str]:
        return sorted(self.active)


EMPTY = Snapshot({}, (), {}, 0.0, None)


def build_snapshot(restrictions: Iterable[Restriction], now: datetime) -> Snapshot:
    """The snapshot at `now` from stored restrictions (any state; revoked and ended dropped)."""
    t = now.timestamp()
    by_room: dict[str, list[Rule]] = {}
    active: dict[str, set[int]] = {}
    boundaries: list[float] = []
    for r in restrictions:
        if r.revoked_at is not None:
            continue
        rule = _rule_of(r)
        if rule.ends <= t:
            continue
        boundaries.extend(b for b in (rule.starts, rule.ends) if b > t)
        if rule.starts > t + HORIZON_SECONDS:
            continue
        for room in r.rooms:
            by_room.setdefault(room, []).append(rule)
            if rule.in_force(t):
                active.setdefault(room, set()).add(rule.restriction)
    everywhere = tuple(by_room.pop(ALL_MEETINGS, ()))
    rooms = {room: tuple(rules) + everywhere for room, rules in by_room.items()}
    return Snapshot(rooms, everywhere, {k: frozenset(v) for k, v in active.items()}, t,
                    min(boundaries) if boundaries else None)


def changed_rooms(old: Snapshot, new: Snapshot) -> set[str]:
    """Rooms whose set of rules in force differs between two snapshots ("*" for all)."""
    keys = old.active.keys() | new.active.keys()
    return {k for k in keys if old.active.get(k) != new.active.get(k)}


class Engine:
    """Holds the current snapshot and the GeoIP reader; decides; counts."""

    def __init__(self, geo: GeoReader, unknown: str = "allow"):
        self.geo = geo
        self.deny_unknown = unknown == "deny"
        self.snapshot = EMPTY
        self.counts: Counter[tuple[int, int, str, str]] = Counter()
        self.decisions = 0

    def decide(self, room: str, ip: str, now: float) -> Verdict:
        """The verdict for a participant at `ip` joining `room` at `now` (epoch seconds).
        Raises InvalidInput(field="ip") when `ip` is not an address."""
        country = self.geo.country(ip)
        snap = self.snapshot
        rules = snap.by_room.get(room)
        if rules is None:
            rules = snap.everywhere
            if not rules:
                return _allow(country)
        return _judge(rules, country, now, self.deny_unknown)

    def count(self, verdict: Verdict, now: float, outcome: str) -> None:
        """Record one decision: outcome is allowed | refused | removed."""
        self.counts[(int(now // DAY), verdict.restriction or 0, verdict.country or "",
                     outcome)] += 1

    def take_counts(self) -> Counter[tuple[int, int, str, str]]:
        """Hand over the counts gathered so far (the caller writes them to the store)."""
        counts, self.counts = self.counts, Counter()
        return counts


_ALLOW_CACHE: dict[str | None, Verdict] = {}


def _allow(country: str | None, rule: str = "no-restriction") -> Verdict:
    if rule == "no-restriction":
        found = _ALLOW_CACHE.get(country)
        if found is None:
            found = _ALLOW_CACHE[country] = Verdict("allow", country, None, rule, "")
        return found
    return Verdict("allow", country, None, rule, "")


def _judge(rules: tuple[Rule, ...], country: str | None, now: float,
           deny_unknown: bool) -> Verdict:
    in_force = False
    for rule in rules:
        if not rule.starts <= now < rule.ends:
            continue
        in_force = True
        if country is None:
            if deny_unknown:
                return Verdict("deny", None, rule.restriction, "unknown-location",
                               "Your location could not be determined, and this meeting is "
                               f"restricted (restriction {rule.restriction}).")
            continue
        if rule.allow_only:
            if country not in rule.countries:
                admitted = ", ".join(sorted(rule.countries))
                return Verdict("deny", country, rule.restriction, "allow-only",
                               f"This meeting admits only participants located in {admitted}; "
                               f"you appear to be in {country} "
                               f"(restriction {rule.restriction}).")
        elif country in rule.countries:
            return Verdict("deny", country, rule.restriction, "block",
                           f"Participants located in {country} cannot join this meeting: it is "
                           f"restricted there (restriction {rule.restriction}).")
    return _allow(country, "not-covered" if in_force else "no-restriction")
