"""Who is in which meeting, as counts by country only — never an address or an identity.

Each Prosody host running the plugin reports, per meeting, how many current participants the
service placed in each country ("" for not placed). A report replaces that source's previous
one; a source silent for `STALE_SECONDS` drops out. `impact()` answers the question the 2020
incident had staff read IP addresses for: how many current participants would a draft
restriction remove, per meeting and country?

Memory and time are bounded: at most `max_sources` sources and `max_rooms` meetings per
report (the HTTP body limit bounds the rest), and the merged census is kept up to date
report by report, so a report costs its own size and reading the census costs a dictionary
copy; sorting and rendering happen off the event loop (see `Runtime.census_view`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from .errors import Conflict, InvalidInput
from .jurisdiction import jurisdictions
from .restrictions import ALL_MEETINGS, RestrictionDraft, format_time, refuse_bidi
from .rooms import MAX_NODE_BYTES, join_key
from .vocabulary import Mode

STALE_SECONDS = 600.0
MAX_PER_ROOM = 100_000
# Kosovo has no ISO 3166-1 code; GeoIP databases (DB-IP, MaxMind, the built-in one) place it
# under the user-assigned "XK", so the service answers "XK" and the plugin counts it.
GEOIP_EXTRA_CODES = frozenset({"XK"})

# Per meeting: (country, count) pairs sorted by country, immutable so that a copy of the
# merged census can be read in another thread while reports keep arriving.
Counts = tuple[tuple[str, int], ...]
RoomCounts = dict[str, Counts]


@dataclass(frozen=True, slots=True)
class SourceCensus:
    source: str
    received_at: float
    rooms: RoomCounts


@cache
def _codes() -> dict[str, str]:
    """Accepted codes, each mapped to one shared string object ("" = not placed)."""
    return {code: code for code in [*jurisdictions().country_names, *GEOIP_EXTRA_CODES, ""]}


@cache
def _pair(country: str, n: int) -> tuple[str, int]:
    return (country, n)


def _counted(country: str, n: int) -> tuple[str, int]:
    # Small counts are the norm: one shared (country, n) object each keeps 160,000 meetings
    # in tens of megabytes.
    return _pair(country, n) if n < 64 else (country, n)


def _country(code: str, room_name: str, field: str = "rooms") -> str:
    # ASCII first: str.upper() turns "ß" into "SS".
    country = _codes().get(code.upper()) if code.isascii() else None
    if country is None:
        raise InvalidInput(f"{field}.{room_name}.{code}: not an ISO 3166-1 alpha-2 country "
                           "code (or \"\" for not placed)", field=f"{field}.{room_name}.{code}")
    return country


def clean_counts(rooms: Mapping[str, Mapping[str, Any]], max_rooms: int,
                 field: str = "rooms") -> RoomCounts:
    """Validate a plugin's report: meeting names, country codes ("" = not placed), counts.
    `field` names the part of the report (rooms, or disputed) in errors."""
    if len(rooms) > max_rooms:
        raise InvalidInput(f"{field}: at most {max_rooms} meetings in one report "
                           "(census.max_rooms)", field=field)
    cleaned: dict[str, dict[str, int]] = {}
    for name, by_country in rooms.items():
        # The plugin's names, keyed as /v1/authorize keys them (a room node Jitsi never makes
        # is counted under its own name, never merged into another meeting).
        if not name or len(name) > MAX_NODE_BYTES:
            raise InvalidInput(f"{field}.{name[:50]}: a room name of 1 to {MAX_NODE_BYTES} "
                               "characters", field=f"{field}.{name[:50]}")
        room = join_key(refuse_bidi(name, f"{field}.{name}"))
        counts = cleaned.get(room, {})
        for code, n in by_country.items():
            country = _country(code, name, field)
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_PER_ROOM:
                raise InvalidInput(f"{field}.{name}.{code}: a count from 0 to {MAX_PER_ROOM}",
                                   field=f"{field}.{name}.{code}")
            if n:
                counts[country] = counts.get(country, 0) + n
        if counts:
            cleaned[room] = counts
    return {room: tuple(_counted(c, n) for c, n in sorted(counts.items()))
            for room, counts in cleaned.items()}


class Census:
    """The latest report of each source and their sum, updated report by report."""

    def __init__(self, max_sources: int) -> None:
        self.max_sources = max_sources
        self._sources: dict[str, SourceCensus] = {}
        self._merged: RoomCounts = {}

    def report(self, source: str, rooms: RoomCounts, now: float) -> None:
        """Replace `source`'s report. Raises Conflict when `max_sources` others are live."""
        old = self._sources.get(source)
        if old is None:
            self._expire(now)
            if len(self._sources) >= self.max_sources:
                raise Conflict(f"source: the census already keeps {self.max_sources} sources "
                               "(census.max_sources); one silent for "
                               f"{STALE_SECONDS:.0f} s drops out", field="source",
                               code="census_full")
        else:
            self._add(old.rooms, -1)
        self._add(rooms, 1)
        self._sources[source] = SourceCensus(source, now, rooms)

    def _expire(self, now: float) -> None:
        for key in [k for k, v in self._sources.items() if now - v.received_at > STALE_SECONDS]:
            self._add(self._sources.pop(key).rooms, -1)

    def _add(self, rooms: RoomCounts, sign: int) -> None:
        merged = self._merged
        for room, counts in rooms.items():
            if sign > 0 and room not in merged:
                merged[room] = counts  # the usual case (a meeting lives on one host): shared
                continue
            into = dict(merged.get(room, ()))
            for country, n in counts:
                total = into.get(country, 0) + sign * n
                if total:
                    into[country] = total
                else:
                    del into[country]
            if into:
                merged[room] = tuple(_counted(c, n) for c, n in sorted(into.items()))
            else:
                del merged[room]

    def snapshot(self, now: float) -> tuple[list[SourceCensus], RoomCounts]:
        """The live sources and a copy of the merged counts (cheap: values are immutable)."""
        self._expire(now)
        return sorted(self._sources.values(), key=lambda s: s.source), dict(self._merged)


def render(sources: list[SourceCensus], merged: RoomCounts) -> dict[str, Any]:
    """The census document of GET /v1/census (run off the event loop: it sorts every room)."""
    return {
        "rooms": {room: dict(counts) for room, counts in sorted(merged.items())},
        "sources": [{"source": s.source, "updated_at": _stamp(s.received_at),
                     "rooms": len(s.rooms)} for s in sources],
        "updated_at": _stamp(max((s.received_at for s in sources), default=None)),
    }


def impact(draft: RestrictionDraft, rooms: RoomCounts, deny_unknown: bool,
           disputed: RoomCounts | None = None, deny_disputed: bool = False) -> dict[str, Any]:
    """How many current participants `draft` would remove, per meeting and country. Of the
    covered, those whose last verdict was disputed are listed apart (`disputed`) and, unless
    geoip.disputed is deny, not counted as removed."""
    covered: dict[str, dict[str, int]] = {}
    contested: dict[str, dict[str, int]] = {}
    names = rooms.keys() if draft.rooms == (ALL_MEETINGS,) else draft.rooms
    allow_only = draft.mode == Mode.ALLOW_ONLY
    for room in names:
        for country, n in rooms.get(room, ()):
            if country == "":
                hit = deny_unknown
            elif allow_only:
                hit = country not in draft.countries
            else:
                hit = country in draft.countries
            if not hit:
                continue
            d = min(n, dict((disputed or {}).get(room, ())).get(country, 0))
            if d:
                contested.setdefault(room, {})[country] = d
            if n - d or deny_disputed:
                covered.setdefault(room, {})[country] = n if deny_disputed else n - d
    total = sum(n for counts in covered.values() for n in counts.values())
    return {"rooms": dict(sorted(covered.items())), "total": total,
            "disputed": dict(sorted(contested.items())),
            "disputed_total": sum(n for counts in contested.values() for n in counts.values())}


def _stamp(epoch: float | None) -> str | None:
    return None if epoch is None else format_time(datetime.fromtimestamp(epoch, UTC))
