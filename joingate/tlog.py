"""Signed tree heads of the audit log and the check a reader of two reports runs. Pure.

A signed head is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) body

    <origin>\\n<tree size, decimal>\\n<base64 Merkle root>\\n

in a signed note (`note`). A key rotation is a note whose text names the old and the new
verifier key, signed by both, so a reader who trusted the old key can follow the hand-over.
`check_extends` is what `joingate audit verify-reports` decides: both heads signed by keys the
reader can trust, the same log, and a consistency proof that the newer tree extends the older.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .merkle import verify_consistency
from .note import Note, NoteError, Signer, Verifier, parse_note, parse_verifier, sign

ROTATION_HEADER = "joingate audit key rotation"


@dataclass(frozen=True, slots=True)
class Signing:
    """What signs the checkpoints: the key and the log's origin line."""

    signer: Signer
    origin: str


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what}: not base64") from None


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


@dataclass(frozen=True, slots=True)
class Head:
    """A signed tree head as read from a note (signatures not yet checked)."""

    origin: str
    size: int
    root: bytes
    note: Note


def parse_head(message: str) -> Head:
    note = parse_note(message)
    lines = note.text.split("\n")[:-1]
    if len(lines) < 3 or not lines[1].isascii() or not lines[1].isdigit():
        raise NoteError("checkpoint: expected the lines origin, tree size, root hash")
    if lines[1] != str(int(lines[1])):
        raise NoteError("checkpoint: the tree size has leading zeros")
    root = unb64(lines[2], "checkpoint root")
    if len(root) != 32:
        raise NoteError("checkpoint: the root hash is not 32 bytes")
    return Head(lines[0], int(lines[1]), root, note)


def describe(note_text: str | None, key: str | None) -> dict[str, object]:
    """The JSON fields of a signed head (origin, key_id, signature, note, key)."""
    if note_text is None or key is None:
        return {"origin": None, "key_id": None, "signature": None, "note": None, "key": None}
    head = parse_head(note_text)
    verifier = parse_verifier(key)
    sig = next(s for s in head.note.signatures if s.key_id == verifier.key_id)
    return {"origin": head.origin, "key_id": verifier.hex_id, "signature": b64(sig.signature),
            "note": note_text, "key": key}


# -- key rotation ---------------------------------------------------------------------------------

def rotation_text(origin: str, old: Verifier, new: Verifier, at: str) -> str:
    return f"{ROTATION_HEADER}\n{origin}\nold {old.text}\nnew {new.text}\nat {at}\n"


def rotation_note(origin: str, old: Signer, new: Signer, at: str) -> str:
    return sign(rotation_text(origin, old.verifier, new.verifier, at), new, old)


@dataclass(frozen=True, slots=True)
class Rotation:
    old: Verifier
    new: Verifier


def parse_rotation(message: str) -> Rotation:
    """A rotation statement, only if signed by both keys it names."""
    note = parse_note(message)
    lines = note.text.split("\n")[:-1]
    if len(lines) != 5 or lines[0] != ROTATION_HEADER or not lines[2].startswith("old ") \
            or not lines[3].startswith("new "):
        raise NoteError("key rotation: not a joingate key rotation statement")
    old, new = parse_verifier(lines[2][4:]), parse_verifier(lines[3][4:])
    if not (note.signed_by(old) and note.signed_by(new)):
        raise NoteError(f"key rotation {old.hex_id} -> {new.hex_id}: not signed by both keys")
    return Rotation(old, new)


def hand_over(trusted: Verifier, target: Verifier, rotations: Sequence[str]) -> bool:
    """Can a reader who trusts `trusted` reach `target` through rotation statements each
    signed by the key it retires and the key it introduces?"""
    known = []
    for text in rotations:
        try:
            known.append(parse_rotation(text))
        except NoteError:
            continue
    reached, frontier = {trusted.text}, [trusted]
    while frontier:
        current = frontier.pop()
        if current.text == target.text:
            return True
        for r in known:
            if r.old.text == current.text and r.new.text not in reached:
                reached.add(r.new.text)
                frontier.append(r.new)
    return False


# -- a published head, from a report in any of its formats ---------------------------------------

@dataclass(frozen=True, slots=True)
class Published:
    head: Head
    key: Verifier
    rotations: tuple[str, ...]


_HEAD_RE = re.compile(r"^([^\n]+\n\d+\n[A-Za-z0-9+/=]{44}\n\n(?:\u2014 [^\n]+\n)+)", re.M)
_ROTATION_RE = re.compile(
    rf"^({ROTATION_HEADER}\n(?:[^\n]+\n){{4}}\n(?:\u2014 [^\n]+\n)+)", re.M)
_KEY_RE = re.compile(r"[^\s+`<>\"']+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}")


def read_published(document: str) -> Published:
    """The signed head, its key and the rotation statements a report carries: the JSON report
    (audit_checkpoint, audit_key_rotations) or its Markdown or HTML rendering."""
    try:
        data = json.loads(document)
    except ValueError:
        data = None
    if isinstance(data, dict):
        cp = data.get("audit_checkpoint") or {}
        if not isinstance(cp, dict) or not cp.get("note") or not cp.get("key"):
            raise NoteError("the report holds no signed head (the log was unsigned)")
        rotations = data.get("audit_key_rotations") or []
        return Published(parse_head(str(cp["note"])), parse_verifier(str(cp["key"])),
                         tuple(str(r) for r in rotations))
    text = html.unescape(document).replace("\r\n", "\n")
    heads = _HEAD_RE.findall(text)
    keys = _KEY_RE.findall(text)
    if not heads or not keys:
        raise NoteError("the report holds no signed head (the log was unsigned)")
    return Published(parse_head(heads[0]), parse_verifier(keys[0]),
                     tuple(_ROTATION_RE.findall(text)))


def check_heads(old: Published, new: Published, trusted: Verifier | None = None,
                old_name: str = "OLD", new_name: str = "NEW") -> str | None:
    """Everything that needs no proof: both signatures by keys the reader can trust, the same
    log, and sizes that can extend. None, or what failed (checked before any proof is
    fetched: a forged head is named as forged)."""
    old_key = trusted or old.key
    if not old.head.note.signed_by(old_key):
        return (f"signature: {old_name}'s signed head does not verify with key "
                f"{old_key.text} (forged or altered)")
    if new.key.text != old_key.text and not hand_over(old_key, new.key, new.rotations):
        return (f"key: {new_name} is signed by key {new.key.hex_id}, and no rotation statement "
                f"signed by {old_key.hex_id} hands over to it")
    if not new.head.note.signed_by(new.key):
        return (f"signature: {new_name}'s signed head does not verify with key "
                f"{new.key.text} (forged or altered)")
    if old.head.origin != new.head.origin:
        return (f"origin: {old_name} is a head of {old.head.origin!r}, {new_name} of "
                f"{new.head.origin!r}")
    m, n = old.head.size, new.head.size
    if n < m:
        return (f"consistency: {new_name}'s log holds {n} entries, fewer than the {m} of "
                f"{old_name}: entries were removed")
    if m == n and old.head.root != new.head.root:
        return (f"consistency: {old_name} and {new_name} both count {m} entries but their "
                "roots differ: history was rewritten")
    return None


def check_extends(old: Published, new: Published, proof: Sequence[bytes] | None,
                  trusted: Verifier | None = None, old_name: str = "OLD",
                  new_name: str = "NEW") -> str | None:
    """None when `new` extends `old` unchanged, or what failed. `proof` is the consistency
    proof from old.size to new.size (None: not needed, or unavailable)."""
    problem = check_heads(old, new, trusted, old_name, new_name)
    m, n = old.head.size, new.head.size
    if problem is not None or m == n:
        return problem
    if proof is None:
        return "consistency: no proof given"
    if not verify_consistency(m, n, old.head.root, new.head.root, proof):
        return (f"consistency: the log of {new_name} (size {n}, root {b64(new.head.root)}) "
                f"does not extend the log of {old_name} (size {m}, root {b64(old.head.root)}): "
                "history was rewritten")
    return None
