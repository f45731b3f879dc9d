"""config/'s systemd units: `systemd-analyze verify` accepts them, their sandbox is the one
README promises (and `systemd-analyze security` rates it low), and their commands work with the
shipped /etc/joingate/joingate.toml under what a test can impose without systemd as PID 1:
the unit's environment, working folder, umask and open-file limit, no capabilities, no new
privileges, and no memory both writable and executable (MemoryDenyWriteExecute=, which systemd
enforces with seccomp; here the kernel's PR_SET_MDWE, which refuses the same mappings).

Units are checked with /opt/joingate (the install prefix README uses) replaced by this test
run's venv, since verify requires ExecStart's program to exist, and /var/lib/joingate by a
temporary state folder.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from joingate.testing.geodb import address, write_test_mmdb
from joingate.testing.service import free_port, http

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).resolve().parents[2] / "config"
UNITS = ("joingate.service", "joingate-geoip-update.service", "joingate-geoip-update.timer")
SERVICES = UNITS[:2]
PREFIX = "/opt/joingate"
STATE = "/var/lib/joingate"
ETC = "/etc/joingate"
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1

Unit = dict[str, dict[str, list[str]]]


def read_unit(path: Path) -> Unit:
    """Section -> key -> every value given (a key may repeat, e.g. SystemCallFilter=)."""
    sections: Unit = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a Key=value line: {raw!r}"
        current.setdefault(key, []).append(value)
    return sections


def _installed_here(tmp_path: Path) -> Path:
    """The units with the install prefix pointed at this run's venv."""
    folder = tmp_path / "units"
    folder.mkdir()
    for name in UNITS:
        text = (CONFIG / name).read_text(encoding="utf-8")
        (folder / name).write_text(text.replace(PREFIX, sys.prefix), encoding="utf-8")
    return folder


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    folder = _installed_here(tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", *(str(folder / u) for u in UNITS)],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", SERVICES)
def test_the_sandbox_is_the_promised_one(name: str) -> None:
    service = read_unit(CONFIG / name)["Service"]
    single = {key: values[-1] for key, values in service.items()}
    for key, value in {
        "DynamicUser": "yes", "User": "joingate", "StateDirectory": "joingate",
        "WorkingDirectory": STATE, "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
        "AmbientCapabilities": "", "MemoryDenyWriteExecute": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "UMask": "0077",
        "Environment": f"JOINGATE_CONFIG={ETC}/joingate.toml",
        "EnvironmentFile": f"-{ETC}/joingate.env",
    }.items():
        assert single.get(key) == value, f"{name}: {key}={single.get(key)!r}, not {value!r}"
    assert service["SystemCallFilter"][0] == "@system-service"
    assert single["ExecStart"].startswith(f"{PREFIX}/bin/joingate ")


def test_the_serving_unit_restarts_and_lifts_the_open_file_limit() -> None:
    service = read_unit(CONFIG / "joingate.service")["Service"]
    assert service["Restart"] == ["on-failure"]
    hard = service["LimitNOFILE"][0].rpartition(":")[2]
    assert int(hard) >= 65536  # server.max_connections 4096 and much more
    assert service["ExecStart"] == [f"{PREFIX}/bin/joingate serve"]


def test_the_timer_runs_the_update_monthly_as_readme_says() -> None:
    timer = read_unit(CONFIG / "joingate-geoip-update.timer")
    assert timer["Timer"]["OnCalendar"] == ["*-*-03 04:17"]
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    service = read_unit(CONFIG / "joingate-geoip-update.service")["Service"]
    assert service["ExecStart"] == [f"{PREFIX}/bin/joingate geoip update"]
    assert service["Type"] == ["oneshot"]
    readme = (CONFIG.parent / "README.md").read_text(encoding="utf-8")
    assert "`OnCalendar=*-*-03 04:17`, `Persistent=true`" in readme


@pytest.mark.parametrize("name", SERVICES)
def test_systemd_analyze_security_rates_the_exposure_low(name: str, tmp_path: Path) -> None:
    unit = _installed_here(tmp_path) / name
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                             str(unit)], capture_output=True, text=True, timeout=120)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0, result.stdout  # 0 best, 10 worst; "OK" up to 3.9


def test_the_shipped_config_keeps_every_file_in_the_state_folder() -> None:
    settings = tomllib.loads((CONFIG / "joingate.systemd.toml").read_text(encoding="utf-8"))
    paths = [settings["store"]["url"].removeprefix("sqlite:///"),
             settings["geoip"]["database"], settings["audit"]["signing_key"]]
    assert all(p.startswith(f"{STATE}/") for p in paths), paths


# -- the units' commands, run as their units would run them ----------------------------------

class _Sandbox:
    """Runs a unit's ExecStart= with its environment, folder, umask, open-file limit, and
    without capabilities, new privileges or W+X memory."""

    def __init__(self, name: str, state: Path, etc: Path, env_file: dict[str, str],
                 program_only: bool = False):
        service = read_unit(CONFIG / name)["Service"]
        self.service = service
        self.argv = service["ExecStart"][0].replace(PREFIX, sys.prefix).split()
        if program_only:  # another joingate command in the unit's setting (README's alias)
            self.argv = self.argv[:1]
        self.cwd = Path(service["WorkingDirectory"][0].replace(STATE, str(state)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
        for assignment in service["Environment"]:
            key, _, value = assignment.partition("=")
            env[key] = value.replace(ETC, str(etc))
        self.env = {**env, **env_file}
        drop = ["setpriv", "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]
        # Only root can drop what it holds; anyone else holds no capability to drop.
        self.prefix = drop if os.geteuid() == 0 else ["setpriv", "--no-new-privs"]

    def _preexec(self) -> Callable[[], None]:
        umask = int(self.service["UMask"][0], 8)
        given = self.service.get("LimitNOFILE")
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)
        if given:  # as far as this machine lets a hard limit rise (systemd as PID 1 can)
            soft, _, hard = given[0].partition(":")
            cap = limit[1]
            limit = (min(int(soft), cap), min(int(hard or soft), cap))
        mdwe = self.service["MemoryDenyWriteExecute"] == ["yes"]

        def apply() -> None:
            os.umask(umask)
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            if mdwe and ctypes.CDLL(None, use_errno=True).prctl(
                    PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")
        return apply

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *self.argv, *args], cwd=self.cwd, env=self.env,
                              preexec_fn=self._preexec(), capture_output=True, text=True,
                              timeout=120)

    def start(self, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen([*self.prefix, *self.argv], cwd=self.cwd, env=self.env,
                                    preexec_fn=self._preexec(), stdout=out,
                                    stderr=subprocess.STDOUT)


@pytest.fixture
def download(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server with the test country DB, standing in for DB-IP."""
    folder = tmp_path / "www"
    write_test_mmdb(folder / "country.mmdb")
    handler = functools.partial(_Quiet, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/country.mmdb"
        server.shutdown()
        thread.join(timeout=10)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_units_commands_install_a_db_and_serve_from_the_state_folder(
        tmp_path: Path, download: str) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    etc = tmp_path / "etc"
    etc.mkdir()
    port = free_port()
    shipped = (CONFIG / "joingate.systemd.toml").read_text(encoding="utf-8")
    config = shipped.replace(STATE, str(state)).replace(
        'listen = "127.0.0.1:8750"', f'listen = "127.0.0.1:{port}"')
    assert tomllib.loads(config)["server"]["listen"].endswith(f":{port}")
    (etc / "joingate.toml").write_text(config, encoding="utf-8")
    # What /etc/joingate/joingate.env would hold: the download stands in for DB-IP's.
    update = _Sandbox("joingate-geoip-update.service", state, etc,
                      {"JOINGATE_GEOIP_UPDATE_URL": download})
    serve = _Sandbox("joingate.service", state, etc, {})

    # README's first steps: the first DB by the update unit, then the key and a token.
    done = update.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert (state / "country.mmdb").read_bytes() == \
        (tmp_path / "www" / "country.mmdb").read_bytes()
    # The CLI as README's alias runs it: the unit's user, folder and environment.
    cli = _Sandbox("joingate.service", state, etc, {}, program_only=True)
    made = cli.run("audit", "key", "create")
    assert made.returncode == 0, made.stderr
    verifier = made.stdout.strip()
    token = cli.run("token", "create", "--name", "prosody", "--scope", "plugin")
    assert token.returncode == 0, token.stderr
    plugin = token.stdout.strip()

    proc = serve.start(tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if http("GET", f"http://127.0.0.1:{port}/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        status, verdict = http("POST", f"http://127.0.0.1:{port}/v1/authorize",
                               {"room": "vigil", "ip": address("CN")}, plugin)
        assert status == 200 and verdict["country"] == "CN", verdict
        status, key = http("GET", f"http://127.0.0.1:{port}/v1/audit/key")
        assert status == 200 and key["key"] == verifier, key
        limits = Path(f"/proc/{proc.pid}/limits").read_text()  # setpriv execs joingate
        soft = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
        assert soft and soft.group(1) == soft.group(2) != "1024", limits  # raised to the hard
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()

    # UMask=0077: nothing in the state folder is readable by another user.
    for path in state.iterdir():
        assert path.stat().st_mode & 0o077 == 0, f"{path.name}: {oct(path.stat().st_mode)}"
