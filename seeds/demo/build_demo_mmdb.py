"""Build seeds/demo/loopback-country.mmdb, the GeoIP DB of `joingate demo`.

The demo's simulated participants join from loopback addresses, which no real database places;
this one places 127.0.1.0/24 in CN, 127.0.2.0/24 in HK, 127.0.3.0/24 in US, 127.0.4.0/24 in
MO, 127.0.5.0/24 in TW and 127.0.7.0/24 in DE, in the same record shape as the shipped DB.

    python seeds/demo/build_demo_mmdb.py      (needs the PyPI package mmdb-writer)
"""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

RANGES = {"CN": "127.0.1.0/24", "HK": "127.0.2.0/24", "US": "127.0.3.0/24",
          "MO": "127.0.4.0/24", "TW": "127.0.5.0/24", "DE": "127.0.7.0/24"}


def main() -> None:
    writer = MMDBWriter(6, "country", ipv4_compatible=True,
                        description="joingate demo: loopback ranges placed in countries")
    for country, cidr in RANGES.items():
        writer.insert_network(IPSet([cidr]), {"country_code": country})
    out = Path(__file__).with_name("loopback-country.mmdb")
    writer.to_db_file(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
