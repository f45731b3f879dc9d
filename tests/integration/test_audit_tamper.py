"""The audit log notices every kind of rewrite, done directly in the database."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from joingate.audit import entry_hash
from tests.support.service import JOINGATE, JoingateService

pytestmark = pytest.mark.integration


def verify(db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    config = db.with_suffix(".toml")
    config.write_text(f'[store]\nurl = "sqlite:///{db}"\n')
    return subprocess.run([*JOINGATE, "audit", "verify", "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A database with 8 audit entries and a checkpoint published after the first 6."""
    work = tmp_path_factory.mktemp("audit")
    with JoingateService(work / "svc") as svc:  # tokens: entries 1-2
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
        db = svc.db
    return db, published


def tampered(history: tuple[Path, Path], tmp_path: Path,
             change: Callable[[sqlite3.Connection], None]) -> Path:
    """A copy of the database (its own file, never sharing a WAL), changed by `change`."""
    db = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*.db')))}.db"
    shutil.copy(history[0], db)
    conn = sqlite3.connect(db)
    try:
        with conn:
            change(conn)
    finally:
        conn.close()
    return db


def test_intact_history_verifies(history: tuple[Path, Path], tmp_path: Path) -> None:
    db = tampered(history, tmp_path, lambda conn: None)
    result = verify(db, "--checkpoint", str(history[1]))
    assert result.returncode == 0, result.stderr
    assert "8 entries" in result.stdout
    assert json.loads(history[1].read_text())["size"] == 6


@pytest.mark.parametrize(("sql", "first_bad"), [
    ("UPDATE audit_log SET details = replace(details, 'CN', 'HK') WHERE seq = 4", 4),
    ("UPDATE audit_log SET actor = 'cli:someone-else' WHERE seq = 5", 5),
    ("DELETE FROM audit_log WHERE seq = 3", 3),
    ("DELETE FROM audit_log WHERE seq = 1", 1),
    ("UPDATE audit_log SET seq = -1 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 5;"
     " UPDATE audit_log SET seq = 5 WHERE seq = -1", 4),
])
def test_direct_edits_are_named(history: tuple[Path, Path], tmp_path: Path, sql: str,
                                first_bad: int) -> None:
    db = tampered(history, tmp_path, lambda conn: conn.executescript(sql))
    result = verify(db)
    assert result.returncode == 1
    assert f"audit entry {first_bad}:" in result.stderr, result.stderr


def rewrite_from(conn: sqlite3.Connection, seq: int, details: dict[str, object]) -> None:
    """A careful forger: change one entry and recompute every hash after it."""
    rows = conn.execute("SELECT seq, at, actor, action, subject, details, prev_hash FROM "
                        "audit_log ORDER BY seq").fetchall()
    prev = rows[0][6]
    for s, at, actor, action, subject, raw, _ in rows:
        body = details if s == seq else json.loads(raw)
        digest = entry_hash(prev, s, at, actor, action, subject, body)
        conn.execute("UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                     (json.dumps(body, sort_keys=True), prev, digest, s))
        prev = digest


def test_consistent_rewrite_contradicts_the_checkpoints(history: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    forged = {"rooms": ["a"], "countries": ["CN", "HK"], "mode": "block", "request": 1,
              "reason": "R1", "starts_at": None, "ends_at": None}
    db = tampered(history, tmp_path, lambda conn: rewrite_from(conn, 4, forged))
    result = verify(db)
    assert result.returncode == 1 and "checkpoint" in result.stderr and "6" in result.stderr

    # Rewriting the stored checkpoints too: the published copy still contradicts it.
    def forge_all(conn: sqlite3.Connection) -> None:
        rewrite_from(conn, 4, forged)
        head = conn.execute("SELECT hash FROM audit_log WHERE seq = 6").fetchone()[0]
        conn.execute("UPDATE audit_checkpoints SET head = ? WHERE size = 6", (head,))
    db = tampered(history, tmp_path, forge_all)
    assert verify(db).returncode == 0  # internally consistent again...
    result = verify(db, "--checkpoint", str(history[1]))  # ...but not with what was published
    assert result.returncode == 1 and "history rewritten" in result.stderr


def test_truncated_history_and_edited_checkpoint_copy(history: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    db = tampered(history, tmp_path, lambda conn: conn.execute(
        "DELETE FROM audit_log WHERE seq > 4"))
    result = verify(db, "--checkpoint", str(history[1]))
    assert result.returncode == 1 and "missing" in result.stderr

    copy = json.loads(history[1].read_text())
    copy["head"] = "0" * 64
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(copy))
    db = tampered(history, tmp_path, lambda conn: None)
    result = verify(db, "--checkpoint", str(edited))
    assert result.returncode == 1 and "audit entry 6" in result.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}")
    assert verify(db, "--checkpoint", str(garbage)).returncode == 2
