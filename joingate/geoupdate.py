"""`joingate geoip update`: download a country .mmdb, check it fully, install it atomically.

Sources: DB-IP's monthly IP-to-Country Lite by default; any URL (`{YYYY}`/`{MM}` expanded to
the current UTC month, falling back to the previous month while the current one is not out);
MaxMind GeoLite2 Country with an account id and licence key (HTTP basic auth, a .tar.gz).
A download may be plain, gzip or tar.gz (the .mmdb member is taken). The candidate passes
`geocheck.check_database` before anything is touched; then the current file is kept as
`<name>.previous` and the new one renamed over it. A running service picks it up by itself.
Errors: InvalidInput (exit 2) for bad settings or arguments, GeoIPError (exit 1) for a
download or check failure, and in both cases nothing on disk changes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .config import Settings
from .errors import GeoIPError, InvalidInput
from .geo import BUILTIN
from .geocheck import CheckReport, check_database, open_reader

DBIP_URL = "https://download.db-ip.com/free/dbip-country-lite-{YYYY}-{MM}.mmdb.gz"
MAXMIND_URL = ("https://download.maxmind.com/geoip/databases/GeoLite2-Country/download"
               "?suffix=tar.gz")
MAX_BYTES = 256 * 1024 * 1024  # far above any country DB (~10 MB), far below trouble
TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Source:
    url: str  # may hold {YYYY}/{MM}
    auth: tuple[str, str] | None  # MaxMind account id and licence key
    setting: str  # the field a bad URL is reported under


@dataclass(frozen=True, slots=True)
class Outcome:
    target: Path
    url: str  # as fetched (never with credentials)
    report: CheckReport
    installed: bool  # False: --check-only, or the file was already current
    current: bool  # the target already held exactly this DB
    previous: Path | None


def target_path(settings: Settings) -> Path:
    if settings.geoip_database == BUILTIN:
        raise InvalidInput("geoip.database: the built-in database cannot be updated in place; "
                           "set geoip.database to the path the update should write (e.g. "
                           "/var/lib/joingate/country.mmdb)", field="geoip.database")
    path = Path(settings.geoip_database).expanduser()
    if path.is_dir():
        raise InvalidInput(f"geoip.database: {path} is a directory", field="geoip.database")
    if not path.parent.is_dir():
        raise InvalidInput(f"geoip.database: no directory {path.parent}",
                           field="geoip.database")
    return path


def source_of(settings: Settings, url: str | None) -> Source:
    account, key = settings.geoip_maxmind_account_id, settings.geoip_maxmind_license_key
    if bool(account) != bool(key):
        missing = "geoip.maxmind_license_key" if account else "geoip.maxmind_account_id"
        raise InvalidInput(f"{missing}: MaxMind downloads need both the account id and the "
                           "licence key", field=missing)
    auth = (account, key) if account else None
    if url is not None:
        chosen, setting = url, "url"
    elif settings.geoip_update_url:
        chosen, setting = settings.geoip_update_url, "geoip.update_url"
    else:
        chosen, setting = (MAXMIND_URL if auth else DBIP_URL), "geoip.update_url"
    parsed = urllib.parse.urlsplit(chosen)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise InvalidInput(f"{setting}: expected an http(s) URL, got {chosen!r}", field=setting)
    if parsed.username or parsed.password:
        raise InvalidInput(f"{setting}: put MaxMind credentials in geoip.maxmind_account_id "
                           "and geoip.maxmind_license_key, not in the URL", field=setting)
    return Source(chosen, auth, setting)


def _months(now: datetime) -> list[tuple[int, int]]:
    previous = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return [(now.year, now.month), previous]


def _expand(url: str, year: int, month: int) -> str:
    return url.replace("{YYYY}", f"{year:04d}").replace("{MM}", f"{month:02d}")


def download(source: Source, now: datetime) -> tuple[str, bytes]:
    """(URL fetched, body). A dated URL whose current month is missing (404) is tried for the
    previous month: monthly files appear some days into the month."""
    dated = "{YYYY}" in source.url or "{MM}" in source.url
    urls = [_expand(source.url, y, m) for y, m in _months(now)] if dated else [source.url]
    for i, url in enumerate(urls):
        try:
            return url, _fetch(url, source.auth, source.setting)
        except _NotThere:
            if i == len(urls) - 1:
                tried = " nor ".join(urls)
                raise GeoIPError(f"{source.setting}: download failed: {tried}: not found "
                                 "(HTTP 404)", field=source.setting) from None
    raise AssertionError("unreachable")


class _NotThere(Exception):
    pass


def _fetch(url: str, auth: tuple[str, str] | None, setting: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "joingate-geoip-update"})
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        # Not sent on after a redirect: MaxMind answers with a presigned URL elsewhere, which
        # must not see the licence key (and refuses a second credential).
        request.add_unredirected_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            body: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _NotThere from None
        hint = " (check the MaxMind account id and licence key)" \
            if exc.code in (401, 403) and auth else ""
        raise GeoIPError(f"{setting}: download failed: {url}: HTTP {exc.code}{hint}",
                         field=setting) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GeoIPError(f"{setting}: download failed: {url}: {reason}",
                         field=setting) from None
    if len(body) > MAX_BYTES:
        raise GeoIPError(f"{setting}: download failed: {url}: larger than "
                         f"{MAX_BYTES >> 20} MiB", field=setting)
    return body


def unpack(body: bytes, url: str, setting: str) -> bytes:
    """The .mmdb inside a download: plain, gzip, or a tar.gz holding one .mmdb."""
    data = body
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise GeoIPError(f"{setting}: {url}: not a readable gzip file ({exc})",
                             field=setting) from None
        if len(data) > MAX_BYTES:
            raise GeoIPError(f"{setting}: {url}: unpacks to more than {MAX_BYTES >> 20} MiB",
                             field=setting)
    if len(data) > 262 and data[257:262] == b"ustar":
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                members = [m for m in archive.getmembers()
                           if m.isfile() and m.name.endswith(".mmdb")]
                if len(members) != 1:
                    raise GeoIPError(f"{setting}: {url}: the archive holds {len(members)} "
                                     ".mmdb files, expected one", field=setting)
                extracted = archive.extractfile(members[0])
                data = extracted.read() if extracted is not None else b""
        except tarfile.TarError as exc:
            raise GeoIPError(f"{setting}: {url}: not a readable tar archive ({exc})",
                             field=setting) from None
    return data


def check_bytes(data: bytes, shown: str, scratch: Path, setting: str) -> CheckReport:
    """Check `data` fully (the C reader needs a file: written to `scratch` first)."""
    scratch.write_bytes(data)
    with open_reader(str(scratch), shown, setting) as reader:
        return check_database(data, reader, shown, setting=setting)


def update(settings: Settings, url: str | None = None, check_only: bool = False) -> Outcome:
    target = target_path(settings)
    source = source_of(settings, url)
    fetched, body = download(source, datetime.now(UTC))
    data = unpack(body, fetched, source.setting)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.new")
    try:
        report = check_bytes(data, f"the download from {fetched}", scratch, source.setting)
        current = target.is_file() and _digest(target.read_bytes()) == _digest(data)
        if check_only or current:
            return Outcome(target, fetched, report, False, current, None)
        previous = _install(scratch, target)
        return Outcome(target, fetched, report, True, False, previous)
    finally:
        scratch.unlink(missing_ok=True)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _install(scratch: Path, target: Path) -> Path | None:
    """Keep the current file as <name>.previous, then rename the checked file over it; both
    renames are atomic, and the new file is on disk before it takes the name."""
    with open(scratch, "rb+") as fh:
        os.fsync(fh.fileno())
    previous: Path | None = None
    if target.is_file():
        previous = target.with_name(target.name + ".previous")
        keep = target.with_name(f".{target.name}.{os.getpid()}.previous")
        try:
            os.link(target, keep)
        except OSError:  # no hard links here: copy instead
            keep.write_bytes(target.read_bytes())
        os.replace(keep, previous)
    os.replace(scratch, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return previous
