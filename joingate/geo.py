"""GeoIP: address → ISO 3166-1 alpha-2 country, from any MaxMind-format country database.

`open_geoip()` returns a `GeoReader` (usable as a context manager). Lookups go through a bounded
LRU cache (functools.lru_cache, in C) in front of the maxminddb C extension. The database is
copied into anonymous memory (memfd) when loaded, so a lookup never touches the disk and an
operator may overwrite or truncate the file in place without crashing us; `maybe_reload()`
(called off the hot path) swaps in a replaced file atomically and clears the cache, keeping
the old DB if the new one is unreadable.
Addresses live only in this process's memory.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import maxminddb

from .errors import GeoIPError, InvalidInput

log = logging.getLogger(__name__)

BUILTIN = "builtin"


def builtin_database_path() -> Path:
    """The country DB shipped in seeds/geoip."""
    return Path(str(resources.files("joingate.seeds") / "geoip" / "country.mmdb"))


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    path: str
    database_type: str
    description: str
    build_epoch: int
    ip_version: int
    node_count: int
    loaded_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "database_type": self.database_type,
            "description": self.description,
            "build_epoch": self.build_epoch,
            "build_date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.build_epoch)),
            "ip_version": self.ip_version,
            "node_count": self.node_count,
        }


def country_of_record(record: Any) -> str | None:
    """The ISO country in a DB record of either shape: MaxMind's {"country": {"iso_code"}}
    (falling back to "registered_country") or ip-location-db's {"country_code"}."""
    if not isinstance(record, dict):
        return None
    code: Any = None
    country = record.get("country")
    if isinstance(country, dict):
        code = country.get("iso_code")
    if code is None:
        code = record.get("country_code")
    if code is None:
        registered = record.get("registered_country")
        if isinstance(registered, dict):
            code = registered.get("iso_code")
    if isinstance(code, str) and len(code) == 2 and code.isalpha():
        return code.upper()
    return None


def normalize_ip(ip: str) -> str:
    """Canonical text of an address: IPv6 zone dropped; IPv4-mapped, 6to4 and Teredo IPv6
    addresses as the IPv4 address they carry.
    Raises InvalidInput(field="ip") for anything that is not an address."""
    text = ip.strip()
    if "%" in text:
        text = text.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidInput("ip: not an IPv4 or IPv6 address", field="ip") from None
    if isinstance(addr, ipaddress.IPv6Address):
        # The IPv4 host behind an IPv4-mapped, 6to4 or Teredo address is the one to place:
        # country DBs place the tunnel prefixes themselves (2002::/16, 2001::/32) in the
        # operator's country, or not at all.
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        if addr.sixtofour is not None:
            return str(addr.sixtofour)
        if addr.teredo is not None:
            return str(addr.teredo[1])
    return str(addr)


_DOTTED_QUAD = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                          r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


def _open_in_memory(path: Path, shown: str) -> tuple[maxminddb.Reader, bytes]:
    """Open `path` with the C extension from a private in-memory copy of the file."""
    if not getattr(maxminddb, "extension", None):
        raise GeoIPError("the maxminddb C extension is not available; install maxminddb with "
                         "its extension (the pure-Python reader is ~20x slower)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GeoIPError(f"geoip.database: cannot read {shown}: {exc.strerror}",
                         field="geoip.database") from None
    if not hasattr(os, "memfd_create"):  # not Linux: map the file itself
        return _open_checked(str(path), shown), data
    fd = os.memfd_create("joingate-geoip", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return _open_checked(f"/proc/self/fd/{fd}", shown), data
    finally:
        os.close(fd)  # the mapping keeps the memory alive


def _open_checked(target: str, shown: str) -> maxminddb.Reader:
    try:
        reader = maxminddb.open_database(target, maxminddb.MODE_MMAP_EXT)
        reader.get("127.0.0.1")  # touch the tree: a truncated file fails here, not later
        return reader
    except (maxminddb.InvalidDatabaseError, ValueError, OSError):
        raise GeoIPError(f"geoip.database: {shown} is not a readable MaxMind DB",
                         field="geoip.database") from None


class GeoReader:
    """Country lookups with an LRU cache in front; reloadable."""

    def __init__(self, path: Path, cache_size: int = 65536, display_path: str | None = None):
        self.path = path
        self._display = display_path or str(path)
        self._cache_size = max(1, cache_size)
        self._reader, _ = _open_in_memory(path, self._display)
        self.country = self._new_cache()
        self._stamp = self._file_stamp()
        self._info = self._read_info()
        self.last_reload_error: str | None = None

    # -- hot path -------------------------------------------------------------------------
    def _new_cache(self) -> Callable[[str], str | None]:
        """`country(ip)`: the ISO country of `ip`, or None when the DB does not place it;
        raises InvalidInput(field="ip") for a non-address (errors are not cached).

        functools.lru_cache rather than cachetools: measured here, a hit costs ~80 ns against
        ~150 ns for cachetools.LRUCache[k], and a miss adds ~0.2-1 us against ~1.1-1.3 us
        (LRUCache raises KeyError on a miss, then inserts in Python)."""
        return functools.lru_cache(maxsize=self._cache_size)(self._lookup)

    def _lookup(self, ip: str) -> str | None:
        # The C reader accepts legacy IPv4 spellings (127.1, 0x7f.0.0.1, octal): only a plain
        # dotted quad goes to it directly; anything else is parsed strictly first.
        key = ip if _DOTTED_QUAD.fullmatch(ip) else normalize_ip(ip)
        if ":" in key and self._info.ip_version == 4:
            return None  # an IPv6 address in an IPv4-only DB is simply not placed
        try:
            record = self._reader.get(key)
        except ValueError:
            raise InvalidInput("ip: not an IPv4 or IPv6 address", field="ip") from None
        return country_of_record(record)

    def peek(self, ip: str) -> str | None:
        """Lookup that neither uses nor fills the cache (for `joingate check` and tests)."""
        return self._lookup(ip)

    # -- management -----------------------------------------------------------------------
    def info(self) -> DatabaseInfo:
        return self._info

    @property
    def cache_len(self) -> int:
        return int(self.country.cache_info().currsize)  # type: ignore[attr-defined]

    @property
    def hits(self) -> int:
        return int(self.country.cache_info().hits)  # type: ignore[attr-defined]

    @property
    def misses(self) -> int:
        return int(self.country.cache_info().misses)  # type: ignore[attr-defined]

    def _read_info(self) -> DatabaseInfo:
        meta = self._reader.metadata()
        desc = meta.description.get("en") if isinstance(meta.description, dict) else None
        return DatabaseInfo(
            path=self._display,
            database_type=meta.database_type,
            description=desc or "",
            build_epoch=int(meta.build_epoch),
            ip_version=int(meta.ip_version),
            node_count=int(meta.node_count),
            loaded_at=time.time(),
        )

    def _file_stamp(self) -> tuple[int, int, int, int]:
        st = self.path.stat()
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def maybe_reload(self) -> bool:
        """Swap in the DB file if it changed since loading. Returns True when swapped. A file
        that cannot be read leaves the current DB in use and sets `last_reload_error`."""
        try:
            stamp = self._file_stamp()
        except OSError as exc:
            self._note_error(f"cannot stat {self._display}: {exc.strerror}")
            return False
        if stamp == self._stamp:
            return False
        try:
            reader, _ = _open_in_memory(self.path, self._display)
        except GeoIPError as exc:
            self._stamp = stamp  # report once per file version, not on every poll
            self._note_error(exc.message)
            return False
        old = self._reader
        self._reader = reader
        self.country = self._new_cache()
        self._stamp = stamp
        self._info = self._read_info()
        self.last_reload_error = None
        old.close()
        log.info("geoip: loaded replaced database %s (%s, built %s)", self._display,
                 self._info.database_type, self._info.as_json()["build_date"])
        return True

    def _note_error(self, message: str) -> None:
        self.last_reload_error = message
        log.error("geoip: keeping the current database: %s", message)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> GeoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_geoip(database: str = BUILTIN, cache_size: int = 65536) -> GeoReader:
    """Open the configured DB: "builtin" or a path to a MaxMind-format country .mmdb."""
    if database == BUILTIN:
        path = builtin_database_path()
        if not path.is_file():
            raise GeoIPError(f"the built-in GeoIP database is missing ({path})",
                             field="geoip.database")
        return GeoReader(path, cache_size, display_path=BUILTIN)
    path = Path(database).expanduser()
    if not path.is_file():
        raise GeoIPError(f"geoip.database: no such file {database}", field="geoip.database")
    return GeoReader(path, cache_size)
