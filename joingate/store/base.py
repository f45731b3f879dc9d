"""The store interface every backend implements, and the parts they share.

A backend is a dialect: it reads and writes rows, and makes each transaction durable before
its commit returns. What a write checks, changes and records in the audit log is decided by
`actions`, which composes the transaction primitives (`Tx`) listed here. Reads and writes happen
off the hot path: the service keeps what `/v1/authorize` needs (restrictions, token hashes) in
memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from ..audit import AuditEntry, Checkpoint
from ..corrections import Correction
from ..errors import InvalidInput
from ..restrictions import AuthorityRequest, Restriction, normalize_room

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


class Tx(Protocol):
    """One write transaction, and every primitive a write is made of.

    It holds the store's write lock from its start to its commit (SQLite: BEGIN IMMEDIATE;
    PostgreSQL: a transaction-level advisory lock, and FOR UPDATE on a request read here), so
    whatever is read through it stays true until the commit. Leaving the `async with` block
    normally commits; an exception rolls everything back. Values are Python values (tuples of
    text, aware datetimes); each backend encodes them for its columns.
    """

    async def restriction(self, restriction_id: int) -> Restriction:
        """Raise NotFound(field="id") when there is none (likewise `request`, `correction`)."""

    async def request(self, request_id: int) -> AuthorityRequest:
        """The request with the ids of the restrictions made for it."""

    async def correction(self, correction_id: int) -> Correction: ...

    async def token_named(self, name: str) -> bool: ...

    async def insert(self, table: str, row: Mapping[str, Any]) -> int:
        """Insert `row` (column → value); the new row's id."""

    async def update(self, table: str, row_id: int, changes: Mapping[str, Any]) -> None: ...

    async def append_audit(self, at: str, actor: str, action: str, subject: str,
                           details: dict[str, Any]) -> None:
        """Append one entry to the hash-linked audit log (`audit.make_entry`)."""

    async def audit_size(self) -> int: ...

    async def audit_log(self) -> list[AuditEntry]: ...

    async def last_checkpoint(self) -> Checkpoint | None: ...


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

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction (see `Tx`); every write but `add_counts` goes through one."""

    async def get_restriction(self, restriction_id: int) -> Restriction:
        """Raise NotFound(field="id") when there is none."""

    async def list_restrictions(self) -> list[Restriction]: ...

    async def get_request(self, request_id: int) -> AuthorityRequest: ...

    async def list_requests(self) -> list[AuthorityRequest]: ...

    async def tokens(self) -> Mapping[str, TokenInfo]:
        """Token hash → name and scope."""

    async def add_counts(self, rows: list[CountRow]) -> None:
        """Add to the decision counts (no audit entry, no change announced)."""

    async def counts(self, since: str | None, until: str | None) -> list[CountRow]:
        """Counted decisions with since <= day <= until (YYYY-MM-DD; None = open)."""

    async def list_corrections(self) -> list[Correction]: ...

    async def audit_entries(self) -> list[AuditEntry]: ...

    async def audit_since(self, after: int) -> list[AuditEntry]:
        """The entries with a sequence number above `after`, in sequence order."""

    async def checkpoints(self) -> list[Checkpoint]: ...

    async def key_rotations(self) -> list[str]:
        """The rotation statements (signed notes), oldest first."""
