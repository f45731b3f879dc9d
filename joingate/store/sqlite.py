"""SQLite backend: one connection on one writer thread, WAL, synchronous=FULL.

Every call runs on the store's single thread, so writes are serialised in this process; other
processes (the CLI beside a running service) are serialised by SQLite's lock (BEGIN IMMEDIATE
with a busy timeout). A commit returns only once it is on disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

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


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _rename_rooms(conn: sqlite3.Connection) -> None:
    for table in ROOM_TABLES:
        for row in conn.execute(f"SELECT id, rooms FROM {table}").fetchall():
            old = json.loads(row["rooms"])
            new = renamed_rooms(old)
            if new != old:
                conn.execute(f"UPDATE {table} SET rooms = ? WHERE id = ?",
                             (json.dumps(new), row["id"]))


class SqliteStore:
    def __init__(self, path: str, url: str | None = None):
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="joingate-sqlite")
        self._conn: sqlite3.Connection | None = None

    # -- plumbing -------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._guarded, fn, args)

    def _guarded(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(*args)
        except JoingateError:
            raise
        except sqlite3.Error as exc:
            raise Unavailable(f"store: {exc}") from None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=5.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._tx() as conn:
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

    def _audit(self, conn: sqlite3.Connection, now: datetime, actor: str, action: str,
               subject: str, details: dict[str, Any]) -> None:
        row = conn.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        prev = _audit_of(row) if row is not None else None
        entry = make_entry(prev, format_time(now) or "", actor, action, subject, details)
        conn.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (entry.seq, entry.at, entry.actor, entry.action, entry.subject,
                      json.dumps(entry.details, sort_keys=True), entry.prev_hash, entry.hash))

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        await self._run(self._migrate)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        await self._run(_close)
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(lambda: self.conn.execute("SELECT 1").fetchone())

    async def wait_change(self, timeout: float) -> None:
        await asyncio.sleep(timeout)  # other processes' commits are seen by polling

    async def change_marker(self) -> object:
        return await self._run(lambda: self.conn.execute("PRAGMA data_version").fetchone()[0])

    # -- restrictions ---------------------------------------------------------------------
    def _restriction(self, conn: sqlite3.Connection, restriction_id: int) -> Restriction:
        row = conn.execute("SELECT * FROM restrictions WHERE id = ?", (restriction_id,)).fetchone()
        if row is None:
            raise NotFound(f"there is no restriction {restriction_id}", field="id")
        return _restriction_of(row)

    async def create_restriction(self, draft: RestrictionDraft, actor: str,
                                 now: datetime) -> Restriction:
        def write() -> Restriction:
            with self._tx() as conn:
                if draft.request is not None:  # read under the write lock: see decide_request
                    check_request_open(self._request(conn, draft.request))
                cur = conn.execute(
                    "INSERT INTO restrictions (rooms, countries, mode, starts_at, ends_at, reason,"
                    " request_id, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (json.dumps(draft.rooms), json.dumps(draft.countries), draft.mode,
                     format_time(draft.starts_at), format_time(draft.ends_at), draft.reason,
                     draft.request, format_time(now), actor))
                made = self._restriction(conn, int(cur.lastrowid or 0))
                self._audit(conn, now, actor, "restriction.create", f"restriction/{made.id}",
                            restriction_details(made))
                return made
        return await self._run(write)

    async def revoke_restriction(self, restriction_id: int, reason: str, actor: str,
                                 now: datetime) -> Restriction:
        def write() -> Restriction:
            with self._tx() as conn:
                current = self._restriction(conn, restriction_id)
                text = check_revoke(current, reason, now)
                self._revoke(conn, restriction_id, text, actor, now, {"reason": text})
                return self._restriction(conn, restriction_id)
        return await self._run(write)

    def _revoke(self, conn: sqlite3.Connection, restriction_id: int, reason: str, actor: str,
                now: datetime, details: dict[str, Any]) -> None:
        conn.execute("UPDATE restrictions SET revoked_at = ?, revoked_by = ?, "
                     "revoke_reason = ? WHERE id = ?",
                     (format_time(now), actor, reason, restriction_id))
        self._audit(conn, now, actor, "restriction.revoke", f"restriction/{restriction_id}",
                    details)

    async def get_restriction(self, restriction_id: int) -> Restriction:
        return await self._run(lambda: self._restriction(self.conn, restriction_id))

    async def list_restrictions(self) -> list[Restriction]:
        def read() -> list[Restriction]:
            rows = self.conn.execute("SELECT * FROM restrictions ORDER BY id").fetchall()
            return [_restriction_of(r) for r in rows]
        return await self._run(read)

    # -- authority requests ---------------------------------------------------------------
    def _request(self, conn: sqlite3.Connection, request_id: int) -> AuthorityRequest:
        row = conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            raise NotFound(f"there is no authority request {request_id}", field="id")
        made = [r[0] for r in conn.execute(
            "SELECT id FROM restrictions WHERE request_id = ? ORDER BY id", (request_id,))]
        return _request_of(row, tuple(made))

    async def create_request(self, draft: RequestDraft, actor: str,
                             now: datetime) -> AuthorityRequest:
        def write() -> AuthorityRequest:
            with self._tx() as conn:
                cur = conn.execute(
                    "INSERT INTO requests (authority, jurisdiction, reference, rooms, demand,"
                    " received_at, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (draft.authority, draft.jurisdiction, draft.reference,
                     json.dumps(draft.rooms), draft.demand, format_time(draft.received_at),
                     format_time(now), actor))
                made = self._request(conn, int(cur.lastrowid or 0))
                self._audit(conn, now, actor, "request.record", f"request/{made.id}",
                            request_details(made))
                return made
        return await self._run(write)

    async def decide_request(self, request_id: int, outcome: str, note: str, actor: str,
                             now: datetime) -> AuthorityRequest:
        def write() -> AuthorityRequest:
            with self._tx() as conn:
                current = self._request(conn, request_id)
                outcome_text, note_text = check_decision(current, outcome, note)
                conn.execute("UPDATE requests SET outcome = ?, note = ?, decided_at = ?, "
                             "decided_by = ? WHERE id = ?",
                             (outcome_text, note_text, format_time(now), actor, request_id))
                self._audit(conn, now, actor, "request.decide", f"request/{request_id}",
                            {"outcome": outcome_text, "note": note_text})
                made = [self._restriction(conn, rid) for rid in current.restrictions]
                reason_text = refusal_reason(current, note_text)
                for ended in ended_by_decision(outcome_text, made, now):
                    self._revoke(conn, ended.id, reason_text, actor, now,
                                 {"reason": reason_text, "request": request_id})
                return self._request(conn, request_id)
        return await self._run(write)

    async def get_request(self, request_id: int) -> AuthorityRequest:
        return await self._run(lambda: self._request(self.conn, request_id))

    async def list_requests(self) -> list[AuthorityRequest]:
        def read() -> list[AuthorityRequest]:
            conn = self.conn
            made: dict[int, list[int]] = {}
            for rid, req in conn.execute("SELECT id, request_id FROM restrictions "
                                         "WHERE request_id IS NOT NULL ORDER BY id"):
                made.setdefault(req, []).append(rid)
            rows = conn.execute("SELECT * FROM requests ORDER BY id").fetchall()
            return [_request_of(r, tuple(made.get(r["id"], ()))) for r in rows]
        return await self._run(read)

    # -- tokens ---------------------------------------------------------------------------
    async def create_token(self, name: str, scope: str, token_hash: str, actor: str,
                           now: datetime) -> None:
        def write() -> None:
            with self._tx() as conn:
                if conn.execute("SELECT 1 FROM tokens WHERE name = ?", (name,)).fetchone():
                    raise Conflict(f"name: a token named {name!r} exists", field="name",
                                   code="name_taken")
                conn.execute("INSERT INTO tokens (name, scope, token_hash, created_at, "
                             "created_by) VALUES (?, ?, ?, ?, ?)",
                             (name, scope, token_hash, format_time(now), actor))
                self._audit(conn, now, actor, "token.create", f"token/{name}", {"scope": scope})
        await self._run(write)

    async def tokens(self) -> Mapping[str, TokenInfo]:
        def read() -> dict[str, TokenInfo]:
            rows = self.conn.execute("SELECT token_hash, name, scope FROM tokens")
            return {r[0]: TokenInfo(r[1], r[2]) for r in rows}
        return await self._run(read)

    # -- counts ---------------------------------------------------------------------------
    async def add_counts(self, rows: list[CountRow]) -> None:
        def write() -> None:
            with self._tx() as conn:
                conn.executemany(
                    "INSERT INTO decision_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT "
                    "(day, restriction_id, country, outcome) DO UPDATE SET n = n + excluded.n",
                    [(r.day, r.restriction, r.country, r.outcome, r.n) for r in rows])
        if rows:
            await self._run(write)

    async def counts(self, since: str | None, until: str | None) -> list[CountRow]:
        def read() -> list[CountRow]:
            rows = self.conn.execute(
                "SELECT day, restriction_id, country, outcome, n FROM decision_counts "
                "WHERE day >= ? AND day <= ? ORDER BY day, restriction_id, country, outcome",
                (since or "0000-00-00", until or "9999-99-99"))
            return [CountRow(*r) for r in rows]
        return await self._run(read)

    # -- GeoIP corrections ----------------------------------------------------------------
    def _correction(self, conn: sqlite3.Connection, correction_id: int) -> Correction:
        row = conn.execute("SELECT * FROM geoip_corrections WHERE id = ?",
                           (correction_id,)).fetchone()
        if row is None:
            raise NotFound(f"there is no correction {correction_id}", field="id")
        return _correction_of(row)

    async def create_correction(self, draft: CorrectionDraft, actor: str,
                                now: datetime) -> Correction:
        def write() -> Correction:
            with self._tx() as conn:
                cur = conn.execute(
                    "INSERT INTO geoip_corrections (network, country, reason, created_at, "
                    "created_by) VALUES (?, ?, ?, ?, ?)",
                    (draft.network, draft.country, draft.reason, format_time(now), actor))
                made = self._correction(conn, int(cur.lastrowid or 0))
                self._audit(conn, now, actor, "geoip.correction.add",
                            f"correction/{made.id}", correction_details(made))
                return made
        return await self._run(write)

    async def remove_correction(self, correction_id: int, reason: str, actor: str,
                                now: datetime) -> Correction:
        def write() -> Correction:
            with self._tx() as conn:
                text = check_remove(self._correction(conn, correction_id), reason)
                conn.execute("UPDATE geoip_corrections SET removed_at = ?, removed_by = ?, "
                             "remove_reason = ? WHERE id = ?",
                             (format_time(now), actor, text, correction_id))
                self._audit(conn, now, actor, "geoip.correction.remove",
                            f"correction/{correction_id}", {"reason": text})
                return self._correction(conn, correction_id)
        return await self._run(write)

    async def list_corrections(self) -> list[Correction]:
        def read() -> list[Correction]:
            rows = self.conn.execute("SELECT * FROM geoip_corrections ORDER BY id").fetchall()
            return [_correction_of(r) for r in rows]
        return await self._run(read)

    # -- audit ----------------------------------------------------------------------------
    async def audit_entries(self) -> list[AuditEntry]:
        def read() -> list[AuditEntry]:
            rows = self.conn.execute("SELECT * FROM audit_log ORDER BY rowid").fetchall()
            return [_audit_of(r) for r in rows]
        return await self._run(read)


    async def audit_since(self, after: int) -> list[AuditEntry]:
        def read() -> list[AuditEntry]:
            rows = self.conn.execute("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq",
                                     (after,)).fetchall()
            return [_audit_of(r) for r in rows]
        return await self._run(read)

    async def add_checkpoint(self, now: datetime,
                             signing: Signing | None = None) -> Checkpoint | None:
        def write() -> Checkpoint | None:
            with self._tx() as conn:
                size = conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
                row = conn.execute(f"SELECT {_CHECKPOINT} FROM audit_checkpoints ORDER BY id "
                                   "DESC LIMIT 1").fetchone()
                last = Checkpoint(*row) if row is not None else None
                if not needs_checkpoint(int(size), last, signing):
                    return None
                entries = [_audit_of(r) for r in
                           conn.execute("SELECT * FROM audit_log ORDER BY seq")]
                made = make_checkpoint(entries, last, format_time(now) or "", signing)
                conn.execute(f"INSERT INTO audit_checkpoints ({_CHECKPOINT}) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (made.at, made.size, made.head,
                                                           made.root, made.note, made.key))
                return made
        return await self._run(write)

    async def checkpoints(self) -> list[Checkpoint]:
        def read() -> list[Checkpoint]:
            rows = self.conn.execute(f"SELECT {_CHECKPOINT} FROM audit_checkpoints ORDER BY id")
            return [Checkpoint(*r) for r in rows]
        return await self._run(read)

    async def add_key_rotation(self, note: str, details: dict[str, Any], actor: str,
                               now: datetime) -> None:
        def write() -> None:
            with self._tx() as conn:
                conn.execute("INSERT INTO audit_key_rotations (at, note) VALUES (?, ?)",
                             (format_time(now), note))
                self._audit(conn, now, actor, "audit.key.rotate", "audit/key", details)
        await self._run(write)

    async def key_rotations(self) -> list[str]:
        def read() -> list[str]:
            rows = self.conn.execute("SELECT note FROM audit_key_rotations ORDER BY id")
            return [r[0] for r in rows]
        return await self._run(read)


_CHECKPOINT = "at, size, head, root, note, signer_key"


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

