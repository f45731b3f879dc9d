"""`joingate geoip compare A B`: agreement and the largest disagreements about the countries
that matter, over two databases written for the test."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from joingate.testing.service import JOINGATE

pytestmark = pytest.mark.integration


def _db(path: Path, networks: dict[str, str]) -> Path:
    writer = MMDBWriter(6, "country", ipv4_compatible=True)
    for cidr, country in networks.items():
        writer.insert_network(IPSet([cidr]), {"country_code": country})
    writer.to_db_file(str(path))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JOINGATE, "geoip", "compare", *args], capture_output=True,
                          text=True, timeout=300)


def test_compare_reports_agreement_and_the_largest_disagreements(tmp_path: Path) -> None:
    a = _db(tmp_path / "a.mmdb", {"202.112.0.0/16": "CN", "61.244.0.0/16": "HK",
                                  "8.8.8.0/24": "US", "2001:da8::/32": "CN",
                                  "203.198.0.0/24": "HK"})
    b = _db(tmp_path / "b.mmdb", {"202.112.0.0/16": "HK", "61.244.0.0/16": "HK",
                                  "8.8.8.0/24": "US", "2001:da8::/32": "AU",
                                  "168.95.0.0/16": "TW"})
    result = _run(str(a), str(b), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    v4, v6 = data["families"]
    total = 65536 + 65536 + 256 + 256 + 65536
    assert v4["placed_by_either"] == total
    assert v4["agree_pct"] == round(100 * (65536 + 256) / total, 2)
    assert v4["differ_pct"] == round(100 * 65536 / total, 2)
    assert v4["countries"]["CN"] == {"a": 65536, "b": 0, "both": 0}
    assert v4["countries"]["HK"] == {"a": 65536 + 256, "b": 131072, "both": 65536}
    assert v6["differ_pct"] == 100.0 and v6["countries"]["CN"]["a"] == 1 << 32
    largest = data["largest_disagreements"]["IPv4"]
    assert [(d["networks"], d["a"], d["b"]) for d in largest] == [
        (["168.95.0.0/16"], None, "TW"), (["202.112.0.0/16"], "CN", "HK"),
        (["203.198.0.0/24"], "HK", None)]
    assert data["largest_disagreements"]["IPv6"][0]["networks"] == ["2001:da8::/32"]
    markdown = _run(str(a), str(b), "--countries", "cn,hk", "--top", "1").stdout
    assert "| 202.112.0.0 - 202.112.255.255 | 202.112.0.0/16 | 65,536 | CN | HK |" in markdown
    assert "TW" not in markdown  # not a focus country, and the top-1 range is the CN/HK one


def test_compare_bad_input_exits_2(tmp_path: Path) -> None:
    good = _db(tmp_path / "a.mmdb", {"202.112.0.0/16": "CN"})
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database" * 10)
    for args, field in (((str(good), str(junk)), "B"),
                        ((str(good), str(good), "--countries", "XX"), "countries")):
        result = _run(*args)
        assert result.returncode == 2 and field in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
