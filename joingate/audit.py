"""Append-only, hash-linked audit log (pure part).

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical JSON
(sequence number, time, actor, action, subject, details). Editing, deleting or reordering any
stored entry breaks the chain from that point on, and `verify()` names the first bad entry.
The store writes an entry in the same transaction as the change it records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action,
                "subject": self.subject, "details": self.details, "prev_hash": self.prev_hash,
                "hash": self.hash}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
               details: dict[str, Any]) -> str:
    body = canonical({"seq": seq, "at": at, "actor": actor, "action": action,
                      "subject": subject, "details": details})
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode("utf-8")).hexdigest()


def make_entry(prev: AuditEntry | None, at: str, actor: str, action: str, subject: str,
               details: dict[str, Any]) -> AuditEntry:
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS if prev is None else prev.hash
    digest = entry_hash(prev_hash, seq, at, actor, action, subject, details)
    return AuditEntry(seq, at, actor, action, subject, details, prev_hash, digest)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The log had `size` entries, the last with hash `head`, at time `at`."""

    at: str
    size: int
    head: str

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "size": self.size, "head": self.head}


def checkpoint_of(entries: list[AuditEntry], at: str) -> Checkpoint:
    return Checkpoint(at, len(entries), entries[-1].hash if entries else GENESIS)


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    why: str

    def __str__(self) -> str:
        return f"audit entry {self.seq}: {self.why}"


def verify(entries: Iterable[AuditEntry]) -> Problem | None:
    """Recompute the chain over entries in stored order; the first broken entry, or None."""
    expected_seq, prev_hash = 1, GENESIS
    for e in entries:
        if e.seq != expected_seq:
            what = "missing" if e.seq > expected_seq else "out of order"
            return Problem(expected_seq if e.seq > expected_seq else e.seq,
                           f"{what} (found sequence number {e.seq} where {expected_seq} belongs)")
        if e.prev_hash != prev_hash:
            return Problem(e.seq, "does not link to the entry before it")
        if entry_hash(prev_hash, e.seq, e.at, e.actor, e.action, e.subject, e.details) != e.hash:
            return Problem(e.seq, "content does not match its hash (edited)")
        expected_seq, prev_hash = e.seq + 1, e.hash
    return None


def verify_checkpoint(entries: list[AuditEntry], checkpoint: Checkpoint) -> Problem | None:
    """Does the (already verified) chain agree with a checkpoint taken earlier?"""
    if checkpoint.size > len(entries):
        return Problem(len(entries) + 1, f"missing: a checkpoint of {checkpoint.at} counted "
                       f"{checkpoint.size} entries, the log has {len(entries)}")
    head = entries[checkpoint.size - 1].hash if checkpoint.size else GENESIS
    if head != checkpoint.head:
        return Problem(checkpoint.size, f"history rewritten: the checkpoint of "
                       f"{checkpoint.at} names head {checkpoint.head[:16]}..., the log has "
                       f"{head[:16]}... at entry {checkpoint.size}")
    return None
