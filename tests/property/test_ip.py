"""Addresses: joingate.geo.normalize_ip and GeoReader.country over every spelling a client, a
proxy or Prosody may hand us, and the garbage around them."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.geo import GeoReader, is_dotted_quad, normalize_ip
from joingate.testing.geodb import address
from tests.property.strategies import (
    broken_address,
    carrying,
    garbage,
    ipv4,
    ipv6,
    legacy_ipv4,
    placed_v4,
    placed_v6,
    spaces,
    zone_ids,
)


def _tunnels_v4(addr: ipaddress.IPv6Address) -> bool:
    return (addr.ipv4_mapped or addr.sixtofour or addr.teredo) is not None


def _refused(fn: object, value: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        fn(value)  # type: ignore[operator]
    return caught.value


# -- normalize_ip ---------------------------------------------------------------------------

@given(ipv4, spaces, spaces)
def test_ipv4_normalizes_to_its_dotted_quad(addr: ipaddress.IPv4Address, before: str,
                                            after: str) -> None:
    assert normalize_ip(before + str(addr) + after) == str(addr)


@given(ipv6, spaces, spaces, st.booleans(), st.booleans())
def test_ipv6_normalizes_to_its_compressed_form(addr: ipaddress.IPv6Address, before: str,
                                                after: str, exploded: bool,
                                                upper: bool) -> None:
    assume(not _tunnels_v4(addr))
    text = addr.exploded if exploded else str(addr)
    assert normalize_ip(before + (text.upper() if upper else text) + after) == str(addr)


@given(ipv6, zone_ids)
@example(ipaddress.IPv6Address("fe80::1"), "eth0")
def test_a_zone_id_is_dropped(addr: ipaddress.IPv6Address, zone: str) -> None:
    assert normalize_ip(f"{addr}%{zone}") == normalize_ip(str(addr))


@given(ipv4.flatmap(lambda v4: st.tuples(st.just(v4), carrying(v4))))
@example((ipaddress.IPv4Address("127.0.1.10"), "::ffff:127.0.1.10"))
def test_mapped_6to4_and_teredo_give_the_ipv4_they_carry(
        pair: tuple[ipaddress.IPv4Address, str]) -> None:
    v4, v6 = pair
    assert normalize_ip(v6) == str(v4)


@given(legacy_ipv4())
@example("127.1")
@example("0x7f.0.0.1")
@example("0177.0.0.1")
@example("127.000.000.001")
@example("2130706433")
@example("1.2.3.04")
def test_legacy_ipv4_spellings_are_refused(text: str) -> None:
    assert _refused(normalize_ip, text).field == "ip"


@given(broken_address())
@example("")
@example("   ")
@example("1.2.3.4/32")
@example("[::1]")
@example("::ffff:1.2.3")
@example("%eth0")
@example("\u0661.2.3.4")
def test_text_that_is_no_address_is_refused_naming_ip(text: str) -> None:
    assert _refused(normalize_ip, text).field == "ip"


@given(garbage)
def test_garbage_is_refused_naming_ip_or_normalized_canonically(text: str) -> None:
    """Arbitrary near-miss text (it may happen to be an address): refused naming "ip", or
    accepted as an address in its canonical spelling — never another exception."""
    try:
        result = normalize_ip(text)
    except InvalidInput as exc:
        assert exc.field == "ip"
        return
    # Accepted: the result is an address in its canonical spelling, and stable.
    assert str(ipaddress.ip_address(result)) == result
    assert normalize_ip(result) == result


# -- is_dotted_quad: the spellings that go to the C reader as they are ----------------------

def _canonical_ipv4(text: str) -> bool:
    try:
        return str(ipaddress.IPv4Address(text)) == text
    except ValueError:
        return False


@given(st.one_of(garbage, legacy_ipv4(), broken_address(), ipv4.map(str)))
@example("1.2.3.4")
@example("255.255.255.255")
@example("0.0.0.0")
@example("1.2.3.04")
@example("1.2.3.256")
@example("1.2.3.4.")
@example(".1.2.3.4")
@example("1.2.3.4\x00")
@example("1.2.3.4 ")
@example("\uff11.2.3.4")
@example("\ud800")
def test_only_a_canonical_dotted_quad_skips_normalize_ip(text: str) -> None:
    assert is_dotted_quad(text) == _canonical_ipv4(text)


@given(ipv4)
def test_every_ipv4_address_in_its_dotted_quad_skips_normalize_ip(
        addr: ipaddress.IPv4Address) -> None:
    assert is_dotted_quad(str(addr))


# -- GeoReader.country ----------------------------------------------------------------------

@given(placed_v4, spaces, spaces)
def test_the_test_db_places_its_ipv4_ranges(geo: GeoReader, pair: tuple[object, str],
                                            before: str, after: str) -> None:
    addr, country = pair
    assert geo.country(str(addr)) == country
    assert geo.country(before + str(addr) + after) == country


@given(placed_v6, zone_ids)
def test_the_test_db_places_its_ipv6_ranges_with_or_without_zone(
        geo: GeoReader, pair: tuple[object, str], zone: str) -> None:
    addr, country = pair
    assert geo.country(str(addr)) == country
    assert geo.country(f"{addr}%{zone}") == country
    assert geo.country(str(addr).upper()) == country


@given(placed_v4.flatmap(lambda p: st.tuples(st.just(p), carrying(p[0]))))
def test_a_tunnelled_address_is_placed_where_its_ipv4_is(
        geo: GeoReader, case: tuple[tuple[ipaddress.IPv4Address, str], str]) -> None:
    (_, country), v6 = case
    assert geo.country(v6) == country


@given(ipv4)
def test_an_address_outside_the_test_ranges_is_not_placed(geo: GeoReader,
                                                          addr: ipaddress.IPv4Address) -> None:
    assume(not str(addr).startswith("127.0."))
    assert geo.country(str(addr)) is None


@given(legacy_ipv4())
@example(address("CN").replace("127.0.1.", "127.0.1.0"))  # 127.0.1.010: octal 8 in C
@example("127.0.266")  # 127.0.1.10 in inet_aton's three-part form
def test_country_refuses_legacy_spellings_the_c_reader_would_accept(geo: GeoReader,
                                                                   text: str) -> None:
    assert _refused(geo.country, text).field == "ip"


@given(garbage)
@example("\uff11.2.3.4")  # fullwidth digit: \d matches it
@example("\u0661\u0662\u0667.0.1.10")  # Arabic-Indic digits, "127.0.1.10"
def test_country_agrees_with_normalize_ip(geo: GeoReader, text: str) -> None:
    """Whatever the lookup accepts, normalize_ip accepts, and they place it the same; whatever
    one refuses, both refuse naming "ip" — never any other exception."""
    try:
        canonical = normalize_ip(text)
    except InvalidInput:
        assert _refused(geo.country, text).field == "ip"
        return
    assert geo.country(text) == geo.country(canonical)
