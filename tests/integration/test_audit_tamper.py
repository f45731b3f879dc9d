"""The audit log notices every kind of rewrite, done directly in the database: on SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from joingate.audit import entry_hash
from joingate.testing.service import JOINGATE, JoingateService
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration


class Sql:
    """Direct SQL on a copy of the store, the same for both backends (`?` placeholders)."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            self.sqlite: sqlite3.Connection | None = sqlite3.connect(url.removeprefix(
                "sqlite:///"), isolation_level=None)
            self.sqlite.execute("BEGIN")
        else:
            self.sqlite = None
            self.loop = asyncio.new_event_loop()
            self.pg: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(url))
            self.tx = self.pg.transaction()
            self.loop.run_until_complete(self.tx.start())

    def script(self, sql: str) -> None:
        if self.sqlite is not None:
            for statement in filter(str.strip, sql.split(";")):
                self.sqlite.execute(statement)
        else:
            self.loop.run_until_complete(self.pg.execute(sql))

    def execute(self, sql: str, *params: Any) -> None:
        if self.sqlite is not None:
            self.sqlite.execute(sql, params)
        else:
            parts = sql.split("?")
            numbered = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
            self.loop.run_until_complete(self.pg.execute(numbered, *params))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.sqlite is not None:
            return self.sqlite.execute(sql).fetchall()
        return [tuple(r) for r in self.loop.run_until_complete(self.pg.fetch(sql))]

    def commit_and_close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.execute("COMMIT")
            self.sqlite.close()
        else:
            self.loop.run_until_complete(self.tx.commit())
            self.loop.run_until_complete(self.pg.close())
            self.loop.close()


@dataclass
class History:
    """A store holding 8 audit entries, and a checkpoint published after the first 6."""

    url: str
    published: Path
    postgres: PostgresServer | None

    def copy(self, tmp_path: Path) -> str:
        """A copy of the store (its own file or database, never sharing a WAL)."""
        if self.postgres is None:
            db = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*.db')))}.db"
            shutil.copy(self.url.removeprefix("sqlite:///"), db)
            return f"sqlite:///{db}"
        return self.postgres.create_database(template=self.url.rsplit("/", 1)[1])


def verify(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / f"verify-{len(list(tmp_path.glob('verify-*.toml')))}.toml"
    config.write_text(f'[store]\nurl = "{url}"\n')
    return subprocess.run([*JOINGATE, "audit", "verify", "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> History:
    work = tmp_path_factory.mktemp("audit")
    server: PostgresServer | None = None
    url = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        url = server.create_database()
    with JoingateService(work / "svc", store_url=url) as svc:  # tokens: entries 1-2
        _, req = svc.api("POST", "/v1/requests", {
            "authority": "MPS", "jurisdiction": "CN", "reference": "R1", "rooms": ["a", "b"],
            "demand": "end both meetings"})  # 3
        _, made = svc.api("POST", "/v1/restrictions", {
            "rooms": ["a"], "countries": ["CN"], "request": req["id"], "reason": "R1"})  # 4
        svc.api("POST", f"/v1/requests/{req['id']}/decision",
                {"outcome": "partially", "note": "meeting a only, mainland only"})  # 5
        svc.api("POST", f"/v1/restrictions/{made['id']}/revoke", {"reason": "lifted"})  # 6
        published = work / "published-checkpoint.json"
        published.write_text(svc.cli("audit", "checkpoint").stdout)
        svc.api("POST", "/v1/restrictions", {"rooms": ["b"], "countries": ["HK"],
                                              "reason": "operator policy"})  # 7
        svc.cli("token", "create", "--name", "late", "--scope", "admin")  # 8
        return History(svc.store_url, published, server)


def tampered(history: History, tmp_path: Path, change: Callable[[Sql], None]) -> str:
    """A copy of the store, changed by `change` in one transaction; its URL."""
    url = history.copy(tmp_path)
    sql = Sql(url)
    change(sql)
    sql.commit_and_close()
    return url


def test_intact_history_verifies(history: History, tmp_path: Path) -> None:
    db = tampered(history, tmp_path, lambda sql: None)
    result = verify(db, tmp_path, "--checkpoint", str(history.published))
    assert result.returncode == 0, result.stderr
    assert "8 entries" in result.stdout
    assert json.loads(history.published.read_text())["size"] == 6


@pytest.mark.parametrize(("sql", "first_bad"), [
    ("UPDATE audit_log SET details = replace(details, 'CN', 'HK') WHERE seq = 4", 4),
    ("UPDATE audit_log SET actor = 'cli:someone-else' WHERE seq = 5", 5),
    ("DELETE FROM audit_log WHERE seq = 3", 3),
    ("DELETE FROM audit_log WHERE seq = 1", 1),
    ("UPDATE audit_log SET seq = -1 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 5;"
     " UPDATE audit_log SET seq = 5 WHERE seq = -1", 4),
])
def test_direct_edits_are_named(history: History, tmp_path: Path, sql: str,
                                first_bad: int) -> None:
    db = tampered(history, tmp_path, lambda conn: conn.script(sql))
    result = verify(db, tmp_path)
    assert result.returncode == 1
    assert f"audit entry {first_bad}:" in result.stderr, result.stderr


def rewrite_from(conn: Sql, seq: int, details: dict[str, object]) -> None:
    """A careful forger: change one entry and recompute every hash after it."""
    rows = conn.rows("SELECT seq, at, actor, action, subject, details, prev_hash FROM "
                     "audit_log ORDER BY seq")
    prev = rows[0][6]
    for s, at, actor, action, subject, raw, _ in rows:
        body = details if s == seq else json.loads(raw)
        digest = entry_hash(prev, s, at, actor, action, subject, body)
        conn.execute("UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                     json.dumps(body, sort_keys=True), prev, digest, s)
        prev = digest


def test_consistent_rewrite_contradicts_the_checkpoints(history: History,
                                                        tmp_path: Path) -> None:
    forged = {"rooms": ["a"], "countries": ["CN", "HK"], "mode": "block", "request": 1,
              "reason": "R1", "starts_at": None, "ends_at": None}
    db = tampered(history, tmp_path, lambda conn: rewrite_from(conn, 4, forged))
    result = verify(db, tmp_path)
    assert result.returncode == 1 and "checkpoint" in result.stderr and "6" in result.stderr

    # Rewriting the stored checkpoints too: the published copy still contradicts it.
    def forge_all(conn: Sql) -> None:
        rewrite_from(conn, 4, forged)
        head = conn.rows("SELECT hash FROM audit_log WHERE seq = 6")[0][0]
        conn.execute("UPDATE audit_checkpoints SET head = ? WHERE size = 6", head)
    db = tampered(history, tmp_path, forge_all)
    assert verify(db, tmp_path).returncode == 0  # internally consistent again...
    # ...but not with what was published.
    result = verify(db, tmp_path, "--checkpoint", str(history.published))
    assert result.returncode == 1 and "history rewritten" in result.stderr


def test_truncated_history_and_edited_checkpoint_copy(history: History,
                                                      tmp_path: Path) -> None:
    db = tampered(history, tmp_path, lambda conn: conn.execute(
        "DELETE FROM audit_log WHERE seq > 4"))
    result = verify(db, tmp_path, "--checkpoint", str(history.published))
    assert result.returncode == 1 and "missing" in result.stderr

    copy = json.loads(history.published.read_text())
    copy["head"] = "0" * 64
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(copy))
    db = tampered(history, tmp_path, lambda conn: None)
    result = verify(db, tmp_path, "--checkpoint", str(edited))
    assert result.returncode == 1 and "audit entry 6" in result.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}")
    assert verify(db, tmp_path, "--checkpoint", str(garbage)).returncode == 2
