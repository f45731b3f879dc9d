"""GeoIP corrections: an operator's statement that a network is in a given country.

A correction overrides both databases (primary and witness) for every address of its network.
It names a network, never an address: nothing narrower than a /24 (IPv4) or a /48 (IPv6) is
accepted, so a correction can never single out one participant. `CorrectionTable` answers
lookups on the GeoIP cache's miss path only, longest prefix first.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import Conflict, InvalidInput
from .jurisdiction import JurisdictionTable
from .restrictions import MAX_TEXT, format_time, normalize_country, require_text
from .vocabulary import CorrectionState

NARROWEST = {4: 24, 6: 48}


@dataclass(frozen=True, slots=True)
class CorrectionDraft:
    network: str
    country: str
    reason: str


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    network: str
    country: str
    reason: str
    created_at: datetime
    created_by: str
    removed_at: datetime | None = None
    removed_by: str | None = None
    remove_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "network": self.network, "country": self.country,
                "reason": self.reason,
                "state": CorrectionState.ACTIVE if self.active else CorrectionState.REMOVED,
                "created_at": format_time(self.created_at), "created_by": self.created_by,
                "removed_at": format_time(self.removed_at), "removed_by": self.removed_by,
                "remove_reason": self.remove_reason}


def normalize_network(value: Any) -> str:
    """The network in canonical text ("203.0.113.0/24"); host bits are cleared. Refuses an
    address without a prefix and anything narrower than /24 or /48 (field "network")."""
    if not isinstance(value, str) or "/" not in value:
        raise InvalidInput("network: a network in CIDR form, e.g. 203.0.113.0/24 or "
                           "2001:db8::/48", field="network")
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise InvalidInput("network: not an IPv4 or IPv6 network in CIDR form",
                           field="network") from None
    narrowest = NARROWEST[network.version]
    if network.prefixlen > narrowest:
        raise InvalidInput(f"network: /{network.prefixlen} is narrower than /{narrowest}; a "
                           "correction names a network, never a participant", field="network")
    return str(network)


def build_correction(*, network: Any, country: Any, reason: Any,
                     table: JurisdictionTable) -> CorrectionDraft:
    return CorrectionDraft(normalize_network(network),
                           normalize_country(country, table, "country"),
                           require_text(reason, "reason", MAX_TEXT))


def check_remove(correction: Correction, reason: Any) -> str:
    if not correction.active:
        raise Conflict(f"correction {correction.id} was already removed", field="id",
                       code="already_removed")
    return require_text(reason, "reason", MAX_TEXT)


class CorrectionTable:
    """The active corrections, for lookups: longest matching prefix wins."""

    def __init__(self, corrections: Iterable[Correction] = ()):
        self.ids = frozenset(c.id for c in corrections if c.active)
        by_version: dict[int, dict[int, dict[int, str]]] = {4: {}, 6: {}}
        for c in corrections:
            if not c.active:
                continue
            net = ipaddress.ip_network(c.network)
            bits = net.max_prefixlen
            by_version[net.version].setdefault(net.prefixlen, {})[
                int(net.network_address) >> (bits - net.prefixlen)] = c.country
        # (shift, prefixes) from the longest prefix to the shortest
        self._v4 = [(32 - plen, table) for plen, table in sorted(by_version[4].items(),
                                                                   reverse=True)]
        self._v6 = [(128 - plen, table) for plen, table in sorted(by_version[6].items(),
                                                                    reverse=True)]

    def __len__(self) -> int:
        return len(self.ids)

    def country(self, key: str) -> str | None:
        """The corrected country of `key` (an address in canonical text), or None."""
        v6 = ":" in key
        levels = self._v6 if v6 else self._v4
        if not levels:
            return None
        # inet_pton (in C) rather than ipaddress (~10x slower): `key` is already canonical.
        number = int.from_bytes(socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET,
                                                 key), "big")
        for shift, table in levels:
            found = table.get(number >> shift)
            if found is not None:
                return found
        return None
