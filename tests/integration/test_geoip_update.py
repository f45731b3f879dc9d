"""`joingate geoip update` against a local HTTP server (aiohttp) serving good, damaged,
truncated, missing and non-country files; a running service picks up what it installs."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from joingate.testing.geodb import address, damage_data_section, write_test_mmdb
from joingate.testing.service import JoingateService, free_port, http, wait_until
from tests.privacy import participant_addresses

pytestmark = pytest.mark.integration


def _moved_db(path: Path) -> Path:
    """A test DB in which the DE range is placed in CN (so an update is visible)."""
    writer = MMDBWriter(6, "country", ipv4_compatible=True, description="updated test DB")
    writer.insert_network(IPSet(["127.0.7.0/24"]), {"country_code": "CN"})
    writer.insert_network(IPSet(["127.0.2.0/24"]), {"country_code": "HK"})
    writer.to_db_file(str(path))
    return path


def _tar_gz(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"GeoLite2-Country_20261201/{name}")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        notes = tarfile.TarInfo("GeoLite2-Country_20261201/COPYRIGHT.txt")
        notes.size = 5
        archive.addfile(notes, io.BytesIO(b"notes"))
    return out.getvalue()


class Files:
    """An aiohttp server in a thread; `files` maps path → body, `auth` path → (user, key)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.auth: dict[str, tuple[str, str]] = {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.seen.append(path)
        if path in self.auth:
            user, key = self.auth[path]
            want = "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()
            if request.headers.get("Authorization") != want:
                return web.Response(status=401)
        if path not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[path])

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._serve)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Files:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Files]:
    good = write_test_mmdb(tmp_path / "good.mmdb").read_bytes()
    moved = _moved_db(tmp_path / "moved.mmdb").read_bytes()
    damaged = damage_data_section(write_test_mmdb(tmp_path / "damaged.mmdb")).read_bytes()
    city = MMDBWriter(6, "GeoLite2-City", ipv4_compatible=True)
    city.insert_network(IPSet(["127.0.1.0/24"]), {"country": {"iso_code": "CN"}})
    city.to_db_file(str(tmp_path / "city.mmdb"))
    now = datetime.now(UTC)
    with Files() as server:
        server.files.update({
            "/good.mmdb": good,
            "/moved.mmdb.gz": gzip.compress(moved),
            "/damaged.mmdb": damaged,
            "/truncated.mmdb": good[: len(good) // 2],
            "/truncated.mmdb.gz": gzip.compress(good)[:200],
            "/city.mmdb": (tmp_path / "city.mmdb").read_bytes(),
            f"/monthly/{now:%Y}-{now:%m}.mmdb.gz": gzip.compress(moved),
            "/geolite2.tar.gz": _tar_gz("GeoLite2-Country.mmdb", moved),
        })
        server.auth["/geolite2.tar.gz"] = ("12345", "licence-key")
        yield server


def _unchanged(svc: JoingateService, before: bytes) -> None:
    assert svc.geoip.read_bytes() == before
    assert not svc.geoip.with_name(svc.geoip.name + ".previous").exists()
    assert not [p for p in svc.geoip.parent.iterdir() if p.name.endswith(".new")]


def test_update_installs_a_checked_db_that_the_running_service_uses(
        tmp_path: Path, files: Files) -> None:
    with JoingateService(tmp_path / "svc") as svc:
        svc.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                              "reason": "policy"})
        assert svc.authorize("vigil", address("DE"))["decision"] == "allow"
        before = svc.geoip.read_bytes()
        # Bad downloads: exit 1, a clear message, nothing changed; the service unbothered.
        for path, words in (("/damaged.mmdb", "damaged"), ("/truncated.mmdb", "readable"),
                            ("/truncated.mmdb.gz", "gzip"), ("/missing.mmdb", "404"),
                            ("/city.mmdb", "not a country database")):
            result = svc.cli("geoip", "update", "--url", files.url + path, check=False)
            assert result.returncode == 1, (path, result.stderr)
            assert words in result.stderr and result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith("joingate: url: "), result.stderr
            _unchanged(svc, before)
        unreachable = svc.cli("geoip", "update", "--url", f"http://127.0.0.1:{free_port()}/x",
                              check=False)
        assert unreachable.returncode == 1 and "download failed" in unreachable.stderr
        assert unreachable.stderr.startswith("joingate: url: ")
        _unchanged(svc, before)
        checked = svc.cli("geoip", "update", "--url", files.url + "/moved.mmdb.gz",
                          "--check-only")
        assert "passes the check" in checked.stdout
        _unchanged(svc, before)
        # A good one, gzipped: installed, the old file kept, the service switches by itself.
        done = svc.cli("geoip", "update", "--url", files.url + "/moved.mmdb.gz")
        assert "installed" in done.stdout
        assert svc.geoip.with_name(svc.geoip.name + ".previous").read_bytes() == before
        wait_until(lambda: svc.authorize("vigil", address("DE"))["decision"] == "deny",
                   timeout=20, what="the running service to use the update")
        again = svc.cli("geoip", "update", "--url", files.url + "/moved.mmdb.gz")
        assert "already current" in again.stdout
        status, ready = http("GET", f"{svc.url}/readyz")
        assert status == 200 and ready["geoip"]["reload_error"] is None
    assert participant_addresses(svc.log_path.read_bytes()) == set()


def test_update_sources_monthly_url_and_maxmind(tmp_path: Path, files: Files) -> None:
    svc = JoingateService(tmp_path / "svc")
    monthly = files.url + "/monthly/{YYYY}-{MM}.mmdb.gz"
    result = svc.cli("geoip", "update", "--url", monthly, "--json")
    assert '"installed": true' in result.stdout
    now = datetime.now(UTC)
    assert files.seen[-1] == f"/monthly/{now:%Y}-{now:%m}.mmdb.gz"
    # MaxMind: credentials as basic auth, the .mmdb taken out of the tar.gz.
    url = files.url + "/geolite2.tar.gz"
    base = svc.config.read_text()
    svc.config.write_text(base.replace("[geoip]\n", f'[geoip]\nupdate_url = "{url}"\n'
                                       'maxmind_account_id = "12345"\n'
                                       'maxmind_license_key = "wrong"\n'))
    refused = svc.cli("geoip", "update", check=False)
    assert refused.returncode == 1 and "401" in refused.stderr and "licence key" in \
        refused.stderr and "wrong" not in refused.stderr
    svc.config.write_text(base.replace("[geoip]\n", f'[geoip]\nupdate_url = "{url}"\n'
                                       'maxmind_account_id = "12345"\n'
                                       'maxmind_license_key = "licence-key"\n'))
    assert "already current" in svc.cli("geoip", "update").stdout  # same DB as the monthly


@pytest.mark.parametrize(("setting", "field"), [
    ('database = "builtin"', "geoip.database"),
    ('maxmind_account_id = "12345"', "geoip.maxmind_license_key"),
    ('update_url = "ftp://example.org/x.mmdb"', "geoip.update_url"),
])
def test_update_bad_input_exits_2_naming_the_field(tmp_path: Path, setting: str,
                                                    field: str) -> None:
    svc = JoingateService(tmp_path / "svc")
    text = svc.config.read_text()
    if setting.startswith("database"):
        text = text.replace(f'database = "{svc.geoip}"', setting)
    else:
        text = text.replace("[geoip]\n", f"[geoip]\n{setting}\n")
    svc.config.write_text(text)
    before = svc.geoip.read_bytes()
    result = svc.cli("geoip", "update", check=False)
    assert result.returncode == 2 and field in result.stderr
    assert result.stderr.count("\n") == 1
    assert svc.geoip.read_bytes() == before
    bad_url = svc.cli("geoip", "update", "--url", "not a url", check=False)
    assert bad_url.returncode == 2


def test_geoip_info_warns_when_stale(tmp_path: Path) -> None:
    svc = JoingateService(tmp_path / "svc")
    fresh = svc.cli("geoip", "info")
    assert "stale: False" in fresh.stdout and "warning" not in fresh.stderr
    old = svc.cli("geoip", "info", "--json", check=False)
    assert '"stale": false' in old.stdout
    stale = JoingateService(tmp_path / "old", env={"JOINGATE_GEOIP_MAX_AGE": "1"})
    # mmdb-writer stamps the build time now: age it by a day and a half in the metadata.
    data = bytearray(stale.geoip.read_bytes())
    import maxminddb
    with maxminddb.open_database(str(stale.geoip)) as reader:
        epoch = reader.metadata().build_epoch
    marker = (epoch).to_bytes(4, "big")
    at = data.rfind(marker)
    assert at > 0
    data[at:at + 4] = (epoch - 36 * 3600).to_bytes(4, "big")
    stale.geoip.write_bytes(bytes(data))
    result = stale.cli("geoip", "info")
    assert "stale: True" in result.stdout and "geoip update" in result.stderr
    with stale:
        _, ready = http("GET", f"{stale.url}/readyz")
        assert ready["ready"] is True and ready["geoip"]["stale"] is True
        assert ready["geoip"]["age_days"] >= 1.4
