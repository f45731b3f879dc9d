"""One contract, every backend: the same tests against SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from joingate import actions
from joingate.audit import leaf_hashes, verify
from joingate.errors import Conflict, InvalidInput, NotFound, RuleViolation
from joingate.merkle import root
from joingate.note import Signer, parse_note
from joingate.restrictions import RequestDraft, Restriction, RestrictionDraft
from joingate.store import Store, open_store
from joingate.store.base import ROOM_NAMES_MIGRATION, CountRow, hash_token, migrations
from joingate.store.postgres import WRITE_LOCK
from joingate.tlog import Signing, rotation_note
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = open_store(store_url)
    await opened.open()
    yield opened
    await opened.close()


def request_fields(**over: Any) -> dict[str, Any]:
    return {"authority": "Ministry", "jurisdiction": "CN", "reference": "R1",
            "rooms": ["june4-a", "june4-b"], "demand": "end them", **over}


async def test_restriction_roundtrip(store: Store) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    made = await actions.add_restriction(store, {
        "rooms": ["June4-A", "t/room"], "countries": ["cn", "HK"], "reason": "policy",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()},
        "tester")
    assert made.rooms == ("june4-a", "t/room") and made.countries == ("CN", "HK")
    assert made.starts_at == start and made.ends_at == start + timedelta(hours=2)
    assert made.created_by == "tester" and made.request is None and made.mode == "block"
    assert await store.get_restriction(made.id) == made
    second = await actions.add_restriction(store, {"rooms": ["*"], "countries": ["US"],
                                                   "mode": "allow-only", "reason": "p"}, "t")
    assert second.id > made.id
    assert [r.id for r in await store.list_restrictions()] == [made.id, second.id]
    with pytest.raises(NotFound):
        await store.get_restriction(999)


async def test_revoke(store: Store) -> None:
    made = await actions.add_restriction(store, {"rooms": ["a"], "countries": ["CN"],
                                                 "reason": "r"}, "t")
    with pytest.raises(InvalidInput):
        await actions.revoke_restriction(store, made.id, " ", "t")
    revoked = await actions.revoke_restriction(store, made.id, "lifted", "ops")
    assert revoked.revoked_by == "ops" and revoked.revoke_reason == "lifted"
    assert revoked.state(datetime.now(UTC)) == "revoked"
    with pytest.raises(Conflict):
        await actions.revoke_restriction(store, made.id, "again", "t")
    with pytest.raises(NotFound):
        await actions.revoke_restriction(store, 4242, "x", "t")


async def test_requests_and_their_restrictions(store: Store) -> None:
    req = await actions.add_request(store, request_fields(), "t")
    assert req.outcome is None and req.rooms == ("june4-a", "june4-b")
    made = await actions.add_restriction(store, {"rooms": ["june4-a"], "countries": ["CN"],
                                                 "request": req.id, "reason": "R1"}, "t")
    decided = await actions.decide_request(store, req.id, "partially", "one meeting", "t")
    assert decided.outcome == "partially" and decided.restrictions == (made.id,)
    assert decided.decided_by == "t" and decided.decided_at is not None
    with pytest.raises(Conflict):
        await actions.decide_request(store, req.id, "refused", "x", "t")
    assert [r.restrictions for r in await store.list_requests()] == [(made.id,)]
    assert await store.get_request(req.id) == decided


async def test_tokens_are_stored_as_hashes(store: Store) -> None:
    await actions.create_token(store, "prosody", "plugin", "t", "jg_secret")
    tokens = await store.tokens()
    assert dict(tokens) == {hash_token("jg_secret"): tokens[hash_token("jg_secret")]}
    assert tokens[hash_token("jg_secret")].scope == "plugin"
    with pytest.raises(Conflict):
        await actions.create_token(store, "prosody", "admin", "t", "jg_other")


async def test_counts_add_up_and_filter_by_day(store: Store) -> None:
    rows = [CountRow("2026-06-03", 0, "CN", "allowed", 2),
            CountRow("2026-06-04", 1, "CN", "refused", 3),
            CountRow("2026-06-04", 1, "", "refused", 1)]
    await store.add_counts(rows)
    await store.add_counts([CountRow("2026-06-04", 1, "CN", "refused", 4)])
    got = await store.counts("2026-06-04", "2026-06-04")
    assert sorted((r.country, r.n) for r in got) == [("", 1), ("CN", 7)]
    assert len(await store.counts(None, None)) == 3


async def test_audit_chain_and_checkpoints(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    assert await actions.add_checkpoint(store, now) is None  # nothing to checkpoint
    req = await actions.add_request(store, request_fields(), "t")
    await actions.add_restriction(store, {"rooms": ["june4-a"], "countries": ["CN"],
                                          "request": req.id, "reason": "R1"}, "t")
    with pytest.raises(InvalidInput):  # refused writes leave no entry
        await actions.add_restriction(store, {"rooms": ["june4-a"], "countries": ["CN", "TW"],
                                              "request": req.id, "reason": "R1"}, "t")
    entries = await store.audit_entries()
    assert [e.action for e in entries] == ["request.record", "restriction.create"]
    assert verify(entries) is None
    first = await actions.add_checkpoint(store, now)
    assert first is not None and first.size == 2 and first.head == entries[-1].hash
    assert await actions.add_checkpoint(store, now) is None  # unchanged log: no new checkpoint
    assert await store.checkpoints() == [first]


async def test_signed_checkpoints_rotations_and_entries_since(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(3):
        await actions.create_token(store, f"t{i}", "admin", "t", f"secret{i}")
    assert [e.seq for e in await store.audit_since(1)] == [2, 3]
    assert await store.audit_since(3) == []
    unsigned = await actions.add_checkpoint(store, now)
    assert unsigned is not None and unsigned.root and unsigned.note is None
    key = Signing(Signer.generate("joingate/contract"), "joingate/contract")
    signed = await actions.add_checkpoint(store, now, key)  # same size, now signed
    assert signed is not None and signed.size == 3 and signed.root == unsigned.root
    assert signed.note is not None and parse_note(signed.note).signed_by(
        key.signer.verifier)
    assert await actions.add_checkpoint(store, now, key) is None
    assert (await store.checkpoints())[-1] == signed
    new = Signing(Signer.generate("joingate/contract"), "joingate/contract")
    note = rotation_note(key.origin, key.signer, new.signer, "2026-06-04T00:00:00Z")
    await actions.record_key_rotation(store, note, key.signer.verifier.hex_id,
                                      new.signer.verifier.hex_id, "t", now)
    assert await store.key_rotations() == [note]
    assert (await store.audit_entries())[-1].action == "audit.key.rotate"
    assert (await actions.add_checkpoint(store, now, new)).size == 4  # type: ignore[union-attr]


async def test_change_marker_sees_other_connections(store: Store, store_url: str) -> None:
    before = await store.change_marker()
    other = open_store(store_url)
    await other.open()
    try:
        await actions.add_restriction(other, {"rooms": ["a"], "countries": ["CN"],
                                              "reason": "r"}, "t")
    finally:
        await other.close()
    assert await store.change_marker() != before


async def test_wait_change_returns_within_timeout(store: Store) -> None:
    import time
    started = time.monotonic()
    await store.wait_change(0.2)
    assert time.monotonic() - started < 2


@asynccontextmanager
async def write_lock_held(url: str) -> AsyncIterator[None]:
    """Another connection holding the store's write lock, as a second process would."""
    if url.startswith("sqlite:///"):
        other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", WRITE_LOCK)
        yield
    finally:
        await conn.close()


async def test_a_cancelled_write_leaves_nothing_and_the_store_usable(
        store: Store, store_url: str) -> None:
    fields = {"rooms": ["a"], "countries": ["CN"], "reason": "r"}
    async with write_lock_held(store_url):
        write = asyncio.create_task(actions.add_restriction(store, fields, "t"))
        # Most likely cancelled while it waits for the lock; wherever it lands, the
        # assertions below hold.
        done, _ = await asyncio.wait({write}, timeout=1)
        assert not done
        write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert await store.list_restrictions() == [] and await store.audit_entries() == []
    made = await actions.add_restriction(store, fields, "t")
    assert [r.id for r in await store.list_restrictions()] == [made.id]
    assert len(await store.audit_entries()) == 1


async def test_a_refusal_ends_the_requests_restrictions(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    req = await actions.add_request(store, request_fields(), "t")
    other = await actions.add_request(store, request_fields(reference="R2"), "t")
    active = await actions.add_restriction(store, {"rooms": ["june4-a"], "countries": ["CN"],
                                                   "request": req.id, "reason": "R1"}, "t")
    scheduled = await actions.add_restriction(store, {
        "rooms": ["june4-b"], "countries": ["CN"], "request": req.id, "reason": "R1",
        "starts_at": (now + timedelta(days=1)).isoformat()}, "t")
    lifted = await actions.add_restriction(store, {"rooms": ["june4-b"], "countries": ["CN"],
                                                   "request": req.id, "reason": "R1"}, "t")
    await actions.revoke_restriction(store, lifted.id, "lifted by hand", "ops")
    untouched = await actions.add_restriction(store, {
        "rooms": ["june4-a"], "countries": ["CN"], "request": other.id, "reason": "R2"}, "t")

    decided = await actions.decide_request(store, req.id, "refused", "not lawful", "boss")
    assert decided.outcome == "refused"
    assert decided.restrictions == (active.id, scheduled.id, lifted.id)
    later = datetime.now(UTC)
    for ended in (active, scheduled):
        got = await store.get_restriction(ended.id)
        assert got.state(later) == "revoked" and got.revoked_by == "boss"
        assert got.revoke_reason is not None and "refused: not lawful" in got.revoke_reason
    kept = await store.get_restriction(lifted.id)
    assert (kept.revoked_by, kept.revoke_reason) == ("ops", "lifted by hand")
    assert (await store.get_restriction(untouched.id)).state(later) == "active"

    entries = await store.audit_entries()
    assert verify(entries) is None
    tail = [(e.action, e.subject, e.actor) for e in entries[-3:]]
    assert tail == [("request.decide", f"request/{req.id}", "boss"),
                    ("restriction.revoke", f"restriction/{active.id}", "boss"),
                    ("restriction.revoke", f"restriction/{scheduled.id}", "boss")]
    assert entries[-1].details["request"] == req.id

    with pytest.raises(RuleViolation) as refused:  # through every rule
        await actions.add_restriction(store, {"rooms": ["june4-a"], "countries": ["CN"],
                                              "request": req.id, "reason": "R1"}, "t")
    assert refused.value.field == "request"
    # and at the write itself, with a draft validated before the refusal was recorded
    draft = RestrictionDraft(("june4-a",), ("CN",), now, None, "R1", req.id, "block")
    with pytest.raises(RuleViolation):
        await actions.record_restriction(store, draft, "t", now)
    assert len(await store.audit_entries()) == len(entries)  # nothing written
    assert [r.id for r in await store.list_restrictions()][-1] == untouched.id


async def test_other_outcomes_end_nothing(store: Store) -> None:
    for outcome in ("complied", "partially"):
        req = await actions.add_request(store, request_fields(reference=outcome), "t")
        made = await actions.add_restriction(store, {
            "rooms": ["june4-a"], "countries": ["CN"], "request": req.id, "reason": "R"}, "t")
        await actions.decide_request(store, req.id, outcome, "n", "t")
        assert (await store.get_restriction(made.id)).state(datetime.now(UTC)) == "active"


async def test_creates_racing_a_refusal_leave_nothing_in_force(store: Store) -> None:
    req = await actions.add_request(store, request_fields(), "t")
    fields = {"rooms": ["june4-a"], "countries": ["CN"], "request": req.id, "reason": "R1"}
    # Every create passes the early check (the request is undecided) before any write...
    drafts = [await actions.check_restriction(store, fields, datetime.now(UTC))
              for _ in range(20)]
    now = datetime.now(UTC).replace(microsecond=0)
    # ...and the writes race the refusal.
    results = await asyncio.gather(
        *(actions.record_restriction(store, d, "t", now) for d in drafts[:10]),
        actions.decide_request(store, req.id, "refused", "no", "t"),
        *(actions.record_restriction(store, d, "t", now) for d in drafts[10:]),
        return_exceptions=True)
    creates = results[:10] + results[11:]
    assert not isinstance(results[10], BaseException), results[10]
    made = [r for r in creates if isinstance(r, Restriction)]
    assert all(isinstance(r, RuleViolation) for r in creates if r not in made), creates
    later = datetime.now(UTC)
    final = await store.get_request(req.id)
    assert sorted(final.restrictions) == sorted(r.id for r in made)
    for r in made:
        assert (await store.get_restriction(r.id)).state(later) == "revoked"
    assert verify(await store.audit_entries()) is None


# The Merkle root of the audit log `audited_history` writes, as the code before the store
# primitives (issue 15, item 3) wrote it: an existing log must keep verifying and extending.
HISTORY_ROOT = "15581b1e36163c68c5c7666f5a9e51a2972ef6a3d6cd09d01aa95f540b3ffd38"


async def test_the_audit_log_bytes_are_pinned(store: Store,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Every action's audit entry (action name, subject, detail fields, their encoding) is
    what earlier versions wrote, on every backend: same history, same Merkle root."""
    clock = [datetime(2026, 6, 4, 12, 0, tzinfo=UTC)]

    def tick() -> datetime:
        clock[0] += timedelta(seconds=7)
        return clock[0]
    monkeypatch.setattr(actions, "utc_now", tick)
    req = await actions.add_request(store, {
        "authority": "Ministry of Public Security", "jurisdiction": "cn",
        "reference": "MPS-0604", "rooms": ["Café Vigil", "[acme]June4"],
        "demand": "End the meetings.", "received_at": "2026-06-01T09:00:00+08:00"},
        "token:admin")
    await actions.add_restriction(store, {"rooms": ["Café Vigil"], "countries": ["cn"],
                                          "request": req.id,
                                          "reason": "MPS-0604 \u201cas ordered\u201d"},
                                  "token:admin")
    await actions.add_restriction(store, {
        "rooms": ["acme/june4"], "countries": ["CN"], "request": req.id, "reason": "later",
        "starts_at": "2026-06-05T00:00:00Z", "ends_at": "2026-06-06T00:00:00Z"}, "cli:root")
    policy = await actions.add_restriction(store, {
        "rooms": ["*"], "countries": ["US", "hk"], "mode": "allow-only", "reason": "policy"},
        "web:admin")
    await actions.revoke_restriction(store, policy.id, "lifted", "web:admin")
    await actions.create_token(store, " prosody ", "plugin", "cli:root", "jg_x")
    fix = await actions.add_correction(store, {"network": "203.0.113.9/24", "country": "hk",
                                               "reason": "ISP says HK"}, "cli:root")
    await actions.remove_correction(store, fix.id, "wrong", "cli:root")
    await actions.decide_request(store, req.id, "refused", "Not lawful.", "boss")
    entries = await store.audit_entries()
    assert [e.action for e in entries] == [
        "request.record", *["restriction.create"] * 3, "restriction.revoke", "token.create",
        "geoip.correction.add", "geoip.correction.remove", "request.decide",
        *["restriction.revoke"] * 2]
    assert verify(entries) is None
    assert root(leaf_hashes(entries)).hex() == HISTORY_ROOT


async def test_geoip_corrections_roundtrip_audited(store: Store) -> None:
    made = await actions.add_correction(store, {"network": "203.0.113.77/24", "country": "hk",
                                                "reason": "ISP confirmed HK"}, "tester")
    assert (made.network, made.country, made.active) == ("203.0.113.0/24", "HK", True)
    for bad, field in (({"network": "203.0.113.7/32", "country": "HK", "reason": "r"},
                        "network"),
                       ({"network": "2001:db8::/64", "country": "HK", "reason": "r"},
                        "network"),
                       ({"network": "2001:db8::/48", "country": "XX", "reason": "r"},
                        "country")):
        with pytest.raises(InvalidInput) as info:
            await actions.add_correction(store, bad, "tester")
        assert info.value.field == field
    assert [c.id for c in await store.list_corrections()] == [made.id]
    removed = await actions.remove_correction(store, made.id, "wrong after all", "tester")
    assert removed.removed_by == "tester" and removed.remove_reason == "wrong after all"
    assert not removed.active and removed.as_json()["state"] == "removed"
    with pytest.raises(Conflict):
        await actions.remove_correction(store, made.id, "again", "tester")
    with pytest.raises(NotFound):
        await actions.remove_correction(store, 999, "x", "tester")
    entries = await store.audit_entries()
    assert [e.action for e in entries[-2:]] == ["geoip.correction.add",
                                                 "geoip.correction.remove"]
    assert entries[-2].details == {"network": "203.0.113.0/24", "country": "HK",
                                   "reason": "ISP confirmed HK"}
    assert verify(entries) is None


async def test_disputed_decisions_are_counted(store: Store) -> None:
    await store.add_counts([CountRow("2026-06-04", 1, "HK", "disputed", 3)])
    await store.add_counts([CountRow("2026-06-04", 1, "HK", "disputed", 2)])
    assert await store.counts(None, None) == [CountRow("2026-06-04", 1, "HK", "disputed", 5)]


async def _forget_migration(url: str, version: int) -> None:
    """Make the database look as a version before `version` left it (the rows stay)."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("DELETE FROM schema_migrations WHERE version = ?", (version,))
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM schema_migrations WHERE version = $1", version)
    finally:
        await conn.close()


async def test_the_room_names_migration_makes_stored_names_canonical(store_url: str) -> None:
    """Rows written before the room_names migration hold the names as typed ("café",
    "[acme]vigil"); the migration rewrites them to canonical names, keeps every row (and a name
    that has no canonical form as it was), and leaves the audit log verifiable."""
    now = datetime.now(UTC).replace(microsecond=0)
    old = open_store(store_url)
    await old.open()
    req = await actions.record_request(old, RequestDraft(
        authority="MPS", jurisdiction="CN", reference="R", demand="d", received_at=now,
        rooms=("café vigil", "[acme]vigil", "june4")), "t", now)
    tied = await actions.record_restriction(old, RestrictionDraft(
        rooms=("café vigil", "[acme]vigil"), countries=("CN",), starts_at=now, ends_at=None,
        reason="R", request=req.id, mode="block"), "t", now)
    odd = await actions.record_restriction(old, RestrictionDraft(
        rooms=("tenant\\2froom", "caf%c3%a9", "café"), countries=("CN",), starts_at=now,
        ends_at=None, reason="p", request=None, mode="block"), "t", now)
    policy = await actions.record_restriction(old, RestrictionDraft(
        rooms=("*",), countries=("US",), starts_at=now, ends_at=None, reason="p", request=None,
        mode="allow-only"), "t", now)
    audit_before = await old.audit_entries()
    await old.close()
    dialect = "sqlite" if store_url.startswith("sqlite:") else "postgresql"
    [step] = [m for m in migrations(dialect) if m.name == ROOM_NAMES_MIGRATION]
    await _forget_migration(store_url, step.version)

    new = open_store(store_url)
    await new.open()
    try:
        assert (await new.get_request(req.id)).rooms == (
            "caf%c3%a9%20vigil", "acme/vigil", "june4")
        assert (await new.get_restriction(tied.id)).rooms == ("caf%c3%a9%20vigil", "acme/vigil")
        assert (await new.get_restriction(odd.id)).rooms == ("tenant\\2froom", "caf%c3%a9")
        assert (await new.get_restriction(policy.id)).rooms == ("*",)
        assert [r.id for r in await new.list_restrictions()] == [tied.id, odd.id, policy.id]
        entries = await new.audit_entries()
        assert entries == audit_before and verify(entries) is None
    finally:
        await new.close()
