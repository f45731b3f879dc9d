#!/usr/bin/env python3
"""Agreement of candidate country DBs (MaxMind DB format) with a reference DB.

Prints Markdown tables:

* sampled agreement per address family: a fixed-seed uniform sample of public unicast IPv4
  space, and an IPv6 sample drawn from the networks the reference places inside 2000::/3;
* per-country precision/recall against the reference (default CN, HK, MO, TW, US) and the
  confusions between the focus countries;
* an exact, address-weighted comparison of the whole space (``--exact``), with the largest
  ranges where a candidate and the reference disagree about a focus country (``--diff-top``);
* the country each DB gives for a list of known ranges (``--check``), with optional witness
  data in Tor's geoip/geoip6 text format (``--tor-geoip``, ``--tor-geoip6``).

Both record shapes are read: MaxMind's ``{"country": {"iso_code": "CN"}}`` and
ip-location-db's ``{"country_code": "CN"}``. A MaxMind record with ``registered_country`` but
no ``country`` counts as unplaced; such addresses are reported separately ("reg. only").

The sample is also broken down by the prefix length of the reference network holding each
address. The reference is only read, never written or copied.

Example (the run behind seeds/README.md, "GeoIP database", which gives the full steps)::

    python bench/geoip_agreement.py --reference geolite2=geolite2-country.mmdb \
        --samples 1000000 --seed 2026 --exact --diff-top 12 --check \
        --tor-geoip /usr/share/tor/geoip --tor-geoip6 /usr/share/tor/geoip6 \
        geo-whois-asn=geo-whois-asn-country.mmdb dbip=dbip-country.mmdb \
        iptoasn=iptoasn-country.mmdb
"""

from __future__ import annotations

import argparse
import bisect
import ipaddress
import random
import socket
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import maxminddb

FOCUS_DEFAULT = ("CN", "HK", "MO", "TW", "US")
# The countries a join gate must never mix up with each other.
CONFUSION_SET = frozenset({"CN", "HK", "MO", "TW"})

# Non-public IPv4 space (IANA special-purpose registry, multicast, reserved 240/4).
IPV4_EXCLUDED = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
# IPv6 is sampled and compared inside global unicast 2000::/3, minus these special blocks
# (Teredo, documentation, 6to4): their country, if any, is that of an embedded IPv4 address.
IPV6_SCOPE = "2000::/3"
IPV6_EXCLUDED = ("2001::/32", "2001:db8::/32", "2002::/16")

# Known ranges: (prefix, expected country or "-" for unplaced, holder / evidence).
KNOWN_RANGES: tuple[tuple[str, str, str], ...] = (
    ("2001:da8::/32", "CN", "CERNET2, China Education and Research Network (APNIC, CN)"),
    ("2001:250::/32", "CN", "CERNET (APNIC, CN)"),
    ("202.112.0.0/13", "CN", "CERNET (APNIC, CN)"),
    ("240e::/20", "CN", "China Telecom (APNIC, CN)"),
    ("2408:8000::/20", "CN", "China Unicom (APNIC, CN)"),
    ("2409:8000::/20", "CN", "China Mobile (APNIC, CN)"),
    ("123.255.88.0/21", "HK", "HKIX peering LAN, Hong Kong Internet Exchange (APNIC, HK)"),
    ("203.198.0.0/16", "HK", "PCCW-HKT Netvigator broadband (APNIC, HK)"),
    ("112.118.0.0/16", "HK", "PCCW-HKT Netvigator broadband (APNIC, HK)"),
    ("61.244.0.0/16", "HK", "Hong Kong broadband allocation (APNIC, HK)"),
    ("2001:ce0::/31", "HK", "Hong Kong allocation (APNIC, HK)"),
    ("2400:c800::/29", "HK", "Hong Kong allocation (APNIC, HK)"),
    ("202.175.0.0/17", "MO", "CTM, Companhia de Telecomunicacoes de Macau (APNIC, MO)"),
    ("60.246.0.0/16", "MO", "CTM, Companhia de Telecomunicacoes de Macau (APNIC, MO)"),
    ("2001:f90::/32", "MO", "Macao allocation (APNIC, MO)"),
    ("168.95.0.0/16", "TW", "HiNet, Chunghwa Telecom (TWNIC, TW)"),
    ("2001:b000::/21", "TW", "HiNet, Chunghwa Telecom (TWNIC, TW)"),
    ("2001:288::/32", "TW", "TANet, Taiwan Academic Network (TWNIC, TW)"),
    ("2002::/16", "-", "6to4 (RFC 3056): no country of its own"),
    ("2001::/32", "-", "Teredo (RFC 4380): no country of its own"),
)

Code = str | None


def country_of(record: Any) -> tuple[Code, Code]:
    """(country, registered_country) ISO codes of a record of either shape."""
    if not isinstance(record, dict):
        return None, None
    code = record.get("country_code")
    if isinstance(code, str) and code:
        return code, None
    country = record.get("country")
    iso = country.get("iso_code") if isinstance(country, dict) else None
    registered = record.get("registered_country")
    reg_iso = registered.get("iso_code") if isinstance(registered, dict) else None
    return (iso if isinstance(iso, str) and iso else None,
            reg_iso if isinstance(reg_iso, str) and reg_iso else None)


def record_shape(record: Any) -> str:
    if isinstance(record, dict) and "country_code" in record:
        return '{"country_code": CC}'
    if isinstance(record, dict) and ("country" in record or "registered_country" in record):
        return '{"country": {"iso_code": CC}, ...}'
    return f"unknown ({type(record).__name__})"


def ip_str(value: int, version: int) -> str:
    if version == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


@dataclass
class SpanSource:
    """Anything that gives the country at an address and the last address of that span."""

    name: str

    def span(self, value: int, version: int) -> tuple[Code, int]:
        raise NotImplementedError


@dataclass
class MMDB(SpanSource):
    path: Path
    reader: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.reader = maxminddb.open_database(str(self.path), maxminddb.MODE_MMAP_EXT)

    def lookup(self, ip: str) -> tuple[Code, Code]:
        return country_of(self.reader.get(ip))

    def span(self, value: int, version: int) -> tuple[Code, int]:
        record, prefix_len = self.reader.get_with_prefix_len(ip_str(value, version))
        bits = 32 if version == 4 else 128
        last = value | ((1 << (bits - prefix_len)) - 1)
        return country_of(record)[0], last

    def describe(self) -> dict[str, str]:
        meta = self.reader.metadata()
        shape = "empty"
        for _network, record in self.reader:
            shape = record_shape(record)
            break
        built = datetime.fromtimestamp(meta.build_epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return {
            "file": self.path.name,
            "size": f"{self.path.stat().st_size / 1e6:.1f} MB",
            "database_type": meta.database_type,
            "ip_version": str(meta.ip_version),
            "record_size": str(meta.record_size),
            "build": built,
            "shape": shape,
        }


@dataclass
class TorGeoIP(SpanSource):
    """Tor's geoip / geoip6 files: "start,end,CC" lines (integers for IPv4, text for IPv6)."""

    starts: dict[int, list[int]] = field(default_factory=dict)
    ends: dict[int, list[int]] = field(default_factory=dict)
    codes: dict[int, list[Code]] = field(default_factory=dict)

    def load(self, path: Path, version: int) -> None:
        starts: list[int] = []
        ends: list[int] = []
        codes: list[Code] = []
        with path.open(encoding="ascii") as handle:
            for line in handle:
                if not line.strip() or line.startswith("#"):
                    continue
                first, last, code = line.strip().split(",")
                if version == 4:
                    starts.append(int(first))
                    ends.append(int(last))
                else:
                    starts.append(int(ipaddress.IPv6Address(first)))
                    ends.append(int(ipaddress.IPv6Address(last)))
                codes.append(None if code == "??" else code)
        self.starts[version], self.ends[version], self.codes[version] = starts, ends, codes

    def span(self, value: int, version: int) -> tuple[Code, int]:
        starts = self.starts.get(version)
        if not starts:
            return None, (1 << (32 if version == 4 else 128)) - 1
        i = bisect.bisect_right(starts, value) - 1
        if i >= 0 and self.ends[version][i] >= value:
            return self.codes[version][i], self.ends[version][i]
        if i + 1 < len(starts):
            return None, starts[i + 1] - 1
        return None, (1 << (32 if version == 4 else 128)) - 1


def intervals(cidrs: Iterable[str]) -> list[tuple[int, int]]:
    nets = sorted(ipaddress.ip_network(c) for c in cidrs)
    return [(int(n.network_address), int(n.broadcast_address)) for n in nets]


def in_intervals(value: int, table: Sequence[tuple[int, int]], firsts: Sequence[int]) -> bool:
    i = bisect.bisect_right(firsts, value) - 1
    return i >= 0 and table[i][1] >= value


def complement(scope: str, excluded: Iterable[str]) -> list[tuple[int, int]]:
    """Intervals of `scope` not covered by `excluded` (which must not overlap each other)."""
    net = ipaddress.ip_network(scope)
    pos, end = int(net.network_address), int(net.broadcast_address)
    out: list[tuple[int, int]] = []
    for first, last in intervals(excluded):
        if last < pos or first > end:
            continue
        if first > pos:
            out.append((pos, first - 1))
        pos = max(pos, last + 1)
    if pos <= end:
        out.append((pos, end))
    return out


def sample_ipv4(rng: random.Random, n: int) -> list[int]:
    """`n` addresses uniform over public unicast IPv4 (rejection sampling)."""
    table = intervals(IPV4_EXCLUDED)
    firsts = [first for first, _ in table]
    out: list[int] = []
    while len(out) < n:
        value = rng.getrandbits(32)
        if not in_intervals(value, table, firsts):
            out.append(value)
    return out


def reference_ipv6_networks(ref: MMDB) -> list[tuple[int, int]]:
    """(first address, host bits) of each network the reference places inside the IPv6 scope."""
    scope = ipaddress.ip_network(IPV6_SCOPE)
    excluded = [ipaddress.ip_network(c) for c in IPV6_EXCLUDED]
    out: list[tuple[int, int]] = []
    for network, record in ref.reader:
        if network.version != 6 or not network.subnet_of(scope):
            continue
        if any(network.subnet_of(x) or network.supernet_of(x) for x in excluded):
            continue
        if country_of(record)[0] is None:
            continue
        out.append((int(network.network_address), 128 - network.prefixlen))
    return out


def sample_ipv6(rng: random.Random, n: int, ref: MMDB, mode: str) -> tuple[list[int], int]:
    """`n` IPv6 addresses from the reference's placed networks; returns (sample, #networks).

    mode "networks": pick a network uniformly (each network counts once, whatever its size),
    then an address uniformly inside it. mode "space": uniform over the placed address space
    (large blocks dominate)."""
    networks = reference_ipv6_networks(ref)
    out: list[int] = []
    if not networks:
        return out, 0
    if mode == "networks":
        for _ in range(n):
            first, host_bits = networks[rng.randrange(len(networks))]
            out.append(first + rng.getrandbits(host_bits) if host_bits else first)
        return out, len(networks)
    cumulative: list[int] = []
    total = 0
    for _first, host_bits in networks:
        total += 1 << host_bits
        cumulative.append(total)
    for _ in range(n):
        point = rng.randrange(total)
        i = bisect.bisect_right(cumulative, point)
        first, host_bits = networks[i]
        offset = point - (cumulative[i] - (1 << host_bits))
        out.append(first + offset)
    return out, len(networks)


def pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.2f}" if whole else "n/a"


@dataclass
class Tally:
    """Weighted (reference code, candidate code) pairs for one candidate and one family."""

    pairs: defaultdict[tuple[Code, Code], float] = field(
        default_factory=lambda: defaultdict(float))
    registered_only: float = 0
    # sampled addresses by the prefix length of the reference network that holds them:
    # (bucket, "n" | "agree" | "cross") -> count
    by_prefix: Counter[tuple[str, str]] = field(default_factory=Counter)

    def total(self) -> float:
        return sum(self.pairs.values())


def agreement_rows(ref: MMDB, ref_registered_only: float, tallies: dict[str, Tally],
                   unit: str) -> list[str]:
    rows = [
        f"| DB | {unit} | ref. places | agree (% of ref.-placed) | differ | cand. unplaced "
        "where ref. places | cand. places where ref. unplaced (% of all) | unplaced (% of all) "
        "| reg. only (% of all) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    first = next(iter(tallies.values()))
    total = first.total()
    if not total:
        return ["(no addresses)"]
    ref_unplaced = sum(w for (r, _c), w in first.pairs.items() if r is None)
    ref_placed = total - ref_unplaced
    rows.append(
        f"| {ref.name} (reference) | {total:,.0f} | {pct(ref_placed, total)} % | 100 | 0 | 0 | 0 "
        f"| {pct(ref_unplaced, total)} | {pct(ref_registered_only, total)} |"
    )
    for name, tally in tallies.items():
        agree = sum(w for (r, c), w in tally.pairs.items() if r is not None and r == c)
        differ = sum(w for (r, c), w in tally.pairs.items() if r and c and r != c)
        missed = sum(w for (r, c), w in tally.pairs.items() if r and c is None)
        extra = sum(w for (r, c), w in tally.pairs.items() if r is None and c)
        unplaced = sum(w for (_r, c), w in tally.pairs.items() if c is None)
        rows.append(
            f"| {name} | {total:,.0f} | | **{pct(agree, ref_placed)}** | {pct(differ, ref_placed)}"
            f" | {pct(missed, ref_placed)} | {pct(extra, total)} | {pct(unplaced, total)} "
            f"| {pct(tally.registered_only, total)} |"
        )
    return rows


def per_country_rows(tallies: dict[str, Tally], focus: Sequence[str]) -> list[str]:
    first = next(iter(tallies.values()))
    ref_count = {cc: sum(w for (r, _c), w in first.pairs.items() if r == cc) for cc in focus}
    header = " | ".join(f"{cc} P / R (ref. n={ref_count[cc]:,.0f})" for cc in focus)
    rows = [f"| DB | {header} |", "|---|" + "---:|" * len(focus)]
    for name, tally in tallies.items():
        cells = []
        for cc in focus:
            tp = tally.pairs.get((cc, cc), 0)
            said = sum(w for (_r, c), w in tally.pairs.items() if c == cc)
            cells.append(f"{pct(tp, said)} / {pct(tp, ref_count[cc])}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def confusion_rows(tallies: dict[str, Tally], unit: str) -> list[str]:
    rows = [f"| DB | reference says -> candidate says: {unit} |", "|---|---|"]
    for name, tally in tallies.items():
        pairs = sorted(
            ((w, r, c) for (r, c), w in tally.pairs.items()
             if r != c and (r in CONFUSION_SET or c in CONFUSION_SET)),
            reverse=True,
            key=lambda t: t[0],
        )
        cross = [f"{r}->{c}: {w:,.0f}" for w, r, c in pairs
                 if r in CONFUSION_SET and c in CONFUSION_SET]
        other = [f"{r or '-'}->{c or '-'}: {w:,.0f}" for w, r, c in pairs
                 if not (r in CONFUSION_SET and c in CONFUSION_SET)][:6]
        text = "; ".join(cross) if cross else "none between CN/HK/MO/TW"
        rows.append(f"| {name} | **{text}** (largest others: {'; '.join(other) or 'none'}) |")
    return rows


PREFIX_BUCKETS = {4: ("/8-/16", "/17-/24", "/25-/32"), 6: ("/1-/32", "/33-/48", "/49-/128")}


def prefix_bucket(prefix_len: int, version: int) -> str:
    low, mid, high = PREFIX_BUCKETS[version]
    if prefix_len <= (16 if version == 4 else 32):
        return low
    return mid if prefix_len <= (24 if version == 4 else 48) else high


def prefix_rows(tallies: dict[str, Tally], version: int) -> list[str]:
    names = PREFIX_BUCKETS[version]
    first = next(iter(tallies.values()))
    header = " | ".join(f"{b} (n={first.by_prefix[(b, 'n')]:,})" for b in names)
    rows = [f"| DB | {header} |", "|---|" + "---:|" * len(names)]
    for name, tally in tallies.items():
        cells = [f"{pct(tally.by_prefix[(b, 'agree')], tally.by_prefix[(b, 'n')])} % "
                 f"({tally.by_prefix[(b, 'cross')]:,})" for b in names]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def tally_sample(ref: MMDB, cands: Sequence[MMDB], sample: Sequence[int],
                 version: int) -> tuple[dict[str, Tally], int]:
    """Tallies per candidate, and how many sampled addresses the reference places only by
    registered_country."""
    ref_codes: list[Code] = []
    buckets: list[str] = []
    ref_registered_only = 0
    for value in sample:
        record, prefix_len = ref.reader.get_with_prefix_len(ip_str(value, version))
        code, registered = country_of(record)
        ref_codes.append(code)
        buckets.append(prefix_bucket(prefix_len, version))
        if code is None and registered:
            ref_registered_only += 1
    out: dict[str, Tally] = {}
    for cand in cands:
        tally = Tally()
        for value, ref_code, bucket in zip(sample, ref_codes, buckets, strict=True):
            code, registered = cand.lookup(ip_str(value, version))
            tally.pairs[(ref_code, code)] += 1
            tally.by_prefix[(bucket, "n")] += 1
            if ref_code is not None and code == ref_code:
                tally.by_prefix[(bucket, "agree")] += 1
            if ref_code != code and ref_code in CONFUSION_SET and code in CONFUSION_SET:
                tally.by_prefix[(bucket, "cross")] += 1
            if code is None and registered:
                tally.registered_only += 1
        out[cand.name] = tally
    return out, ref_registered_only


def walk(sources: Sequence[SpanSource], first: int, last: int,
         version: int) -> Iterator[tuple[int, int, tuple[Code, ...]]]:
    """Exact walk of [first, last]: maximal-ish spans on which every source gives one code."""
    pos = first
    while pos <= last:
        codes: list[Code] = []
        end = last
        for source in sources:
            code, span_end = source.span(pos, version)
            codes.append(code)
            end = min(end, span_end)
        yield pos, end, tuple(codes)
        pos = end + 1


def merged_walk(sources: Sequence[SpanSource], first: int, last: int,
                version: int) -> Iterator[tuple[int, int, tuple[Code, ...]]]:
    """`walk`, with adjacent spans of equal codes merged."""
    current: tuple[int, int, tuple[Code, ...]] | None = None
    for start, end, codes in walk(sources, first, last, version):
        if current and current[2] == codes and current[1] + 1 == start:
            current = (current[0], end, codes)
            continue
        if current:
            yield current
        current = (start, end, codes)
    if current:
        yield current


def range_text(first: int, last: int, version: int) -> str:
    a = ipaddress.ip_address(first) if version == 6 else ipaddress.IPv4Address(first)
    b = ipaddress.ip_address(last) if version == 6 else ipaddress.IPv4Address(last)
    nets = list(ipaddress.summarize_address_range(a, b))
    if len(nets) <= 2:
        return " + ".join(str(n) for n in nets)
    return f"{a} - {b} ({len(nets)} CIDRs)"


def size_text(count: int, version: int) -> str:
    if version == 4:
        return f"{count:,}"
    if count >= 1 << 80:
        return f"{count / (1 << 80):,.1f} x /48"
    return f"{count / (1 << 64):,.0f} x /64"


@dataclass(frozen=True)
class Diff:
    """A maximal range where a candidate and the reference disagree."""

    size: int
    first: int
    last: int
    ref_code: Code
    code: Code


def exact_compare(ref: MMDB, cand: MMDB, version: int, diffs: list[Diff]) -> Tally:
    """Address-weighted comparison of the whole public space of one family."""
    if version == 4:
        segments = complement("0.0.0.0/0", IPV4_EXCLUDED)
    else:
        segments = complement(IPV6_SCOPE, IPV6_EXCLUDED)
    tally = Tally()
    scale = 1 if version == 4 else 1 << 64  # IPv6 weighted in /64s
    for first, last in segments:
        for start, end, (ref_code, code) in merged_walk((ref, cand), first, last, version):
            size = end - start + 1
            tally.pairs[(ref_code, code)] += size / scale
            if ref_code != code and (ref_code in CONFUSION_SET or code in CONFUSION_SET):
                diffs.append(Diff(size, start, end, ref_code, code))
    return tally


def coverage(source: SpanSource, first: int, last: int, version: int) -> Counter[Code]:
    cover: Counter[Code] = Counter()
    for start, end, (code,) in walk((source,), first, last, version):
        cover[code] += end - start + 1
    return cover


def coverage_text(source: SpanSource, first: int, last: int, version: int) -> str:
    whole = last - first + 1
    cover = coverage(source, first, last, version)
    return ", ".join(f"{code or '-'} {share_text(n, whole)}" for code, n in cover.most_common(2))


def diff_rows(diffs: dict[str, list[Diff]], version: int, top: int,
              witness: SpanSource | None) -> list[str]:
    """The largest disagreements per candidate: any involving CN/HK/MO/TW, then those
    between two of CN/HK/MO/TW (the errors a join gate must not make)."""
    out: list[str] = []
    extra = " | witness" if witness else ""
    for title, cross_only in (
        ("disagree about CN/HK/MO/TW", False),
        ("put one of CN/HK/MO/TW in another of them", True),
    ):
        out += ["", f"Largest IPv{version} ranges where a candidate and the reference {title}"
                + (f" (witness: {witness.name})" if witness else "") + ":", "",
                f"| DB | range | size | reference | candidate{extra} |",
                "|---|---|---:|---|---|" + ("---|" if witness else "")]
        for name, mine in diffs.items():
            kept = [d for d in mine if not cross_only
                    or (d.ref_code in CONFUSION_SET and d.code in CONFUSION_SET)]
            chosen = sorted(kept, key=lambda d: d.size, reverse=True)[:top]
            for d in chosen:
                seen = (f" | {coverage_text(witness, d.first, d.last, version)}"
                        if witness else "")
                out.append(f"| {name} | {range_text(d.first, d.last, version)} "
                           f"| {size_text(d.size, version)} | {d.ref_code or '-'} "
                           f"| {d.code or '-'}{seen} |")
    return out


def share_text(part: int, whole: int) -> str:
    if part == whole:
        return "100%"
    share = 100 * part / whole
    if share < 0.01:
        return "<0.01%"
    return f"{share:.2f}%" if share < 99.99 else ">99.99%"


def check_rows(sources: Sequence[SpanSource]) -> list[str]:
    names = " | ".join(s.name for s in sources)
    rows = [f"| prefix | expected | holder | {names} |",
            "|---|---|---|" + "---|" * len(sources)]
    for prefix, expected, holder in KNOWN_RANGES:
        net = ipaddress.ip_network(prefix)
        version = net.version
        first, last = int(net.network_address), int(net.broadcast_address)
        cells = []
        for source in sources:
            cover = coverage(source, first, last, version)
            whole = last - first + 1
            parts = [f"{code or '-'} {share_text(n, whole)}" for code, n in cover.most_common(3)]
            text = ", ".join(parts)
            wrong = cover.get(None if expected == "-" else expected, 0) != whole
            cells.append(f"**{text}** ✗" if wrong else text)
        label = expected
        rows.append(f"| {prefix} | {label} | {holder} | " + " | ".join(cells) + " |")
    return rows


def parse_candidate(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep:
        path, name = text, Path(text).stem
    return name, Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", nargs="+", help="candidate DBs, as PATH or NAME=PATH")
    parser.add_argument("--reference", required=True, help="reference DB, as PATH or NAME=PATH")
    parser.add_argument("--samples", type=int, default=1_000_000, help="addresses per family")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--ipv6-mode", choices=("networks", "space"), default="networks")
    parser.add_argument("--focus", default=",".join(FOCUS_DEFAULT),
                        help="countries for precision/recall (comma separated)")
    parser.add_argument("--exact", action="store_true",
                        help="also compare the whole space exactly, weighted by addresses")
    parser.add_argument("--diff-top", type=int, default=0,
                        help="with --exact: list the N largest CN/HK/MO/TW disagreements")
    parser.add_argument("--check", action="store_true", help="check the known ranges")
    parser.add_argument("--tor-geoip", type=Path,
                        help="witness data for --check and --diff-top: Tor's geoip file")
    parser.add_argument("--tor-geoip6", type=Path, help="the same, Tor's geoip6 file")
    args = parser.parse_args(argv)

    ref_name, ref_path = parse_candidate(args.reference)
    ref = MMDB(ref_name, ref_path)
    cands = [MMDB(*parse_candidate(c)) for c in args.candidates]
    focus = [c.strip().upper() for c in args.focus.split(",") if c.strip()]
    out: list[str] = []

    def progress(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    out += ["## Databases", ""]
    desc = {db.name: db.describe() for db in (ref, *cands)}
    keys = list(next(iter(desc.values())))
    out += ["| DB | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, fields in desc.items():
        label = f"{name} (reference)" if name == ref.name else name
        out.append(f"| {label} | " + " | ".join(fields.values()) + " |")

    rng = random.Random(args.seed)
    progress(f"sampling {args.samples:,} IPv4 addresses (seed {args.seed})")
    sample4 = sample_ipv4(rng, args.samples)
    progress(f"sampling {args.samples:,} IPv6 addresses ({args.ipv6_mode} mode)")
    sample6, n_networks = sample_ipv6(rng, args.samples, ref, args.ipv6_mode)
    how6 = (f"uniform over the {n_networks:,} networks the reference places in {IPV6_SCOPE} "
            f"(minus {', '.join(IPV6_EXCLUDED)}), then uniform inside the network"
            if args.ipv6_mode == "networks" else
            f"uniform over the address space of the {n_networks:,} networks the reference "
            f"places in {IPV6_SCOPE} (minus {', '.join(IPV6_EXCLUDED)})")
    for version, sample, how in (
        (4, sample4, "uniform over public unicast IPv4 (minus " + ", ".join(IPV4_EXCLUDED) + ")"),
        (6, sample6, how6),
    ):
        progress(f"looking up IPv{version} sample")
        tallies, ref_registered_only = tally_sample(ref, cands, sample, version)
        out += ["", f"## IPv{version}, sampled: {len(sample):,} addresses, seed {args.seed}", "",
                f"Sample: {how}.", ""]
        out += agreement_rows(ref, ref_registered_only, tallies, "addresses")
        out += ["", f"Per country, precision / recall vs the reference (IPv{version} sample), %:",
                ""]
        out += per_country_rows(tallies, focus)
        out += ["", f"Confusions involving CN/HK/MO/TW (IPv{version} sample):", ""]
        out += confusion_rows(tallies, "addresses")
        out += ["", f"Agreement by the prefix length of the reference network holding the "
                f"sampled address (IPv{version}); in brackets, addresses put from one of "
                "CN/HK/MO/TW into another:", ""]
        out += prefix_rows(tallies, version)

    witness: TorGeoIP | None = None
    if args.tor_geoip or args.tor_geoip6:
        witness = TorGeoIP("ipfire (tor-geoipdb)")
        if args.tor_geoip:
            witness.load(args.tor_geoip, 4)
        if args.tor_geoip6:
            witness.load(args.tor_geoip6, 6)

    if args.exact:
        for version in (4, 6):
            progress(f"exact IPv{version} comparison")
            diffs: dict[str, list[Diff]] = {c.name: [] for c in cands}
            tallies = {c.name: exact_compare(ref, c, version, diffs[c.name]) for c in cands}
            unit = "addresses" if version == 4 else "/64s"
            scope = ("public unicast IPv4" if version == 4 else
                     f"{IPV6_SCOPE} minus {', '.join(IPV6_EXCLUDED)}")
            out += ["", f"## IPv{version}, exact and address-weighted over {scope}", ""]
            out += agreement_rows(ref, 0, tallies, unit)
            out += ["", f"Per country, precision / recall, address-weighted (IPv{version}), %:",
                    ""]
            out += per_country_rows(tallies, focus)
            out += ["", f"Confusions involving CN/HK/MO/TW (IPv{version}, {unit}):", ""]
            out += confusion_rows(tallies, unit)
            if args.diff_top:
                out += diff_rows(diffs, version, args.diff_top, witness)

    if args.check:
        progress("checking known ranges")
        sources: list[SpanSource] = [ref, *cands]
        if witness:
            sources.append(witness)
        out += ["", "## Known ranges: share of each prefix per country (exact)", ""]
        out += check_rows(sources)
        out += ["", "✗ = not 100 % the expected country (\"-\" = unplaced)."]

    print("\n".join(out))
    progress("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
