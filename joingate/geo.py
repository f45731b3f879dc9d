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
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import maxminddb

from .corrections import Correction, CorrectionTable
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


_pton, _AF_INET = socket.inet_pton, socket.AF_INET


def is_dotted_quad(ip: str) -> bool:
    """`ip` is four decimal numbers 0-255 in ASCII digits, without leading zeros: the one
    spelling that goes to the C reader as it is (a lookup error then means a damaged DB).
    inet_pton is that strict (it refuses 127.1, 0x7f.0.0.1, 0177.0.0.1 and other scripts'
    digits, which the C reader's getaddrinfo would accept) and costs ~0.1 us against ~0.5 us
    for the regular expression it replaced."""
    try:
        _pton(_AF_INET, ip)
    except (OSError, ValueError):  # ValueError: an embedded NUL or a lone surrogate
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A DB read into memory and opened (and verified, when asked), ready to be swapped in."""

    reader: maxminddb.Reader
    info: DatabaseInfo
    stamp: tuple[int, int, int, int]


def _stamp(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _load(path: Path, shown: str, verify: bool, setting: str = "geoip.database") -> _Loaded:
    """Read `path` into a private in-memory copy (memfd), open it with the C reader, and with
    `verify` check it fully (geocheck) before anyone looks anything up in it."""
    try:
        stamp = _stamp(path)
        data = path.read_bytes()
    except OSError as exc:
        raise GeoIPError(f"{setting}: cannot read {shown}: {exc.strerror}",
                         field=setting) from None
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("joingate-geoip", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            reader = open_reader(f"/proc/self/fd/{fd}", shown, setting)
        finally:
            os.close(fd)  # the mapping keeps the memory alive
    else:  # not Linux: map the file itself
        reader = open_reader(str(path), shown, setting)
    try:
        if verify:
            check_database(data, reader, shown, setting=setting)
        else:
            reader.get("127.0.0.1")  # touch the tree: a truncated file fails here, not later
        meta = reader.metadata()
    except GeoIPError:
        reader.close()
        raise
    except Exception:
        reader.close()
        raise GeoIPError(f"{setting}: {shown} is not a readable MaxMind DB",
                         field=setting) from None
    desc = meta.description.get("en") if isinstance(meta.description, dict) else None
    info = DatabaseInfo(path=shown, database_type=meta.database_type, description=desc or "",
                        build_epoch=int(meta.build_epoch), ip_version=int(meta.ip_version),
                        node_count=int(meta.node_count), loaded_at=time.time())
    return _Loaded(reader, info, stamp)


def freshness(info: DatabaseInfo, max_age_days: float, now: float) -> dict[str, Any]:
    """How old the DB is against geoip.max_age: past it the DB is `stale` (reported, not
    refused: an old DB still places most addresses right)."""
    age = (now - info.build_epoch) / 86400
    return {"age_days": round(age, 1), "max_age_days": max_age_days,
            "stale": age > max_age_days}


class Disputed(str):
    """A country the two databases disagree about: equal to (and hashed as) the primary's
    code, so whatever needs only the primary's answer treats it as that; the witness's
    code is `.witness`. Only made when both place the address, in different countries."""

    witness: str

    def __new__(cls, primary: str, witness: str) -> Disputed:
        made = super().__new__(cls, primary)
        made.witness = witness
        return made


class _Source:
    """One DB file: its reader, and what it takes to notice and check a replacement."""

    def __init__(self, path: Path, display: str, setting: str, verify: bool):
        self.path = path
        self.display = display
        self.setting = setting
        loaded = _load(path, display, verify, setting)
        self.reader = loaded.reader
        self.info = loaded.info
        self._seen_stamp = loaded.stamp
        self.reload_error: str | None = None

    def prepare(self) -> _Loaded | None:
        """If the file changed since it was last seen, read and check it (slow: off the event
        loop). None when unchanged or refused; a refused file keeps this DB in use and sets
        `reload_error`, logged once per version of the file."""
        try:
            stamp = _stamp(self.path)
        except OSError as exc:
            self._note_error(f"{self.setting}: cannot stat {self.display}: {exc.strerror}")
            return None
        if stamp == self._seen_stamp:
            return None
        self._seen_stamp = stamp
        try:
            return _load(self.path, self.display, True, self.setting)
        except GeoIPError as exc:
            self._note_error(exc.message)
            return None

    def install(self, loaded: _Loaded) -> None:
        old = self.reader
        self.reader = loaded.reader
        self.info = loaded.info
        self.reload_error = None
        old.close()
        log.info("geoip: loaded replaced database %s (%s, built %s)", self.display,
                 self.info.database_type, self.info.as_json()["build_date"])

    def _note_error(self, message: str) -> None:
        if message != self.reload_error:
            log.error("geoip: keeping the current database: %s", message)
        self.reload_error = message


Prepared = list[tuple[_Source, _Loaded]]


class GeoReader:
    """Country lookups with an LRU cache in front; reloadable.

    Composes the primary DB, an optional witness DB and the operator's corrections into one
    cached answer per address: a correction wins; else the primary's country, as `Disputed`
    when the witness places the address elsewhere. With `verify`, the DBs are checked fully
    (geocheck) before first use; a replacement is always checked before it is swapped in."""

    def __init__(self, path: Path, cache_size: int = 65536, display_path: str | None = None,
                 verify: bool = False, witness: Path | None = None):
        self.path = path
        self._cache_size = max(1, cache_size)
        self._primary = _Source(path, display_path or str(path), "geoip.database", verify)
        self._witness = (_Source(witness, str(witness), "geoip.witness", verify)
                         if witness is not None else None)
        self._corrections = CorrectionTable()
        self.country = self._new_cache()
        self.lookup_errors = 0

    # -- hot path -------------------------------------------------------------------------
    def _new_cache(self) -> Callable[[str], str | None]:
        """`country(ip)`: the ISO country of `ip` (a `Disputed` when the witness disagrees),
        or None when it is not placed; raises InvalidInput(field="ip") for a non-address
        (errors are not cached). Corrections and the witness cost nothing on a hit.

        functools.lru_cache rather than cachetools: measured here, a hit costs ~80 ns against
        ~150 ns for cachetools.LRUCache[k], and a miss adds ~0.2-1 us against ~1.1-1.3 us
        (LRUCache raises KeyError on a miss, then inserts in Python)."""
        return functools.lru_cache(maxsize=self._cache_size)(self._lookup)

    def _lookup(self, ip: str) -> str | None:
        # The C reader accepts legacy IPv4 spellings (127.1, 0x7f.0.0.1, octal): only a plain
        # dotted quad goes to it directly; anything else is parsed strictly first.
        key = ip if is_dotted_quad(ip) else normalize_ip(ip)
        if self._corrections.ids:
            corrected = self._corrections.country(key)
            if corrected is not None:
                return corrected
        primary = self._place(self._primary, key)
        if self._witness is None or primary is None:
            return primary
        other = self._place(self._witness, key)
        if other is None or other == primary:
            return primary
        return Disputed(primary, other)

    def _place(self, source: _Source, key: str) -> str | None:
        if ":" in key and source.info.ip_version == 4:
            return None  # an IPv6 address in an IPv4-only DB is simply not placed
        try:
            record = source.reader.get(key)
        except Exception:  # `key` is a valid address: any failure is the DB's
            if source.reader.closed:
                raise  # used after close(): a bug of the caller, not a damaged DB
            self._lookup_failed(source)
            return None
        return country_of_record(record)

    def _lookup_failed(self, source: _Source) -> None:
        """A lookup error leaves the address unplaced (geoip.unknown decides). Logged once per
        loaded DB, never with the address (the C reader's message carries it)."""
        self.lookup_errors += 1
        if self.lookup_errors == 1:
            log.error("geoip: a lookup in %s failed (damaged database?); such addresses are "
                      "treated as unplaced", source.display)

    def peek(self, ip: str) -> str | None:
        """Lookup that neither uses nor fills the cache (for `joingate check` and tests)."""
        return self._lookup(ip)

    # -- management -----------------------------------------------------------------------
    def info(self) -> DatabaseInfo:
        return self._primary.info

    def witness_info(self) -> DatabaseInfo | None:
        return None if self._witness is None else self._witness.info

    @property
    def last_reload_error(self) -> str | None:
        return self._primary.reload_error

    @property
    def witness_reload_error(self) -> str | None:
        return None if self._witness is None else self._witness.reload_error

    @property
    def corrections(self) -> int:
        return len(self._corrections)

    @property
    def cache_len(self) -> int:
        return int(self.country.cache_info().currsize)  # type: ignore[attr-defined]

    @property
    def hits(self) -> int:
        return int(self.country.cache_info().hits)  # type: ignore[attr-defined]

    @property
    def misses(self) -> int:
        return int(self.country.cache_info().misses)  # type: ignore[attr-defined]

    def prepare_reload(self) -> Prepared:
        """Read and check whichever DB files changed (slow: run it off the event loop)."""
        sources = [self._primary] if self._witness is None else [self._primary, self._witness]
        return [(s, loaded) for s in sources if (loaded := s.prepare()) is not None]

    def install(self, prepared: Prepared) -> None:
        """Swap in what prepare_reload() returned (on the thread that does lookups)."""
        if not prepared:
            return
        for source, loaded in prepared:
            source.install(loaded)
        self.country = self._new_cache()
        self.lookup_errors = 0

    def maybe_reload(self) -> bool:
        """prepare_reload() and install() in one go. Returns True when a DB was swapped."""
        prepared = self.prepare_reload()
        self.install(prepared)
        return bool(prepared)

    def set_corrections(self, corrections: Iterable[Correction]) -> bool:
        """Use these corrections from now on (the active ones); True when that changed
        anything (the cache is then cleared)."""
        table = CorrectionTable(corrections)
        if table.ids == self._corrections.ids:
            return False
        self._corrections = table
        self.country = self._new_cache()
        return True

    def close(self) -> None:
        self._primary.reader.close()
        if self._witness is not None:
            self._witness.reader.close()

    def __enter__(self) -> GeoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_geoip(database: str = BUILTIN, cache_size: int = 65536,
               verify: bool = False, witness: str = "") -> GeoReader:
    """Open the configured DB: "builtin" or a path to a MaxMind-format country .mmdb, and the
    witness DB if one is named. With `verify` (the service), check them fully first."""
    witness_path: Path | None = None
    if witness:
        witness_path = Path(witness).expanduser()
        if not witness_path.is_file():
            raise GeoIPError(f"geoip.witness: no such file {witness}", field="geoip.witness")
    if database == BUILTIN:
        path = builtin_database_path()
        if not path.is_file():
            raise GeoIPError(f"the built-in GeoIP database is missing ({path})",
                             field="geoip.database")
        return GeoReader(path, cache_size, display_path=BUILTIN, verify=verify,
                         witness=witness_path)
    path = Path(database).expanduser()
    if not path.is_file():
        raise GeoIPError(f"geoip.database: no such file {database}", field="geoip.database")
    return GeoReader(path, cache_size, verify=verify, witness=witness_path)
