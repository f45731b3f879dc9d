"""Find participant addresses in files: the privacy scan's pure part."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path

# Participants in the suites join from these (joingate/testing/geodb.py): 127.0.1.0/24 to
# 127.0.9.0/24 and the two documentation IPv6 prefixes. 127.0.0.1 is the servers' own address.
PARTICIPANT_NETS = [ipaddress.ip_network(n) for n in (
    "127.0.1.0/24", "127.0.2.0/24", "127.0.3.0/24", "127.0.4.0/24", "127.0.5.0/24",
    "127.0.6.0/24", "127.0.7.0/24", "127.0.8.0/24", "127.0.9.0/24",
    "2001:db8:1::/48", "2001:db8:2::/48")]
# A literal followed by a prefix of /24 (IPv4) or /48 (IPv6) or wider names a network (a GeoIP
# correction), not a participant: the optional group captures the prefix to tell them apart.
IPV4 = re.compile(rb"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d])(?:/(\d{1,3}))?")
IPV6 = re.compile(rb"(?<![0-9A-Fa-f:])((?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f.]*)(?:/(\d{1,3}))?")
WIDEST_PERSONAL = {4: 24, 6: 48}
# An API token is "jg_" and secrets.token_urlsafe(32): 43 URL-safe characters, standing alone.
# (Prosody's anonymous user names are 24 such characters and once held "jg_" inside one.)
TOKEN = re.compile(rb"(?<![A-Za-z0-9_-])jg_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def participant_addresses(data: bytes) -> set[str]:
    found: set[str] = set()
    for match, prefix in IPV4.findall(data) + IPV6.findall(data):
        text = match.decode("ascii", "replace")
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            continue
        if prefix and int(prefix) <= WIDEST_PERSONAL[addr.version]:
            continue
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if any(addr in net for net in PARTICIPANT_NETS):
            found.add(text)
    return found


def ours(path: Path, data: bytes) -> bytes:
    """The part of a file that joingate is responsible for."""
    if path.name.startswith("prosody") and path.suffix == ".log":
        return b"\n".join(line for line in data.splitlines() if b"joingate" in line)
    return data


def scan(root: Path) -> Iterator[tuple[Path, set[str]]]:
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.suffix == ".mmdb":
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        hits = participant_addresses(ours(path, data))
        if hits:
            yield path, hits


def tokens(data: bytes) -> list[bytes]:
    """The API tokens written in `data`."""
    return list(TOKEN.findall(data))


def tokens_in_logs(root: Path) -> Iterator[tuple[Path, int]]:
    """Log files holding an API token (tokens belong in config files, never in logs)."""
    for path in sorted(root.rglob("*.log")):
        if path.is_file() and not path.is_symlink():
            found = len(tokens(path.read_bytes()))
            if found:
                yield path, found
