"""A real `joingate serve` subprocess on a temporary config, for integration tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .geodb import write_test_mmdb

JOINGATE = [sys.executable, "-m", "joingate"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None, token: str | None = None,
         timeout: float = 10.0) -> tuple[int, Any]:
    """One HTTP exchange → (status, decoded JSON or text)."""
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


class HeldRequest:
    """One HTTP request on its own connection, whose arrival in the server can be awaited.

    `received()` is true once the server process has read every byte of the request (its end
    of the connection has nothing left to read, ours nothing left to send: /proc/net/tcp).
    joingate parses a request and starts its handler as soon as it reads it, so a change
    made after `received()` cannot overtake a long-poll sent here."""

    def __init__(self, url: str, path: str, token: str):
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.server_port = int(port)
        self.sock = socket.create_connection((host, self.server_port), timeout=60)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                          f"{token}\r\nConnection: close\r\n\r\n".encode())

    def received(self) -> bool:
        own_port = self.sock.getsockname()[1]
        ours = theirs = None
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            tx_queue, rx_queue = (int(n, 16) for n in fields[4].split(":"))
            if (local, remote) == (own_port, self.server_port):
                ours = tx_queue
            elif (local, remote) == (self.server_port, own_port):
                theirs = rx_queue
        return ours == 0 and theirs == 0

    def response(self) -> tuple[int, Any]:
        """The status and decoded JSON body (reads until the server closes)."""
        raw = b""
        while chunk := self.sock.recv(65536):
            raw += chunk
        self.sock.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)


class JoingateService:
    """`with JoingateService(tmp_path) as svc:` — a started service with a plugin and an admin
    token. Same port and database across stop()/start()."""

    def __init__(self, workdir: Path, geoip: Path | None = None, unknown: str = "allow",
                 extra_config: str = "", env: dict[str, str] | None = None,
                 store_url: str | None = None, name: str = "",
                 open_files: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.geoip = geoip or write_test_mmdb(self.workdir / "test-country.mmdb")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = self.workdir / "joingate.db"
        self.store_url = store_url or f"sqlite:///{self.db}"
        self.name = name  # suffix of the token names, for several instances on one store
        self.config = self.workdir / "joingate.toml"
        self.config.write_text(
            f'[server]\nlisten = "127.0.0.1:{self.port}"\n'
            f'[store]\nurl = "{self.store_url}"\npoll_interval = 0.1\n'
            f'[geoip]\ndatabase = "{self.geoip}"\nunknown = "{unknown}"\nreload_interval = 0.5\n'
            f'[counts]\nflush_interval = 0.5\n{extra_config}')
        self.open_files = open_files  # soft and hard RLIMIT_NOFILE of `serve`, like ulimit -n
        self.env = {**os.environ, **(env or {})}
        self.env.pop("JOINGATE_CONFIG", None)
        self.log_path = self.workdir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.plugin_token = ""
        self.admin_token = ""

    # -- process --------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        limit = [] if self.open_files is None else \
            ["prlimit", f"--nofile={self.open_files}:{self.open_files}", "--"]
        self.proc = subprocess.Popen([*limit, *JOINGATE, "serve", "--config", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"joingate serve exited: {self.log_path.read_text()}")
            try:
                if http("GET", f"{self.url}/readyz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"joingate serve not ready: {self.log_path.read_text()}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> JoingateService:
        self.plugin_token = self.cli("token", "create", "--name", f"plugin{self.name}",
                                     "--scope", "plugin").stdout.strip()
        self.admin_token = self.cli("token", "create", "--name", f"admin{self.name}",
                                    "--scope", "admin").stdout.strip()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- talking to it --------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `joingate ARGS --config <this service's config>`."""
        result = subprocess.run([*JOINGATE, *args, "--config", str(self.config)],
                                capture_output=True, text=True, env=self.env, cwd=self.workdir,
                                timeout=60)
        # Kept for the privacy scan (not a .log: `token create` prints a token, by design).
        with open(self.workdir / "cli.out", "a", encoding="utf-8") as out:
            out.write(f"$ joingate {args[0]} ...\n{result.stdout}{result.stderr}")
        if check and result.returncode != 0:
            raise AssertionError(f"joingate {' '.join(args)} exited {result.returncode}: "
                                 f"{result.stderr}")
        return result

    def api(self, method: str, path: str, body: Any = None, token: str | None = None,
            timeout: float = 10.0) -> tuple[int, Any]:
        """HTTP call with the admin token (or `token`)."""
        return http(method, self.url + path, body, token or self.admin_token, timeout)

    def authorize(self, room: str, ip: str) -> dict[str, Any]:
        status, body = http("POST", f"{self.url}/v1/authorize", {"room": room, "ip": ip},
                            self.plugin_token)
        assert status == 200, body
        return dict(body)


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.02,
               what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
