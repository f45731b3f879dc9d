"""Hypothesis strategies for joingate's inputs: addresses in every spelling, country codes,
meeting names, date-times and the garbage around them."""

from __future__ import annotations

import ipaddress
import string

from hypothesis import strategies as st

from joingate.jurisdiction import jurisdictions
from tests.support.geodb import IPV6_COUNTRY, LOOPBACK_COUNTRY

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
