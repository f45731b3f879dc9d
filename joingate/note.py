"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note), pure.

The formats are those of Go's golang.org/x/mod/sumdb/note, so the keys and notes joingate makes
are read by the tools transparency logs use (Go's checksum database, Sigstore, witnesses):

    verifier key  <name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte public key)>
    signer key    PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>
    key id        the first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public key)
    signed note   text (ending in a newline), a blank line, then one line per signature:
                  "— <name> <base64(4-byte key id || 64-byte Ed25519 signature of the text)>"

Ed25519 is deterministic: the same key signs the same text the same way on every instance.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ED25519 = 1
DASH = "\u2014"
MAX_SIGNATURES = 100
_HEX8 = re.compile(r"[0-9a-f]{8}")


class NoteError(ValueError):
    """A key or note that is malformed or whose signature does not verify."""


def valid_name(name: str) -> bool:
    """Non-empty, no Unicode space, no '+' (the key text splits at '+')."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name) \
        and name.isprintable()


def key_id(name: str, public_key: bytes) -> int:
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + bytes([ED25519])
                                         + public_key).digest()[:4], "big")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what}: not base64") from None


@dataclass(frozen=True, slots=True)
class Verifier:
    name: str
    key_id: int
    public_key: bytes  # 32 bytes

    @property
    def text(self) -> str:
        data = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{data}"

    @property
    def hex_id(self) -> str:
        return f"{self.key_id:08x}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_verifier(text: str) -> Verifier:
    name, _, rest = text.strip().partition("+")
    hex_id, _, data = rest.partition("+")
    if not valid_name(name) or not _HEX8.fullmatch(hex_id):
        raise NoteError("verifier key: expected <name>+<8 hex digits>+<base64 key>")
    key = _b64(data, "verifier key")
    if len(key) != 33 or key[0] != ED25519:
        raise NoteError("verifier key: not an Ed25519 key (algorithm 1, 32 bytes)")
    if key_id(name, key[1:]) != int(hex_id, 16):
        raise NoteError("verifier key: the key id does not match the name and key")
    return Verifier(name, int(hex_id, 16), key[1:])


class Signer:
    def __init__(self, name: str, private: Ed25519PrivateKey):
        if not valid_name(name):
            raise NoteError(f"name: {name!r} is not a key name (no spaces, no '+')")
        self.name = name
        self._private = private
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, key_id(name, public), public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def text(self) -> str:
        """The secret signer key, in the format Go's note.NewSigner reads."""
        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        data = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.hex_id}+{data}"

    def signature(self, text: str) -> bytes:
        """The bare Ed25519 signature over text."""
        return self._private.sign(text.encode("utf-8"))

    def signature_line(self, text: str) -> str:
        data = self.verifier.key_id.to_bytes(4, "big") + self.signature(text)
        return f"{DASH} {self.name} {base64.b64encode(data).decode()}\n"


def parse_signer(text: str) -> Signer:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _HEX8.fullmatch(parts[3]):
        raise NoteError("signer key: expected PRIVATE+KEY+<name>+<key id>+<base64 key>")
    key = _b64(parts[4], "signer key")
    if len(key) != 33 or key[0] != ED25519:
        raise NoteError("signer key: not an Ed25519 key (algorithm 1, 32-byte seed)")
    signer = Signer(parts[2], Ed25519PrivateKey.from_private_bytes(key[1:]))
    if signer.verifier.hex_id != parts[3]:
        raise NoteError("signer key: the key id does not match the key")
    return signer


def sign(text: str, *signers: Signer) -> str:
    """The signed note: text, a blank line, one signature line per signer."""
    check_text(text)
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


def check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("note: the text must end in a newline and hold no blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note: control characters in the text")


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_id: int
    signature: bytes  # what follows the key id (64 bytes for an Ed25519 signature)


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]

    def signed_by(self, verifier: Verifier) -> bool:
        """Is there a signature by this key, and does it verify? (A note may carry others.)"""
        message = self.text.encode("utf-8")
        return any(s.name == verifier.name and s.key_id == verifier.key_id
                   and verifier.verify(message, s.signature) for s in self.signatures)


def parse_note(message: str) -> Note:
    """Split a signed note into its text and signature lines (verifying none of them)."""
    cut = message.rfind("\n\n")
    if cut < 0 or not message.endswith("\n"):
        raise NoteError("note: no signature block (a blank line, then signature lines)")
    text, block = message[:cut + 1], message[cut + 2:]
    check_text(text)
    signatures = []
    for line in block.splitlines():
        dash, _, rest = line.partition(" ")
        name, _, data = rest.partition(" ")
        if dash != DASH or not valid_name(name):
            raise NoteError(f"note: malformed signature line {line[:60]!r}")
        raw = _b64(data, "note signature")
        if len(raw) < 5:  # other signature types (e.g. witness cosignatures) are kept
            raise NoteError("note: a signature holds a 4-byte key id and a signature")
        signatures.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise NoteError("note: expected 1 to 100 signature lines")
    return Note(text, tuple(signatures))
