"""The wheel that `python -m build` makes installs into a fresh venv and serves.

Built once per session, sdist then wheel from the sdist (what `python -m build` does), from a
copy of the checkout's files (git ls-files) in a temporary folder outside pytest's, so nothing is
written into the checkout and the privacy scan does not read the sources and the venv (the serve
folder stays in pytest's and is scanned). The wheel is installed with plain pip into a fresh venv:
its dependencies come from the index as a user's would, so a missing one fails here. `joingate
serve` runs from that venv in a folder away from the checkout and is checked over HTTP only,
then its SQLite file is read for the migrations it applied.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import maxminddb
import pytest

from joingate.testing.geodb import address, write_test_mmdb
from joingate.testing.service import free_port, http

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
# Files in the package folders that are for readers of the repository, not the running service.
NOT_SHIPPED = {"joingate/web/README.md", "seeds/README.md"}
# A setuptools warning, as build prints it ("WARNING Package ... is absent ...", framed in "!!"
# lines) or as the backend writes it ("SetuptoolsDeprecationWarning: ...").
SETUPTOOLS_WARNING = re.compile(r"\w*Warning: |^WARNING |^\s*!!\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Built:
    wheel: Path
    log: str


@dataclass(frozen=True)
class Installed:
    bin: Path
    env: dict[str, str]


def _clean_env() -> dict[str, str]:
    """The environment with nothing that points Python or joingate at the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and
           not k.startswith("JOINGATE_")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT)))
    return env


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, \
        f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="joingate-packaging-") as folder:
        yield Path(folder)


@pytest.fixture(scope="session")
def built(scratch: Path) -> Built:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    source = scratch / "source"
    for name in listed.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    done = _run([sys.executable, "-m", "build", "--outdir", str(scratch / "dist"), "."],
                source, timeout=600)
    wheels = list((scratch / "dist").glob("joingate-*.whl"))
    assert len(wheels) == 1, done.stdout
    return Built(wheels[0], done.stdout + done.stderr)


@pytest.fixture(scope="session")
def installed(built: Built, scratch: Path) -> Installed:
    venv = scratch / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], scratch, timeout=120)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(built.wheel)],
         scratch, timeout=600)
    return Installed(venv / "bin", _clean_env())


def test_build_prints_no_setuptools_warning(built: Built) -> None:
    warnings = [line for line in built.log.splitlines() if SETUPTOOLS_WARNING.search(line)]
    assert warnings == [], built.log


def test_the_wheel_ships_every_file_the_service_reads(built: Built) -> None:
    listed = subprocess.run(["git", "ls-files", "joingate", "seeds"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    wanted = {name.replace("seeds/", "joingate/seeds/", 1) for name in listed
              if name not in NOT_SHIPPED}
    with zipfile.ZipFile(built.wheel) as wheel:
        shipped = {n for n in wheel.namelist() if not n.startswith("joingate-")}
    assert wanted - shipped == set()
    assert shipped - wanted == set()  # nothing from tests/, bench/ or a stray build folder


def test_serve_from_the_wheel_in_a_fresh_venv(installed: Installed, tmp_path: Path) -> None:
    where = subprocess.run([str(installed.bin / "python"), "-c",
                            "import joingate; print(joingate.__file__)"], cwd=tmp_path,
                           env=installed.env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(installed.bin.parent), where.stdout

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "joingate.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n'
                      f'[store]\nurl = "sqlite:///{tmp_path / "joingate.db"}"\n'
                      f'[geoip]\ndatabase = "{write_test_mmdb(tmp_path / "test.mmdb")}"\n')

    def cli(*args: str) -> str:
        return _run([str(installed.bin / "joingate"), *args, "--config", str(config)],
                    tmp_path, timeout=60).stdout

    plugin = cli("token", "create", "--name", "prosody", "--scope", "plugin").strip()
    admin = cli("token", "create", "--name", "ops", "--scope", "admin").strip()
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen([str(installed.bin / "joingate"), "serve", "--config",
                                  str(config)], cwd=tmp_path, env=installed.env,
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        ready = _await_ready(url, serve, tmp_path / "serve.log")
        assert ready["ready"] is True and ready["store"] == "ok", ready

        # The store works, schema and all: a restriction made over HTTP decides joins.
        status, made = http("POST", f"{url}/v1/restrictions",
                            {"rooms": ["vigil"], "countries": ["CN"], "reason": "packaging"},
                            admin)
        assert status == 201, made
        verdicts = {cc: http("POST", f"{url}/v1/authorize",
                             {"room": "vigil", "ip": address(cc)}, plugin)
                    for cc in ("CN", "HK")}
        assert verdicts["CN"][0] == 200 and verdicts["CN"][1]["decision"] == "deny", verdicts
        assert verdicts["HK"][0] == 200 and verdicts["HK"][1]["decision"] == "allow", verdicts
        # Tables of the later migrations: GeoIP corrections, Merkle checkpoints.
        status, body = http("POST", f"{url}/v1/geoip/corrections",
                            {"network": "198.51.100.0/24", "country": "HK",
                             "reason": "packaging"}, admin)
        assert status == 201, body
        status, body = http("GET", f"{url}/v1/audit/checkpoints")
        assert status == 200 and "checkpoints" in body, body

        # The admin pages: a template rendered, and the stylesheet it links to, as shipped.
        status, page = http("GET", f"{url}/admin/")
        assert status == 200 and "/static/joingate.css" in page, page
        status, css = http("GET", f"{url}/static/joingate.css")
        assert status == 200
        assert css == (ROOT / "joingate/web/static/joingate.css").read_text(encoding="utf-8")
        status, page = http("GET", f"{url}/transparency")
        assert status == 200 and "<html" in page, page
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()

    # Every migration the checkout has was applied (read from the file the service left).
    with sqlite3.connect(tmp_path / "joingate.db") as db:
        applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    shipped = {int(p.name.split("_", 1)[0])
               for p in (ROOT / "joingate/store/migrations/sqlite").glob("*.sql")}
    assert applied == shipped


def test_the_shipped_geoip_database_answers_from_the_wheel(installed: Installed,
                                                           tmp_path: Path) -> None:
    """No config at all: the builtin DB comes from the installed package (joingate.seeds)."""
    joingate = str(installed.bin / "joingate")
    info = json.loads(_run([joingate, "geoip", "info", "--json"], tmp_path, timeout=60).stdout)
    with maxminddb.open_database(str(ROOT / "seeds/geoip/country.mmdb")) as shipped:
        assert info["build_epoch"] == shipped.metadata().build_epoch
        assert info["node_count"] == shipped.metadata().node_count
    assert _run([joingate, "geoip", "lookup", "202.112.0.1"], tmp_path, timeout=60).stdout \
        == "CN\n"  # CERNET, seeds/geoip/selftest.json


def test_the_demo_from_the_wheel_says_it_needs_a_checkout(installed: Installed,
                                                          tmp_path: Path) -> None:
    """The wheel ships the harness (joingate.testing) but not the Prosody plugin it loads."""
    done = subprocess.run([str(installed.bin / "joingate"), "demo"], cwd=tmp_path,
                          env=installed.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == ("joingate: joingate demo runs from a source checkout: Prosody loads "
                           "mod_joingate from its plugins/prosody\n"), done.stderr
    assert done.stdout == ""


def _await_ready(url: str, serve: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert serve.poll() is None, f"joingate serve exited: {log.read_text()}"
        try:
            status, body = http("GET", f"{url}/readyz", timeout=2)
        except OSError:
            status, body = 0, None
        if status == 200:
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"joingate serve not ready in 60 s: {log.read_text()}")
