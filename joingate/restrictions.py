"""Restrictions and authority requests: the models and every validation rule of the contract.

Pure: no I/O. The shells (API, CLI, web) parse input into plain values, call the `build_*`
functions here, and hand the validated drafts to the store. Every refusal is an InvalidInput
(or subclass) naming the field, so each shell can point at what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from .errors import Conflict, InvalidInput, OutsideJurisdiction, RuleViolation
from .jurisdiction import JurisdictionTable
from .rooms import ALL_MEETINGS as ALL_MEETINGS  # re-exported: the shells import it from here
from .rooms import canonical_room
from .vocabulary import Mode, RequestOutcome, RestrictionState, one_of

W = TypeVar("W", bound=StrEnum)

MAX_TEXT = 4000
MAX_SHORT = 200
MAX_ROOMS = 1000
# Bidirectional embeddings, overrides and isolates: stored text with one of these reorders
# whatever a page or report prints after it ("Trojan Source"), so no field may hold them.
_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")


# -- values ---------------------------------------------------------------------------------

def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    # isoformat pads the year to four digits (strftime's %Y does not on Linux before 1000).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


# The shape parse_time accepts, checked before fromisoformat: Python 3.11's reads any character
# as the date/time separator and takes one stray character before the offset.
_ISO_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
    r"(?:Z|[+-]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?)?", re.ASCII)


def parse_time(value: str, field_name: str, round_up: bool = False) -> datetime:
    """ISO 8601 date-time with an offset (e.g. 2026-06-04T20:00:00+08:00 or ...Z) → UTC, kept
    to the second: fractions are dropped, or rounded up with `round_up` (a window's start), so
    that a restriction never applies outside the window it was given."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if not _ISO_DATE_TIME.fullmatch(text):
            raise ValueError(text)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field_name}: expected an ISO 8601 date-time such as "
                           f"2026-06-04T20:00:00+08:00, got {value!r}", field=field_name) from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{field_name}: give a UTC offset (e.g. Z or +08:00) so the time is "
                           "not ambiguous", field=field_name)
    try:
        utc = parsed.astimezone(UTC)
        if round_up and utc.microsecond:
            utc += timedelta(seconds=1)
        return utc.replace(microsecond=0)
    except OverflowError:  # the UTC instant falls outside years 1-9999
        raise InvalidInput(f"{field_name}: out of range", field=field_name) from None


def refuse_bidi(text: str, field_name: str) -> str:
    """`text` unchanged, or InvalidInput naming the field if it holds a bidirectional control
    (U+202A-U+202E, U+2066-U+2069). Refused at input, so every renderer can print stored text
    as it is."""
    found = _BIDI_RE.search(text)
    if found is not None:
        raise InvalidInput(f"{field_name}: contains the bidirectional control character "
                           f"U+{ord(found.group()):04X}, which would reorder the text shown "
                           "after it; remove it", field=field_name)
    return text


def parse_id(text: Any, field_name: str) -> int:
    """An id or epoch as typed in a URL or on a command line: ASCII digits only (int() would
    also read full-width and Arabic-Indic digits)."""
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InvalidInput(f"{field_name}: must be a whole number written with the digits 0-9",
                           field=field_name)
    return int(text)


def normalize_room(name: Any, field_name: str = "rooms", allow_all: bool = True) -> str:
    """A meeting's canonical name (see `rooms`), from the name people see or its room node;
    "*" for all meetings."""
    if not isinstance(name, str):
        raise InvalidInput(f"{field_name}: a meeting name must be a string", field=field_name)
    if name.strip() == ALL_MEETINGS:
        if allow_all:
            return ALL_MEETINGS
        raise InvalidInput(f"{field_name}: name the meetings ('*', all meetings, is only for "
                           "operator policies)", field=field_name)
    return canonical_room(refuse_bidi(name, field_name), field_name)


def normalize_rooms(names: Iterable[Any], field_name: str = "rooms",
                    allow_all: bool = True) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [names]
    rooms = tuple(dict.fromkeys(normalize_room(n, field_name, allow_all) for n in names))
    if not rooms:
        raise InvalidInput(f"{field_name}: name at least one meeting", field=field_name)
    if len(rooms) > MAX_ROOMS:
        raise InvalidInput(f"{field_name}: at most {MAX_ROOMS} meetings", field=field_name)
    if ALL_MEETINGS in rooms and len(rooms) > 1:
        raise InvalidInput(f"{field_name}: '*' (all meetings) cannot be combined with named "
                           "meetings", field=field_name)
    return rooms


def normalize_country(code: Any, table: JurisdictionTable, field_name: str = "countries") -> str:
    if not isinstance(code, str):
        raise InvalidInput(f"{field_name}: a country code must be a string", field=field_name)
    text = code.strip()
    # ASCII first: str.upper() turns "ß" into "SS" and "ﬁ" into "FI".
    text = text.upper() if text.isascii() else ""
    if len(text) != 2 or not text.isalpha() or not table.is_country(text):
        raise InvalidInput(f"{field_name}: {code!r} is not an ISO 3166-1 alpha-2 country code",
                           field=field_name)
    return text


def normalize_countries(codes: Iterable[Any], table: JurisdictionTable,
                        field_name: str = "countries") -> tuple[str, ...]:
    if isinstance(codes, str):
        codes = [codes]
    countries = tuple(dict.fromkeys(normalize_country(c, table, field_name) for c in codes))
    if not countries:
        raise InvalidInput(f"{field_name}: name at least one country", field=field_name)
    return countries


def require_text(value: Any, field_name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field_name}: must not be empty", field=field_name)
    text = value.strip()
    if len(text) > limit:
        raise InvalidInput(f"{field_name}: at most {limit} characters", field=field_name)
    return refuse_bidi(text, field_name)


def _word(words: type[W], value: Any, field_name: str) -> W:
    """`value` as a member of `words`, or InvalidInput naming the field and the words."""
    try:
        return words(value)
    except ValueError:
        raise InvalidInput(f"{field_name}: must be one of {one_of(words)}",
                           field=field_name) from None


# -- models ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RestrictionDraft:
    rooms: tuple[str, ...]
    countries: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime | None
    reason: str
    request: int | None
    mode: Mode


@dataclass(frozen=True, slots=True)
class Restriction:
    id: int
    rooms: tuple[str, ...]
    countries: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime | None
    reason: str
    request: int | None
    mode: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def state(self, now: datetime) -> RestrictionState:
        if self.revoked_at is not None:
            return RestrictionState.REVOKED
        if now < self.starts_at:
            return RestrictionState.SCHEDULED
        if self.ends_at is not None and now >= self.ends_at:
            return RestrictionState.ENDED
        return RestrictionState.ACTIVE

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "rooms": list(self.rooms),
            "countries": list(self.countries),
            "mode": self.mode,
            "starts_at": format_time(self.starts_at),
            "ends_at": format_time(self.ends_at),
            "reason": self.reason,
            "request": self.request,
            "state": self.state(now),
            "created_at": format_time(self.created_at),
            "created_by": self.created_by,
            "revoked_at": format_time(self.revoked_at),
            "revoked_by": self.revoked_by,
            "revoke_reason": self.revoke_reason,
        }


@dataclass(frozen=True, slots=True)
class RequestDraft:
    authority: str
    jurisdiction: str
    reference: str
    rooms: tuple[str, ...]
    demand: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class AuthorityRequest:
    id: int
    authority: str
    jurisdiction: str
    reference: str
    rooms: tuple[str, ...]
    demand: str
    received_at: datetime
    recorded_by: str
    outcome: str | None = None
    note: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    restrictions: tuple[int, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "authority": self.authority,
            "jurisdiction": self.jurisdiction,
            "reference": self.reference,
            "rooms": list(self.rooms),
            "demand": self.demand,
            "received_at": format_time(self.received_at),
            "recorded_by": self.recorded_by,
            "outcome": self.outcome,
            "note": self.note,
            "decided_at": format_time(self.decided_at),
            "decided_by": self.decided_by,
            "restrictions": list(self.restrictions),
        }


# -- rules ----------------------------------------------------------------------------------

def build_restriction(*, rooms: Sequence[Any], countries: Sequence[Any],
                      starts_at: str | datetime | None, ends_at: str | datetime | None,
                      reason: Any, request: AuthorityRequest | None, request_id: int | None,
                      mode: Any, now: datetime, table: JurisdictionTable) -> RestrictionDraft:
    """Validate a new restriction. `request` is the stored request named by `request_id`
    (None when the restriction is an operator policy; the shell raises when the id is unknown).
    """
    room_names = normalize_rooms(rooms)
    codes = normalize_countries(countries, table)
    mode_word = _word(Mode, Mode.BLOCK if mode is None else mode, "mode")
    reason_text = require_text(reason, "reason")
    start = now if starts_at is None else (
        starts_at if isinstance(starts_at, datetime)
        else parse_time(starts_at, "starts_at", round_up=True))
    end = None if ends_at is None else (
        ends_at if isinstance(ends_at, datetime) else parse_time(ends_at, "ends_at"))
    if end is not None and end <= start:
        raise InvalidInput("ends_at: must be after starts_at", field="ends_at")
    if end is not None and end <= now:
        raise InvalidInput("ends_at: is already in the past", field="ends_at")
    if request_id is not None:
        if request is None or request.id != request_id:
            raise RuleViolation(f"request: there is no authority request {request_id}",
                                field="request")
        _check_within_request(request, room_names, codes, mode_word, table)
    return RestrictionDraft(room_names, codes, start, end, reason_text, request_id, mode_word)


def _check_within_request(request: AuthorityRequest, rooms: tuple[str, ...],
                          countries: tuple[str, ...], mode: Mode,
                          table: JurisdictionTable) -> None:
    """A restriction made for an authority reaches only its jurisdiction and named meetings."""
    covered = table.get(request.jurisdiction)
    outside = [c for c in countries if c not in covered.covers]
    if outside:
        raise OutsideJurisdiction(
            f"countries: request {request.id} comes from {request.authority} "
            f"({request.jurisdiction}), whose jurisdiction covers "
            f"{', '.join(sorted(covered.covers))} only; {', '.join(outside)} "
            f"{'is' if len(outside) == 1 else 'are'} outside it", field="countries")
    if mode != Mode.BLOCK:
        raise RuleViolation("mode: a restriction made for an authority request can only block "
                            f"its jurisdiction ('{Mode.BLOCK}'); '{Mode.ALLOW_ONLY}' is for "
                            "operator policies", field="mode")
    if ALL_MEETINGS in rooms:
        raise RuleViolation("rooms: only an operator policy (no request) may cover all "
                            "meetings ('*'); name the meetings the request names", field="rooms")
    unnamed = [r for r in rooms if r not in request.rooms]
    if unnamed:
        raise RuleViolation(f"rooms: {', '.join(unnamed)} not named in request {request.id} "
                            f"(it names {', '.join(request.rooms)})", field="rooms")
    check_request_open(request)


def build_request(*, authority: Any, jurisdiction: Any, reference: Any, rooms: Sequence[Any],
                  demand: Any, received_at: str | datetime | None, now: datetime,
                  table: JurisdictionTable) -> RequestDraft:
    received = now if received_at is None else (
        received_at if isinstance(received_at, datetime)
        else parse_time(received_at, "received_at"))
    if received > now:
        raise InvalidInput("received_at: is in the future", field="received_at")
    return RequestDraft(
        authority=require_text(authority, "authority", MAX_SHORT),
        jurisdiction=normalize_country(jurisdiction, table, "jurisdiction"),
        reference=require_text(reference, "reference", MAX_SHORT),
        rooms=normalize_rooms(rooms, "rooms", allow_all=False),
        demand=require_text(demand, "demand"),
        received_at=received,
    )


def check_decision(request: AuthorityRequest, outcome: Any,
                   note: Any) -> tuple[RequestOutcome, str]:
    outcome_word = _word(RequestOutcome, outcome, "outcome")
    note_text = require_text(note, "note")
    if request.outcome is not None:
        raise Conflict(f"outcome: request {request.id} was already decided ({request.outcome})",
                       field="outcome", code="already_decided")
    return outcome_word, note_text


def check_request_open(request: AuthorityRequest) -> None:
    """A refused request produces no restriction. `actions.record_restriction` calls this
    again inside the write transaction that inserts the restriction, so a refusal racing the
    insert cannot lose."""
    if request.outcome == RequestOutcome.REFUSED:
        raise RuleViolation(f"request: request {request.id} was refused; a refused request "
                            "produces no restriction", field="request")


def ended_by_decision(outcome: str, restrictions: Iterable[Restriction],
                      now: datetime) -> list[Restriction]:
    """The restrictions a decision ends: a refusal ends every one made for the request that
    is still scheduled or active (a refused request keeps no restriction in force)."""
    if outcome != RequestOutcome.REFUSED:
        return []
    in_force = (RestrictionState.SCHEDULED, RestrictionState.ACTIVE)
    return [r for r in restrictions if r.state(now) in in_force]


def refusal_reason(request: AuthorityRequest, note: str) -> str:
    """The revoke reason recorded on each restriction a refusal ends."""
    return f"request {request.id} ({request.reference}) was refused: {note}"


def check_revoke(restriction: Restriction, reason: Any, now: datetime) -> str:
    text = require_text(reason, "reason")
    state = restriction.state(now)
    if state in (RestrictionState.REVOKED, RestrictionState.ENDED):
        raise Conflict(f"restriction {restriction.id} is already {state}", field="id",
                       code=f"already_{state}")
    return text
