"""joingate.geo against real .mmdb files written with mmdb-writer (joingate/testing/geodb.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from joingate.errors import GeoIPError, InvalidInput
from joingate.geo import (
    BUILTIN,
    GeoReader,
    country_of_record,
    normalize_ip,
    open_geoip,
)
from joingate.testing.geodb import address, write_test_mmdb

CN = address("CN")
HK = address("HK")


def _write_db(path: Path, networks: dict[str, str], ip_version: int = 6,
              database_type: str = "country") -> Path:
    """A DB with one {"country_code"} record per network, for tests that need other answers."""
    writer = MMDBWriter(ip_version, database_type, ipv4_compatible=ip_version == 6,
                        languages=["en"], description=f"{database_type} test DB")
    for cidr, country in networks.items():
        writer.insert_network(IPSet([cidr]), {"country_code": country})
    writer.to_db_file(str(path))
    return path


def _replace_atomically(target: Path, write: Any) -> None:
    """Write the new file under a temporary name, then rename it over `target`."""
    tmp = target.with_name(target.name + ".new")
    write(tmp)
    os.replace(tmp, target)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A test DB of this test's own, which the test may replace or overwrite."""
    return write_test_mmdb(tmp_path / "country.mmdb")


# -- lookups --------------------------------------------------------------------------------

PLACED = [
    (CN, "CN"),
    (HK, "HK"),
    (address("US"), "US"),
    (address("MO"), "MO"),
    (address("TW"), "TW"),
    ("127.0.1.255", "CN"),
    ("2001:db8:1::5", "CN"),
    ("2001:db8:2:ffff::1", "HK"),
    ("2001:DB8:1::5", "CN"),
    # IPv4-mapped IPv6, compressed and uncompressed, any case
    ("::ffff:127.0.1.5", "CN"),
    ("::FFFF:127.0.2.5", "HK"),
    ("0:0:0:0:0:ffff:7f00:105", "CN"),
    ("0000:0000:0000:0000:0000:ffff:7f00:0105", "CN"),
    # zone ids are dropped
    ("2001:db8:1::5%eth0", "CN"),
    ("::ffff:127.0.1.5%1", "CN"),
    # unplaced
    ("127.0.0.1", None),
    ("127.0.8.1", None),
    ("::1", None),
    ("fe80::1%eth0", None),
    ("2001:db8:3::1", None),
    ("10.0.0.1", None),
]


@pytest.mark.parametrize("shape", ["maxmind", "country_code"])
@pytest.mark.parametrize(("ip", "expected"), PLACED)
def test_country_reads_both_record_shapes(tmp_path: Path, shape: str, ip: str,
                                          expected: str | None) -> None:
    path = write_test_mmdb(tmp_path / f"{shape}.mmdb", shape=shape)
    with open_geoip(str(path)) as reader:
        assert reader.country(ip) == expected
        assert reader.peek(ip) == expected


@pytest.mark.parametrize(("shape", "database_type"),
                         [("maxmind", "GeoLite2-Country"), ("country_code", "country")])
def test_info_describes_the_database(tmp_path: Path, shape: str, database_type: str) -> None:
    path = write_test_mmdb(tmp_path / "db.mmdb", shape=shape)
    with open_geoip(str(path)) as reader:
        info = reader.info()
        assert info.database_type == database_type
        assert info.ip_version == 6
        assert info.path == str(path)
        assert info.node_count > 0
        doc = info.as_json()
        assert doc["database_type"] == database_type
        assert doc["build_date"].endswith("Z")
        assert set(doc) == {"path", "database_type", "description", "build_epoch",
                            "build_date", "ip_version", "node_count"}


def test_info_reads_the_english_description(tmp_path: Path) -> None:
    path = _write_db(tmp_path / "db.mmdb", {"127.0.1.0/24": "CN"})
    with open_geoip(str(path)) as reader:
        assert reader.info().description == "country test DB"


GARBAGE = [
    "",
    " ",
    "not-an-ip",
    "256.1.1.1",
    "1.2.3.4.5",
    "127.0.1.5/24",
    "::ffff:999.0.0.1",
    "gggg::1",
    "%eth0",
    "1e3",
    # Legacy inet_aton spellings: not IPv4 addresses (ipaddress and normalize_ip refuse them),
    # and the octal/short forms are read differently by different parsers.
    "127.0.1",
    "127.1",
    "2130706693",
    "0x7f.0.1.5",
    "0177.0.1.5",
    "127.0.1.05",
]


@pytest.mark.parametrize("ip", GARBAGE)
def test_garbage_is_invalid_input_naming_ip_and_is_not_cached(geo: GeoReader, ip: str) -> None:
    for _ in range(2):  # the second call must not be answered from the cache
        with pytest.raises(InvalidInput) as info:
            geo.country(ip)
        assert info.value.field == "ip"
    assert geo.cache_len == 0
    assert geo.hits == 0
    with pytest.raises(InvalidInput):
        geo.peek(ip)


@pytest.mark.parametrize("ip", GARBAGE)
def test_normalize_ip_refuses_garbage(ip: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_ip(ip)
    assert info.value.field == "ip"


@pytest.mark.parametrize(("ip", "canonical"), [
    ("127.0.1.5", "127.0.1.5"),
    (" 127.0.1.5 ", "127.0.1.5"),
    ("::ffff:127.0.1.5", "127.0.1.5"),
    ("0:0:0:0:0:ffff:7f00:105", "127.0.1.5"),
    ("2001:DB8:0:0::1%eth0", "2001:db8::1"),
    ("fe80::1%25", "fe80::1"),
])
def test_normalize_ip_canonical_text(ip: str, canonical: str) -> None:
    assert normalize_ip(ip) == canonical


@pytest.mark.parametrize("ip", [" 127.0.1.5", "127.0.1.5 ", "\t127.0.1.5\n", " ::ffff:127.0.1.5 "])
def test_surrounding_whitespace_is_ignored_on_either_side(geo: GeoReader, ip: str) -> None:
    # normalize_ip strips; a lookup must agree with it whichever side the blank is on.
    assert geo.country(ip) == "CN"


# -- cache ----------------------------------------------------------------------------------

def test_cache_counts_hits_and_misses(geo: GeoReader) -> None:
    assert (geo.hits, geo.misses, geo.cache_len) == (0, 0, 0)
    assert geo.country(CN) == "CN"
    assert (geo.hits, geo.misses, geo.cache_len) == (0, 1, 1)
    assert geo.country(CN) == "CN"
    assert geo.country(CN) == "CN"
    assert (geo.hits, geo.misses, geo.cache_len) == (2, 1, 1)
    assert geo.country("127.0.0.1") is None  # an unplaced answer is cached too
    assert geo.country("127.0.0.1") is None
    assert (geo.hits, geo.misses, geo.cache_len) == (3, 2, 2)


def test_cache_is_a_bounded_lru(mmdb_path: Path) -> None:
    with open_geoip(str(mmdb_path), cache_size=2) as geo:
        geo.country(CN)  # miss: [CN]
        geo.country(HK)  # miss: [CN, HK]
        geo.country(CN)  # hit:  [HK, CN]
        geo.country(address("US"))  # miss, evicts HK (least recently used): [CN, US]
        assert geo.cache_len == 2
        assert (geo.hits, geo.misses) == (1, 3)
        assert geo.country(CN) == "CN"  # still cached
        assert (geo.hits, geo.misses) == (2, 3)
        assert geo.country(HK) == "HK"  # was evicted
        assert (geo.hits, geo.misses) == (2, 4)
        assert geo.cache_len == 2


def test_cache_size_below_one_still_works(mmdb_path: Path) -> None:
    with open_geoip(str(mmdb_path), cache_size=0) as geo:
        assert geo.country(CN) == "CN"
        assert geo.country(HK) == "HK"
        assert geo.cache_len == 1


def test_peek_does_not_touch_the_cache(geo: GeoReader) -> None:
    assert geo.peek(CN) == "CN"
    assert geo.peek(HK) == "HK"
    assert (geo.hits, geo.misses, geo.cache_len) == (0, 0, 0)
    geo.country(CN)
    assert geo.peek(CN) == "CN"
    assert (geo.hits, geo.misses, geo.cache_len) == (0, 1, 1)


# -- reload ---------------------------------------------------------------------------------

def test_maybe_reload_is_a_no_op_while_the_file_is_unchanged(db: Path) -> None:
    with open_geoip(str(db)) as geo:
        geo.country(CN)
        assert geo.maybe_reload() is False
        assert geo.cache_len == 1
        assert geo.last_reload_error is None


def test_atomic_replace_swaps_answers_and_clears_the_cache(db: Path) -> None:
    with open_geoip(str(db)) as geo:
        assert geo.country(CN) == "CN"
        assert geo.country(HK) == "HK"
        first_type = geo.info().database_type
        _replace_atomically(db, lambda p: _write_db(p, {"127.0.1.0/24": "DE"}))
        assert geo.country(CN) == "CN"  # nothing changes until maybe_reload runs
        assert geo.maybe_reload() is True
        assert geo.cache_len == 0
        assert geo.last_reload_error is None
        assert geo.country(CN) == "DE"
        assert geo.country(HK) is None
        assert geo.info().database_type == "country" != first_type
        assert geo.maybe_reload() is False


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize("corrupt", [
    pytest.param(lambda data: b"", id="empty"),
    pytest.param(lambda data: b"not a maxmind db" * 40, id="garbage"),
    pytest.param(_truncated, id="truncated-half"),
    pytest.param(lambda data: data[:-8], id="truncated-tail"),
    pytest.param(lambda data: b"\xff" * 256 + data[256:], id="corrupt-tree"),
])
def test_unreadable_replacement_keeps_the_old_database(db: Path, corrupt: Any) -> None:
    good = db.read_bytes()
    with open_geoip(str(db)) as geo:
        assert geo.country(CN) == "CN"
        _replace_atomically(db, lambda p: p.write_bytes(corrupt(good)))
        assert geo.maybe_reload() is False
        assert geo.last_reload_error is not None
        assert geo.country(CN) == "CN"
        assert geo.peek(HK) == "HK"
        assert geo.cache_len == 1  # the cache of the DB still in use is kept
        # A good replacement afterwards is taken, and clears the error.
        _replace_atomically(db, lambda p: _write_db(p, {"127.0.1.0/24": "DE"}))
        assert geo.maybe_reload() is True
        assert geo.last_reload_error is None
        assert geo.country(CN) == "DE"


def test_reload_error_names_the_configured_file(db: Path) -> None:
    with open_geoip(str(db)) as geo:
        _replace_atomically(db, lambda p: p.write_bytes(b"junk" * 100))
        assert geo.maybe_reload() is False
        assert geo.last_reload_error is not None
        # The operator must learn which file is bad, not an internal memfd path.
        assert str(db) in geo.last_reload_error
        assert "/proc/self/fd" not in geo.last_reload_error


def test_deleted_file_keeps_the_old_database(db: Path) -> None:
    with open_geoip(str(db)) as geo:
        db.unlink()
        assert geo.maybe_reload() is False
        assert geo.last_reload_error is not None
        assert geo.country(CN) == "CN"


def test_overwriting_the_file_in_place_does_not_disturb_lookups(db: Path) -> None:
    good = db.read_bytes()
    replacement = _write_db(db.with_name("other.mmdb"), {"127.0.1.0/24": "DE"}).read_bytes()
    with open_geoip(str(db)) as geo:
        assert geo.country(CN) == "CN"
        with open(db, "r+b") as fh:
            fh.truncate(0)
            fh.flush()
            # The reader works on a private in-memory copy: the truncated file is not read.
            assert geo.country("127.0.1.77") == "CN"
            assert geo.peek("2001:db8:2::9") == "HK"
            # A reload seen mid-rewrite refuses the empty file and keeps answering.
            assert geo.maybe_reload() is False
            assert geo.last_reload_error is not None
            fh.write(good[:100])
            fh.flush()
            assert geo.country("127.0.1.78") == "CN"
            fh.seek(0)
            fh.truncate(0)
            fh.write(replacement)
        assert geo.country("127.0.1.79") == "CN"
        assert geo.maybe_reload() is True
        assert geo.last_reload_error is None
        assert geo.country("127.0.1.80") == "DE"


def test_ipv4_only_database(tmp_path: Path) -> None:
    path = _write_db(tmp_path / "v4.mmdb", {"127.0.1.0/24": "CN"}, ip_version=4)
    with open_geoip(str(path)) as geo:
        assert geo.info().ip_version == 4
        assert geo.country(CN) == "CN"
        assert geo.country("::ffff:127.0.1.5") == "CN"  # mapped: looked up as IPv4
        assert geo.country("2001:db8:1::5") is None
        assert geo.country("::1") is None
        assert geo.peek("2001:db8:1::5") is None
        with pytest.raises(InvalidInput):
            geo.country("2001:db8::zz")


# -- records --------------------------------------------------------------------------------

@pytest.mark.parametrize(("record", "expected"), [
    ({"country": {"iso_code": "CN"}}, "CN"),
    ({"country": {"iso_code": "cn"}}, "CN"),
    ({"country_code": "HK"}, "HK"),
    ({"country_code": "hk"}, "HK"),
    ({"registered_country": {"iso_code": "US"}}, "US"),
    ({"country": {"names": {"en": "Nowhere"}}, "registered_country": {"iso_code": "US"}},
     "US"),
    ({"country": {"iso_code": "CN"}, "registered_country": {"iso_code": "US"}}, "CN"),
    ({"country": {"iso_code": None}, "country_code": "DE"}, "DE"),
    ({"continent": {"code": "EU"}}, None),
    ({"country": "CN"}, None),
    ({"country": {"iso_code": "CHN"}}, None),
    ({"country": {"iso_code": "C1"}}, None),
    ({"country": {"iso_code": 86}}, None),
    ({"country_code": ""}, None),
    ({"country_code": ["CN"]}, None),
    ({"registered_country": "US"}, None),
    ({}, None),
    (None, None),
    ("CN", None),
    (["CN"], None),
    (42, None),
])
def test_country_of_record(record: Any, expected: str | None) -> None:
    assert country_of_record(record) == expected


def test_a_country_is_one_string_object_however_many_addresses_it_places(
        geo: GeoReader) -> None:
    # The cache keeps one answer per address: equal answers share one object, not a copy each.
    cn = [geo.country(f"127.0.1.{n}") for n in range(1, 50)]
    assert set(cn) == {"CN"}
    assert len({id(c) for c in cn}) == 1
    assert country_of_record({"country_code": "cn"}) is country_of_record({"country_code": "CN"})


def test_db_with_odd_records_answers_none(tmp_path: Path) -> None:
    writer = MMDBWriter(6, "country", ipv4_compatible=True)
    writer.insert_network(IPSet(["127.0.1.0/24"]), {"country_code": "CHN"})
    writer.insert_network(IPSet(["127.0.2.0/24"]), {"continent": {"code": "AS"}})
    writer.insert_network(IPSet(["127.0.3.0/24"]),
                          {"registered_country": {"iso_code": "us"}})
    writer.to_db_file(str(tmp_path / "odd.mmdb"))
    with open_geoip(str(tmp_path / "odd.mmdb")) as geo:
        assert geo.country(CN) is None
        assert geo.country(HK) is None
        assert geo.country(address("US")) == "US"


# -- opening --------------------------------------------------------------------------------

def test_open_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GeoIPError) as info:
        open_geoip(str(tmp_path / "absent.mmdb"))
    assert info.value.field == "geoip.database"
    assert "absent.mmdb" in info.value.message


def test_open_directory(tmp_path: Path) -> None:
    with pytest.raises(GeoIPError) as info:
        open_geoip(str(tmp_path))
    assert info.value.field == "geoip.database"


@pytest.mark.parametrize("content", [b"", b"junk" * 100])
def test_open_unreadable_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mmdb"
    path.write_bytes(content)
    with pytest.raises(GeoIPError) as info:
        open_geoip(str(path))
    assert info.value.field == "geoip.database"


def test_open_error_names_the_configured_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.mmdb"
    path.write_bytes(b"junk" * 100)
    with pytest.raises(GeoIPError) as info:
        open_geoip(str(path))
    assert str(path) in info.value.message
    assert "/proc/self/fd" not in info.value.message


def test_open_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_test_mmdb(tmp_path / "home.mmdb")
    monkeypatch.setenv("HOME", str(tmp_path))
    with open_geoip("~/home.mmdb") as geo:
        assert geo.country(CN) == "CN"


def test_context_manager_closes(mmdb_path: Path) -> None:
    with open_geoip(str(mmdb_path)) as geo:
        assert isinstance(geo, GeoReader)
    with pytest.raises((ValueError, InvalidInput)):
        geo.peek(CN)  # the underlying reader is closed: no answer comes out


def test_builtin_database_opens_if_shipped() -> None:
    from joingate.geo import builtin_database_path

    if not builtin_database_path().is_file():
        with pytest.raises(GeoIPError) as info:
            open_geoip(BUILTIN)
        assert info.value.field == "geoip.database"
        return
    with open_geoip(BUILTIN) as geo:
        assert geo.info().path == BUILTIN
        assert geo.country("127.0.0.1") is None
