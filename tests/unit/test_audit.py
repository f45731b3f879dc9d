"""joingate.audit: the hash chain and verify()."""

from __future__ import annotations

import dataclasses

import pytest

from joingate.audit import GENESIS, AuditEntry, Problem, canonical, make_entry, verify


def chain(n: int = 5) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev: AuditEntry | None = None
    for i in range(1, n + 1):
        prev = make_entry(prev, f"2026-06-0{i}T12:00:00Z", "admin", "restriction.create",
                          f"restriction/{i}", {"rooms": ["june4"], "countries": ["CN"], "n": i,
                                               "reason": "法院命令"})
        entries.append(prev)
    return entries


def test_make_entry_links_to_its_predecessor() -> None:
    entries = chain(3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].prev_hash == entries[1].hash
    assert len({e.hash for e in entries}) == 3
    assert all(len(e.hash) == 64 and int(e.hash, 16) >= 0 for e in entries)


def test_hash_is_deterministic_and_ignores_key_order() -> None:
    a = make_entry(None, "t", "admin", "act", "s", {"b": 1, "a": [1, 2]})
    b = make_entry(None, "t", "admin", "act", "s", {"a": [1, 2], "b": 1})
    assert a.hash == b.hash
    assert canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_intact_chain_verifies() -> None:
    assert verify(chain()) is None
    assert verify([]) is None
    assert verify(iter(chain(2))) is None


@pytest.mark.parametrize("field", ["details", "at", "actor", "action", "subject"])
def test_edited_entry_is_named(field: str) -> None:
    entries = chain()
    value = {"rooms": ["other"]} if field == "details" else "edited"
    entries[2] = dataclasses.replace(entries[2], **{field: value})
    problem = verify(entries)
    assert problem == Problem(3, "content does not match its hash (edited)")
    assert str(problem).startswith("audit entry 3:")


def test_edited_entry_with_recomputed_hash_breaks_the_next_link() -> None:
    entries = chain()
    forged = make_entry(entries[1], entries[2].at, "admin", "restriction.create",
                        entries[2].subject, {"rooms": ["other"]})
    entries[2] = forged
    problem = verify(entries)
    assert problem is not None
    assert problem.seq == 4
    assert "link" in problem.why


def test_deleted_entry_is_named() -> None:
    entries = chain()
    del entries[1]
    problem = verify(entries)
    assert problem is not None
    assert problem.seq == 2
    assert "missing" in problem.why


def test_deleted_first_entry_is_named() -> None:
    problem = verify(chain()[1:])
    assert problem is not None
    assert problem.seq == 1


def test_swapped_entries_are_detected_at_the_first_bad_position() -> None:
    entries = chain()
    entries[1], entries[2] = entries[2], entries[1]
    problem = verify(entries)
    assert problem is not None
    assert problem.seq == 2


def test_swapped_and_renumbered_entries_are_detected() -> None:
    entries = chain()
    a, b = entries[1], entries[2]
    entries[1] = dataclasses.replace(b, seq=2)
    entries[2] = dataclasses.replace(a, seq=3)
    problem = verify(entries)
    assert problem is not None
    assert problem.seq == 2


def test_duplicated_entry_is_out_of_order() -> None:
    entries = chain(3)
    entries.insert(2, entries[0])
    problem = verify(entries)
    assert problem is not None
    assert problem.seq == 1
    assert "out of order" in problem.why


def test_relinked_prev_hash_is_named() -> None:
    entries = chain()
    entries[3] = dataclasses.replace(entries[3], prev_hash=entries[1].hash)
    assert verify(entries) == Problem(4, "does not link to the entry before it")


def test_relinked_and_rehashed_entry_is_still_named() -> None:
    entries = chain()
    e = entries[3]
    relinked = make_entry(entries[1], e.at, e.actor, e.action, e.subject, e.details)
    entries[3] = dataclasses.replace(relinked, seq=4)  # keep the number it had
    problem = verify(entries)
    assert problem is not None
    assert problem.seq == 4


def test_first_entry_must_link_to_genesis() -> None:
    entries = chain(2)
    entries[0] = dataclasses.replace(entries[0], prev_hash="1" * 64)
    assert verify(entries) == Problem(1, "does not link to the entry before it")


def test_as_json_round_trip() -> None:
    entry = chain(1)[0]
    doc = entry.as_json()
    assert AuditEntry(**doc) == entry
    assert set(doc) == {"seq", "at", "actor", "action", "subject", "details", "prev_hash",
                        "hash"}
