"""A small MaxMind-format country DB with exact ranges, written with mmdb-writer.

Loopback ranges are placed in countries so that real clients can join "from" a country by
binding their socket to a 127.0.x.y source address. 127.0.0.1 and ::1 stay unplaced.
"""

from __future__ import annotations

from pathlib import Path

import maxminddb
from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Loopback /24 per country: a client bound to 127.0.<n>.y appears to be in that country.
LOOPBACK_COUNTRY = {
    "CN": "127.0.1.0/24",
    "HK": "127.0.2.0/24",
    "US": "127.0.3.0/24",
    "MO": "127.0.4.0/24",
    "TW": "127.0.5.0/24",
    "GU": "127.0.6.0/24",
    "DE": "127.0.7.0/24",
}
# Whole /16s for load runs that need thousands of distinct addresses per country (bench/).
LOOPBACK_COUNTRY_WIDE = {
    "CN": "127.1.0.0/16",
    "HK": "127.2.0.0/16",
    "US": "127.3.0.0/16",
    "DE": "127.7.0.0/16",
}
# Addresses a web proxy passes in X-Forwarded-For (never dialled: only header values). They are
# outside loopback, because a BOSH or websocket session left with a loopback address means the
# proxy passed no header, and mod_joingate treats that participant as unlocated.
FORWARDED_COUNTRY = {
    "CN": "198.18.1.0/24",
    "HK": "198.18.2.0/24",
    "US": "198.18.3.0/24",
    "TW": "198.18.5.0/24",
}
# Documentation-range IPv6 prefixes for unit tests of the v6 path.
IPV6_COUNTRY = {
    "CN": "2001:db8:1::/48",
    "HK": "2001:db8:2::/48",
}


def address(country: str, host: int = 10) -> str:
    """A loopback address placed in `country` by the test DB (e.g. CN -> 127.0.1.10)."""
    base = LOOPBACK_COUNTRY[country].split("/")[0].rsplit(".", 1)[0]
    return f"{base}.{host}"


def wide_address(country: str, n: int) -> str:
    """The n-th (0-based, up to 65,023) address of `country`'s wide loopback range, all distinct
    (e.g. CN, 0 -> 127.1.0.1; hosts .1 to .254 of each /24)."""
    base = LOOPBACK_COUNTRY_WIDE[country].split(".")[1]
    third, host = divmod(n, 254)
    if third > 255:
        raise ValueError(f"more than 65,024 addresses asked of {country}")
    return f"127.{base}.{third}.{host + 1}"


def forwarded_address(country: str, host: int = 10) -> str:
    """An address a trusted proxy forwards for, placed in `country` (e.g. CN -> 198.18.1.10)."""
    base = FORWARDED_COUNTRY[country].split("/")[0].rsplit(".", 1)[0]
    return f"{base}.{host}"


def write_test_mmdb(path: Path, shape: str = "maxmind") -> Path:
    """Write the test DB. shape="maxmind" stores {"country": {"iso_code"}} records and
    database_type "GeoLite2-Country"; shape="country_code" stores {"country_code"} records and
    database_type "country", like the ip-location-db databases."""
    if shape == "maxmind":
        writer = MMDBWriter(6, "GeoLite2-Country", ipv4_compatible=True,
                            description="joingate test DB")
    elif shape == "country_code":
        writer = MMDBWriter(6, "country", ipv4_compatible=True, description="joingate test DB")
    else:
        raise ValueError(f"unknown shape {shape!r}")
    for table in (LOOPBACK_COUNTRY, LOOPBACK_COUNTRY_WIDE, FORWARDED_COUNTRY,
                  IPV6_COUNTRY):
        for country, cidr in table.items():
            record: dict[str, object]
            if shape == "maxmind":
                record = {"country": {"iso_code": country}}
            else:
                record = {"country_code": country}
            writer.insert_network(IPSet([cidr]), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def damage_data_section(path: Path, fill: bytes = b"\xff") -> Path:
    """Overwrite the data section of the .mmdb at `path` with `fill`, keeping its search tree
    and metadata intact: it still opens, and addresses the tree leaves unplaced (127.0.0.1)
    still look up fine; every placed address fails to decode."""
    data = path.read_bytes()
    meta_at = data.rfind(b"\xab\xcd\xefMaxMind.com")
    with maxminddb.open_database(str(path)) as reader:
        meta = reader.metadata()
        start = meta.node_count * meta.record_size // 4 + 16
    body = (fill * (meta_at - start))[: meta_at - start]
    path.write_bytes(data[:start] + body + data[meta_at:])
    return path
