"""The audit signing key on disk, and the consistency proof a store gives (the shell around
`note`, `tlog` and `merkle`).

The key file holds one line, the signer key in the format of Go's note package
(`PRIVATE+KEY+<name>+<id>+<key>`), mode 0600, written whole or not at all. Every instance that
signs reads the same file; the service re-reads it before each checkpoint, so a rotated key is
used from the next checkpoint on without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from . import actions
from .audit import leaf_hashes
from .config import Settings
from .errors import InvalidInput
from .merkle import Tree
from .note import NoteError, Signer, parse_signer, valid_name
from .restrictions import format_time, utc_now
from .store.base import Store
from .tlog import Signing, rotation_note

FIELD = "audit.signing_key"


def _write_secret(path: Path, text: str) -> None:
    """Write text to path atomically with mode 0600 (never readable by others, not even for
    a moment: the temporary file is created with that mode)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def create_key(path_text: str, name: str, force: bool) -> Signer:
    """A new key named `name` in the file `path_text`; an existing file only with force."""
    if not path_text:
        raise InvalidInput(f"{FIELD}: name the key file (--out FILE or {FIELD})", field=FIELD)
    if not valid_name(name):
        raise InvalidInput(f"name: {name!r} must be non-empty, without spaces or '+'",
                           field="name")
    path = Path(path_text)
    if path.exists() and not force:
        raise InvalidInput(f"{FIELD}: {path} exists; --force replaces it (the old key can then "
                           "no longer sign)", field=FIELD)
    if not path.parent.is_dir():
        raise InvalidInput(f"{FIELD}: no such folder {path.parent}", field=FIELD)
    signer = Signer.generate(name)
    _write_secret(path, signer.text)
    return signer


def load_signing(settings: Settings) -> Signing | None:
    """The key named by audit.signing_key (None when the setting is empty)."""
    path = settings.audit_signing_key
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="ascii")
        return Signing(parse_signer(text), settings.origin)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{FIELD}: cannot read {path}: {exc}", field=FIELD) from None
    except NoteError as exc:
        raise InvalidInput(f"{FIELD}: {path}: {exc}", field=FIELD) from None


async def rotate_key(store: Store, settings: Settings, name: str | None,
                     actor: str) -> tuple[Signer, Signer]:
    """Replace the key at audit.signing_key with a new one. The rotation statement (signed by
    both) is recorded first; the old key is kept beside the new as <file>.<old id>.retired;
    the current head is then signed with the new key."""
    current = load_signing(settings)
    if current is None:
        raise InvalidInput(f"{FIELD}: there is no key to rotate; `joingate audit key create` "
                           "makes the first", field=FIELD)
    old = current.signer
    new_name = name or old.name
    if not valid_name(new_name):
        raise InvalidInput(f"name: {new_name!r} must be non-empty, without spaces or '+'",
                           field="name")
    new = Signer.generate(new_name)
    path = Path(settings.audit_signing_key)
    staged = path.with_name(path.name + ".new")
    _write_secret(staged, new.text)
    now = utc_now()
    try:
        await actions.record_key_rotation(
            store, rotation_note(current.origin, old, new, format_time(now) or ""),
            old.verifier.hex_id, new.verifier.hex_id, actor, now)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    retired = path.with_name(f"{path.name}.{old.verifier.hex_id}.retired")
    os.replace(path, retired)
    os.replace(staged, path)
    await actions.add_checkpoint(store, now, Signing(new, current.origin))
    return old, new


class LogTree:
    """The store's audit log as a Merkle tree, kept in memory and extended with the entries
    appended since it was last read: a proof costs one small query and O(log² n) hashes. If
    the log no longer lines up (entries removed), it is read again from the start; a log
    rewritten in place is not noticed here, and needs not be: its proofs simply fail against
    the signed roots a reader holds."""

    def __init__(self, store: Store):
        self.store = store
        self.tree = Tree()
        self._lock = asyncio.Lock()

    async def proof(self, first: int, second: int) -> list[bytes]:
        """The consistency proof from size `first` to `second` (InvalidInput naming from or
        to for a range the log cannot answer)."""
        async with self._lock:
            new = await self.store.audit_since(len(self.tree))
            if new and new[0].seq != len(self.tree) + 1:
                self.tree, new = Tree(), await self.store.audit_since(0)
            if new:
                leaves = await asyncio.to_thread(leaf_hashes, new)
                self.tree.extend(leaves)
            check_range(first, second, len(self.tree))
            return self.tree.consistency_proof(first, second)


def check_range(first: int, second: int, size: int) -> None:
    if first < 1:
        raise InvalidInput("from: must be at least 1", field="from")
    if second < first:
        raise InvalidInput(f"from: {first} is larger than to ({second})", field="from")
    if second > size:
        raise InvalidInput(f"to: the audit log holds {size} entries, not {second}", field="to")
