"""Meeting names: the name people see, Jitsi's room node, and the one canonical name.

Jitsi's client makes the room node from the name people see (`getBackendSafeRoomName`,
react/features/base/util/uri.ts): percent-decode it if it decodes, NFKC-normalise, lower-case,
`encodeURIComponent`, lower-case again (the hex digits). "Café Vigil" becomes
`caf%c3%a9%20vigil`. Prosody keys the room by that node. A tenant's meeting (`/acme/vigil` in the
address) reaches Prosody through Jitsi's mod_muc_domain_mapper as the node `[acme]vigil`.

The canonical name of a meeting is its node, with a tenant's `[tenant]room` written
`tenant/room`. The plugin computes it from the room JID alone (ASCII lower-casing and the tenant
brackets: no Unicode tables), and `canonical_room` computes the same from either form:

- a valid node (only the characters encodeURIComponent leaves alone, and %XX escapes of UTF-8
  that Jitsi's client would itself produce) is read as a node;
- a name without any %XX is read as the name people see and converted as Jitsi does;
- anything else cannot be told apart (is "50%25 off" a node or a title?), or is a node Jitsi
  never makes (`caf%c3%89`, `tenant\\2froom`, a name with an apostrophe, which Prosody refuses in
  an address): refused, naming the field.

Distinct nodes are distinct canonical names: the node is kept as it is, and `tenant/room` (with
its one "/") cannot be a node, because a node never contains "/".
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote, unquote_to_bytes

from .errors import InvalidInput

ALL_MEETINGS = "*"
MAX_NODE_BYTES = 1023  # RFC 7622: each part of a JID is at most 1023 octets
# What encodeURIComponent leaves unescaped, besides ASCII letters and digits.
_UNRESERVED = "-_.!~*'()"
_NODE_RE = re.compile(r"(?:[a-z0-9\-_.!~*'()]|%[0-9a-f]{2})+")
_ESCAPE_RE = re.compile(r"%[0-9a-fA-F]{2}")
_XMPP_ESCAPE_RE = re.compile(r"\\[0-9a-fA-F]{2}")
# A tenant is one DNS label of the MUC host `conference.<tenant>.<domain>` that Jitsi's domain
# mapper turns into `[tenant]`; Prosody lower-cases hosts.
_TENANT_RE = re.compile(r"[a-z0-9_-]{1,63}")
# Jitsi's util.lib.lua reads a tenant node with the Lua pattern ^%[([^%]]+)%](.+)$.
_BRACKETS_RE = re.compile(r"\[([^\]]+)\](.+)", re.S)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def jitsi_node(seen: str) -> str:
    """The room node Jitsi's client makes for a name without %XX escapes (the decoding step of
    Jitsi's function leaves such a name unchanged). UnicodeEncodeError for lone surrogates."""
    text = unicodedata.normalize("NFKC", seen).lower()
    return quote(text, safe=_UNRESERVED, errors="strict").lower()


def join_key(room: str) -> str:
    """The canonical name for a room name as the plugin sends it (`/v1/authorize`, census).

    Only what the plugin does itself: ASCII lower-casing (Prosody already did it) and
    `[tenant]room` → `tenant/room`. No reading as a name people see: the plugin's names are
    nodes, and a node Jitsi never makes (`café` from a plain XMPP client) is another meeting than
    Jitsi's `caf%c3%a9`; it can match only policies on all meetings.
    """
    key = room.lower() if room.isascii() else room.translate(_ASCII_LOWER)
    if key.startswith("["):
        brackets = _BRACKETS_RE.fullmatch(key)
        if brackets:
            return f"{brackets[1]}/{brackets[2]}"
    return key


def canonical_room(name: str, field: str = "rooms") -> str:
    """The canonical name of a meeting given as people see it or as its node (module docstring).

    Raises InvalidInput naming `field` for a name Jitsi can never produce or that is ambiguous.
    """
    if not name:
        raise _refused(name, field, "is empty: name a meeting")
    if name != name.strip():
        raise _refused(name, field, "has spaces at either end; remove them (or, if the "
                       "meeting's name really has them, write its node, with %20)")
    tenant, room, bracketed = _split_tenant(name, field)
    if _XMPP_ESCAPE_RE.search(room):
        raise _refused(name, field, "carries an XMPP escape (\\2f, \\20, ...); Jitsi never "
                       "makes room nodes with them: write the name as people see it, or "
                       "tenant/room for a tenant's meeting")
    node = _node_of(name, room, bracketed, field)
    full = node if tenant is None else f"[{tenant}]{node}"
    if len(full.encode()) > MAX_NODE_BYTES:
        raise _refused(name, field, f"makes a room node longer than {MAX_NODE_BYTES} bytes, "
                       "which no XMPP server accepts")
    return node if tenant is None else f"{tenant}/{node}"


def _refused(name: str, field: str, why: str) -> InvalidInput:
    return InvalidInput(f"{field}: {name!r} {why}", field=field)


def _split_tenant(name: str, field: str) -> tuple[str | None, str, bool]:
    """(tenant or None, room part, whether the tenant came in Prosody's [tenant] form)."""
    if "/" in name:
        parts = name.split("/")
        if len(parts) != 2:
            raise _refused(name, field, "has more than one '/'; a Jitsi tenant's meeting is "
                           "tenant/room")
        tenant, room = parts
        bracketed = False
    else:
        brackets = _BRACKETS_RE.fullmatch(name)
        if not brackets:
            return None, name, False
        tenant, room = brackets[1], brackets[2]
        bracketed = True
    tenant = tenant.translate(_ASCII_LOWER)
    if not _TENANT_RE.fullmatch(tenant):
        raise _refused(name, field, "does not start with a Jitsi tenant (1-63 ASCII letters, "
                       "digits, '-' or '_', as in the host conference.<tenant>.<domain>); a "
                       "name starting with [...] is read as a tenant's room node (write %5b "
                       "for a '[' in a name)")
    if not room:
        raise _refused(name, field, "names a tenant but no meeting")
    return tenant, room, bracketed


def _node_of(name: str, room: str, bracketed: bool, field: str) -> str:
    """The room node of the room part: read as a node if it is one, else as people see it."""
    lowered = room.translate(_ASCII_LOWER) if room.isascii() else room
    if _NODE_RE.fullmatch(lowered):
        try:
            decoded = unquote_to_bytes(lowered).decode("utf-8")
        except UnicodeDecodeError:
            raise _refused(name, field, "is not a room node Jitsi makes: its %XX escapes are "
                           "not UTF-8 text") from None
        made = jitsi_node(decoded)
        if made != lowered:
            raise _refused(name, field, "is not a room node Jitsi makes: for that name its "
                           f"client makes {made!r}")
        node = lowered
    elif bracketed:
        raise _refused(name, field, "is a tenant's room node ([tenant]room) whose room part "
                       "is not a node; write tenant/room to give the room as people see it")
    elif _ESCAPE_RE.search(room):
        raise _refused(name, field, "mixes %XX escapes with characters a room node never "
                       "has, so it is ambiguous: write the room node exactly (as in the "
                       "meeting address) or the name as people see it without %XX")
    else:
        try:
            node = jitsi_node(room)
        except UnicodeEncodeError:
            raise _refused(name, field, "is not valid Unicode text") from None
    if "'" in node:
        raise _refused(name, field, "cannot be a Jitsi meeting: Prosody refuses a room "
                       "address with an apostrophe (')")
    if node == ALL_MEETINGS and not bracketed:
        raise _refused(name, field, "is the room node '*', which cannot be told from '*' (all "
                       "meetings)")
    return node


def readable(canonical: str) -> str:
    """The name people see for a canonical name (percent-decoded), for pages read by people.
    Not unique (a node `%2f` reads "/"): show it beside the canonical name, never instead.
    Control and format characters (bidirectional overrides among them) stay escaped, so a name
    never reorders or hides the text shown around it."""
    tenant, sep, room = canonical.rpartition("/")
    text = "".join(quote(ch, safe="").lower() if unicodedata.category(ch) in ("Cc", "Cf")
                   else ch for ch in unquote(room, errors="replace"))
    return f"{tenant}{sep}{text}"
