"""A real Prosody (Debian's package) in a temporary directory, with mod_joingate from the checkout.

Each ProsodyServer has its own config file, data directory, log file and ports on 127.0.0.1.
It is started in the foreground as a child process and stopped by its own PID. Which Prosody
(0.12 on this machine, or 13 in a chroot folder) is the ProsodyInstall's choice (install.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .prosody_install import ProsodyInstall

# mod_joingate in a source checkout (a wheel does not ship the plugin).
PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugins" / "prosody"
DOMAIN = "localhost"
MUC_DOMAIN = "conference.localhost"
BREAKOUT_DOMAIN = "breakout.localhost"
LOBBY_DOMAIN = "lobby.localhost"
AUTH_DOMAIN = "auth.localhost"
RECORDER_DOMAIN = "recorder.localhost"
BOT_DOMAIN = "bot.localhost"  # an external component (XEP-0114): its users have no client address
BOT_SECRET = "bot-secret"
READY = "joingate gate active"
DISABLED = "the join gate is DISABLED"

LuaValue = str | int | float | bool | Sequence["LuaValue"] | Mapping[str, "LuaValue"] | None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def lua(value: LuaValue) -> str:
    """A Python value as a Lua literal for the Prosody config file."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
                   .replace("\n", "\\n").replace("\r", "\\r"))
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        return "{ " + "; ".join(f"[{lua(k)}] = {lua(v)}" for k, v in value.items()) + " }"
    return "{ " + "; ".join(lua(v) for v in value) + " }"


class ProsodyServer:
    def __init__(
        self,
        workdir: Path,
        *,
        joingate: Mapping[str, LuaValue],
        trusted_proxies: Sequence[str] = ("127.0.0.2",),
        load_plugin: bool = True,
        ready_text: str = READY,
        muc_options: Mapping[str, LuaValue] | None = None,
        muc_modules: Sequence[str] = (),
        log_level: str = "debug",
        jitsi_rooms: bool = False,
        domain: str = DOMAIN,
        s2s_routes: Mapping[str, int] | None = None,
        install: ProsodyInstall | None = None,
        plugin_paths: Sequence[Path] = (PLUGIN_DIR,),
    ) -> None:
        self.install = install or ProsodyInstall.from_env()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        # Prosody indexes <config dir>/certs at start and logs an error when it is missing.
        (workdir / "certs").mkdir(exist_ok=True)
        self.config_path = workdir / "prosody.cfg.lua"
        self.log_path = workdir / "prosody.log"
        self.c2s_port = free_port()
        self.http_port = free_port()
        self.component_port = free_port()
        # A unix socket path must stay short (108 bytes), shorter than pytest's tmp paths.
        self.admin_socket = Path(tempfile.mkdtemp(prefix="jg-prosody-")) / "admin.sock"
        # Prosody's plugin_paths. The tests add their own modules that do what Jitsi's do
        # (tests/prosody/modules): muc_modules, jitsi_rooms and s2s_routes load them.
        self.plugin_paths = list(plugin_paths)
        self.joingate = dict(joingate)
        self.trusted_proxies = list(trusted_proxies)
        self.load_plugin = load_plugin
        self.ready_text = ready_text
        self.muc_options = dict(muc_options or {})
        # Test modules loaded on the conference component before mod_joingate.
        self.muc_modules = list(muc_modules)
        # Tests read the debug log; a benchmark wants "info" (debug lines cost time per stanza).
        self.log_level = log_level
        # Jitsi's breakout and lobby components, gated, with their rooms linked by the
        # tests' stand-ins for Jitsi's mod_muc_breakout_rooms/lobby_rooms.
        self.jitsi_rooms = jitsi_rooms
        # The hosts are DOMAIN, conference.DOMAIN, auth.DOMAIN, ...; another domain makes a
        # second server (a visitor node) that the first can reach over s2s.
        self.domain = domain
        self.muc_domain = f"conference.{domain}"
        # None: no s2s. Otherwise s2s listens on s2s_port, and connections to the domains named
        # here go to 127.0.0.1:<port> (mod_test_s2s_routes), authenticated by dialback, both
        # ways over one connection (s2s_bidi, as Jitsi's visitor setups have it).
        self.s2s_routes = dict(s2s_routes) if s2s_routes is not None else None
        self.s2s_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def websocket_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}/xmpp-websocket"

    @property
    def bosh_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/http-bind"

    def config_text(self) -> str:
        joingate_lines = "\n".join(f"\t{key} = {lua(value)}" for key, value
                                   in {**self.muc_options, **self.joingate}.items())
        s2s_modules = ('; "dialback"; "s2s_bidi"; "test_s2s_routes"'
                       if self.s2s_routes is not None else "")
        muc_modules = lua([*self.muc_modules, *(["joingate"] if self.load_plugin else [])])
        run_as_root = "run_as_root = true" if os.geteuid() == 0 else ""
        path = self.install.path
        return f"""-- written by joingate/testing/prosody.py
daemonize = false
{run_as_root}
pidfile = {lua(path(self.workdir / "prosody.pid"))}
data_path = {lua(path(self.data_dir))}
plugin_paths = {lua([path(folder) for folder in self.plugin_paths])}
log = {{ {self.log_level} = {lua(path(self.log_path))} }}
modules_enabled = {{ "disco"; "saslauth"; "ping"; "bosh"; "websocket"; "admin_shell"{s2s_modules} }}
admin_socket = {lua(path(self.admin_socket))}
{self._s2s_lines()}
c2s_ports = {{ {self.c2s_port} }}
c2s_interfaces = {{ "127.0.0.1" }}
http_ports = {{ {self.http_port} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
component_ports = {{ {self.component_port} }}
component_interfaces = {{ "127.0.0.1" }}
trusted_proxies = {lua(self.trusted_proxies)}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
consider_bosh_secure = true
consider_websocket_secure = true
statistics = "internal"

VirtualHost {lua(self.domain)}
\tauthentication = "anonymous"
{self._jitsi_host_lines()}
-- Jitsi-like service accounts (focus@auth..., jibri@auth..., recorder@recorder...): any
-- password is accepted, which is fine for a test server bound to 127.0.0.1.
VirtualHost {lua("auth." + self.domain)}
\tauthentication = "insecure"
\tinsecure_open_authentication = "Yes please, I know what I'm doing!"

VirtualHost {lua("recorder." + self.domain)}
\tauthentication = "insecure"
\tinsecure_open_authentication = "Yes please, I know what I'm doing!"

Component {lua("bot." + self.domain)}
\tcomponent_secret = {lua(BOT_SECRET)}

Component {lua(self.muc_domain)} "muc"
\tmodules_enabled = {muc_modules}
\tmuc_room_locking = false
\tmuc_room_default_public_jids = true
{joingate_lines}
{self._jitsi_components()}"""

    def _jitsi_host_lines(self) -> str:
        if not self.jitsi_rooms:
            return ""
        return f"""\tmodules_enabled = {{ "test_breakout_rooms"; "test_lobby_rooms" }}
\tmain_muc = {lua(MUC_DOMAIN)}
\tbreakout_rooms_muc = {lua(BREAKOUT_DOMAIN)}
\tlobby_muc = {lua(LOBBY_DOMAIN)}
"""

    def _jitsi_components(self) -> str:
        """Jitsi's breakout and lobby components as its Debian config has them, plus the gate.
        The breakout component learns its main MUC from the VirtualHost's breakout_rooms_muc (as
        the README's configuration does); the lobby names it with joingate_main_muc."""
        if not self.jitsi_rooms:
            return ""

        muc_modules = lua(["joingate"] if self.load_plugin else [])

        def gate(**extra: LuaValue) -> str:
            options = {**self.muc_options, **self.joingate, **extra}
            return "\n".join(f"\t{key} = {lua(value)}" for key, value in options.items())

        # Jitsi's components restrict room creation; a test may open it (muc_options).
        restrict = "" if "restrict_room_creation" in self.muc_options else \
            "\trestrict_room_creation = true"
        return f"""
Component {lua(BREAKOUT_DOMAIN)} "muc"
{restrict}
\tstorage = "memory"
\tadmins = {{ "focus@{AUTH_DOMAIN}" }}
\tmuc_room_locking = false
\tmuc_room_default_public_jids = true
\tmodules_enabled = {muc_modules}
{gate()}

Component {lua(LOBBY_DOMAIN)} "muc"
\tstorage = "memory"
{restrict}
\tmuc_room_locking = false
\tmuc_room_default_public_jids = true
\tmodules_enabled = {muc_modules}
{gate(joingate_main_muc=MUC_DOMAIN)}
"""

    def _s2s_lines(self) -> str:
        if self.s2s_routes is None:
            return 'modules_disabled = { "s2s" }'
        # Plain-text s2s with dialback: the test servers have no certificates. Anonymous users
        # may send over s2s, as docker-jitsi-meet lets the main deployment's users when visitors
        # are on (a main participant reaches a visitor node from its own JID).
        return f"""s2s_ports = {{ {self.s2s_port} }}
s2s_interfaces = {{ "127.0.0.1" }}
s2s_require_encryption = false
s2s_secure_auth = false
allow_anonymous_s2s = true
test_s2s_routes = {lua(self.s2s_routes)}"""

    def start(self, timeout: float = 15.0) -> None:
        assert self.proc is None, "already running"
        self.admin_socket.parent.mkdir(exist_ok=True)
        self.config_path.write_text(self.config_text())
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        out = open(self.workdir / "prosody.out", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                self.install.argv("prosody", "--config", self.install.path(self.config_path),
                                  "-F"),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir,
            )
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prosody exited with {self.proc.returncode}:\n{self.output()}")
            if _accepts(self.c2s_port) and _accepts(self.http_port) and self._plugin_ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"prosody did not come up within {timeout} s:\n{self.output()}")

    def _plugin_ready(self) -> bool:
        if not self.load_plugin:
            return True
        log = self.log()
        if self.jitsi_rooms and self.ready_text == READY:
            return all(f"{READY} on {host}" in log for host in (MUC_DOMAIN, BREAKOUT_DOMAIN,
                                                                LOBBY_DOMAIN))
        return self.ready_text in log

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.admin_socket.parent, ignore_errors=True)

    def log(self) -> str:
        """This run's Prosody log."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(self._log_offset)
            return f.read()

    def shell(self, command: str) -> str:
        """Run one `prosodyctl shell` command against this Prosody (mod_admin_shell)."""
        result = subprocess.run(
            self.install.argv("prosodyctl", "--config", self.install.path(self.config_path),
                              "shell", command),
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise AssertionError(f"prosodyctl shell {command!r}: {result.stdout}{result.stderr}")
        return result.stdout

    def wait_for_log(self, text: str, timeout: float = 10.0, after: int = 0) -> None:
        """Wait until `text` appears in this run's log (from character `after` on)."""
        deadline = time.monotonic() + timeout
        while text not in self.log()[after:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the Prosody log after {timeout} s:\n"
                                     f"{self.output()}")
            time.sleep(0.02)

    async def until_log(self, text: str, timeout: float = 10.0, after: int = 0) -> None:
        """wait_for_log for async tests: the event loop keeps serving the XMPP clients."""
        import asyncio

        deadline = time.monotonic() + timeout
        while text not in self.log()[after:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the Prosody log after {timeout} s:\n"
                                     f"{self.output()}")
            await asyncio.sleep(0.02)

    def log_mark(self) -> int:
        return len(self.log())

    def plugin_log_lines(self) -> list[str]:
        """Log lines written by mod_joingate itself (its log source is "<host>:joingate")."""
        return [line for line in self.log().splitlines() if f"{self.muc_domain}:joingate" in line]

    def output(self) -> str:
        path = self.workdir / "prosody.out"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text + "\n--- log ---\n" + self.log()[-8000:]

    def __enter__(self) -> ProsodyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
