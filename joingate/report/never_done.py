"""The report's "never done" statements: each one is published only when the data backs it.

A statement the data contradicts is left out, never softened: its absence is the finding (the
counts in by_jurisdiction show it). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict

from ..jurisdiction import JurisdictionTable
from ..restrictions import ALL_MEETINGS, AuthorityRequest, Restriction
from ..store.base import CountRow
from ..vocabulary import RequestOutcome


class Statement(TypedDict):
    id: str
    statement: str
    basis: str


def reaches_outside(restriction: Restriction, request: AuthorityRequest | None,
                    table: JurisdictionTable) -> bool:
    """The restriction covers a country outside its request's jurisdiction."""
    if request is None:
        return False
    covers = table.get(request.jurisdiction).covers
    return any(c not in covers for c in restriction.countries)


def _meetings_outside(restriction: Restriction, request: AuthorityRequest | None) -> bool:
    if request is None:
        return False
    return any(r == ALL_MEETINGS or r not in request.rooms for r in restriction.rooms)


def _ended_by(restriction: Restriction, moment: datetime | None) -> bool:
    if moment is None:
        return False
    return (restriction.revoked_at is not None and restriction.revoked_at <= moment) or \
        (restriction.ends_at is not None and restriction.ends_at <= moment)


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def never_done(requests: Sequence[AuthorityRequest], restrictions: Sequence[Restriction],
               rows: Sequence[CountRow], created: Sequence[Restriction],
               table: JurisdictionTable) -> list[Statement]:
    """The statements for a period: `created` are the restrictions made in it, `rows` its
    refusal and removal counts."""
    by_id = {r.id: r for r in requests}
    restriction_by_id = {r.id: r for r in restrictions}
    for_requests = [r for r in created if r.request is not None]
    n = len(for_requests)
    statements: list[Statement] = [
        {"id": "accounts_suspended",
         "statement": "No host account was suspended.",
         "basis": "joingate has no action that suspends or changes an account; a removal "
                  "takes one participant out of one meeting and leaves affiliations alone."},
        {"id": "meetings_ended",
         "statement": "No meeting was ended.",
         "basis": "joingate has no action that ends or destroys a meeting; participants the "
                  "restrictions do not cover stayed in their meetings."},
    ]
    if not any(reaches_outside(r, by_id.get(r.request or 0), table) for r in for_requests):
        statements.append({
            "id": "outside_jurisdiction",
            "statement": "No restriction made for an authority's request reached outside "
                         "that authority's jurisdiction.",
            "basis": f"Checked {n} restriction{_plural(n)} made for requests in "
                     "this period against the jurisdiction table shipped with joingate."})
    if not any(_meetings_outside(r, by_id.get(r.request or 0)) for r in for_requests):
        statements.append({
            "id": "meetings_not_named",
            "statement": "No restriction made for an authority's request covered a meeting "
                         "the request did not name.",
            "basis": f"Checked the meetings of {n} restriction{_plural(n)} made "
                     "for requests in this period against the meetings each request named."})
    refused_requests = {r.id for r in requests if r.outcome == RequestOutcome.REFUSED}
    if not any(r.request in refused_requests for r in for_requests):
        statements.append({
            "id": "refused_requests",
            "statement": "No request that was refused produced a restriction.",
            "basis": "Checked every restriction made in this period against the outcome of "
                     "the request it answers."})
    refused_at = {r.id: r.decided_at for r in requests
                  if r.outcome == RequestOutcome.REFUSED and r.decided_at is not None}
    before_refusal = [r for r in for_requests if r.request in refused_at]
    if before_refusal and all(_ended_by(r, refused_at[r.request or 0]) for r in before_refusal):
        k = len(before_refusal)
        statements.append({
            "id": "refusals_ended",
            "statement": "Every restriction made for a request before it was refused ended "
                         "when the refusal was recorded.",
            "basis": f"Checked {k} restriction{_plural(k)} made in this period for "
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
