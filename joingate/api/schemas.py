"""Request bodies of the HTTP API, validated by msgspec while decoding.

msgspec decodes and checks types in one pass (about ten times faster than json + hand checks on
the small /v1/authorize body); the policy rules (country codes, jurisdiction, windows) are
checked afterwards by `restrictions`. The same types give the OpenAPI schemas.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from ..errors import InvalidInput
from ..vocabulary import Mode, Purpose, RequestOutcome

Room = Annotated[str, msgspec.Meta(
    min_length=1, max_length=1023,
    description="The meeting's canonical name, as the plugin sends it: the room node (Jitsi's "
                "client made it from the name people see: \"caf%c3%a9%20vigil\"), or "
                "tenant/room for a tenant's [tenant]room. Taken as it is (ASCII case aside); "
                "a room node Jitsi never makes is its own meeting, matched only by '*'.")]
ROOMS_RULE = (
    "Meetings, each as people see its name (\"Café Vigil\") or as its room node in the meeting "
    "address (\"caf%c3%a9%20vigil\"); both are one meeting, stored and returned as the node "
    "(the canonical name). A Jitsi tenant's meeting is tenant/room (\"acme/Café Vigil\") or "
    "the node [tenant]room. A name of node characters and %XX escapes is read as a node, a name "
    "without %XX as people see it; refused (400, field rooms): a name mixing %XX with other "
    "characters (ambiguous), a node Jitsi never makes (\"caf%c3%89\"), XMPP escapes "
    "(\"tenant\\2froom\"), an apostrophe, spaces at either end, more than one '/', a node "
    "over 1023 bytes.")
Meetings = Annotated[list[str], msgspec.Meta(description=ROOMS_RULE)]
Ip = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class AuthorizeIn(msgspec.Struct):
    room: Room
    ip: Ip


class SessionIn(msgspec.Struct, forbid_unknown_fields=True):
    """An address whose verdicts a new session learns. Unknown fields are refused: each would
    be a qualifier of the answer that this service does not know, and the plugin asks per
    join on any refusal, so refusing is the safe side."""

    ip: Ip


class BatchIn(msgspec.Struct):
    checks: Annotated[list[AuthorizeIn], msgspec.Meta(max_length=1000)]
    # join: decisions on joins (allowed / refused); sweep: re-checks of people in a meeting
    # (denials counted as removals); admitted: joins the plugin let in before asking (allowed,
    # or removed when the answer is a denial).
    purpose: Purpose = Purpose.SWEEP


class RestrictionIn(msgspec.Struct, forbid_unknown_fields=True):
    rooms: Annotated[list[str], msgspec.Meta(
        description=ROOMS_RULE + " \"*\" alone: all meetings (operator policies only).")]
    countries: list[str]
    reason: Text
    starts_at: str | None = None
    ends_at: str | None = None
    request: Id | None = None
    mode: Mode = Mode.BLOCK


class CensusIn(msgspec.Struct):
    """Participants per meeting and country ("" = not placed); replaces the source's last."""

    # Counts are checked by census.clean_counts, which names the meeting and country at fault
    # (msgspec's error path does not name dictionary keys).
    rooms: Annotated[dict[str, dict[str, Any]], msgspec.Meta(
        max_length=100_000,
        description="Meetings by canonical name, as the plugin computes it from the room node "
                    "(a [tenant]room node is also accepted), then counts by country.")]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    # Of those, the participants whose last verdict was 'disputed' (the witness GeoIP DB
    # disagreed), by the primary DB's country; same shape and checks as `rooms`.
    disputed: Annotated[dict[str, dict[str, Any]], msgspec.Meta(max_length=100_000)] = {}


class RevokeIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text


class RequestIn(msgspec.Struct, forbid_unknown_fields=True):
    authority: Text
    jurisdiction: str
    reference: Text
    rooms: Meetings
    demand: Text
    received_at: str | None = None


class CorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    network: Annotated[str, msgspec.Meta(max_length=64)]
    country: Annotated[str, msgspec.Meta(max_length=8)]
    reason: Text


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: RequestOutcome
    note: Text


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"field `(?P<name>[^`]+)`")


def decode(body: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    """Decode `body` or raise InvalidInput naming the offending field (JSON path).

    Every JSON body of the API goes through here. msgspec recurses into nested arrays and
    objects it must skip or keep as `Any`, so a small body of deep nesting can hit Python's
    recursion limit: that is bad input too, not an internal error.
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from None
    except msgspec.DecodeError:
        raise InvalidInput("body: not valid JSON", field="body", code="malformed_json") from None
    except RecursionError:
        raise InvalidInput("body: nested too deeply", field="body",
                           code="malformed_json") from None


def _invalid(message: str) -> InvalidInput:
    at = _AT.search(message)
    path = at.group("path").lstrip(".") if at else ""
    text = message[: at.start()] if at else message
    named = _NAMED.search(text)
    if named:
        path = f"{path}.{named.group('name')}" if path else named.group("name")
    field = path or "body"
    return InvalidInput(f"{field}: {text}", field=field)
