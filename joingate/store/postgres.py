"""PostgreSQL backend (asyncpg), for several joingate instances sharing one database.

Writes run in one transaction each, serialised by a transaction-level advisory lock so the
audit chain stays linear across instances. A write that other instances must see bumps
`change_version` and sends NOTIFY joingate_changes; every instance LISTENs (and also polls the
version, so a lost notification or a dropped listener cannot leave it stale). Any database
failure surfaces as Unavailable (HTTP 503): nothing is acknowledged that was not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from ..audit import AuditEntry, Checkpoint, make_checkpoint, make_entry, needs_checkpoint
from ..corrections import Correction, CorrectionDraft, check_remove
from ..errors import Conflict, JoingateError, NotFound, Unavailable
from ..restrictions import (
    AuthorityRequest,
    RequestDraft,
    Restriction,
    RestrictionDraft,
    check_decision,
    check_request_open,
    check_revoke,
    ended_by_decision,
    format_time,
    refusal_reason,
)
from ..tlog import Signing
from .base import (
    ROOM_NAMES_MIGRATION,
    ROOM_TABLES,
    CountRow,
    TokenInfo,
    correction_details,
    migrations,
    renamed_rooms,
    request_details,
    restriction_details,
)

T = TypeVar("T")
CHANNEL = "joingate_changes"
WRITE_LOCK = 0x6A6F696E  # "join": one writer at a time, across instances
_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


async def _rename_rooms(conn: asyncpg.Connection) -> None:
    for table in ROOM_TABLES:
        for row in await conn.fetch(f"SELECT id, rooms FROM {table}"):
            old = list(row["rooms"])
            new = renamed_rooms(old)
            if new != old:
                await conn.execute(f"UPDATE {table} SET rooms = $1 WHERE id = $2", new,
                                   row["id"])


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

    async def _write(self, fn: Callable[[asyncpg.Connection], Awaitable[T]],
                     announce: bool = True) -> T:
        try:
            async with self.pool.acquire(timeout=5) as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                result = await fn(conn)
                if announce:
                    await conn.execute("UPDATE change_version SET version = version + 1")
                    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
                return result
        except JoingateError:
            raise
        except _FAILURES as exc:
            raise Unavailable(f"store: {exc}") from None

    async def _audit(self, conn: asyncpg.Connection, now: datetime, actor: str, action: str,
                     subject: str, details: dict[str, Any]) -> None:
        row = await conn.fetchrow("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")
        entry = make_entry(_audit_of(row) if row else None, format_time(now) or "", actor,
                           action, subject, details)
        await conn.execute("INSERT INTO audit_log VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                           entry.seq, entry.at, entry.actor, entry.action, entry.subject,
                           json.dumps(entry.details, sort_keys=True), entry.prev_hash,
                           entry.hash)

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4,
                                                   command_timeout=10, timeout=10)
        except _FAILURES as exc:
            raise Unavailable(f"store: cannot connect to PostgreSQL: {exc}") from None
        await self._write(self._migrate, announce=False)
        await self._listen()

    async def _migrate(self, conn: asyncpg.Connection) -> None:
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

    # -- restrictions ---------------------------------------------------------------------
    async def _restriction(self, conn: asyncpg.Connection, restriction_id: int) -> Restriction:
        row = await conn.fetchrow("SELECT * FROM restrictions WHERE id = $1", restriction_id)
        if row is None:
            raise NotFound(f"there is no restriction {restriction_id}", field="id")
        return _restriction_of(row)

    async def create_restriction(self, draft: RestrictionDraft, actor: str,
                                 now: datetime) -> Restriction:
        async def write(conn: asyncpg.Connection) -> Restriction:
            if draft.request is not None:  # read under the write lock: see decide_request
                check_request_open(await self._request(conn, draft.request, for_update=True))
            new_id = await conn.fetchval(
                "INSERT INTO restrictions (rooms, countries, mode, starts_at, ends_at, reason,"
                " request_id, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                " RETURNING id", list(draft.rooms), list(draft.countries), draft.mode,
                draft.starts_at, draft.ends_at, draft.reason, draft.request, now, actor)
            made = await self._restriction(conn, new_id)
            await self._audit(conn, now, actor, "restriction.create", f"restriction/{made.id}",
                              restriction_details(made))
            return made
        return await self._write(write)

    async def revoke_restriction(self, restriction_id: int, reason: str, actor: str,
                                 now: datetime) -> Restriction:
        async def write(conn: asyncpg.Connection) -> Restriction:
            text = check_revoke(await self._restriction(conn, restriction_id), reason, now)
            await self._revoke(conn, restriction_id, text, actor, now, {"reason": text})
            return await self._restriction(conn, restriction_id)
        return await self._write(write)

    async def _revoke(self, conn: asyncpg.Connection, restriction_id: int, reason: str,
                      actor: str, now: datetime, details: dict[str, Any]) -> None:
        await conn.execute("UPDATE restrictions SET revoked_at = $1, revoked_by = $2, "
                           "revoke_reason = $3 WHERE id = $4", now, actor, reason,
                           restriction_id)
        await self._audit(conn, now, actor, "restriction.revoke",
                          f"restriction/{restriction_id}", details)

    async def get_restriction(self, restriction_id: int) -> Restriction:
        return await self._read(lambda c: self._restriction(c, restriction_id))

    async def list_restrictions(self) -> list[Restriction]:
        async def read(conn: asyncpg.Connection) -> list[Restriction]:
            return [_restriction_of(r) for r in
                    await conn.fetch("SELECT * FROM restrictions ORDER BY id")]
        return await self._read(read)

    # -- GeoIP corrections ----------------------------------------------------------------
    async def _correction(self, conn: asyncpg.Connection, correction_id: int) -> Correction:
        row = await conn.fetchrow("SELECT * FROM geoip_corrections WHERE id = $1",
                                  correction_id)
        if row is None:
            raise NotFound(f"there is no correction {correction_id}", field="id")
        return _correction_of(row)

    async def create_correction(self, draft: CorrectionDraft, actor: str,
                                now: datetime) -> Correction:
        async def write(conn: asyncpg.Connection) -> Correction:
            new_id = await conn.fetchval(
                "INSERT INTO geoip_corrections (network, country, reason, created_at, "
                "created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                draft.network, draft.country, draft.reason, now, actor)
            made = await self._correction(conn, new_id)
            await self._audit(conn, now, actor, "geoip.correction.add", f"correction/{made.id}",
                              correction_details(made))
            return made
        return await self._write(write)

    async def remove_correction(self, correction_id: int, reason: str, actor: str,
                                now: datetime) -> Correction:
        async def write(conn: asyncpg.Connection) -> Correction:
            text = check_remove(await self._correction(conn, correction_id), reason)
            await conn.execute("UPDATE geoip_corrections SET removed_at = $1, removed_by = $2, "
                               "remove_reason = $3 WHERE id = $4", now, actor, text,
                               correction_id)
            await self._audit(conn, now, actor, "geoip.correction.remove",
                              f"correction/{correction_id}", {"reason": text})
            return await self._correction(conn, correction_id)
        return await self._write(write)

    async def list_corrections(self) -> list[Correction]:
        async def read(conn: asyncpg.Connection) -> list[Correction]:
            return [_correction_of(r) for r in
                    await conn.fetch("SELECT * FROM geoip_corrections ORDER BY id")]
        return await self._read(read)

    # -- authority requests ---------------------------------------------------------------
    async def _request(self, conn: asyncpg.Connection, request_id: int,
                       for_update: bool = False) -> AuthorityRequest:
        # FOR UPDATE as well as the advisory lock every write takes: a writer that skipped
        # the lock still could not change the request under a restriction being inserted.
        row = await conn.fetchrow("SELECT * FROM requests WHERE id = $1"
                                  + (" FOR UPDATE" if for_update else ""), request_id)
        if row is None:
            raise NotFound(f"there is no authority request {request_id}", field="id")
        made = await conn.fetch("SELECT id FROM restrictions WHERE request_id = $1 ORDER BY id",
                                request_id)
        return _request_of(row, tuple(r[0] for r in made))

    async def create_request(self, draft: RequestDraft, actor: str,
                             now: datetime) -> AuthorityRequest:
        async def write(conn: asyncpg.Connection) -> AuthorityRequest:
            new_id = await conn.fetchval(
                "INSERT INTO requests (authority, jurisdiction, reference, rooms, demand,"
                " received_at, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " RETURNING id", draft.authority, draft.jurisdiction, draft.reference,
                list(draft.rooms), draft.demand, draft.received_at, now, actor)
            made = await self._request(conn, new_id)
            await self._audit(conn, now, actor, "request.record", f"request/{made.id}",
                              request_details(made))
            return made
        return await self._write(write)

    async def decide_request(self, request_id: int, outcome: str, note: str, actor: str,
                             now: datetime) -> AuthorityRequest:
        async def write(conn: asyncpg.Connection) -> AuthorityRequest:
            current = await self._request(conn, request_id, for_update=True)
            outcome_text, note_text = check_decision(current, outcome, note)
            await conn.execute("UPDATE requests SET outcome = $1, note = $2, decided_at = $3, "
                               "decided_by = $4 WHERE id = $5", outcome_text, note_text, now,
                               actor, request_id)
            await self._audit(conn, now, actor, "request.decide", f"request/{request_id}",
                              {"outcome": outcome_text, "note": note_text})
            made = [await self._restriction(conn, rid) for rid in current.restrictions]
            reason_text = refusal_reason(current, note_text)
            for ended in ended_by_decision(outcome_text, made, now):
                await self._revoke(conn, ended.id, reason_text, actor, now,
                                   {"reason": reason_text, "request": request_id})
            return await self._request(conn, request_id)
        return await self._write(write)

    async def get_request(self, request_id: int) -> AuthorityRequest:
        return await self._read(lambda c: self._request(c, request_id))

    async def list_requests(self) -> list[AuthorityRequest]:
        async def read(conn: asyncpg.Connection) -> list[AuthorityRequest]:
            made: dict[int, list[int]] = {}
            for r in await conn.fetch("SELECT id, request_id FROM restrictions "
                                      "WHERE request_id IS NOT NULL ORDER BY id"):
                made.setdefault(r[1], []).append(r[0])
            rows = await conn.fetch("SELECT * FROM requests ORDER BY id")
            return [_request_of(r, tuple(made.get(r["id"], ()))) for r in rows]
        return await self._read(read)

    # -- tokens ---------------------------------------------------------------------------
    async def create_token(self, name: str, scope: str, token_hash: str, actor: str,
                           now: datetime) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            if await conn.fetchval("SELECT 1 FROM tokens WHERE name = $1", name):
                raise Conflict(f"name: a token named {name!r} exists", field="name",
                               code="name_taken")
            await conn.execute("INSERT INTO tokens (name, scope, token_hash, created_at, "
                               "created_by) VALUES ($1, $2, $3, $4, $5)", name, scope,
                               token_hash, now, actor)
            await self._audit(conn, now, actor, "token.create", f"token/{name}",
                              {"scope": scope})
        await self._write(write)

    async def tokens(self) -> Mapping[str, TokenInfo]:
        async def read(conn: asyncpg.Connection) -> dict[str, TokenInfo]:
            rows = await conn.fetch("SELECT token_hash, name, scope FROM tokens")
            return {r[0]: TokenInfo(r[1], r[2]) for r in rows}
        return await self._read(read)

    # -- counts ---------------------------------------------------------------------------
    async def add_counts(self, rows: list[CountRow]) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            await conn.executemany(
                "INSERT INTO decision_counts VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
                "(day, restriction_id, country, outcome) DO UPDATE "
                "SET n = decision_counts.n + excluded.n",
                [(r.day, r.restriction, r.country, r.outcome, r.n) for r in rows])
        if rows:
            await self._write(write, announce=False)

    async def counts(self, since: str | None, until: str | None) -> list[CountRow]:
        async def read(conn: asyncpg.Connection) -> list[CountRow]:
            rows = await conn.fetch(
                "SELECT day, restriction_id, country, outcome, n FROM decision_counts "
                "WHERE day >= $1 AND day <= $2 ORDER BY day, restriction_id, country, outcome",
                since or "0000-00-00", until or "9999-99-99")
            return [CountRow(r[0], int(r[1]), r[2], r[3], int(r[4])) for r in rows]
        return await self._read(read)

    # -- audit ----------------------------------------------------------------------------
    async def audit_entries(self) -> list[AuditEntry]:
        async def read(conn: asyncpg.Connection) -> list[AuditEntry]:
            return [_audit_of(r) for r in await conn.fetch("SELECT * FROM audit_log ORDER BY seq")]
        return await self._read(read)

    async def audit_since(self, after: int) -> list[AuditEntry]:
        async def read(conn: asyncpg.Connection) -> list[AuditEntry]:
            return [_audit_of(r) for r in await conn.fetch(
                "SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq", after)]
        return await self._read(read)

    async def add_checkpoint(self, now: datetime,
                             signing: Signing | None = None) -> Checkpoint | None:
        # Under the write lock: one signer at a time across instances, one tree.
        async def write(conn: asyncpg.Connection) -> Checkpoint | None:
            size = await conn.fetchval("SELECT COUNT(*) FROM audit_log")
            row = await conn.fetchrow(f"SELECT {_CHECKPOINT} FROM audit_checkpoints "
                                      "ORDER BY id DESC LIMIT 1")
            last = _checkpoint_of(row) if row is not None else None
            if not needs_checkpoint(int(size), last, signing):
                return None
            entries = [_audit_of(r) for r in
                       await conn.fetch("SELECT * FROM audit_log ORDER BY seq")]
            # Hashing the whole log: off the event loop, so joins are decided meanwhile.
            made = await asyncio.to_thread(make_checkpoint, entries, last,
                                           format_time(now) or "", signing)
            await conn.execute(f"INSERT INTO audit_checkpoints ({_CHECKPOINT}) "
                               "VALUES ($1, $2, $3, $4, $5, $6)", made.at, made.size,
                               made.head, made.root, made.note, made.key)
            return made
        return await self._write(write, announce=False)

    async def checkpoints(self) -> list[Checkpoint]:
        async def read(conn: asyncpg.Connection) -> list[Checkpoint]:
            rows = await conn.fetch(f"SELECT {_CHECKPOINT} FROM audit_checkpoints ORDER BY id")
            return [_checkpoint_of(r) for r in rows]
        return await self._read(read)

    async def add_key_rotation(self, note: str, details: dict[str, Any], actor: str,
                               now: datetime) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            await conn.execute("INSERT INTO audit_key_rotations (at, note) VALUES ($1, $2)",
                               format_time(now), note)
            await self._audit(conn, now, actor, "audit.key.rotate", "audit/key", details)
        await self._write(write, announce=False)

    async def key_rotations(self) -> list[str]:
        async def read(conn: asyncpg.Connection) -> list[str]:
            rows = await conn.fetch("SELECT note FROM audit_key_rotations ORDER BY id")
            return [r[0] for r in rows]
        return await self._read(read)


_CHECKPOINT = "at, size, head, root, note, signer_key"


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

