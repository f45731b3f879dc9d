"""Where a request to the pages came from, believing forwarded headers only from the reverse
proxies the config trusts (`server.trusted_proxies`).

A trusted proxy appends the address it received the request from to X-Forwarded-For, so the
client is the right-most address that is not a trusted proxy; anything further left was sent
by the client and could be forged. X-Forwarded-Proto from a trusted proxy says whether the
browser used TLS. From any other peer both headers are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from ..config import IPNetwork


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        found = ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(found, IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def is_trusted(peer: str | None, proxies: Sequence[IPNetwork]) -> bool:
    found = _address(peer) if peer else None
    return found is not None and any(found in network for network in proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   proxies: Sequence[IPNetwork]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For entry that is not one (every header line, in order)."""
    if peer is None:
        return "unknown"
    if not is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def came_over_tls(tls: bool, peer: str | None, forwarded_proto: Iterable[str],
                  proxies: Sequence[IPNetwork]) -> bool:
    """TLS on our own socket, or a trusted proxy saying the browser used https. (A forged
    "https" passed through by a proxy could only make a cookie stricter.)"""
    if tls:
        return True
    if not is_trusted(peer, proxies):
        return False
    return any(proto.strip().lower() == "https"
               for line in forwarded_proto for proto in line.split(","))
