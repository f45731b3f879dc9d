"""Who is in which meeting, as counts by country only — never an address or an identity.

Each Prosody host running the plugin reports, per meeting, how many current participants the
service placed in each country ("" for not placed). A report replaces that source's previous
one; a source silent for `STALE_SECONDS` drops out. `impact()` answers the question the 2020
incident had staff read IP addresses for: how many current participants would a draft
restriction remove, per meeting and country?
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidInput
from .policy import ALL_MEETINGS, RestrictionDraft, format_time, normalize_room

STALE_SECONDS = 600.0
MAX_PER_ROOM = 100_000

RoomCounts = dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class SourceCensus:
    source: str
    received_at: float
    rooms: RoomCounts


def clean_counts(rooms: Mapping[str, Mapping[str, Any]]) -> RoomCounts:
    """Validate a plugin's report: meeting names, country codes ("" = not placed), counts."""
    cleaned: RoomCounts = {}
    for name, by_country in rooms.items():
        room = normalize_room(name, f"rooms.{name}", allow_all=False)
        counts: dict[str, int] = {}
        for code, n in by_country.items():
            country = code.upper()
            if country and (len(country) != 2 or not country.isalpha()):
                raise InvalidInput(f"rooms.{name}.{code}: not a country code (or \"\")",
                                   field=f"rooms.{name}.{code}")
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_PER_ROOM:
                raise InvalidInput(f"rooms.{name}.{code}: a count from 0 to {MAX_PER_ROOM}",
                                   field=f"rooms.{name}.{code}")
            if n:
                counts[country] = counts.get(country, 0) + n
        if counts:
            cleaned[room] = counts
    return cleaned


class Census:
    def __init__(self) -> None:
        self._sources: dict[str, SourceCensus] = {}

    def report(self, source: str, rooms: RoomCounts, now: float) -> None:
        self._sources[source] = SourceCensus(source, now, rooms)

    def current(self, now: float) -> list[SourceCensus]:
        for key in [k for k, v in self._sources.items() if now - v.received_at > STALE_SECONDS]:
            del self._sources[key]
        return sorted(self._sources.values(), key=lambda s: s.source)

    def merged(self, now: float) -> RoomCounts:
        total: RoomCounts = {}
        for src in self.current(now):
            for room, counts in src.rooms.items():
                into = total.setdefault(room, {})
                for country, n in counts.items():
                    into[country] = into.get(country, 0) + n
        return total

    def view(self, now: float) -> dict[str, Any]:
        sources = self.current(now)
        return {
            "rooms": {room: dict(sorted(c.items())) for room, c in
                      sorted(self.merged(now).items())},
            "sources": [{"source": s.source, "updated_at": _stamp(s.received_at),
                         "rooms": len(s.rooms)} for s in sources],
            "updated_at": _stamp(max((s.received_at for s in sources), default=None)),
        }


def impact(draft: RestrictionDraft, rooms: RoomCounts, deny_unknown: bool) -> dict[str, Any]:
    """How many current participants `draft` would remove, per meeting and country."""
    covered: RoomCounts = {}
    names = rooms.keys() if draft.rooms == (ALL_MEETINGS,) else draft.rooms
    allow_only = draft.mode == "allow-only"
    for room in names:
        for country, n in rooms.get(room, {}).items():
            if country == "":
                hit = deny_unknown
            elif allow_only:
                hit = country not in draft.countries
            else:
                hit = country in draft.countries
            if hit:
                covered.setdefault(room, {})[country] = n
    total = sum(n for counts in covered.values() for n in counts.values())
    return {"rooms": covered, "total": total}


def _stamp(epoch: float | None) -> str | None:
    return None if epoch is None else format_time(datetime.fromtimestamp(epoch, UTC))
