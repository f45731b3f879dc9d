"""`joingate geoip compare A B`: how far two country databases agree, where it matters.

The exact pass of bench/geoip_agreement.py: both trees are walked span by span over the public
IPv4 space and over global unicast IPv6 (2000::/3 minus Teredo, documentation and 6to4), each
span weighted by its number of addresses (IPv6 in /64s). Reported per family: the share where
both give the same country, where they differ, where only one places the address; per focus
country, how many addresses each puts there and how many of those the other agrees with; and
the largest ranges where they disagree about a focus country.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import maxminddb

from .errors import GeoIPError, InvalidInput
from .geocheck import country_of_record

IPV4_EXCLUDED = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                 "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24",
                 "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
                 "224.0.0.0/4", "240.0.0.0/4")
IPV6_SCOPE = "2000::/3"
IPV6_EXCLUDED = ("2001::/32", "2001:db8::/32", "2002::/16")
FOCUS = ("CN", "HK", "MO", "TW")
Code = str | None


def _open(path: str, field: str) -> maxminddb.Reader:
    try:
        return maxminddb.open_database(path, maxminddb.MODE_MMAP_EXT)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError):
        raise InvalidInput(f"{field}: {path} is not a readable MaxMind DB", field=field) from None


def _segments(scope: str, excluded: Sequence[str]) -> list[tuple[int, int]]:
    """[first, last] integer ranges of `scope` minus `excluded`."""
    whole = ipaddress.ip_network(scope)
    out = [(int(whole.network_address), int(whole.broadcast_address))]
    for text in excluded:
        net = ipaddress.ip_network(text)
        lo, hi = int(net.network_address), int(net.broadcast_address)
        kept: list[tuple[int, int]] = []
        for a, b in out:
            if hi < a or lo > b:
                kept.append((a, b))
                continue
            if a < lo:
                kept.append((a, lo - 1))
            if hi < b:
                kept.append((hi + 1, b))
        out = kept
    return out


def _span(reader: maxminddb.Reader, value: int, version: int) -> tuple[Code, int]:
    """The country at `value` and the last address of the network that holds it (an IPv4-only
    DB holds no IPv6: unplaced to the end of the space)."""
    bits = 32 if version == 4 else 128
    if version == 6 and reader.metadata().ip_version == 4:
        return None, (1 << bits) - 1
    family, size = (socket.AF_INET, 4) if version == 4 else (socket.AF_INET6, 16)
    text = socket.inet_ntop(family, value.to_bytes(size, "big"))
    try:
        record, prefix_len = reader.get_with_prefix_len(text)
    except maxminddb.InvalidDatabaseError:
        raise GeoIPError("a lookup fails in one of the databases (damaged)",
                         field="database") from None
    return country_of_record(record), value | ((1 << (bits - prefix_len)) - 1)


def _walk(a: maxminddb.Reader, b: maxminddb.Reader, first: int, last: int,
          version: int) -> Iterator[tuple[int, int, Code, Code]]:
    """Spans of [first, last] on which both DBs give one answer each, adjacent equal ones
    merged."""
    current: list[Any] | None = None
    pos = first
    while pos <= last:
        code_a, end_a = _span(a, pos, version)
        code_b, end_b = _span(b, pos, version)
        end = min(last, end_a, end_b)
        if current is not None and current[2] == code_a and current[3] == code_b:
            current[1] = end
        else:
            if current is not None:
                yield current[0], current[1], current[2], current[3]
            current = [pos, end, code_a, code_b]
        pos = end + 1
    if current is not None:
        yield current[0], current[1], current[2], current[3]


@dataclass
class Family:
    version: int
    unit: str
    both_same: float = 0.0
    both_differ: float = 0.0
    only_a: float = 0.0
    only_b: float = 0.0
    in_a: Counter[str] = field(default_factory=Counter)
    in_b: Counter[str] = field(default_factory=Counter)
    agree_in: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        placed = self.both_same + self.both_differ + self.only_a + self.only_b

        def share(x: float) -> float:
            return round(100 * x / placed, 2) if placed else 0.0
        return {"family": f"IPv{self.version}", "unit": self.unit,
                "placed_by_either": placed, "agree_pct": share(self.both_same),
                "differ_pct": share(self.both_differ), "only_a_pct": share(self.only_a),
                "only_b_pct": share(self.only_b),
                "countries": {c: {"a": self.in_a[c], "b": self.in_b[c],
                                  "both": self.agree_in[c]}
                              for c in sorted(set(self.in_a) | set(self.in_b))}}


@dataclass(frozen=True)
class Disagreement:
    version: int
    first: int
    last: int
    a: Code
    b: Code

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def as_json(self) -> dict[str, Any]:
        lo = ipaddress.ip_address(self.first) if self.version == 6 \
            else ipaddress.IPv4Address(self.first)
        hi = ipaddress.ip_address(self.last) if self.version == 6 \
            else ipaddress.IPv4Address(self.last)
        nets = [str(n) for n in ipaddress.summarize_address_range(lo, hi)]
        return {"range": f"{lo} - {hi}", "networks": nets[:4], "more_networks": len(nets) > 4,
                "addresses" if self.version == 4 else "slash64s":
                    self.size if self.version == 4 else self.size >> 64,
                "a": self.a, "b": self.b}


def compare(path_a: str, path_b: str, countries: Sequence[str] = FOCUS,
            top: int = 10) -> dict[str, Any]:
    a, b = _open(path_a, "A"), _open(path_b, "B")
    focus = set(countries)
    families: list[Family] = []
    disagreements: list[Disagreement] = []
    try:
        for version, scope, excluded, scale, unit in (
                (4, "0.0.0.0/0", IPV4_EXCLUDED, 1, "addresses"),
                (6, IPV6_SCOPE, IPV6_EXCLUDED, 1 << 64, "/64s")):
            fam = Family(version, unit)
            for first, last in _segments(scope, excluded):
                for start, end, code_a, code_b in _walk(a, b, first, last, version):
                    weight = (end - start + 1) / scale
                    if code_a is None and code_b is None:
                        continue
                    if code_a is None:
                        fam.only_b += weight
                    elif code_b is None:
                        fam.only_a += weight
                    elif code_a == code_b:
                        fam.both_same += weight
                    else:
                        fam.both_differ += weight
                    if code_a in focus:
                        fam.in_a[code_a] += round(weight)
                    if code_b in focus:
                        fam.in_b[code_b] += round(weight)
                    if code_a == code_b and code_a in focus:
                        fam.agree_in[code_a] += round(weight)
                    if code_a != code_b and (code_a in focus or code_b in focus):
                        disagreements.append(Disagreement(version, start, end, code_a, code_b))
            families.append(fam)
    finally:
        a.close()
        b.close()
    largest = sorted(disagreements, key=lambda d: (d.version, -d.size))
    return {"a": path_a, "b": path_b, "countries": sorted(focus),
            "families": [f.as_json() for f in families],
            "largest_disagreements": {
                f"IPv{v}": [d.as_json() for d in largest if d.version == v][:top]
                for v in (4, 6)}}


def render(result: dict[str, Any]) -> str:
    """The comparison as Markdown."""
    focus = ", ".join(result["countries"])
    out = [f"# {Path(result['a']).name} (A) vs {Path(result['b']).name} (B)", "",
           "| family | agree % | differ % | only A places % | only B places % |",
           "|---|---:|---:|---:|---:|"]
    for f in result["families"]:
        out.append(f"| {f['family']} ({f['unit']}) | {f['agree_pct']} | {f['differ_pct']} | "
                   f"{f['only_a_pct']} | {f['only_b_pct']} |")
    out += ["", f"Per country ({focus}): what each puts there, and how much of it both do:", "",
            "| family | country | A | B | both |", "|---|---|---:|---:|---:|"]
    for f in result["families"]:
        for code, n in f["countries"].items():
            out.append(f"| {f['family']} | {code} | {n['a']:,} | {n['b']:,} | {n['both']:,} |")
    for family, items in result["largest_disagreements"].items():
        out += ["", f"Largest {family} ranges where A and B disagree about {focus}:", ""]
        if not items:
            out.append("None.")
            continue
        size = "addresses" if family == "IPv4" else "slash64s"
        out += [f"| range | networks | {size.replace('slash64s', '/64s')} | A | B |",
                "|---|---|---:|---|---|"]
        for d in items:
            nets = ", ".join(d["networks"]) + (", ..." if d["more_networks"] else "")
            out.append(f"| {d['range']} | {nets} | {d[size]:,} | {d['a'] or '-'} | "
                       f"{d['b'] or '-'} |")
    return "\n".join(out) + "\n"
