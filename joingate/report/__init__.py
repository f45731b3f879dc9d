"""The transparency report: what authorities asked for and what was done, per period.

Pure: no I/O. A shell reads the four inputs from the store (`list_requests`,
`list_restrictions`, `counts`, `checkpoints`), calls `build_report`, and renders the document
with `render_markdown` or `render_html` (or sends it as JSON). The JSON keeps the contract's
fields (period, by_jurisdiction, requests, participants, accounts_suspended, meetings_ended,
audit_checkpoint) and extends them.

What the report never publishes: an address (none is stored), a meeting name (in Jitsi a meeting
name is the meeting's address, so naming it would invite everyone in; the report counts the
meetings named instead), the text of a demand or of a decision note (they may name people).

Countries: a participant whose address the GeoIP database could not place is counted under
`ZZ` (the code CLDR uses for an unknown region).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from importlib import resources
from typing import Any

from ..audit import Checkpoint
from ..corrections import Correction
from ..errors import InvalidInput
from ..jurisdiction import JurisdictionTable, jurisdictions
from ..restrictions import ALL_MEETINGS, AuthorityRequest, Restriction, format_time
from ..store.base import CountRow

UNKNOWN_COUNTRY = "ZZ"
OUTCOMES = ("complied", "partially", "refused", "undecided")
DBIP_ATTRIBUTION = "IP Geolocation by DB-IP"
DBIP_URL = "https://db-ip.com"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
VERIFY_INSTRUCTION = (
    "Keep this report; when a later one is published, run `joingate audit verify-reports "
    "THIS LATER --url URL-OF-THIS-SERVICE` (exit 0: the later log extends this one unchanged), "
    "or check the signed head with any C2SP signed-note tool against the key and fetch "
    "URL/v1/audit/consistency?from=SIZE&to=LATER-SIZE for the RFC 9162 proof.")


# -- period -----------------------------------------------------------------------------------

def parse_date(value: str | None, field_name: str) -> str | None:
    """A YYYY-MM-DD date (or None, an open end) checked to be a real calendar day."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field_name}: expected a date YYYY-MM-DD such as 2026-06-30, "
                           f"got {value!r}", field=field_name) from None
    return text


def parse_period(since: str | None, until: str | None,
                 now: datetime) -> tuple[str | None, str]:
    """(since, until) as YYYY-MM-DD, both inclusive. No since: from the start of the record;
    no until: today (UTC)."""
    start = parse_date(since, "since")
    end = parse_date(until, "until") or now.astimezone(UTC).strftime("%Y-%m-%d")
    if start is not None and start > end:
        raise InvalidInput(f"since: {start} is after until ({end})", field="since")
    return start, end


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


def _within(day: str, since: str | None, until: str) -> bool:
    return (since is None or day >= since) and day <= until


# -- the document -----------------------------------------------------------------------------

def _sorted_counts(counter: Mapping[str, int]) -> dict[str, int]:
    """Largest first, then by code; zero counts dropped."""
    return {k: v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])) if v}


def _outcome(request: AuthorityRequest) -> str:
    return request.outcome or "undecided"


def _reaches_outside(restriction: Restriction, request: AuthorityRequest | None,
                     table: JurisdictionTable) -> bool:
    if request is None:
        return False
    covers = table.get(request.jurisdiction).covers
    return any(c not in covers for c in restriction.countries)


def _ended_by(restriction: Restriction, moment: datetime | None) -> bool:
    if moment is None:
        return False
    return (restriction.revoked_at is not None and restriction.revoked_at <= moment) or \
        (restriction.ends_at is not None and restriction.ends_at <= moment)


def _meetings_outside(restriction: Restriction, request: AuthorityRequest | None) -> bool:
    if request is None:
        return False
    return any(r == ALL_MEETINGS or r not in request.rooms for r in restriction.rooms)


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


def build_report(requests: Sequence[AuthorityRequest], restrictions: Sequence[Restriction],
                 counts: Iterable[CountRow], checkpoints: Sequence[Checkpoint],
                 since: str | None, until: str | None, now: datetime,
                 corrections: Sequence[Correction] = (),
                 rotations: Sequence[str] = ()) -> dict[str, Any]:
    """The report for since..until (dates YYYY-MM-DD, inclusive; InvalidInput naming the field
    when one is malformed)."""
    start, end = parse_period(since, until, now)
    table = jurisdictions()
    by_id = {r.id: r for r in requests}
    restriction_by_id = {r.id: r for r in restrictions}

    received = sorted((r for r in requests if _within(_day(r.received_at), start, end)),
                      key=lambda r: (r.received_at, r.id))
    created = [r for r in restrictions if _within(_day(r.created_at), start, end)]
    counts = list(counts)
    rows = [c for c in counts if _within(c.day, start, end)
            and c.outcome in ("refused", "removed") and c.n > 0]
    disputed: Counter[str] = Counter()
    for c in counts:
        if c.outcome == "disputed" and c.n > 0 and _within(c.day, start, end):
            disputed[c.country or UNKNOWN_COUNTRY] += c.n

    table_entries: dict[str, _Tally] = {}

    def tally(code: str) -> _Tally:
        if code not in table_entries:
            table_entries[code] = _Tally()
        return table_entries[code]

    for r in received:
        t = tally(r.jurisdiction)
        t.requests += 1
        t.outcomes[_outcome(r)] += 1
        t.rooms.update(r.rooms)

    operator = _Tally()
    for made in created:
        req = by_id.get(made.request) if made.request is not None else None
        t = operator if req is None else tally(req.jurisdiction)
        t.restrictions += 1
        t.countries.update(made.countries)
        if _reaches_outside(made, req, table):
            t.outside += 1

    refused: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for c in rows:
        country = c.country or UNKNOWN_COUNTRY
        (refused if c.outcome == "refused" else removed)[country] += c.n
        restriction = restriction_by_id.get(c.restriction)
        req = (by_id.get(restriction.request)
               if restriction is not None and restriction.request is not None else None)
        t = operator if req is None else tally(req.jurisdiction)
        (t.refused if c.outcome == "refused" else t.removed)[country] += c.n

    by_jurisdiction: dict[str, Any] = {}
    for code in sorted(table_entries):
        t = table_entries[code]
        info = table.get(code)
        by_jurisdiction[code] = {
            "name": info.name, "covers": sorted(info.covers),
            "requests_received": t.requests, "meetings_named": len(t.rooms),
            "outcomes": {k: t.outcomes[k] for k in OUTCOMES},
            "restrictions_created": t.restrictions,
            "restricted_countries": sorted(t.countries),
            "restrictions_outside_jurisdiction": t.outside,
            "participants": {"refused": _sorted_counts(t.refused),
                             "removed": _sorted_counts(t.removed)},
            "accounts_suspended": 0, "meetings_ended": 0,
        }

    request_items = []
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
        "participants": {"refused": _sorted_counts(refused), "removed": _sorted_counts(removed)},
        "participants_total": {"refused": sum(refused.values()),
                               "removed": sum(removed.values())},
        "operator_policies": {
            "restrictions_created": operator.restrictions,
            "restricted_countries": sorted(operator.countries),
            "participants": {"refused": _sorted_counts(operator.refused),
                             "removed": _sorted_counts(operator.removed)}},
        "accounts_suspended": 0,
        "meetings_ended": 0,
        "audit_checkpoint": checkpoint.as_json() if checkpoint else None,
        "audit_key_rotations": list(rotations),
        "audit_verify": VERIFY_INSTRUCTION,
        "never_done": _never_done(requests, restrictions, rows, created, start, end, table),
        "unknown_country": UNKNOWN_COUNTRY,
        "geolocation": {"attribution": DBIP_ATTRIBUTION, "url": DBIP_URL},
        "disputed": {"by_country": _sorted_counts(disputed), "total": sum(disputed.values())},
        "geoip_corrections": [_correction_item(c) for c in corrections
                              if _correction_in_period(c, start, end)],
    }


def _correction_in_period(c: Correction, start: str | None, end: str) -> bool:
    """In force at some time of the period: made by its end, not removed before its start."""
    return _day(c.created_at) <= end and (
        c.removed_at is None or start is None or _day(c.removed_at) >= start)


def _correction_item(c: Correction) -> dict[str, Any]:
    return {"network": c.network, "country": c.country, "reason": c.reason,
            "created_at": format_time(c.created_at), "removed_at": format_time(c.removed_at)}


def _never_done(requests: Sequence[AuthorityRequest], restrictions: Sequence[Restriction],
                rows: Sequence[CountRow], created: Sequence[Restriction], since: str | None,
                until: str, table: JurisdictionTable) -> list[dict[str, str]]:
    """Statements the data backs. A statement the data contradicts is left out, never
    softened: its absence is the finding (the counts in by_jurisdiction show it)."""
    by_id = {r.id: r for r in requests}
    restriction_by_id = {r.id: r for r in restrictions}
    for_requests = [r for r in created if r.request is not None]
    n = len(for_requests)
    statements = [
        {"id": "accounts_suspended",
         "statement": "No host account was suspended.",
         "basis": "joingate has no action that suspends or changes an account; a removal "
                  "takes one participant out of one meeting and leaves affiliations alone."},
        {"id": "meetings_ended",
         "statement": "No meeting was ended.",
         "basis": "joingate has no action that ends or destroys a meeting; participants the "
                  "restrictions do not cover stayed in their meetings."},
    ]
    if not any(_reaches_outside(r, by_id.get(r.request or 0), table) for r in for_requests):
        statements.append({
            "id": "outside_jurisdiction",
            "statement": "No restriction made for an authority's request reached outside "
                         "that authority's jurisdiction.",
            "basis": f"Checked {n} restriction{'' if n == 1 else 's'} made for requests in "
                     "this period against the jurisdiction table shipped with joingate."})
    if not any(_meetings_outside(r, by_id.get(r.request or 0)) for r in for_requests):
        statements.append({
            "id": "meetings_not_named",
            "statement": "No restriction made for an authority's request covered a meeting "
                         "the request did not name.",
            "basis": f"Checked the meetings of {n} restriction{'' if n == 1 else 's'} made "
                     "for requests in this period against the meetings each request named."})
    refused_requests = {r.id for r in requests if r.outcome == "refused"}
    if not any(r.request in refused_requests for r in for_requests):
        statements.append({
            "id": "refused_requests",
            "statement": "No request that was refused produced a restriction.",
            "basis": "Checked every restriction made in this period against the outcome of "
                     "the request it answers."})
    refused_at = {r.id: r.decided_at for r in requests
                  if r.outcome == "refused" and r.decided_at is not None}
    before_refusal = [r for r in for_requests if r.request in refused_at]
    if before_refusal and all(_ended_by(r, refused_at[r.request or 0]) for r in before_refusal):
        k = len(before_refusal)
        statements.append({
            "id": "refusals_ended",
            "statement": "Every restriction made for a request before it was refused ended "
                         "when the refusal was recorded.",
            "basis": f"Checked {k} restriction{'' if k == 1 else 's'} made in this period for "
                     "requests later refused against the time each refusal was recorded."})
    stray = 0
    for c in rows:
        restriction = restriction_by_id.get(c.restriction)
        if restriction is None or restriction.request is None or not c.country:
            continue
        if c.country not in restriction.countries:
            stray += c.n
    if stray == 0:
        statements.append({
            "id": "participants_outside",
            "statement": "No participant located outside a restriction's countries was "
                         "refused or removed by a restriction made for an authority's request.",
            "basis": "Checked the country of every counted refusal and removal in this period "
                     "against the countries of the restriction that made it."})
    statements.append({
        "id": "addresses_recorded",
        "statement": "No participant's IP address was recorded.",
        "basis": "Decisions are kept only as counts by day, restriction, country and outcome; "
                 "addresses are looked up in memory and never written."})
    return statements


# -- shared wording -----------------------------------------------------------------------------

def _period_text(report: Mapping[str, Any]) -> str:
    p = report["period"]
    start = p["since"] or "the start of the record"
    return f"{start} to {p['until']} (UTC, both days included)"


def _country(code: str, table: JurisdictionTable | None = None) -> str:
    if code == UNKNOWN_COUNTRY:
        return "location unknown"
    names = (table or jurisdictions()).country_names
    return f"{names.get(code, code)} ({code})"


def _covers_text(report: Mapping[str, Any]) -> str:
    parts = [f"{code} ({e['name']}) covers {', '.join(e['covers'])}"
             for code, e in report["by_jurisdiction"].items()]
    return ("What each jurisdiction covers (a restriction made for its authorities may reach "
            "these countries and no other): " + "; ".join(parts) + ".")


def _disputed_text(report: Mapping[str, Any]) -> str:
    disputed = report.get("disputed") or {"by_country": {}, "total": 0}
    if not disputed["total"]:
        return ("No decision was made on disputed evidence (the two GeoIP databases never "
                "disagreed about a restricted country).")
    parts = ", ".join(f"{_country(c)}: {n}" for c, n in disputed["by_country"].items())
    return (f"{disputed['total']} decisions were made on disputed evidence (the two GeoIP "
            f"databases disagreed about a restricted country), by the first database's "
            f"country: {parts}.")


def _country_rows(report: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    refused = report["participants"]["refused"]
    removed = report["participants"]["removed"]
    codes = sorted(set(refused) | set(removed),
                   key=lambda c: (-(refused.get(c, 0) + removed.get(c, 0)), c))
    return [(c, refused.get(c, 0), removed.get(c, 0)) for c in codes]


def _checkpoint_text(report: Mapping[str, Any]) -> str:
    cp = report["audit_checkpoint"]
    if cp is None:
        return "No checkpoint of the audit log was taken by the end of this period."
    return (f"At {cp['at']} the audit log held {cp['size']} entries; the hash of the last is "
            f"{cp['head']}. Anyone holding this report can check a later copy of the log "
            f"against it (`joingate audit verify --checkpoint report.json`).")


UNSIGNED = ("This checkpoint is unsigned (the operator has configured no audit.signing_key): "
            "a reader cannot verify it, only the operator's `joingate audit verify` can.")
ROTATIONS = ("Key rotations (each statement is signed by the key it retires and by the key "
             "it introduces):")


# -- Markdown -----------------------------------------------------------------------------------

def _md(text: Any) -> str:
    """Escape table-breaking and markup characters in a cell."""
    return re.sub(r"([\\`*_\[\]|<>#])", r"\\\1", str(text)).replace("\n", " ")


def render_markdown(report: Mapping[str, Any]) -> str:
    out: list[str] = []
    add = out.append
    totals = report["participants_total"]
    add("# Transparency report")
    add("")
    add(f"Period: {_period_text(report)}. Generated {report['generated_at']}.")
    add("")
    add(f"- Authority requests received: **{len(report['requests'])}**")
    add(f"- Participants refused entry: **{totals['refused']}**; removed from a meeting: "
        f"**{totals['removed']}**")
    add(f"- Host accounts suspended: **{report['accounts_suspended']}**")
    add(f"- Meetings ended: **{report['meetings_ended']}**")
    add("")
    add("## Requests by jurisdiction")
    add("")
    if report["by_jurisdiction"]:
        add("| Jurisdiction | Requests | Meetings named | Complied | Partially | Refused | "
            "Undecided | Restrictions created | Countries restricted | Participants refused | "
            "Participants removed |")
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
        for code, e in report["by_jurisdiction"].items():
            o = e["outcomes"]
            add(f"| {_md(_country(code))} | {e['requests_received']} | "
                f"{e['meetings_named']} | {o['complied']} | {o['partially']} | {o['refused']} | "
                f"{o['undecided']} | {e['restrictions_created']} | "
                f"{', '.join(e['restricted_countries']) or '—'} | "
                f"{sum(e['participants']['refused'].values())} | "
                f"{sum(e['participants']['removed'].values())} |")
        add("")
        add(_md(_covers_text(report)))
    else:
        add("No authority request was received in this period.")
    add("")
    add("## Requests")
    add("")
    if report["requests"]:
        add("| Received | Jurisdiction | Authority | Reference | Meetings named | Outcome | "
            "Countries restricted |")
        add("| --- | --- | --- | --- | ---: | --- | --- |")
        for r in report["requests"]:
            add(f"| {r['received_at']} | {r['jurisdiction']} | {_md(r['authority'])} | "
                f"{_md(r['reference'])} | {r['meetings_named']} | {r['outcome']} | "
                f"{', '.join(r['restricted_countries']) or '—'} |")
    else:
        add("None.")
    add("")
    add("## Participants refused and removed, by country")
    add("")
    rows = _country_rows(report)
    if rows:
        add("| Country | Refused entry | Removed |")
        add("| --- | ---: | ---: |")
        for code, refused, removed in rows:
            add(f"| {_md(_country(code))} | {refused} | {removed} |")
    else:
        add("No participant was refused or removed in this period.")
    op = report["operator_policies"]
    if op["restrictions_created"]:
        add("")
        add(f"Operator policies (not made for any authority): {op['restrictions_created']} "
            f"created, covering {', '.join(op['restricted_countries'])}.")
    add("")
    add("## Location evidence")
    add("")
    add(_md(_disputed_text(report)))
    add("")
    corrections = report.get("geoip_corrections", [])
    if corrections:
        add("GeoIP corrections in force during the period (an operator's statement that a "
            "network is in a country, over both databases):")
        add("")
        add("| Network | Country | Reason | Made | Removed |")
        add("| --- | --- | --- | --- | --- |")
        for c in corrections:
            add(f"| {c['network']} | {c['country']} | {_md(c['reason'])} | {c['created_at']} | "
                f"{c['removed_at'] or '—'} |")
    else:
        add("No GeoIP correction was in force during the period.")
    add("")
    add("## Never done")
    add("")
    for s in report["never_done"]:
        add(f"- **{_md(s['statement'])}** {_md(s['basis'])}")
    add("")
    add("## Audit checkpoint")
    add("")
    add(_checkpoint_text(report))
    add("")
    cp = report["audit_checkpoint"]
    if cp is not None and cp.get("note"):
        add("Signed tree head (a C2SP checkpoint of the RFC 9162 Merkle tree, Ed25519):")
        add("")
        add("```text")
        add(cp["note"] + "```")
        add("")
        add(f"Verifier key: `{cp['key']}`")
        add("")
        for i, rotation in enumerate(report.get("audit_key_rotations", [])):
            if i == 0:
                add(ROTATIONS)
                add("")
            add("```text")
            add(rotation + "```")
            add("")
        add(f"To verify: {report['audit_verify']}")
    elif cp is not None:
        add(UNSIGNED)
    add("")
    add(f"Countries are placed from addresses by the GeoIP database ({DBIP_ATTRIBUTION}, "
        f"<{DBIP_URL}>). No address is recorded.")
    add("")
    return "\n".join(out)


# -- SVG charts ---------------------------------------------------------------------------------

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
COLOURS = {"refused": "#D55E00", "removed": "#0072B2", "complied": "#D55E00",
           "partially": "#E69F00", "refused_request": "#009E73", "undecided": "#6E6E6E"}
_LABELS = {"refused": "Refused entry", "removed": "Removed",
           "complied": "Complied", "partially": "Partially complied",
           "refused_request": "Request refused", "undecided": "Undecided"}


def _text_colour(fill: str) -> str:
    # Black or white, whichever keeps the number above 4.5:1 contrast on its bar.
    return "#FFFFFF" if fill in ("#0072B2", "#6E6E6E") else "#000000"


def _bar_chart(chart_id: str, title: str, desc: str, rows: Sequence[tuple[str, list[int]]],
               series: Sequence[str]) -> str:
    """Horizontal stacked bars, one row per label, one segment per series; each segment shows
    its number. Colours come as attributes (not style=), so the strict CSP keeps them."""
    label_w, bar_w, row_h, gap, top = 220, 460, 28, 10, 44
    width = label_w + bar_w + 70
    height = top + len(rows) * (row_h + gap) + 6
    biggest = max((sum(values) for _, values in rows), default=0) or 1
    parts = [
        f'<svg class="chart" id="{chart_id}" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{chart_id}-title '
        f'{chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    x = 0
    for key in series:  # legend
        fill = COLOURS[key]
        parts.append(f'<rect x="{x}" y="6" width="14" height="14" fill="{fill}"/>')
        parts.append(f'<text x="{x + 20}" y="18" font-size="13" fill="#1A1A1A">'
                     f'{escape(_LABELS[key])}</text>')
        x += 34 + 8 * len(_LABELS[key])
    for i, (label, values) in enumerate(rows):
        y = top + i * (row_h + gap)
        parts.append(f'<text x="{label_w - 8}" y="{y + row_h / 2 + 5}" font-size="14" '
                     f'text-anchor="end" fill="#1A1A1A">{escape(label)}</text>')
        offset = float(label_w)
        for key, value in zip(series, values, strict=True):
            if value <= 0:
                continue
            w = bar_w * value / biggest
            fill = COLOURS[key]
            parts.append(f'<rect x="{offset:.1f}" y="{y}" width="{max(w, 1.5):.1f}" '
                         f'height="{row_h}" fill="{fill}"><title>{escape(label)}: '
                         f'{value} {escape(_LABELS[key].lower())}</title></rect>')
            if w >= 9 * len(str(value)) + 6:
                parts.append(f'<text x="{offset + w / 2:.1f}" y="{y + row_h / 2 + 5}" '
                             f'font-size="13" text-anchor="middle" '
                             f'fill="{_text_colour(fill)}">{value}</text>')
            offset += w
        total = sum(values)
        parts.append(f'<text x="{offset + 6:.1f}" y="{y + row_h / 2 + 5}" font-size="13" '
                     f'font-weight="bold" fill="#1A1A1A">{total}</text>')
    parts.append("</svg>")
    return "".join(parts)


def participants_chart(report: Mapping[str, Any]) -> str | None:
    rows = [(_country(code), [refused, removed])
            for code, refused, removed in _country_rows(report)]
    if not rows:
        return None
    return _bar_chart("chart-participants", "Participants refused and removed, by country",
                      "Horizontal bars, one per country; each bar is split into participants "
                      "refused entry and participants removed from a meeting. The table below "
                      "gives the same numbers.", rows, ("refused", "removed"))


def requests_chart(report: Mapping[str, Any]) -> str | None:
    rows = []
    for code, e in report["by_jurisdiction"].items():
        if e["requests_received"]:
            o = e["outcomes"]
            rows.append((_country(code),
                         [o["complied"], o["partially"], o["refused"], o["undecided"]]))
    if not rows:
        return None
    return _bar_chart("chart-requests", "Authority requests by jurisdiction and outcome",
                      "Horizontal bars, one per jurisdiction; each bar is split by what was "
                      "decided: complied, partially complied, refused, undecided. The table "
                      "below gives the same numbers.",
                      rows, ("complied", "partially", "refused_request", "undecided"))


# -- HTML -----------------------------------------------------------------------------------------

def _table(caption: str, head: Sequence[str], rows: Iterable[Sequence[Any]],
           numeric_from: int = 1, row_header: bool = True) -> str:
    # A wide table scrolls inside its own focusable region instead of the page.
    parts = [f'<div class="table-wrap" role="region" tabindex="0" '
             f'aria-label="{escape(caption)}"><table><caption>{escape(caption)}</caption>'
             "<thead><tr>"]
    for i, h in enumerate(head):
        cls = ' class="num"' if i >= numeric_from else ""
        parts.append(f'<th scope="col"{cls}>{escape(h)}</th>')
    parts.append("</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>")
        for i, cell in enumerate(row):
            cls = ' class="num"' if i >= numeric_from else ""
            if i == 0 and row_header:
                parts.append(f'<th scope="row">{escape(str(cell))}</th>')
            else:
                parts.append(f"<td{cls}>{escape(str(cell))}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def render_html_fragment(report: Mapping[str, Any], heading_level: int = 2) -> str:
    """The report's body (sections, charts, tables) for a page that supplies <html> and <h1>."""
    h = f"h{heading_level}"
    totals = report["participants_total"]
    out = [f'<p class="period">Period: {escape(_period_text(report))}. '
           f"Generated {escape(report['generated_at'] or '')}.</p>",
           '<dl class="figures">',
           f"<div><dt>Authority requests received</dt><dd>{len(report['requests'])}</dd></div>",
           f"<div><dt>Participants refused entry</dt><dd>{totals['refused']}</dd></div>",
           f"<div><dt>Participants removed</dt><dd>{totals['removed']}</dd></div>",
           f"<div><dt>Host accounts suspended</dt><dd>{report['accounts_suspended']}</dd></div>",
           f"<div><dt>Meetings ended</dt><dd>{report['meetings_ended']}</dd></div>",
           "</dl>"]

    out.append(f'<section aria-labelledby="s-requests"><{h} id="s-requests">Requests by '
               f"jurisdiction</{h}>")
    chart = requests_chart(report)
    if chart:
        out.append(f'<figure>{chart}<figcaption>Requests by jurisdiction and outcome. '
                   f'The numbers are in the table below.</figcaption></figure>')
    if report["by_jurisdiction"]:
        out.append(_table(
            "Requests, outcomes and restrictions by jurisdiction",
            ["Jurisdiction", "Requests", "Meetings named", "Complied", "Partially", "Refused",
             "Undecided", "Restrictions", "Countries restricted", "Refused entry", "Removed"],
            ([_country(code), e["requests_received"], e["meetings_named"],
              e["outcomes"]["complied"], e["outcomes"]["partially"], e["outcomes"]["refused"],
              e["outcomes"]["undecided"], e["restrictions_created"],
              ", ".join(e["restricted_countries"]) or "—",
              sum(e["participants"]["refused"].values()),
              sum(e["participants"]["removed"].values())]
             for code, e in report["by_jurisdiction"].items())))
        out.append(f'<p class="covers">{escape(_covers_text(report))}</p>')
    else:
        out.append("<p>No authority request was received in this period.</p>")
    if report["requests"]:
        out.append(_table(
            "Every request received in this period",
            ["Reference", "Received", "Jurisdiction", "Authority", "Meetings named", "Outcome",
             "Countries restricted"],
            ([r["reference"], r["received_at"], r["jurisdiction"], r["authority"],
              r["meetings_named"], r["outcome"], ", ".join(r["restricted_countries"]) or "—"]
             for r in report["requests"]), numeric_from=99))
    out.append("</section>")

    out.append(f'<section aria-labelledby="s-participants"><{h} id="s-participants">'
               f"Participants refused and removed</{h}>")
    chart = participants_chart(report)
    if chart:
        out.append(f"<figure>{chart}<figcaption>Participants refused entry and removed, by "
                   "country. The numbers are in the table below.</figcaption></figure>")
        out.append(_table("Participants refused and removed, by country",
                          ["Country", "Refused entry", "Removed"],
                          ([_country(c), a, b] for c, a, b in _country_rows(report))))
    else:
        out.append("<p>No participant was refused or removed in this period.</p>")
    op = report["operator_policies"]
    if op["restrictions_created"]:
        out.append(f"<p>Operator policies (not made for any authority): "
                   f"{op['restrictions_created']} created, covering "
                   f"{escape(', '.join(op['restricted_countries']))}.</p>")
    out.append("</section>")

    out.append(f'<section aria-labelledby="s-evidence"><{h} id="s-evidence">Location '
               f"evidence</{h}><p>{escape(_disputed_text(report))}</p>")
    corrections = report.get("geoip_corrections", [])
    if corrections:
        out.append(_table("GeoIP corrections in force during the period",
                          ["Network", "Country", "Reason", "Made", "Removed"],
                          ([c["network"], c["country"], c["reason"], c["created_at"],
                            c["removed_at"] or "—"] for c in corrections), numeric_from=99))
    else:
        out.append("<p>No GeoIP correction was in force during the period.</p>")
    out.append("</section>")

    out.append(f'<section aria-labelledby="s-never"><{h} id="s-never">Never done</{h}>'
               '<ul class="never">')
    for s in report["never_done"]:
        out.append(f"<li><strong>{escape(s['statement'])}</strong> {escape(s['basis'])}</li>")
    out.append("</ul></section>")

    out.append(f'<section aria-labelledby="s-audit"><{h} id="s-audit">Audit checkpoint</{h}>')
    cp = report["audit_checkpoint"]
    if cp is None:
        out.append(f"<p>{escape(_checkpoint_text(report))}</p>")
    else:
        out.append(f"<p>At {escape(cp['at'])} the audit log held {cp['size']} entries; the "
                   f'hash of the last is <code class="hash">{escape(cp["head"])}</code>. '
                   "Anyone holding this report can check a later copy of the log against it "
                   "(<code>joingate audit verify --checkpoint report.json</code>).</p>")
        out.append(_signed_head_html(report))
    out.append("</section>")
    out.append('<p class="attribution">Countries are placed from addresses by the GeoIP '
               f'database: <a href="{DBIP_URL}">{DBIP_ATTRIBUTION}</a>. '
               "No address is recorded.</p>")
    return "\n".join(out)


def _signed_head_html(report: Mapping[str, Any]) -> str:
    cp = report["audit_checkpoint"]
    if not cp.get("note"):
        return f"<p>{escape(UNSIGNED)}</p>"
    # The newline after <pre> is dropped by browsers and keeps the note's lines whole.
    out = ["<p>Signed tree head (a C2SP checkpoint of the RFC 9162 Merkle tree, Ed25519):</p>",
           f'<pre class="note">\n{escape(cp["note"])}</pre>',
           f'<p>Verifier key: <code class="key">{escape(cp["key"])}</code></p>']
    rotations = report.get("audit_key_rotations", [])
    if rotations:
        out.append(f"<p>{escape(ROTATIONS)}</p>")
        out.extend(f'<pre class="note">\n{escape(r)}</pre>' for r in rotations)
    out.append(f"<p>To verify: {escape(report['audit_verify'])}</p>")
    return "".join(out)


def render_html(report: Mapping[str, Any], stylesheet: str = "") -> str:
    """A standalone HTML document (the CLI's --format html): the styles inline, no script,
    nothing loaded from elsewhere."""
    style = f"<style>\n{stylesheet}\n</style>" if stylesheet else ""
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Transparency report — {escape(_period_text(report))}</title>{style}"
            "</head><body><main><h1>Transparency report</h1>\n"
            f"{render_html_fragment(report)}\n</main></body></html>\n")


def stylesheet() -> str:
    """The documents' CSS: the standalone HTML report inlines it, the site serves it."""
    return (resources.files(__package__) / "report.css").read_text("utf-8")
