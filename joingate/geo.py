"""GeoIP: address → ISO 3166-1 alpha-2 country, from any MaxMind-format country database.

`open_geoip()` returns a `GeoReader` (usable as a context manager). Lookups go through a bounded
LRU cache (functools.lru_cache, in C) in front of the maxminddb C extension. The database is
copied into anonymous memory (memfd) when loaded, so a lookup never touches the disk and an
operator may overwrite or truncate the file in place without crashing us; `maybe_reload()`
(called off the hot path) swaps in a replaced file atomically and clears the cache, keeping
the old DB unless the new one passes the full check of `geocheck` (every record decodes, the
self-test list lands where expected). A lookup that fails all the same leaves the address
unplaced; it never raises. Addresses live only in this process's memory.
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
from .geocheck import check_database, country_of_record, open_reader

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


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A DB read into memory and opened (and verified, when asked), ready to be swapped in."""

    reader: maxminddb.Reader
    info: DatabaseInfo
    stamp: tuple[int, int, int, int]


def _stamp(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _load(path: Path, shown: str, verify: bool) -> _Loaded:
    """Read `path` into a private in-memory copy (memfd), open it with the C reader, and with
    `verify` check it fully (geocheck) before anyone looks anything up in it."""
    try:
        stamp = _stamp(path)
        data = path.read_bytes()
    except OSError as exc:
        raise GeoIPError(f"geoip.database: cannot read {shown}: {exc.strerror}",
                         field="geoip.database") from None
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("joingate-geoip", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            reader = open_reader(f"/proc/self/fd/{fd}", shown)
        finally:
            os.close(fd)  # the mapping keeps the memory alive
    else:  # not Linux: map the file itself
        reader = open_reader(str(path), shown)
    try:
        if verify:
            check_database(data, reader, shown)
        else:
            reader.get("127.0.0.1")  # touch the tree: a truncated file fails here, not later
        meta = reader.metadata()
    except GeoIPError:
        reader.close()
        raise
    except Exception:
        reader.close()
        raise GeoIPError(f"geoip.database: {shown} is not a readable MaxMind DB",
                         field="geoip.database") from None
    desc = meta.description.get("en") if isinstance(meta.description, dict) else None
    info = DatabaseInfo(path=shown, database_type=meta.database_type, description=desc or "",
                        build_epoch=int(meta.build_epoch), ip_version=int(meta.ip_version),
                        node_count=int(meta.node_count), loaded_at=time.time())
    return _Loaded(reader, info, stamp)


class GeoReader:
    """Country lookups with an LRU cache in front; reloadable.

    With `verify`, the DB is checked fully (geocheck) before it is first used; a replacement
    is always checked before it is swapped in."""

    def __init__(self, path: Path, cache_size: int = 65536, display_path: str | None = None,
                 verify: bool = False):
        self.path = path
        self._display = display_path or str(path)
        self._cache_size = max(1, cache_size)
        loaded = _load(path, self._display, verify)
        self._reader = loaded.reader
        self._info = loaded.info
        self._stamp = loaded.stamp
        self._seen_stamp = loaded.stamp
        self.country = self._new_cache()
        self.last_reload_error: str | None = None
        self.lookup_errors = 0

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
        except Exception:  # `key` is a valid address: any failure is the DB's
            if self._reader.closed:
                raise  # used after close(): a bug of the caller, not a damaged DB
            self._lookup_failed()
            return None
        return country_of_record(record)

    def _lookup_failed(self) -> None:
        """A lookup error leaves the address unplaced (geoip.unknown decides). Logged once per
        loaded DB, never with the address (the C reader's message carries it)."""
        self.lookup_errors += 1
        if self.lookup_errors == 1:
            log.error("geoip: a lookup in %s failed (damaged database?); such addresses are "
                      "treated as unplaced", self._display)

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

    def prepare_reload(self) -> _Loaded | None:
        """If the DB file changed since it was last seen, read and verify it (slow: run it off
        the event loop). None when unchanged or refused; a refused file leaves the current
        DB in use and sets `last_reload_error`, once per version of the file."""
        try:
            stamp = _stamp(self.path)
        except OSError as exc:
            self._note_error(f"geoip.database: cannot stat {self._display}: {exc.strerror}")
            return None
        if stamp == self._seen_stamp:
            return None
        self._seen_stamp = stamp
        try:
            return _load(self.path, self._display, verify=True)
        except GeoIPError as exc:
            self._note_error(exc.message)
            return None

    def install(self, loaded: _Loaded) -> None:
        """Swap in a DB from prepare_reload() (on the thread that does lookups)."""
        old = self._reader
        self._reader = loaded.reader
        self._info = loaded.info
        self._stamp = loaded.stamp
        self.country = self._new_cache()
        self.last_reload_error = None
        self.lookup_errors = 0
        old.close()
        log.info("geoip: loaded replaced database %s (%s, built %s)", self._display,
                 self._info.database_type, self._info.as_json()["build_date"])

    def maybe_reload(self) -> bool:
        """prepare_reload() and install() in one go. Returns True when swapped."""
        loaded = self.prepare_reload()
        if loaded is None:
            return False
        self.install(loaded)
        return True

    def _note_error(self, message: str) -> None:
        if message != self.last_reload_error:
            log.error("geoip: keeping the current database: %s", message)
        self.last_reload_error = message

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> GeoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_geoip(database: str = BUILTIN, cache_size: int = 65536,
               verify: bool = False) -> GeoReader:
    """Open the configured DB: "builtin" or a path to a MaxMind-format country .mmdb. With
    `verify` (the service), check it fully first (geocheck.check_database)."""
    if database == BUILTIN:
        path = builtin_database_path()
        if not path.is_file():
            raise GeoIPError(f"the built-in GeoIP database is missing ({path})",
                             field="geoip.database")
        return GeoReader(path, cache_size, display_path=BUILTIN, verify=verify)
    path = Path(database).expanduser()
    if not path.is_file():
        raise GeoIPError(f"geoip.database: no such file {database}", field="geoip.database")
    return GeoReader(path, cache_size, verify=verify)
