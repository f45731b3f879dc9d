"""joingate's closed sets of words, each defined once.

The request validators (msgspec), the CLI's choices, the OpenAPI document, the settings'
choices and the code's comparisons all take their words from here. The SQL CHECK constraints
were written out in migrations already applied in deployed databases, so they cannot be
generated from these; tests/integration/test_vocabulary_sql.py checks that the constraints in
force after every migration list exactly these values, in both dialects.

A StrEnum member is a str: it compares, hashes, formats and is stored as its value. On
Python 3.11, reading a member from its class costs about 80 ns, so a hot path binds the
members it needs to module names once.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """What a restriction does with the countries it lists."""

    BLOCK = "block"  # keeps them out
    ALLOW_ONLY = "allow-only"  # keeps everyone else out (operator policies only)


class RequestOutcome(StrEnum):
    """The decision recorded on an authority request."""

    COMPLIED = "complied"
    PARTIALLY = "partially"
    REFUSED = "refused"


# How reports and pages show a request without an outcome (never stored: the column is null).
UNDECIDED = "undecided"


class RestrictionState(StrEnum):
    """Where a restriction stands at a given moment (computed, never stored)."""

    SCHEDULED = "scheduled"
    ACTIVE = "active"
    ENDED = "ended"
    REVOKED = "revoked"


class CorrectionState(StrEnum):
    """Whether a GeoIP correction applies (computed, never stored)."""

    ACTIVE = "active"
    REMOVED = "removed"


class Scope(StrEnum):
    """What an API token may do."""

    ADMIN = "admin"
    PLUGIN = "plugin"


class Decision(StrEnum):
    """A verdict's decision; also the values of geoip.unknown and geoip.disputed."""

    ALLOW = "allow"
    DENY = "deny"


class VerdictRule(StrEnum):
    """Why a verdict decided as it did: the "rule" field of /v1/authorize's answer."""

    NO_RESTRICTION = "no-restriction"  # no restriction in force in the meeting
    NOT_COVERED = "not-covered"  # restrictions in force, none covers the participant
    BLOCK = Mode.BLOCK.value  # denied by a block restriction
    ALLOW_ONLY = Mode.ALLOW_ONLY.value  # denied by an allow-only restriction
    UNKNOWN_LOCATION = "unknown-location"  # not placed, denied under geoip.unknown = deny
    DISPUTED = "disputed"  # the GeoIP DBs disagree and it matters; geoip.disputed decides


class CountOutcome(StrEnum):
    """How a decision is counted (by day, restriction, country and outcome)."""

    ALLOWED = "allowed"  # a join let in
    REFUSED = "refused"  # a join kept out
    REMOVED = "removed"  # a participant taken out of a meeting
    DISPUTED = VerdictRule.DISPUTED.value  # any decision on disputed evidence


class Purpose(StrEnum):
    """What a /v1/authorize/batch call checks, which decides how its answers are counted."""

    JOIN = "join"  # joins: allowed or refused
    SWEEP = "sweep"  # people in a meeting: denials counted as removals, allows not counted
    ADMITTED = "admitted"  # joins let in before the answer: allowed, or removed on a denial


class ReportFormat(StrEnum):
    """The renderings `joingate report --format` prints."""

    MD = "md"
    JSON = "json"
    HTML = "html"


def values(words: type[StrEnum]) -> list[str]:
    """The words of a set as plain str, in definition order (for CLI choices, OpenAPI enums
    and settings: click reads an Enum's member names, not its values)."""
    return [member.value for member in words]


def one_of(words: type[StrEnum]) -> str:
    """'a, b, c': the words of a set, for a refusal naming what is accepted."""
    return ", ".join(values(words))
