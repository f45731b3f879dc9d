"""decide(room, ip, now) over an immutable snapshot of the restrictions in force.

Pure core: no I/O, no asyncio. The service rebuilds the snapshot whenever restrictions change
and whenever a window opens or closes; each rebuild that changes which rules are active in some
room advances the enforcement epoch (see `Enforcement`). Every verdict names its reason.
Decision counters are kept here by (day, restriction, country, outcome) — never by address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .geo import Disputed, GeoReader
from .restrictions import ALL_MEETINGS, Restriction
from .vocabulary import CountOutcome, Decision, Mode, VerdictRule

# How far ahead a scheduled restriction is put in the snapshot: decide() checks each rule's
# window against the clock, so a window opens on time even if the rebuild timer runs late.
HORIZON_SECONDS = 300.0
DAY = 86400
# Bound on a snapshot's (room, country) -> verdict memo; a full memo starts over.
JUDGED_MAX = 100_000
# Above this many meetings with a restriction in force, denied_rooms() gives no list (the
# plugin then asks per join): its answer, and the work of making it, grow with that number.
SESSION_MAX_ROOMS = 1000
# Bound on a snapshot's placement -> denied meetings memo (countries, and disputed pairs).
DENIED_MAX = 4096

# A verdict's words, as plain str: msgspec encodes a str about 60 ns faster than an enum
# member, and /v1/authorize/batch encodes every verdict it returns.
_ALLOW, _DENY = Decision.ALLOW.value, Decision.DENY.value
_NO_RESTRICTION = VerdictRule.NO_RESTRICTION.value
_NOT_COVERED = VerdictRule.NOT_COVERED.value
_BLOCK = VerdictRule.BLOCK.value
_ALLOW_ONLY = VerdictRule.ALLOW_ONLY.value
_UNKNOWN_LOCATION = VerdictRule.UNKNOWN_LOCATION.value
_DISPUTED = VerdictRule.DISPUTED.value
_MODE_ALLOW_ONLY = Mode.ALLOW_ONLY  # bound once: a rebuild reads it for every restriction


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
    decision: str  # a Decision
    country: str | None
    restriction: int | None
    rule: str  # a VerdictRule
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "country": self.country,
                "restriction": self.restriction, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class DisputedVerdict(Verdict):
    """The primary and witness DBs place the address in different countries and the decision
    depends on which is right: `decision` follows geoip.disputed, `country` is the primary's,
    `restriction` the one that one of them would apply."""

    witness_country: str

    def as_json(self) -> dict[str, Any]:
        return {**Verdict.as_json(self), "witness_country": self.witness_country}


def _rule_of(r: Restriction) -> Rule:
    return Rule(r.id, frozenset(r.countries), r.mode == _MODE_ALLOW_ONLY, r.starts_at.timestamp(),
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
    # Verdicts already made with this snapshot, by (restriction, country, rule): a verdict is
    # immutable, so the hot path hands out the same object instead of building a new one.
    # Bounded by restrictions x countries.
    verdicts: dict[tuple[int, str | None, str], Verdict] = field(default_factory=dict)
    # Verdicts by (room, country), good from built_at until next_change: no window opens or
    # closes in between, so the rules in force, hence the verdict, stay the same. This keeps a
    # decision one dict probe however many rules a room has.
    judged: dict[tuple[str, str | None], Verdict] = field(default_factory=dict)
    # denied_rooms() answers by placement (a country, a disputed pair, or None), good for the
    # same span as `judged`.
    denied: dict[str | tuple[str, str] | None, tuple[str, ...]] = field(default_factory=dict)
    valid_until: float = field(init=False)  # next_change, +inf when none

    def __post_init__(self) -> None:
        until = float("inf") if self.next_change is None else self.next_change
        object.__setattr__(self, "valid_until", until)

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
    for r in pending(restrictions, now):
        rule = _rule_of(r)
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


def pending(restrictions: Iterable[Restriction], now: datetime) -> list[Restriction]:
    """The restrictions a snapshot at `now` or later can still need: not revoked, not ended.
    Most stored ones are ended: they are dropped here, before any work is spent on them."""
    return [r for r in restrictions
            if r.revoked_at is None and (r.ends_at is None or r.ends_at > now)]


def changed_rooms(old: Snapshot, new: Snapshot) -> set[str]:
    """Rooms whose set of rules in force differs between two snapshots ("*" for all)."""
    keys = old.active.keys() | new.active.keys()
    return {k for k in keys if old.active.get(k) != new.active.get(k)}


class Engine:
    """Holds the current snapshot and the GeoIP reader; decides; counts."""

    def __init__(self, geo: GeoReader, unknown: str = Decision.ALLOW,
                 disputed: str = Decision.ALLOW):
        self.geo = geo
        self.deny_unknown = unknown == Decision.DENY
        self.deny_disputed = disputed == Decision.DENY
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
            room = ALL_MEETINGS  # the same rules for every such room: one memo entry
        if country.__class__ is Disputed or not snap.built_at <= now < snap.valid_until:
            # A Disputed equals (and hashes as) its primary's code: it must not share a key.
            return _judge(rules, country, now, self.deny_unknown, snap.verdicts,
                          self.deny_disputed)
        key = (room, country)
        found = snap.judged.get(key)
        if found is None:
            found = _judge(rules, country, now, self.deny_unknown, snap.verdicts,
                           self.deny_disputed)
            if len(snap.judged) >= JUDGED_MAX:
                snap.judged.clear()
            snap.judged[key] = found
        return found

    def denied_rooms(self, ip: str, now: float) -> tuple[str, ...] | None:
        """The meetings with a restriction in force (`snapshot.active`) that the participant at
        `ip` would be refused at `now`, sorted; "*" in it: refused in every meeting covered only
        by the rules for all meetings. None when more than SESSION_MAX_ROOMS meetings have a
        restriction in force. Counts nothing. Raises InvalidInput(field="ip") like decide()."""
        country = self.geo.country(ip)
        snap = self.snapshot
        if len(snap.active) > SESSION_MAX_ROOMS:
            return None
        # The verdicts depend on the placement only (the rules are the snapshot's); a
        # Disputed equals its primary's code, so its key carries the witness too.
        key: str | tuple[str, str] | None = country
        if isinstance(country, Disputed):
            key = (str(country), country.witness)
        memo = snap.built_at <= now < snap.valid_until
        if memo:
            found = snap.denied.get(key)
            if found is not None:
                return found
        denied = tuple(room for room in sorted(snap.active) if _judge(
            snap.everywhere if room == ALL_MEETINGS else snap.by_room[room], country, now,
            self.deny_unknown, snap.verdicts, self.deny_disputed).decision == _DENY)
        if memo:
            if len(snap.denied) >= DENIED_MAX:
                snap.denied.clear()
            snap.denied[key] = denied
        return denied

    def count(self, verdict: Verdict, now: float, outcome: CountOutcome) -> None:
        """Record one decision: outcome is allowed | refused | removed; a disputed verdict is
        counted as `disputed` whatever its decision."""
        if verdict.__class__ is DisputedVerdict:
            outcome = CountOutcome.DISPUTED
        self.counts[(int(now // DAY), verdict.restriction or 0, verdict.country or "",
                     outcome)] += 1

    def take_counts(self) -> Counter[tuple[int, int, str, str]]:
        """Hand over the counts gathered so far (the caller writes them to the store)."""
        counts, self.counts = self.counts, Counter()
        return counts


_ALLOW_CACHE: dict[str | None, Verdict] = {}


def _allow(country: str | None) -> Verdict:
    found = _ALLOW_CACHE.get(country)
    if found is None:
        plain = None if country is None else str(country)  # not a Disputed: a plain code
        found = _ALLOW_CACHE[plain] = Verdict(_ALLOW, plain, None, _NO_RESTRICTION, "")
    return found


def _judge(rules: tuple[Rule, ...], country: str | None, now: float, deny_unknown: bool,
           memo: dict[tuple[int, str | None, str], Verdict],
           deny_disputed: bool = False) -> Verdict:
    in_force = False
    for rule in rules:
        if not rule.starts <= now < rule.ends:
            continue
        in_force = True
        if country is None:
            if deny_unknown:
                return _deny(memo, rule, None, _UNKNOWN_LOCATION)
            continue
        if rule.allow_only:
            if country not in rule.countries:
                if country.__class__ is Disputed:
                    return _disputed(rules, country, now, deny_unknown, memo, deny_disputed)
                return _deny(memo, rule, country, _ALLOW_ONLY)
        elif country in rule.countries:
            if country.__class__ is Disputed:
                return _disputed(rules, country, now, deny_unknown, memo, deny_disputed)
            return _deny(memo, rule, country, _BLOCK)
    if not in_force:
        return _allow(country)
    if country.__class__ is Disputed:
        return _disputed(rules, country, now, deny_unknown, memo, deny_disputed)
    found = memo.get((0, country, _NOT_COVERED))
    if found is None:
        found = memo[(0, country, _NOT_COVERED)] = Verdict(_ALLOW, country, None,
                                                           _NOT_COVERED, "")
    return found


def _disputed(rules: tuple[Rule, ...], country: str, now: float, deny_unknown: bool,
              memo: dict[tuple[int, str | None, str], Verdict],
              deny_disputed: bool) -> Verdict:
    """The verdict when the two DBs disagree: if believing either gives the same decision,
    that decision (the primary's verdict); otherwise a DisputedVerdict per geoip.disputed."""
    primary, witness = str(country), country.witness  # type: ignore[attr-defined]
    by_primary = _judge(rules, primary, now, deny_unknown, memo)
    by_witness = _judge(rules, witness, now, deny_unknown, memo)
    if by_primary.decision == by_witness.decision:
        return by_primary
    denying = by_primary if by_primary.decision == _DENY else by_witness
    key = (denying.restriction or 0, primary, f"{_DISPUTED} {witness}")
    found = memo.get(key)
    if found is None:
        decision = _DENY if deny_disputed else _ALLOW
        message = "" if decision == _ALLOW else (
            f"Your location is disputed (one database places you in {primary}, another in "
            f"{witness}) and this meeting is restricted (restriction {denying.restriction}).")
        found = memo[key] = DisputedVerdict(decision, primary, denying.restriction,
                                            _DISPUTED, message, witness)
    return found


def _deny(memo: dict[tuple[int, str | None, str], Verdict], rule: Rule, country: str | None,
          why: str) -> Verdict:
    key = (rule.restriction, country, why)
    found = memo.get(key)
    if found is None:
        found = memo[key] = Verdict(_DENY, country, rule.restriction, why,
                                    _message(rule, country, why))
    return found


def _message(rule: Rule, country: str | None, why: str) -> str:
    """The sentence the refused person sees (the plugin passes it on)."""
    if why == _UNKNOWN_LOCATION:
        return ("Your location could not be determined, and this meeting is restricted "
                f"(restriction {rule.restriction}).")
    if why == _ALLOW_ONLY:
        admitted = ", ".join(sorted(rule.countries))
        return (f"This meeting admits only participants located in {admitted}; you appear "
                f"to be in {country} (restriction {rule.restriction}).")
    return (f"Participants located in {country} cannot join this meeting: it is restricted "
            f"there (restriction {rule.restriction}).")
