"""SQLite backend: one connection on one writer thread, WAL, synchronous=FULL.

Every statement runs on the store's single thread. A transaction has the connection to itself
from its BEGIN IMMEDIATE to its COMMIT (an asyncio lock; reads wait for it too, so they never
see rows a transaction may yet roll back), and BEGIN IMMEDIATE takes SQLite's write lock at once
(with a busy timeout), so other processes (the CLI beside a running service) cannot change what
the transaction has read. A commit returns only once it is on disk. Lists are stored as JSON
text, times as ISO 8601 text (`format_time`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from ..audit import AuditEntry, Checkpoint, make_entry
from ..corrections import Correction
from ..errors import JoingateError, NotFound, Unavailable
from ..restrictions import AuthorityRequest, Restriction, format_time
from .base import ROOM_NAMES_MIGRATION, ROOM_TABLES, CountRow, TokenInfo, migrations, renamed_rooms

T = TypeVar("T")
Conn = sqlite3.Connection


class SqliteStore:
    def __init__(self, path: str, url: str | None = None):
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="joingate-sqlite")
        self._conn: Conn | None = None
        self._lock = asyncio.Lock()

    # -- plumbing -------------------------------------------------------------------------
    def _submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue `fn(connection, *args)` on the writer thread (in submission order)."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, self._guarded, fn, args)

    def _guarded(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(self._connection(), *args)
        except JoingateError:
            raise
        except sqlite3.Error as exc:
            raise Unavailable(f"store: {exc}") from None

    def _connection(self) -> Conn:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=5.0)
            conn.row_factory = sqlite3.Row
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                           "busy_timeout=5000"):
                conn.execute(f"PRAGMA {pragma}")
            self._conn = conn
        return self._conn

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._lock:
            return await self._submit(fn, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        async with self._lock:
            try:
                await self._submit(_execute, "BEGIN IMMEDIATE")
                yield _Tx(self)
                await self._submit(_execute, "COMMIT")
            except BaseException:
                # Queued at once and shielded: even a cancelled caller leaves the connection
                # out of its transaction before the next one begins.
                await asyncio.shield(self._submit(_rollback))
                raise

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        async with self.transaction():
            await self._submit(_migrate)

    async def close(self) -> None:
        def _close(conn: Conn) -> None:
            conn.close()
            self._conn = None
        if self._conn is not None:
            await self._read(_close)
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._read(_execute, "SELECT 1")

    async def wait_change(self, timeout: float) -> None:
        await asyncio.sleep(timeout)  # other processes' commits are seen by polling

    async def change_marker(self) -> object:
        return await self._read(_value, "PRAGMA data_version")

    # -- reads ----------------------------------------------------------------------------
    async def get_restriction(self, restriction_id: int) -> Restriction:
        return await self._read(_restriction, restriction_id)

    async def list_restrictions(self) -> list[Restriction]:
        return await self._read(_rows, _restriction_of, "SELECT * FROM restrictions ORDER BY id")

    async def get_request(self, request_id: int) -> AuthorityRequest:
        return await self._read(_request, request_id)

    async def list_requests(self) -> list[AuthorityRequest]:
        def read(conn: Conn) -> list[AuthorityRequest]:
            made: dict[int, list[int]] = {}
            for rid, req in conn.execute("SELECT id, request_id FROM restrictions "
                                         "WHERE request_id IS NOT NULL ORDER BY id"):
                made.setdefault(req, []).append(rid)
            rows = conn.execute("SELECT * FROM requests ORDER BY id").fetchall()
            return [_request_of(r, tuple(made.get(r["id"], ()))) for r in rows]
        return await self._read(read)

    async def tokens(self) -> Mapping[str, TokenInfo]:
        rows = await self._read(_rows, tuple, "SELECT token_hash, name, scope FROM tokens")
        return {r[0]: TokenInfo(r[1], r[2]) for r in rows}

    async def add_counts(self, rows: list[CountRow]) -> None:
        if rows:
            async with self.transaction():
                await self._submit(_add_counts, rows)

    async def counts(self, since: str | None, until: str | None) -> list[CountRow]:
        return await self._read(
            _rows, lambda r: CountRow(*r),
            "SELECT day, restriction_id, country, outcome, n FROM decision_counts "
            "WHERE day >= ? AND day <= ? ORDER BY day, restriction_id, country, outcome",
            since or "0000-00-00", until or "9999-99-99")

    async def list_corrections(self) -> list[Correction]:
        return await self._read(_rows, _correction_of,
                                "SELECT * FROM geoip_corrections ORDER BY id")

    async def audit_entries(self) -> list[AuditEntry]:
        return await self._read(_audit_log)

    async def audit_since(self, after: int) -> list[AuditEntry]:
        return await self._read(_rows, _audit_of,
                                "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq", after)

    async def checkpoints(self) -> list[Checkpoint]:
        return await self._read(_rows, lambda r: Checkpoint(*r),
                                f"SELECT {_CHECKPOINT} FROM audit_checkpoints ORDER BY id")

    async def key_rotations(self) -> list[str]:
        return await self._read(_rows, lambda r: r[0],
                                "SELECT note FROM audit_key_rotations ORDER BY id")


class _Tx:
    """The primitives of a SqliteStore transaction (`base.Tx`), each a step on its thread."""

    def __init__(self, store: SqliteStore):
        self._submit = store._submit

    async def restriction(self, restriction_id: int) -> Restriction:
        return await self._submit(_restriction, restriction_id)

    async def request(self, request_id: int) -> AuthorityRequest:
        return await self._submit(_request, request_id)

    async def correction(self, correction_id: int) -> Correction:
        return await self._submit(_correction, correction_id)

    async def token_named(self, name: str) -> bool:
        return await self._submit(_value, "SELECT 1 FROM tokens WHERE name = ?", name) is not None

    async def insert(self, table: str, row: Mapping[str, Any]) -> int:
        return await self._submit(_insert, table, row)

    async def update(self, table: str, row_id: int, changes: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{column} = ?" for column in changes)
        await self._submit(_execute, f"UPDATE {table} SET {sets} WHERE id = ?",
                           *map(_encode, changes.values()), row_id)

    async def append_audit(self, at: str, actor: str, action: str, subject: str,
                           details: dict[str, Any]) -> None:
        await self._submit(_append_audit, at, actor, action, subject, details)

    async def audit_size(self) -> int:
        return int(await self._submit(_value, "SELECT COUNT(*) FROM audit_log"))

    async def audit_log(self) -> list[AuditEntry]:
        return await self._submit(_audit_log)

    async def last_checkpoint(self) -> Checkpoint | None:
        found = await self._submit(_rows, lambda r: Checkpoint(*r), f"SELECT {_CHECKPOINT} "
                                   "FROM audit_checkpoints ORDER BY id DESC LIMIT 1")
        return found[0] if found else None


# -- statements (on the writer thread) ----------------------------------------------------
_CHECKPOINT = "at, size, head, root, note, signer_key"


def _encode(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return json.dumps(list(value))
    if isinstance(value, datetime):
        return format_time(value)
    return value


def _execute(conn: Conn, sql: str, *params: Any) -> None:
    conn.execute(sql, params)


def _rollback(conn: Conn) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _value(conn: Conn, sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _rows(conn: Conn, decode: Callable[[sqlite3.Row], T], sql: str, *params: Any) -> list[T]:
    return [decode(row) for row in conn.execute(sql, params).fetchall()]


def _insert(conn: Conn, table: str, row: Mapping[str, Any]) -> int:
    marks = ", ".join("?" for _ in row)
    cur = conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})",
                       [_encode(v) for v in row.values()])
    return int(cur.lastrowid or 0)


def _one(conn: Conn, table: str, what: str, row_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(f"SELECT * FROM {table} WHERE id = ?",
                                           (row_id,)).fetchone()
    if row is None:
        raise NotFound(f"there is no {what} {row_id}", field="id")
    return row


def _restriction(conn: Conn, restriction_id: int) -> Restriction:
    return _restriction_of(_one(conn, "restrictions", "restriction", restriction_id))


def _request(conn: Conn, request_id: int) -> AuthorityRequest:
    row = _one(conn, "requests", "authority request", request_id)
    made = conn.execute("SELECT id FROM restrictions WHERE request_id = ? ORDER BY id",
                        (request_id,))
    return _request_of(row, tuple(r[0] for r in made))


def _correction(conn: Conn, correction_id: int) -> Correction:
    return _correction_of(_one(conn, "geoip_corrections", "correction", correction_id))


def _audit_log(conn: Conn) -> list[AuditEntry]:
    return _rows(conn, _audit_of, "SELECT * FROM audit_log ORDER BY seq")


def _append_audit(conn: Conn, at: str, actor: str, action: str, subject: str,
                  details: dict[str, Any]) -> None:
    last = _rows(conn, _audit_of, "SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")
    entry = make_entry(last[0] if last else None, at, actor, action, subject, details)
    conn.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (entry.seq, entry.at, entry.actor, entry.action, entry.subject,
                  json.dumps(entry.details, sort_keys=True), entry.prev_hash, entry.hash))


def _add_counts(conn: Conn, rows: list[CountRow]) -> None:
    conn.executemany(
        "INSERT INTO decision_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT "
        "(day, restriction_id, country, outcome) DO UPDATE SET n = n + excluded.n",
        [(r.day, r.restriction, r.country, r.outcome, r.n) for r in rows])


def _migrate(conn: Conn) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    for step in migrations("sqlite"):
        if step.version in done:
            continue
        for statement in step.sql.split(";"):
            if statement.strip():
                conn.execute(statement)
        if step.name == ROOM_NAMES_MIGRATION:
            _rename_rooms(conn)
        conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))",
                     (step.version,))


def _rename_rooms(conn: Conn) -> None:
    for table in ROOM_TABLES:
        for row in conn.execute(f"SELECT id, rooms FROM {table}").fetchall():
            old = json.loads(row["rooms"])
            new = renamed_rooms(old)
            if new != old:
                conn.execute(f"UPDATE {table} SET rooms = ? WHERE id = ?",
                             (json.dumps(new), row["id"]))


# -- rows → models ------------------------------------------------------------------------
def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _restriction_of(row: sqlite3.Row) -> Restriction:
    return Restriction(
        id=row["id"], rooms=tuple(json.loads(row["rooms"])),
        countries=tuple(json.loads(row["countries"])), starts_at=_time(row["starts_at"]),  # type: ignore[arg-type]
        ends_at=_time(row["ends_at"]), reason=row["reason"], request=row["request_id"],
        mode=row["mode"], created_at=_time(row["created_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"], revoked_at=_time(row["revoked_at"]),
        revoked_by=row["revoked_by"], revoke_reason=row["revoke_reason"])


def _request_of(row: sqlite3.Row, restrictions: tuple[int, ...]) -> AuthorityRequest:
    return AuthorityRequest(
        id=row["id"], authority=row["authority"], jurisdiction=row["jurisdiction"],
        reference=row["reference"], rooms=tuple(json.loads(row["rooms"])), demand=row["demand"],
        received_at=_time(row["received_at"]),  # type: ignore[arg-type]
        recorded_by=row["recorded_by"], outcome=row["outcome"], note=row["note"],
        decided_at=_time(row["decided_at"]), decided_by=row["decided_by"],
        restrictions=restrictions)


def _correction_of(row: sqlite3.Row) -> Correction:
    return Correction(
        id=row["id"], network=row["network"], country=row["country"], reason=row["reason"],
        created_at=_time(row["created_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"], removed_at=_time(row["removed_at"]),
        removed_by=row["removed_by"], remove_reason=row["remove_reason"])


def _audit_of(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(row["seq"], row["at"], row["actor"], row["action"], row["subject"],
                      json.loads(row["details"]), row["prev_hash"], row["hash"])
