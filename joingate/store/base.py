"""The store interface every backend implements, and the parts they share.

A backend makes each write durable before returning, and writes the audit entry for an admin
action in the same transaction as the action. Reads and writes happen off the hot path: the
service keeps what `/v1/authorize` needs (restrictions, token hashes) in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Protocol

from ..audit import AuditEntry, Checkpoint
from ..corrections import Correction, CorrectionDraft
from ..errors import InvalidInput
from ..restrictions import (
    AuthorityRequest,
    RequestDraft,
    Restriction,
    RestrictionDraft,
    format_time,
    normalize_room,
)
from ..tlog import Signing

SCOPES = ("admin", "plugin")
# The migration migrations/<dialect>/NNNN_room_names.sql (its number may differ between
# dialects) rewrites the meeting names of every stored restriction and request; SQL cannot
# percent-encode, so each backend runs `renamed_rooms` over the rows in its transaction.
ROOM_NAMES_MIGRATION = "room_names"
ROOM_TABLES = ("restrictions", "requests")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # the file name without its number and ".sql"
    sql: str


def migrations(dialect: str) -> list[Migration]:
    """migrations/<dialect>/NNNN_name.sql, in version order."""
    folder = resources.files("joingate.store") / "migrations" / dialect
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            number, name = item.name.removesuffix(".sql").split("_", 1)
            found.append(Migration(int(number), name, item.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def renamed_rooms(rooms: list[str]) -> list[str]:
    """Meeting names stored before the room_names migration (the text given, lower-cased: "café",
    "[acme]vigil", "acme/vigil") → canonical names ("caf%c3%a9", "acme/vigil"). A name that has
    none (one Jitsi never produces, such as "tenant\\2froom") is kept as it was: the row is
    kept whole, and the name matches only a room whose node is exactly that."""
    renamed = []
    for name in rooms:
        try:
            renamed.append(normalize_room(name))
        except InvalidInput:
            renamed.append(name)
    return list(dict.fromkeys(renamed))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    scope: str


@dataclass(frozen=True, slots=True)
class CountRow:
    day: str
    restriction: int
    country: str
    outcome: str
    n: int


def restriction_details(r: Restriction) -> dict[str, Any]:
    """What the audit entry of a new restriction records."""
    return {"rooms": list(r.rooms), "countries": list(r.countries), "mode": r.mode,
            "starts_at": format_time(r.starts_at), "ends_at": format_time(r.ends_at),
            "reason": r.reason, "request": r.request}


def request_details(r: AuthorityRequest) -> dict[str, Any]:
    """What the audit entry of a newly recorded authority request records."""
    return {"id": r.id, "authority": r.authority, "jurisdiction": r.jurisdiction,
            "reference": r.reference, "rooms": list(r.rooms), "demand": r.demand,
            "received_at": format_time(r.received_at), "recorded_by": r.recorded_by}


def correction_details(c: Correction) -> dict[str, Any]:
    """What the audit entry of a new GeoIP correction records."""
    return {"network": c.network, "country": c.country, "reason": c.reason}


class Store(Protocol):
    url: str

    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise Unavailable when the database cannot be reached."""

    async def change_marker(self) -> object:
        """A value that changes whenever another process commits a change."""

    async def wait_change(self, timeout: float) -> None:
        """Return when a change may have been committed elsewhere, or after `timeout`."""

    async def create_restriction(self, draft: RestrictionDraft, actor: str,
                                 now: datetime) -> Restriction: ...

    async def revoke_restriction(self, restriction_id: int, reason: str, actor: str,
                                 now: datetime) -> Restriction: ...

    async def get_restriction(self, restriction_id: int) -> Restriction:
        """Raise NotFound(field="id") when there is none."""

    async def list_restrictions(self) -> list[Restriction]: ...

    async def create_request(self, draft: RequestDraft, actor: str,
                             now: datetime) -> AuthorityRequest: ...

    async def decide_request(self, request_id: int, outcome: str, note: str, actor: str,
                             now: datetime) -> AuthorityRequest: ...

    async def get_request(self, request_id: int) -> AuthorityRequest: ...

    async def list_requests(self) -> list[AuthorityRequest]: ...

    async def create_token(self, name: str, scope: str, token_hash: str, actor: str,
                           now: datetime) -> None:
        """Raise Conflict(field="name") when the name is taken."""

    async def tokens(self) -> Mapping[str, TokenInfo]:
        """Token hash → name and scope."""

    async def add_counts(self, rows: list[CountRow]) -> None: ...

    async def counts(self, since: str | None, until: str | None) -> list[CountRow]:
        """Counted decisions with since <= day <= until (YYYY-MM-DD; None = open)."""

    async def create_correction(self, draft: CorrectionDraft, actor: str,
                                now: datetime) -> Correction: ...

    async def remove_correction(self, correction_id: int, reason: str, actor: str,
                                now: datetime) -> Correction:
        """Raise NotFound(field="id"), or Conflict when it was removed already."""

    async def list_corrections(self) -> list[Correction]: ...

    async def audit_entries(self) -> list[AuditEntry]: ...

    async def audit_since(self, after: int) -> list[AuditEntry]:
        """The entries with a sequence number above `after`, in sequence order."""

    async def add_checkpoint(self, now: datetime,
                             signing: Signing | None = None) -> Checkpoint | None:
        """Record a checkpoint of the audit log (signed with `signing`) when
        `audit.needs_checkpoint` says so, under the write lock; `audit.make_checkpoint` makes
        it (Conflict when the log no longer extends the last checkpoint)."""

    async def checkpoints(self) -> list[Checkpoint]: ...

    async def add_key_rotation(self, note: str, details: dict[str, Any], actor: str,
                               now: datetime) -> None:
        """Record a key rotation statement, and its audit entry, in one transaction."""

    async def key_rotations(self) -> list[str]:
        """The rotation statements (signed notes), oldest first."""
