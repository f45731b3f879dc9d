"""Location evidence in the engine: corrections over both databases, and a witness database
whose disagreement about a restricted country makes a verdict 'disputed'."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from joingate.corrections import Correction, CorrectionTable, build_correction, normalize_network
from joingate.engine import DisputedVerdict, Engine, build_snapshot
from joingate.errors import InvalidInput
from joingate.geo import Disputed, GeoReader, open_geoip
from joingate.jurisdiction import jurisdictions
from joingate.restrictions import Restriction
from joingate.testing.geodb import address, write_test_mmdb
from tests.support.witness import write_witness_mmdb

NOW = datetime(2026, 6, 4, 12, 0, 0, tzinfo=UTC)
T = NOW.timestamp()
CN, HK, TW, DE = address("CN"), address("HK"), address("TW"), address("DE")


def restriction(id: int, countries: tuple[str, ...] = ("CN",), mode: str = "block",
                rooms: tuple[str, ...] = ("june4",)) -> Restriction:
    return Restriction(id=id, rooms=rooms, countries=countries,
                       starts_at=NOW - timedelta(hours=1), ends_at=None, reason="t",
                       request=None, mode=mode, created_at=NOW, created_by="t")


def correction(id: int, network: str, country: str, removed: bool = False) -> Correction:
    return Correction(id=id, network=network, country=country, reason="t", created_at=NOW,
                      created_by="t", removed_at=NOW if removed else None)


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[GeoReader]:
    primary = write_test_mmdb(tmp_path / "primary.mmdb")
    witness = write_witness_mmdb(tmp_path / "witness.mmdb")
    with open_geoip(str(primary), witness=str(witness), verify=True) as geo:
        yield geo


def engine(geo: GeoReader, *rules: Restriction, disputed: str = "allow") -> Engine:
    made = Engine(geo, "allow", disputed)
    made.snapshot = build_snapshot(rules, NOW)
    return made


# -- corrections ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "canonical"), [
    ("203.0.113.0/24", "203.0.113.0/24"), ("203.0.113.77/24", "203.0.113.0/24"),
    ("10.0.0.0/8", "10.0.0.0/8"), (" 2001:DB8:1::/48 ", "2001:db8:1::/48"),
    ("2001:db8::/32", "2001:db8::/32")])
def test_networks_of_at_least_a_24_or_48_are_accepted(text: str, canonical: str) -> None:
    assert normalize_network(text) == canonical


@pytest.mark.parametrize("text", ["203.0.113.7/32", "203.0.113.0/25", "203.0.113.7",
                                  "2001:db8:1::/49", "2001:db8::1/128", "2001:db8::1",
                                  "banana/24", "", "203.0.113.0/33", 24, None])
def test_a_network_narrower_than_24_or_48_is_refused_naming_network(text: object) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_network(text)
    assert info.value.field == "network"


@pytest.mark.parametrize(("fields", "field"), [
    ({"network": "203.0.113.0/24", "country": "ZZ", "reason": "r"}, "country"),
    ({"network": "203.0.113.0/24", "country": "HK", "reason": " "}, "reason"),
    ({"network": "203.0.113.9/31", "country": "HK", "reason": "r"}, "network")])
def test_build_correction_names_the_bad_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        build_correction(**fields, table=jurisdictions())
    assert info.value.field == field


def test_the_longest_matching_prefix_wins_and_removed_ones_do_not_count() -> None:
    table = CorrectionTable([correction(1, "127.0.0.0/16", "DE"),
                             correction(2, "127.0.2.0/24", "CN"),
                             correction(3, "127.0.3.0/24", "US", removed=True),
                             correction(4, "2001:db8::/32", "JP"),
                             correction(5, "2001:db8:2::/48", "TW")])
    assert len(table) == 4
    assert table.country("127.0.2.9") == "CN"
    assert table.country("127.0.3.9") == "DE"
    assert table.country("127.1.0.1") is None
    assert table.country("2001:db8:2::1") == "TW"
    assert table.country("2001:db8:3::1") == "JP"
    assert table.country("2001:db9::1") is None


def test_a_correction_overrides_both_databases_and_clears_the_cache(
        witnessed: GeoReader) -> None:
    assert isinstance(witnessed.country(HK), Disputed)
    assert witnessed.set_corrections([correction(1, "127.0.2.0/24", "HK")]) is True
    assert witnessed.cache_len == 0
    found = witnessed.country(HK)
    assert found == "HK" and not isinstance(found, Disputed)
    assert witnessed.country("::ffff:127.0.2.10") == "HK"  # mapped: the IPv4 correction
    assert witnessed.set_corrections([correction(1, "127.0.2.0/24", "HK")]) is False
    assert witnessed.set_corrections([correction(1, "127.0.2.0/24", "HK", removed=True)])
    assert isinstance(witnessed.country(HK), Disputed)


# -- witness --------------------------------------------------------------------------------

def test_the_witness_disagreement_is_carried_with_the_primary_country(
        witnessed: GeoReader) -> None:
    hk = witnessed.country(HK)
    assert hk == "HK" and isinstance(hk, Disputed) and hk.witness == "CN"
    assert witnessed.country(DE) == "DE" and not isinstance(witnessed.country(DE), Disputed)
    # The witness does not place TW: no dispute, the primary's answer stands.
    assert witnessed.country(TW) == "TW" and not isinstance(witnessed.country(TW), Disputed)
    assert witnessed.witness_info() is not None


@pytest.mark.parametrize(("setting", "decision"), [("allow", "allow"), ("deny", "deny")])
def test_a_disagreement_about_a_restricted_country_is_disputed(
        witnessed: GeoReader, setting: str, decision: str) -> None:
    e = engine(witnessed, restriction(7), disputed=setting)
    for ip, primary, other in ((HK, "HK", "CN"), (CN, "CN", "HK")):
        verdict = e.decide("june4", ip, T)
        assert isinstance(verdict, DisputedVerdict)
        assert (verdict.decision, verdict.rule, verdict.country, verdict.witness_country,
                verdict.restriction) == (decision, "disputed", primary, other, 7)
        assert verdict.as_json()["witness_country"] == other
        assert e.decide("june4", ip, T) is verdict  # memoised like every verdict
    assert e.decide("june4", DE, T).rule == "not-covered"


def test_a_disagreement_that_changes_nothing_is_not_disputed(witnessed: GeoReader) -> None:
    both = engine(witnessed, restriction(1, ("CN", "HK")))
    assert both.decide("june4", HK, T).rule == "block"  # restricted whichever is right
    elsewhere = engine(witnessed, restriction(1, ("CN",), rooms=("other",)))
    assert elsewhere.decide("june4", HK, T).rule == "no-restriction"
    only = engine(witnessed, restriction(1, ("CN", "HK"), mode="allow-only"))
    assert only.decide("june4", HK, T).decision == "allow"
    assert only.decide("june4", HK, T).rule == "not-covered"


def test_allow_only_disagreement_is_disputed(witnessed: GeoReader) -> None:
    e = engine(witnessed, restriction(3, ("HK",), mode="allow-only"), disputed="deny")
    verdict = e.decide("june4", HK, T)  # primary HK (admitted), witness CN (not admitted)
    assert isinstance(verdict, DisputedVerdict) and verdict.decision == "deny"
    assert "disputed" in verdict.message


def test_disputed_decisions_are_counted_as_disputed(witnessed: GeoReader) -> None:
    e = engine(witnessed, restriction(7))
    e.count(e.decide("june4", HK, T), T, "allowed")
    e.count(e.decide("june4", DE, T), T, "allowed")
    day = int(T // 86400)
    assert e.take_counts() == {(day, 7, "HK", "disputed"): 1, (day, 0, "DE", "allowed"): 1}


def test_a_witness_that_fails_the_check_stops_the_opening(tmp_path: Path) -> None:
    from joingate.errors import GeoIPError
    from joingate.testing.geodb import damage_data_section

    primary = write_test_mmdb(tmp_path / "primary.mmdb")
    witness = damage_data_section(write_witness_mmdb(tmp_path / "witness.mmdb"))
    with pytest.raises(GeoIPError) as info:
        open_geoip(str(primary), witness=str(witness), verify=True)
    assert info.value.field == "geoip.witness"
    with pytest.raises(GeoIPError) as missing:
        open_geoip(str(primary), witness=str(tmp_path / "absent.mmdb"))
    assert missing.value.field == "geoip.witness"


def test_a_replaced_witness_is_checked_before_it_is_used(tmp_path: Path) -> None:
    from joingate.testing.geodb import damage_data_section

    primary = write_test_mmdb(tmp_path / "primary.mmdb")
    witness = write_witness_mmdb(tmp_path / "witness.mmdb")
    with open_geoip(str(primary), witness=str(witness), verify=True) as geo:
        assert isinstance(geo.country(HK), Disputed)
        damage_data_section(write_witness_mmdb(tmp_path / "bad.mmdb")).replace(witness)
        assert geo.maybe_reload() is False
        assert "geoip.witness" in (geo.witness_reload_error or "")
        assert geo.last_reload_error is None
        assert isinstance(geo.country(HK), Disputed)  # the old witness still answers
        write_witness_mmdb(tmp_path / "agrees.mmdb", disagree={}).replace(witness)
        assert geo.maybe_reload() is True
        assert geo.witness_reload_error is None
        assert not isinstance(geo.country(HK), Disputed)


@pytest.mark.parametrize("setting", ["allow", "deny"])
def test_a_session_learns_disputed_verdicts_per_geoip_disputed(
        witnessed: GeoReader, setting: str) -> None:
    # The primary places HK's address in HK, the witness in CN: refused only with "deny".
    e = engine(witnessed, restriction(7), disputed=setting)
    assert e.denied_rooms(HK, T) == (("june4",) if setting == "deny" else ())
    # Corrected to a plain HK (equal to the disputed placement as a str): a placement of
    # its own, never answered from the disputed one's memo.
    witnessed.set_corrections([correction(1, "127.0.2.0/24", "HK")])
    assert e.denied_rooms(HK, T) == ()
