"""PostgreSQL backend (asyncpg), for several joingate instances sharing one database.

Each write transaction is serialised by a transaction-level advisory lock, taken first, so the
audit chain stays linear across instances and what a transaction reads stays true until it
commits (a request read in one is also locked FOR UPDATE, against a writer that skipped the
advisory lock). A transaction that wrote rows other instances keep in memory bumps
`change_version` and sends NOTIFY joingate_changes; every instance LISTENs (and also polls the
version, so a lost notification or a dropped listener cannot leave it stale). Any database
failure surfaces as Unavailable (HTTP 503): nothing is acknowledged that was not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from ..audit import AuditEntry, Checkpoint, make_entry
from ..corrections import Correction
from ..errors import JoingateError, NotFound, Unavailable
from ..restrictions import AuthorityRequest, Restriction
from .base import ROOM_NAMES_MIGRATION, ROOM_TABLES, CountRow, TokenInfo, migrations, renamed_rooms

T = TypeVar("T")
CHANNEL = "joingate_changes"
WRITE_LOCK = 0x6A6F696E  # "join": one writer at a time, across instances
_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresStore:
    def __init__(self, url: str):
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._notified = asyncio.Event()

    # -- plumbing -------------------------------------------------------------------------
    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise Unavailable("store: not open")
        return self._pool

    async def _read(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            async with self.pool.acquire(timeout=5) as conn:
                return await fn(conn)
        except JoingateError:
            raise
        except _FAILURES as exc:
            raise Unavailable(f"store: {exc}") from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        try:
            async with self.pool.acquire(timeout=5) as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                tx = _Tx(conn)
                yield tx
                if tx.announce:
                    await conn.execute("UPDATE change_version SET version = version + 1")
                    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
        except JoingateError:
            raise
        except _FAILURES as exc:
            raise Unavailable(f"store: {exc}") from None

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4,
                                                   command_timeout=10, timeout=10)
        except _FAILURES as exc:
            raise Unavailable(f"store: cannot connect to PostgreSQL: {exc}") from None
        async with self.transaction() as tx:
            await _migrate(tx.conn)
        await self._listen()

    async def _listen(self) -> None:
        with contextlib.suppress(*_FAILURES):
            self._listener = await asyncpg.connect(self.url, timeout=5)
            await self._listener.add_listener(CHANNEL, lambda *_: self._notified.set())

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(*_FAILURES):
                await self._listener.close()
        if self._pool is not None:
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(self._pool.close(), 5)
            self._pool = None

    async def ping(self) -> None:
        await self._read(lambda c: c.fetchval("SELECT 1"))

    async def wait_change(self, timeout: float) -> None:
        if self._listener is None or self._listener.is_closed():
            await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._notified.wait(), timeout)
        self._notified.clear()

    async def change_marker(self) -> object:
        return await self._read(lambda c: c.fetchval("SELECT version FROM change_version"))

    # -- reads ----------------------------------------------------------------------------
    async def get_restriction(self, restriction_id: int) -> Restriction:
        return await self._read(lambda c: _restriction(c, restriction_id))

    async def list_restrictions(self) -> list[Restriction]:
        return await self._read(lambda c: _rows(c, _restriction_of,
                                                "SELECT * FROM restrictions ORDER BY id"))

    async def get_request(self, request_id: int) -> AuthorityRequest:
        return await self._read(lambda c: _request(c, request_id))

    async def list_requests(self) -> list[AuthorityRequest]:
        async def read(conn: asyncpg.Connection) -> list[AuthorityRequest]:
            made: dict[int, list[int]] = {}
            for r in await conn.fetch("SELECT id, request_id FROM restrictions "
                                      "WHERE request_id IS NOT NULL ORDER BY id"):
                made.setdefault(r[1], []).append(r[0])
            rows = await conn.fetch("SELECT * FROM requests ORDER BY id")
            return [_request_of(r, tuple(made.get(r["id"], ()))) for r in rows]
        return await self._read(read)

    async def tokens(self) -> Mapping[str, TokenInfo]:
        rows = await self._read(lambda c: c.fetch("SELECT token_hash, name, scope FROM tokens"))
        return {r[0]: TokenInfo(r[1], r[2]) for r in rows}

    async def add_counts(self, rows: list[CountRow]) -> None:
        if rows:
            async with self.transaction() as tx:
                await tx.conn.executemany(
                    "INSERT INTO decision_counts VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
                    "(day, restriction_id, country, outcome) DO UPDATE "
                    "SET n = decision_counts.n + excluded.n",
                    [(r.day, r.restriction, r.country, r.outcome, r.n) for r in rows])

    async def counts(self, since: str | None, until: str | None) -> list[CountRow]:
        return await self._read(lambda c: _rows(
            c, lambda r: CountRow(r[0], int(r[1]), r[2], r[3], int(r[4])),
            "SELECT day, restriction_id, country, outcome, n FROM decision_counts "
            "WHERE day >= $1 AND day <= $2 ORDER BY day, restriction_id, country, outcome",
            since or "0000-00-00", until or "9999-99-99"))

    async def list_corrections(self) -> list[Correction]:
        return await self._read(lambda c: _rows(c, _correction_of,
                                                "SELECT * FROM geoip_corrections ORDER BY id"))

    async def audit_entries(self) -> list[AuditEntry]:
        return await self._read(_audit_log)

    async def audit_since(self, after: int) -> list[AuditEntry]:
        return await self._read(lambda c: _rows(
            c, _audit_of, "SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq", after))

    async def checkpoints(self) -> list[Checkpoint]:
        return await self._read(lambda c: _rows(
            c, _checkpoint_of, f"SELECT {_CHECKPOINT} FROM audit_checkpoints ORDER BY id"))

    async def key_rotations(self) -> list[str]:
        return await self._read(lambda c: _rows(
            c, lambda r: r[0], "SELECT note FROM audit_key_rotations ORDER BY id"))


# Tables no running instance keeps in memory: writing only these announces no change.
_QUIET = frozenset({"audit_checkpoints", "audit_key_rotations"})


class _Tx:
    """The primitives of a PostgresStore transaction (`base.Tx`) on its connection."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn
        self.announce = False

    async def restriction(self, restriction_id: int) -> Restriction:
        return await _restriction(self.conn, restriction_id)

    async def request(self, request_id: int) -> AuthorityRequest:
        return await _request(self.conn, request_id, for_update=True)

    async def correction(self, correction_id: int) -> Correction:
        return _correction_of(await _one(self.conn, "geoip_corrections", "correction",
                                         correction_id))

    async def token_named(self, name: str) -> bool:
        return await self.conn.fetchval("SELECT 1 FROM tokens WHERE name = $1", name) is not None

    async def insert(self, table: str, row: Mapping[str, Any]) -> int:
        self.announce |= table not in _QUIET
        marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
        return int(await self.conn.fetchval(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks}) RETURNING id",
            *map(_encode, row.values())))

    async def update(self, table: str, row_id: int, changes: Mapping[str, Any]) -> None:
        self.announce |= table not in _QUIET
        sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, 1))
        await self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ${len(changes) + 1}",
                                *map(_encode, changes.values()), row_id)

    async def append_audit(self, at: str, actor: str, action: str, subject: str,
                           details: dict[str, Any]) -> None:
        row = await self.conn.fetchrow("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")
        entry = make_entry(_audit_of(row) if row else None, at, actor, action, subject, details)
        await self.conn.execute(
            "INSERT INTO audit_log VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", entry.seq,
            entry.at, entry.actor, entry.action, entry.subject,
            json.dumps(entry.details, sort_keys=True), entry.prev_hash, entry.hash)

    async def audit_size(self) -> int:
        return int(await self.conn.fetchval("SELECT COUNT(*) FROM audit_log"))

    async def audit_log(self) -> list[AuditEntry]:
        return await _audit_log(self.conn)

    async def last_checkpoint(self) -> Checkpoint | None:
        row = await self.conn.fetchrow(f"SELECT {_CHECKPOINT} FROM audit_checkpoints "
                                       "ORDER BY id DESC LIMIT 1")
        return None if row is None else _checkpoint_of(row)


# -- statements ---------------------------------------------------------------------------
_CHECKPOINT = "at, size, head, root, note, signer_key"


def _encode(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value  # TEXT[] takes a list


async def _rows(conn: asyncpg.Connection, decode: Callable[[Any], T], sql: str,
                *params: Any) -> list[T]:
    return [decode(row) for row in await conn.fetch(sql, *params)]


async def _one(conn: asyncpg.Connection, table: str, what: str, row_id: int, lock: str = "") -> Any:
    row = await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1{lock}", row_id)
    if row is None:
        raise NotFound(f"there is no {what} {row_id}", field="id")
    return row


async def _restriction(conn: asyncpg.Connection, restriction_id: int) -> Restriction:
    return _restriction_of(await _one(conn, "restrictions", "restriction", restriction_id))


async def _request(conn: asyncpg.Connection, request_id: int,
                   for_update: bool = False) -> AuthorityRequest:
    row = await _one(conn, "requests", "authority request", request_id,
                     " FOR UPDATE" if for_update else "")
    made = await conn.fetch("SELECT id FROM restrictions WHERE request_id = $1 ORDER BY id",
                            request_id)
    return _request_of(row, tuple(r[0] for r in made))


async def _audit_log(conn: asyncpg.Connection) -> list[AuditEntry]:
    return await _rows(conn, _audit_of, "SELECT * FROM audit_log ORDER BY seq")


async def _migrate(conn: asyncpg.Connection) -> None:
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                       "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    for step in migrations("postgresql"):
        if step.version not in done:
            await conn.execute(step.sql)
            if step.name == ROOM_NAMES_MIGRATION:
                await _rename_rooms(conn)
            await conn.execute("INSERT INTO schema_migrations VALUES ($1, now())",
                               step.version)


async def _rename_rooms(conn: asyncpg.Connection) -> None:
    for table in ROOM_TABLES:
        for row in await conn.fetch(f"SELECT id, rooms FROM {table}"):
            old = list(row["rooms"])
            new = renamed_rooms(old)
            if new != old:
                await conn.execute(f"UPDATE {table} SET rooms = $1 WHERE id = $2", new,
                                   row["id"])


# -- rows → models ------------------------------------------------------------------------
def _checkpoint_of(row: Any) -> Checkpoint:
    return Checkpoint(row[0], int(row[1]), row[2], row[3], row[4], row[5])


def _restriction_of(row: Any) -> Restriction:
    return Restriction(
        id=int(row["id"]), rooms=tuple(row["rooms"]), countries=tuple(row["countries"]),
        starts_at=row["starts_at"], ends_at=row["ends_at"], reason=row["reason"],
        request=row["request_id"], mode=row["mode"], created_at=row["created_at"],
        created_by=row["created_by"], revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"], revoke_reason=row["revoke_reason"])


def _request_of(row: Any, restrictions: tuple[int, ...]) -> AuthorityRequest:
    return AuthorityRequest(
        id=int(row["id"]), authority=row["authority"], jurisdiction=row["jurisdiction"],
        reference=row["reference"], rooms=tuple(row["rooms"]), demand=row["demand"],
        received_at=row["received_at"], recorded_by=row["recorded_by"],
        outcome=row["outcome"], note=row["note"], decided_at=row["decided_at"],
        decided_by=row["decided_by"], restrictions=restrictions)


def _correction_of(row: Any) -> Correction:
    return Correction(
        id=row["id"], network=row["network"], country=row["country"], reason=row["reason"],
        created_at=row["created_at"], created_by=row["created_by"],
        removed_at=row["removed_at"], removed_by=row["removed_by"],
        remove_reason=row["remove_reason"])


def _audit_of(row: Any) -> AuditEntry:
    return AuditEntry(int(row["seq"]), row["at"], row["actor"], row["action"], row["subject"],
                      json.loads(row["details"]), row["prev_hash"], row["hash"])
