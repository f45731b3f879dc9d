"""A second GeoIP DB that disagrees with the test DB on chosen ranges: the witness the GeoIP
evidence and the census compare against (geoip.witness in the config)."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

from joingate.testing.geodb import IPV6_COUNTRY, LOOPBACK_COUNTRY


def write_witness_mmdb(path: Path, disagree: dict[str, str] | None = None) -> Path:
    """A witness DB like the test DB (country_code shape, another writer), except for the
    /24s in `disagree` (country of the test DB → country the witness says): by default HK's
    range is placed in CN and CN's in HK, and TW's is left unplaced."""
    disagree = {"HK": "CN", "CN": "HK"} if disagree is None else disagree
    writer = MMDBWriter(6, "country", ipv4_compatible=True, description="joingate witness DB")
    for table in (LOOPBACK_COUNTRY, IPV6_COUNTRY):
        for country, cidr in table.items():
            if country != "TW":
                writer.insert_network(IPSet([cidr]),
                                      {"country_code": disagree.get(country, country)})
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path
