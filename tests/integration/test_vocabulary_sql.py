"""The SQL CHECK constraints and joingate.vocabulary list the same words.

The constraints were written out in migrations that deployed databases have applied, so they
cannot be generated from the enums; instead, every migration is applied to a real database of
each dialect and every `column IN (...)` constraint then in force must list exactly the values
of the enum it stands for, and every such constraint must stand for one.
"""

from __future__ import annotations

import re
import sqlite3
from enum import StrEnum
from pathlib import Path

import asyncpg
import pytest

from joingate.store import open_store
from joingate.vocabulary import CountOutcome, Mode, RequestOutcome, Scope
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration

# (table, column) -> the set its CHECK constraint must list.
CHECKED: dict[tuple[str, str], type[StrEnum]] = {
    ("requests", "outcome"): RequestOutcome,
    ("restrictions", "mode"): Mode,
    ("tokens", "scope"): Scope,
    ("decision_counts", "outcome"): CountOutcome,
}

# SQLite keeps each table's CREATE statement as written: `CHECK (outcome IN ('a', 'b'))`.
_SQLITE_CHECK = re.compile(r"CHECK\s*(\((?:[^()]|\([^()]*\))*\))", re.IGNORECASE)
_SQLITE_IN = re.compile(r"\(\s*(\w+)\s+IN\s*\(([^)]*)\)\s*\)", re.IGNORECASE)
# PostgreSQL gives its own rendering: `CHECK ((outcome = ANY (ARRAY['a'::text, 'b'::text])))`.
_PG_ANY = re.compile(r"CHECK \(\(\(?(\w+) = ANY \(\(?ARRAY\[([^\]]*)\]")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def _words(listed: str) -> list[str]:
    return [w.replace("''", "'") for w in _QUOTED.findall(listed)]


def _expected() -> dict[tuple[str, str], list[str]]:
    return {key: sorted(member.value for member in words) for key, words in CHECKED.items()}


async def _migrate(url: str) -> None:
    store = open_store(url)
    await store.open()  # applies every migration
    await store.close()


async def test_sqlite_checks_list_the_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "vocabulary.db"
    await _migrate(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        tables = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                              "AND sql IS NOT NULL").fetchall()
    checks = [(table, check) for table, sql in tables for check in _SQLITE_CHECK.findall(sql)]
    found = {}
    for table, check in checks:
        listed = _SQLITE_IN.fullmatch(check)
        assert listed or "'" not in check, f"{table}: a CHECK this test cannot read: {check}"
        if listed:
            found[(table, listed.group(1))] = sorted(_words(listed.group(2)))
    assert found == _expected()


async def test_postgresql_checks_list_the_vocabulary(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    await _migrate(url)
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT conrelid::regclass::text AS tab, "
                                "pg_get_constraintdef(oid) AS def FROM pg_constraint "
                                "WHERE contype = 'c' AND conrelid <> 0 "
                                "AND connamespace = 'public'::regnamespace")
    finally:
        await conn.close()
    found = {}
    for row in rows:
        listed = _PG_ANY.match(row["def"])
        assert listed or "'" not in row["def"], \
            f"{row['tab']}: a CHECK this test cannot read: {row['def']}"
        if listed:
            found[(row["tab"], listed.group(1))] = sorted(_words(listed.group(2)))
    assert found == _expected()
