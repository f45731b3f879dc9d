"""Hypothesis strategies for joingate's inputs: addresses in every spelling, country codes,
meeting names, date-times and the garbage around them."""

from __future__ import annotations

import ipaddress
import string
import unicodedata

from hypothesis import strategies as st

from joingate.jurisdiction import jurisdictions
from joingate.testing.geodb import IPV6_COUNTRY, LOOPBACK_COUNTRY

TABLE = jurisdictions()
COUNTRIES = sorted(TABLE.country_names)
# Jurisdictions with an entry in seeds/jurisdictions.json (several cover more than their code)
# and a few that are not in the table (own code only).
LISTED = sorted(TABLE._entries)
JURISDICTIONS = [*LISTED, "DE", "JP", "RU", "BR", "IN"]

# What str.strip() removes and a client might send around a value.
ASCII_SPACE = " \t\n\r\x0b\x0c"
spaces = st.text(alphabet=ASCII_SPACE, max_size=3)

# -- addresses ------------------------------------------------------------------------------

ipv4 = st.ip_addresses(v=4)
ipv6 = st.ip_addresses(v=6)


def _in(cidr: str) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    net = ipaddress.ip_network(cidr)
    return st.integers(0, net.num_addresses - 1).map(lambda i: net[i])


# (address, country) pairs the test DB places.
placed_v4 = st.sampled_from(sorted(LOOPBACK_COUNTRY.items())).flatmap(
    lambda kv: st.tuples(_in(kv[1]), st.just(kv[0])))
placed_v6 = st.sampled_from(sorted(IPV6_COUNTRY.items())).flatmap(
    lambda kv: st.tuples(_in(kv[1]), st.just(kv[0])))


def mapped(v4: ipaddress.IPv4Address, dotted: bool) -> str:
    """IPv4-mapped IPv6 (::ffff:a.b.c.d), in dotted or hex spelling."""
    if dotted:
        return f"::ffff:{v4}"
    return str(ipaddress.IPv6Address((0xFFFF << 32) | int(v4)))


def sixtofour(v4: ipaddress.IPv4Address, suffix: int) -> str:
    """A 6to4 address (2002:AABB:CCDD::/48) carrying `v4`; `suffix` fills the low 80 bits."""
    return str(ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80) | suffix))


def teredo(client: ipaddress.IPv4Address, server: ipaddress.IPv4Address, flags: int,
           port: int) -> str:
    """A Teredo address (2001:0::/32): server, flags, and the client's port and address
    obfuscated (XOR with all ones), as RFC 4380 lays them out."""
    value = ((0x20010000 << 96) | (int(server) << 64) | (flags << 48)
             | ((port ^ 0xFFFF) << 32) | (int(client) ^ 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(value))


def carrying(v4: ipaddress.IPv4Address) -> st.SearchStrategy[str]:
    """Every IPv6 spelling joingate must place by the IPv4 address it carries."""
    return st.one_of(
        st.booleans().map(lambda dotted: mapped(v4, dotted)),
        st.integers(0, 2**80 - 1).map(lambda s: sixtofour(v4, s)),
        st.builds(lambda server, flags, port: teredo(v4, server, flags, port),
                  ipv4, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    )


zone_ids = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1,
                   max_size=16)


def _octet_forms(n: int) -> st.SearchStrategy[str]:
    return st.sampled_from([f"0{n:o}", f"0x{n:x}", f"0X{n:X}", f"00{n}", f"0{n}"])


@st.composite
def legacy_ipv4(draw: st.DrawFn) -> str:
    """An IPv4 address spelled as inet_aton() would accept but that is not a dotted quad of
    decimal octets without leading zeros: 127.1, 10.65535, 0x7f.0.0.1, 0177.0.0.1,
    127.000.000.001, 2130706433. Some resolvers and C readers accept them; joingate must not
    (one spelling per address keeps cache keys, logs and comparisons honest)."""
    value = int(draw(ipv4))
    octets = [(value >> s) & 0xFF for s in (24, 16, 8, 0)]
    kind = draw(st.sampled_from(["short", "integer", "hex", "octal", "zeros"]))
    if kind == "integer":
        return draw(st.sampled_from([str(value), hex(value), f"0{value:o}"]))
    if kind == "short":
        parts = draw(st.integers(1, 3))
        if parts == 1:
            return str(value)
        if parts == 2:
            return f"{octets[0]}.{value & 0xFFFFFF}"
        return f"{octets[0]}.{octets[1]}.{value & 0xFFFF}"
    i = draw(st.integers(0, 3))
    forms = [str(o) for o in octets]
    forms[i] = draw(_octet_forms(octets[i]) if kind != "zeros" else
                    st.sampled_from([f"0{octets[i]}", f"00{octets[i]}", f"{octets[i]:03d}"])
                    .filter(lambda f: f != str(octets[i])))
    return ".".join(forms)


# Text built from the characters addresses are made of, so the garbage is near-miss garbage;
# plus wholly arbitrary text (Unicode digits, NUL, surrogates of the basic plane).
_ADDR_CHARS = string.hexdigits + ".:%/[] x" + "\x00\u0661\uff11\u00b2"
near_addresses = st.text(alphabet=_ADDR_CHARS, max_size=45)
garbage = st.one_of(near_addresses, st.text(max_size=45), legacy_ipv4())



@st.composite
def broken_address(draw: st.DrawFn) -> str:
    """Text that is no address: a valid address broken in one place (a character added
    inside or at an end, a digit in another script, an octet over 255, a group too many, a
    prefix length, brackets), or no address at all."""
    v4, v6 = str(draw(ipv4)), str(draw(ipv6))
    kind = draw(st.sampled_from(["inside", "end", "digit", "octet", "groups", "prefix",
                                 "brackets", "empty"]))
    if kind == "inside":
        text = draw(st.sampled_from([v4, v6 + ":1" if v6.endswith("::") else v6]))
        if len(text) < 2:
            text = v4
        i = draw(st.integers(1, len(text) - 1))
        return text[:i] + draw(st.sampled_from(["x", "\x00", " ", "/", "[", "g"])) + text[i:]
    if kind == "end":
        return draw(st.sampled_from([v4 + ".", "." + v4, v4 + ":", v4 + "x", v6 + "x",
                                     v6 + ":::", "x" + v6]))
    if kind == "digit":  # one ASCII digit as a fullwidth, Arabic-Indic or superscript one
        i = draw(st.sampled_from([i for i, c in enumerate(v4) if c.isdigit()]))
        other = draw(st.sampled_from([0xFF10, 0x0660]))
        return v4[:i] + chr(other + int(v4[i])) + v4[i + 1:]
    if kind == "octet":
        parts = v4.split(".")
        parts[draw(st.integers(0, 3))] = str(draw(st.integers(256, 999)))
        return ".".join(parts)
    if kind == "groups":
        return ":".join(["1"] * draw(st.sampled_from([3, 9, 10])))
    if kind == "prefix":
        return draw(st.sampled_from([f"{v4}/32", f"{v6}/64"]))
    if kind == "brackets":
        return f"[{v6}]"
    return draw(st.sampled_from(["", " ", "\t\n", ".", ":"]))


# -- country codes ----------------------------------------------------------------------------

# Non-ASCII letters whose upper case is ASCII (sharp s → "SS", dotless i → "I", long s → "S",
# the fi ligature → "FI"): a check of the upper-cased text alone lets them through as codes.
UPPERS_TO_ASCII = "".join(
    c for c in map(chr, range(0x80, 0x10000))
    if c.isalpha() and c.upper().isascii() and c.upper().isalpha())
_LOOKALIKE = {c.upper(): c for c in UPPERS_TO_ASCII}


@st.composite
def _lookalike_code(draw: st.DrawFn) -> str:
    """An ISO code with letters swapped for non-ASCII ones that upper-case back to them."""
    code = draw(st.sampled_from(COUNTRIES))
    whole = _LOOKALIKE.get(code)
    if whole is not None and draw(st.booleans()):
        return whole
    swaps = [i for i, c in enumerate(code) if c in _LOOKALIKE]
    if not swaps:
        return code.lower()
    i = draw(st.sampled_from(swaps))
    return code[:i].lower() + _LOOKALIKE[code[i]] + code[i + 1:].lower()


country_like = st.one_of(
    _lookalike_code(),
    st.text(alphabet=string.ascii_letters + UPPERS_TO_ASCII + "0-_ \u00c7", max_size=3))

# -- meeting names --------------------------------------------------------------------------

# Jitsi's client (getBackendSafeRoomName) written out character by character, independently of
# joingate.rooms: NFKC, lower-case, then the UTF-8 bytes of every character encodeURIComponent
# escapes as %xx (lower-case hex).
_NODE_CHARS = set(string.ascii_lowercase + string.digits + "-_.!~*'()")


def jitsi_node_oracle(seen: str) -> str:
    return "".join(ch if ch in _NODE_CHARS else "".join(f"%{b:02x}" for b in ch.encode())
                   for ch in unicodedata.normalize("NFKC", seen).lower())


def _could_be_a_meeting(seen: str) -> bool:
    """Prosody refuses an apostrophe in an address; a node is at most 1023 bytes."""
    node = jitsi_node_oracle(seen)
    return "'" not in node and len(node) <= 1023


# Names as people see them that a Jitsi meeting may have: any text (any script, spaces inside,
# punctuation) but "%", "/" and "\\" (each has a rule of its own) and bidirectional controls
# (refused in every stored text), not starting with "[" (a tenant's node), no spaces at either
# end.
_BIDI = "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
seen_name = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="%/\\" + _BIDI),
    min_size=1, max_size=20).filter(
    lambda s: s == s.strip() and not s.startswith("[") and _could_be_a_meeting(s)
    and jitsi_node_oracle(s) != "*")  # the node "*" cannot be told from all meetings
tenant = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)


@st.composite
def meeting_name(draw: st.DrawFn) -> tuple[str, str]:
    """(a name of a Jitsi meeting in one of the forms an operator may type, its canonical
    name): as people see it, as its node (in any ASCII case), behind a tenant as tenant/room
    or as the node [tenant]room."""
    seen = draw(seen_name)
    node = jitsi_node_oracle(seen)
    room = draw(st.sampled_from([seen, node, node.upper()]))
    form = draw(st.sampled_from(["plain", "tenant/", "[tenant]"]))
    if form == "plain":
        return room, node
    t = draw(tenant)
    if form == "[tenant]":
        room = draw(st.sampled_from([node, node.upper()]))
    if len(node) + len(t) + 2 > 1023:
        return room, node
    name = f"{t}/{room}" if form == "tenant/" else f"[{t}]{room}"
    return name, f"{t.lower()}/{node}"


@st.composite
def invalid_room(draw: st.DrawFn) -> object:
    """A value no Jitsi meeting is named by, or that names none unambiguously."""
    kind = draw(st.sampled_from([
        "ambiguous", "escaped-unreserved", "not-utf8", "upper-letter-escape", "xmpp-escape",
        "apostrophe", "slashes", "long", "empty", "blank", "padded", "empty-part", "tenant",
        "bracket-seen", "type"]))
    name = draw(seen_name)
    if kind == "ambiguous":  # a %XX escape beside a character a node never holds
        return name + " " + draw(st.sampled_from(["%20", "%25", "%C3%A9", "%2f"])) + name
    if kind == "escaped-unreserved":  # Jitsi's client never escapes these
        return jitsi_node_oracle(name) + draw(st.sampled_from(["%61", "%2D", "%7e", "%30"]))
    if kind == "not-utf8":
        return jitsi_node_oracle(name) + draw(st.sampled_from(["%ff", "%c3", "%80%80"]))
    if kind == "upper-letter-escape":  # Jitsi lower-cases before it encodes: É is é
        return draw(st.sampled_from(["caf%c3%89", "%d0%96", "%ce%a3"]))
    if kind == "xmpp-escape":
        return name + draw(st.sampled_from(["\\2f", "\\20", "\\40", "\\5C"])) + name
    if kind == "apostrophe":
        return name + draw(st.sampled_from(["'", "\uff07", "%27"])) + name
    if kind == "slashes":
        return "/".join(draw(st.lists(seen_name, min_size=3, max_size=4)))
    if kind == "long":
        return name + "a" * 1024
    if kind == "empty":
        return ""
    if kind == "blank":
        return draw(st.text(alphabet=ASCII_SPACE, min_size=1, max_size=3))
    if kind == "padded":
        return draw(st.text(alphabet=ASCII_SPACE, min_size=1, max_size=2)) + name
    if kind == "empty-part":
        return draw(st.sampled_from([name + "/", "/" + name, "/"]))
    if kind == "tenant":  # a tenant is one ASCII DNS label
        return draw(st.sampled_from(["ten.ant", "café", "a b", "x" * 64])) + "/" + name
    if kind == "bracket-seen":  # [tenant] then a room that is not a node
        return "[acme]" + name + " " + name
    return draw(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                          st.binary(max_size=8), st.lists(st.text(max_size=3), max_size=2)))


room_segment = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                           exclude_characters="\"&'/:<>@"),
    min_size=1, max_size=20)
room_text = st.one_of(
    room_segment,
    st.tuples(room_segment, room_segment).map("/".join),
    st.text(max_size=30),
    st.text(alphabet="aB/ *@:<>&'\"\t\x00", max_size=12),
)
any_value = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.binary(max_size=8),
                      st.text(max_size=12), st.lists(st.text(max_size=3), max_size=2))
