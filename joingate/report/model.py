"""The report model: store rows in, the report document out. Pure.

The document is the JSON the contract names (period, by_jurisdiction, requests, participants,
accounts_suspended, meetings_ended, audit_checkpoint), extended; it is typed here field by
field, and every renderer (render_json, render_markdown, render_html) reads this one type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from ..audit import Checkpoint
from ..corrections import Correction
from ..jurisdiction import jurisdictions
from ..restrictions import AuthorityRequest, Restriction, format_time
from ..store.base import CountRow
from ..vocabulary import UNDECIDED, CountOutcome
from .never_done import Statement, never_done, reaches_outside
from .period import day_of, parse_period, within

UNKNOWN_COUNTRY = "ZZ"  # the code CLDR uses for an unknown region
DBIP_ATTRIBUTION = "IP Geolocation by DB-IP"
DBIP_URL = "https://db-ip.com"
VERIFY_INSTRUCTION = (
    "Keep this report; when a later one is published, run `joingate audit verify-reports "
    "THIS LATER --url URL-OF-THIS-SERVICE` (exit 0: the later log extends this one unchanged), "
    "or check the signed head with any C2SP signed-note tool against the key and fetch "
    "URL/v1/audit/consistency?from=SIZE&to=LATER-SIZE for the RFC 9162 proof.")


class Period(TypedDict):
    since: str | None
    until: str


class ByCountry(TypedDict):
    """Participants by ISO country code, largest first."""
    refused: dict[str, int]
    removed: dict[str, int]


class Totals(TypedDict):
    refused: int
    removed: int


class Outcomes(TypedDict):
    complied: int
    partially: int
    refused: int
    undecided: int


class JurisdictionEntry(TypedDict):
    name: str
    covers: list[str]
    requests_received: int
    meetings_named: int
    outcomes: Outcomes
    restrictions_created: int
    restricted_countries: list[str]
    restrictions_outside_jurisdiction: int
    participants: ByCountry
    accounts_suspended: int
    meetings_ended: int


class RequestItem(TypedDict):
    id: int
    jurisdiction: str
    authority: str
    reference: str
    received_at: str | None
    outcome: str
    meetings_named: int
    decided_at: str | None
    restrictions: list[int]
    restricted_countries: list[str]


class OperatorPolicies(TypedDict):
    restrictions_created: int
    restricted_countries: list[str]
    participants: ByCountry


class Geolocation(TypedDict):
    attribution: str
    url: str


class Disputed(TypedDict):
    by_country: dict[str, int]
    total: int


class CorrectionItem(TypedDict):
    network: str
    country: str
    reason: str
    created_at: str | None
    removed_at: str | None


class Report(TypedDict):
    period: Period
    generated_at: str | None
    by_jurisdiction: dict[str, JurisdictionEntry]
    requests: list[RequestItem]
    participants: ByCountry
    participants_total: Totals
    operator_policies: OperatorPolicies
    accounts_suspended: int
    meetings_ended: int
    audit_checkpoint: dict[str, Any] | None  # Checkpoint.as_json()
    audit_key_rotations: list[str]
    audit_verify: str
    never_done: list[Statement]
    unknown_country: str
    geolocation: Geolocation
    disputed: Disputed
    geoip_corrections: list[CorrectionItem]


@dataclass
class _Tally:
    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rooms: set[str] = field(default_factory=set)
    restrictions: int = 0
    countries: set[str] = field(default_factory=set)
    outside: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)

    def by_country(self) -> ByCountry:
        return {"refused": _sorted_counts(self.refused), "removed": _sorted_counts(self.removed)}


def _sorted_counts(counter: Mapping[str, int]) -> dict[str, int]:
    """Largest first, then by code; zero counts dropped."""
    return {k: v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])) if v}


def _outcome(request: AuthorityRequest) -> str:
    return request.outcome or UNDECIDED


def build_report(requests: Sequence[AuthorityRequest], restrictions: Sequence[Restriction],
                 counts: Iterable[CountRow], checkpoints: Sequence[Checkpoint],
                 since: str | None, until: str | None, now: datetime,
                 corrections: Sequence[Correction] = (),
                 rotations: Sequence[str] = ()) -> Report:
    """The report for since..until (dates YYYY-MM-DD, inclusive; InvalidInput naming the field
    when one is malformed)."""
    start, end = parse_period(since, until, now)
    table = jurisdictions()
    by_id = {r.id: r for r in requests}
    restriction_by_id = {r.id: r for r in restrictions}

    received = sorted((r for r in requests if within(day_of(r.received_at), start, end)),
                      key=lambda r: (r.received_at, r.id))
    created = [r for r in restrictions if within(day_of(r.created_at), start, end)]
    in_period = [c for c in counts if c.n > 0 and within(c.day, start, end)]
    rows = [c for c in in_period if c.outcome in (CountOutcome.REFUSED, CountOutcome.REMOVED)]
    disputed: Counter[str] = Counter()
    for c in in_period:
        if c.outcome == CountOutcome.DISPUTED:
            disputed[c.country or UNKNOWN_COUNTRY] += c.n

    tallies: dict[str, _Tally] = {}
    operator = _Tally()

    def tally_of(request: AuthorityRequest | None) -> _Tally:
        if request is None:
            return operator
        if request.jurisdiction not in tallies:
            tallies[request.jurisdiction] = _Tally()
        return tallies[request.jurisdiction]

    for r in received:
        t = tally_of(r)
        t.requests += 1
        t.outcomes[_outcome(r)] += 1
        t.rooms.update(r.rooms)

    for made in created:
        req = by_id.get(made.request) if made.request is not None else None
        t = tally_of(req)
        t.restrictions += 1
        t.countries.update(made.countries)
        if reaches_outside(made, req, table):
            t.outside += 1

    everyone = _Tally()
    for c in rows:
        country = c.country or UNKNOWN_COUNTRY
        restriction = restriction_by_id.get(c.restriction)
        req = (by_id.get(restriction.request)
               if restriction is not None and restriction.request is not None else None)
        for t in (everyone, tally_of(req)):
            (t.refused if c.outcome == CountOutcome.REFUSED else t.removed)[country] += c.n

    by_jurisdiction: dict[str, JurisdictionEntry] = {}
    for code in sorted(tallies):
        t = tallies[code]
        info = table.get(code)
        by_jurisdiction[code] = {
            "name": info.name, "covers": sorted(info.covers),
            "requests_received": t.requests, "meetings_named": len(t.rooms),
            "outcomes": {"complied": t.outcomes["complied"],
                         "partially": t.outcomes["partially"],
                         "refused": t.outcomes["refused"],
                         "undecided": t.outcomes["undecided"]},
            "restrictions_created": t.restrictions,
            "restricted_countries": sorted(t.countries),
            "restrictions_outside_jurisdiction": t.outside,
            "participants": t.by_country(),
            "accounts_suspended": 0, "meetings_ended": 0,
        }

    request_items: list[RequestItem] = []
    for r in received:
        produced = [restriction_by_id[i] for i in r.restrictions if i in restriction_by_id]
        request_items.append({
            "id": r.id, "jurisdiction": r.jurisdiction, "authority": r.authority,
            "reference": r.reference, "received_at": format_time(r.received_at),
            "outcome": _outcome(r), "meetings_named": len(r.rooms),
            "decided_at": format_time(r.decided_at),
            "restrictions": [m.id for m in produced],
            "restricted_countries": sorted({c for m in produced for c in m.countries}),
        })

    cutoff = f"{end}T23:59:59Z"
    at_end = [c for c in checkpoints if c.at <= cutoff]
    checkpoint = max(at_end, key=lambda c: (c.at, c.size)) if at_end else None

    return {
        "period": {"since": start, "until": end},
        "generated_at": format_time(now),
        "by_jurisdiction": by_jurisdiction,
        "requests": request_items,
        "participants": everyone.by_country(),
        "participants_total": {"refused": sum(everyone.refused.values()),
                               "removed": sum(everyone.removed.values())},
        "operator_policies": {
            "restrictions_created": operator.restrictions,
            "restricted_countries": sorted(operator.countries),
            "participants": operator.by_country()},
        "accounts_suspended": 0,
        "meetings_ended": 0,
        "audit_checkpoint": checkpoint.as_json() if checkpoint else None,
        "audit_key_rotations": list(rotations),
        "audit_verify": VERIFY_INSTRUCTION,
        "never_done": never_done(requests, restrictions, rows, created, table),
        "unknown_country": UNKNOWN_COUNTRY,
        "geolocation": {"attribution": DBIP_ATTRIBUTION, "url": DBIP_URL},
        "disputed": {"by_country": _sorted_counts(disputed), "total": sum(disputed.values())},
        "geoip_corrections": [_correction_item(c) for c in corrections
                              if _in_force(c, start, end)],
    }


def _in_force(c: Correction, start: str | None, end: str) -> bool:
    """In force at some time of the period: made by its end, not removed before its start."""
    return day_of(c.created_at) <= end and (
        c.removed_at is None or start is None or day_of(c.removed_at) >= start)


def _correction_item(c: Correction) -> CorrectionItem:
    return {"network": c.network, "country": c.country, "reason": c.reason,
            "created_at": format_time(c.created_at), "removed_at": format_time(c.removed_at)}
