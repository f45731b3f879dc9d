"""joingate.geocheck: the full check a GeoIP database passes before it is used, on real .mmdb
files (mmdb-writer) and on the shipped DB."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from joingate.errors import GeoIPError
from joingate.geo import builtin_database_path, open_geoip
from joingate.geocheck import (
    CheckReport,
    SelfTest,
    SelfTestEntry,
    _node_records,
    check_database,
    load_selftest,
    open_reader,
)
from joingate.testing.geodb import damage_data_section, write_test_mmdb


def _check(path: Path, selftest: SelfTest | None = None) -> CheckReport:
    with open_reader(str(path), str(path)) as reader:
        return check_database(path.read_bytes(), reader, str(path), selftest)


def _db(path: Path, networks: dict[str, object], database_type: str = "country") -> Path:
    writer = MMDBWriter(6, database_type, ipv4_compatible=True)
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)  # type: ignore[arg-type]
    writer.to_db_file(str(path))
    return path


@pytest.mark.parametrize("shape", ["maxmind", "country_code"])
def test_the_test_databases_pass(tmp_path: Path, shape: str) -> None:
    report = _check(write_test_mmdb(tmp_path / "t.mmdb", shape=shape))
    assert report.records == 7 and report.countries == 7
    assert report.world is False


def test_the_shipped_database_passes_the_whole_selftest() -> None:
    report = _check(builtin_database_path())
    assert report.world is True
    assert report.selftest_placed == len(load_selftest().entries)
    assert report.countries > 200


def test_the_selftest_list_cites_a_source_for_every_entry() -> None:
    raw = json.loads((resources.files("joingate.seeds") / "geoip" / "selftest.json")
                     .read_text(encoding="utf-8"))
    assert raw["entries"]
    for entry in raw["entries"]:
        assert entry["holder"] and entry["source"]
        assert len(entry["country"]) == 2 and entry["country"].isupper()


@pytest.mark.parametrize("fill", [b"\xff", b"\x00", b"\x5a", b"\xe1\x42\x43\xff"])
def test_a_damaged_data_section_is_refused(tmp_path: Path, fill: bytes) -> None:
    path = damage_data_section(write_test_mmdb(tmp_path / "t.mmdb"), fill)
    with open_reader(str(path), str(path)) as reader:
        assert reader.get("127.0.0.1") is None  # the old probe passes
        with pytest.raises(GeoIPError) as info:
            check_database(path.read_bytes(), reader, str(path))
    assert info.value.field == "geoip.database"
    assert str(path) in info.value.message


def test_a_tree_pointing_past_the_data_section_is_refused(tmp_path: Path) -> None:
    path = write_test_mmdb(tmp_path / "t.mmdb")
    data = bytearray(path.read_bytes())
    with open_reader(str(path), "t") as reader:
        nodes = reader.metadata().node_count
    # The last node's right record (24-bit) made the largest possible data pointer.
    at = (nodes - 1) * 6 + 3
    data[at:at + 3] = b"\xff\xff\xff"
    path.write_bytes(bytes(data))
    with pytest.raises(GeoIPError, match="past its data section"):
        _check(path)


@pytest.mark.parametrize("database_type", ["GeoLite2-City", "GeoLite2-ASN", "ipinfo asn"])
def test_a_database_that_is_not_a_country_db_is_refused(tmp_path: Path,
                                                        database_type: str) -> None:
    path = _db(tmp_path / "x.mmdb", {"127.0.1.0/24": {"country_code": "CN"}}, database_type)
    with pytest.raises(GeoIPError, match="not a country database"):
        _check(path)


@pytest.mark.parametrize("record", [{"country_code": "CHN"}, {"country": {"iso_code": 86}},
                                    {"country_code": ""}])
def test_a_record_with_a_malformed_country_is_refused(tmp_path: Path, record: object) -> None:
    path = _db(tmp_path / "x.mmdb", {"127.0.1.0/24": {"country_code": "CN"},
                                     "127.0.2.0/24": record})
    with pytest.raises(GeoIPError, match="two-letter"):
        _check(path)


def test_a_database_that_places_nothing_is_refused(tmp_path: Path) -> None:
    path = _db(tmp_path / "x.mmdb", {"127.0.1.0/24": {"continent": {"code": "AS"}}})
    with pytest.raises(GeoIPError, match="places no address"):
        _check(path)


ENTRY = SelfTestEntry("202.112.0.1", "CN", "CERNET", "test")


def test_a_partial_database_must_place_correctly_what_it_places(tmp_path: Path) -> None:
    wrong = _db(tmp_path / "wrong.mmdb", {"202.112.0.0/16": {"country_code": "HK"}})
    with pytest.raises(GeoIPError, match=r"202\.112\.0\.1 \(CERNET\) is placed in HK, "
                                         "expected CN"):
        _check(wrong, SelfTest(10**9, (ENTRY,)))
    right = _db(tmp_path / "right.mmdb", {"202.112.0.0/16": {"country_code": "CN"}})
    assert _check(right, SelfTest(10**9, (ENTRY,))).selftest_placed == 1
    elsewhere = _db(tmp_path / "else.mmdb", {"127.0.1.0/24": {"country_code": "CN"}})
    assert _check(elsewhere, SelfTest(10**9, (ENTRY,))).selftest_placed == 0


def test_a_world_database_must_place_every_entry(tmp_path: Path) -> None:
    path = _db(tmp_path / "x.mmdb", {"127.0.1.0/24": {"country_code": "CN"}})
    with pytest.raises(GeoIPError, match="placed in no country, expected CN"):
        _check(path, SelfTest(1, (ENTRY,)))


def _spec_records(tree: bytes, size: int) -> list[int]:
    """The records of each node as the MaxMind DB spec defines them, one node at a time."""
    out = []
    step = size // 4
    for at in range(0, len(tree), step):
        node = tree[at:at + step]
        if size == 24:
            out += [int.from_bytes(node[:3], "big"), int.from_bytes(node[3:], "big")]
        elif size == 28:
            out += [((node[3] & 0xF0) << 20) | int.from_bytes(node[:3], "big"),
                    ((node[3] & 0x0F) << 24) | int.from_bytes(node[4:], "big")]
        else:
            out += [int.from_bytes(node[:4], "big"), int.from_bytes(node[4:], "big")]
    return out


@pytest.mark.parametrize("size", [24, 28, 32])
def test_bulk_node_reading_matches_the_spec(size: int) -> None:
    rng = random.Random(size)
    nodes = 70_000  # more than one chunk
    tree = rng.randbytes(nodes * size // 4)
    bulk = [v for chunk in _node_records(tree, nodes, size) for v in chunk]
    assert bulk == _spec_records(tree, size)


def test_a_damaged_database_opened_without_the_check_answers_unplaced(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = damage_data_section(write_test_mmdb(tmp_path / "t.mmdb"))
    with open_geoip(str(path)) as geo:  # the CLI opens without the full check
        assert geo.country("127.0.1.10") is None
        assert geo.peek("2001:db8:1::5") is None
        assert geo.lookup_errors == 2
    assert "127.0.1.10" not in caplog.text and "2001:db8:1::5" not in caplog.text
    assert "treated as unplaced" in caplog.text


def test_the_service_opens_with_the_check(tmp_path: Path) -> None:
    path = damage_data_section(write_test_mmdb(tmp_path / "t.mmdb"))
    with pytest.raises(GeoIPError) as info:
        open_geoip(str(path), verify=True)
    assert info.value.field == "geoip.database"


def test_a_damaged_replacement_is_refused_and_the_old_database_kept(tmp_path: Path) -> None:
    path = write_test_mmdb(tmp_path / "t.mmdb")
    with open_geoip(str(path)) as geo:
        assert geo.country("127.0.1.10") == "CN"
        fresh = damage_data_section(write_test_mmdb(tmp_path / "new.mmdb"))
        fresh.replace(path)
        assert geo.maybe_reload() is False
        assert "damaged" in (geo.last_reload_error or "")
        assert geo.country("127.0.2.10") == "HK"
        assert geo.lookup_errors == 0
