"""Append-only, hash-linked audit log, and its Merkle tree (pure part).

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical JSON
(sequence number, time, actor, action, subject, details). Editing, deleting or reordering any
stored entry breaks the chain from that point on, and `verify()` names the first bad entry.
The store writes an entry in the same transaction as the change it records.

The same entries, in the same order, are the leaves of an RFC 9162 Merkle tree (leaf data: the
entry's canonical JSON, the bytes the chain hashes). A checkpoint records the tree's size and
root (and the chain's head) and, with a key, the signed tree head (`tlog`): the chain proves
tampering to whoever holds the log, the signed roots to anyone holding two published reports."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import Conflict
from .merkle import leaf_hash, root
from .note import sign
from .tlog import Signing, checkpoint_body, describe

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


def _body(seq: int, at: str, actor: str, action: str, subject: str,
          details: dict[str, Any]) -> bytes:
    return canonical({"seq": seq, "at": at, "actor": actor, "action": action,
                      "subject": subject, "details": details}).encode("utf-8")


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
               details: dict[str, Any]) -> str:
    body = _body(seq, at, actor, action, subject, details)
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def leaf_hashes(entries: Iterable[AuditEntry]) -> list[bytes]:
    """The Merkle leaf hash of each entry: SHA-256(0x00 || canonical JSON of the entry)."""
    return [leaf_hash(_body(e.seq, e.at, e.actor, e.action, e.subject, e.details))
            for e in entries]


def make_entry(prev: AuditEntry | None, at: str, actor: str, action: str, subject: str,
               details: dict[str, Any]) -> AuditEntry:
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS if prev is None else prev.hash
    digest = entry_hash(prev_hash, seq, at, actor, action, subject, details)
    return AuditEntry(seq, at, actor, action, subject, details, prev_hash, digest)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The log had `size` entries, the last with hash `head`, at time `at`; `root` is the
    base64 Merkle root of those entries (None: recorded before the log was a tree), `note` the
    signed tree head and `key` the verifier key that signed it (None: unsigned)."""

    at: str
    size: int
    head: str
    root: str | None = None
    note: str | None = None
    key: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "size": self.size, "head": self.head, "root": self.root,
                **describe(self.note, self.key)}


def needs_checkpoint(size: int, last: Checkpoint | None, signing: Signing | None) -> bool:
    """A new checkpoint when the log grew, or when its head is not yet signed by the key in
    use (a key configured or rotated since, or a checkpoint from before the Merkle tree)."""
    if size == 0:
        return False
    key = signing.signer.verifier.text if signing else None
    return last is None or last.size != size or last.root is None or last.key != key


def make_checkpoint(entries: Sequence[AuditEntry], last: Checkpoint | None, at: str,
                    signing: Signing | None) -> Checkpoint:
    """The checkpoint of `entries` now, signed when there is a key. Refuses (Conflict) to
    sign a tree that does not extend the last checkpoint's: a log rewritten under the service
    gets no signed head from it."""
    leaves = leaf_hashes(entries)
    if last is not None and last.root is not None and (
            last.size > len(leaves)
            or base64.b64encode(root(leaves[:last.size])).decode() != last.root):
        raise Conflict(f"audit: the log no longer extends the checkpoint of {last.at} "
                       f"({last.size} entries): history was rewritten; not signing it",
                       code="history_rewritten")
    tree_root = root(leaves)
    encoded = base64.b64encode(tree_root).decode()
    if signing is None:
        return Checkpoint(at, len(entries), entries[-1].hash, encoded)
    note = sign(checkpoint_body(signing.origin, len(entries), tree_root), signing.signer)
    return Checkpoint(at, len(entries), entries[-1].hash, encoded, note,
                      signing.signer.verifier.text)


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
