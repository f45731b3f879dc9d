"""Replay the attacks of issue 11 against a live `joingate serve` and print a figure for each.

    .venv/bin/python bench/attack.py [--seconds 20] [--only connections census ...] [--json FILE]

Each class starts its own service on 127.0.0.1 (a temporary directory, SQLite, the test
GeoIP DB of joingate/testing/geodb.py) and attacks only that; every class is bounded in count
and time. Per class it prints the figure the issue asks for, the bytes the service wrote to
its log, and the participant addresses found in the service's output and in this script's
(both must be 0):

- connections: under `prlimit --nofile=1024:1024`, 1,600 connections (kept alive, silent,
  mid-header, mid-body of a sign-in form) and a reconnecting flood for --seconds while the
  plugin asks: authorize answered within 2 s, p50 / p99 / worst latency;
- census: 300 reports of ~230 KB from distinct sources, then three reads of the merged
  census while the plugin asks: reports kept, RSS before and after, authorize's worst;
- bodies: deeply nested, huge, compressed and malformed bodies on every JSON route: 5xx;
- geoip: the GeoIP file replaced by one with a valid tree and a destroyed data section:
  reload error reported, participants still placed, authorize 5xx;
- refusal: 20 restriction creates racing the refusal of their authority request:
  restrictions left in force;
- signin: five wrong admin tokens from one address, then the right one: its answer.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import result_json  # the bench/ folder is on sys.path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from joingate.api.app import ROUTES
from joingate.testing.geodb import LOOPBACK_COUNTRY, address, damage_data_section, write_test_mmdb
from joingate.testing.service import JoingateService, http, wait_until
from tests.privacy import participant_addresses

Figure = dict[str, Any]


# -- helpers ----------------------------------------------------------------------------------

def authorize_latency(svc: JoingateService, host: int = 10) -> float | None:
    """One authorize on a new connection: its latency, or None past 2 s or on any failure."""
    started = time.monotonic()
    conn = HTTPConnection("127.0.0.1", svc.port, timeout=2)
    try:
        conn.request("POST", "/v1/authorize",
                     json.dumps({"room": "june4", "ip": address("CN", host)}),
                     {"Authorization": f"Bearer {svc.plugin_token}",
                      "Content-Type": "application/json"})
        answer = conn.getresponse()
        ok = answer.status == 200
        answer.read()
    except OSError:
        return None
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    return elapsed if ok and elapsed < 2 else None


class Prober(threading.Thread):
    """Asks authorize every `interval` seconds until stopped (the plugin during an attack)."""

    def __init__(self, svc: JoingateService, interval: float = 0.2) -> None:
        super().__init__()
        self.svc, self.interval = svc, interval
        self.latencies: list[float | None] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.latencies.append(authorize_latency(self.svc, 10 + len(self.latencies) % 200))
            self.stop.wait(self.interval)

    def finish(self) -> dict[str, Any]:
        self.stop.set()
        self.join(timeout=30)
        answered = sorted(x for x in self.latencies if x is not None)

        def pct(q: float) -> str:
            if not answered:
                return "-"
            return f"{1000 * answered[min(len(answered) - 1, int(q * len(answered)))]:.1f}"
        return {"answered within 2 s": f"{len(answered)}/{len(self.latencies)}",
                "p50 ms": pct(0.5), "p99 ms": pct(0.99),
                "worst ms": f"{1000 * answered[-1]:.1f}" if answered else "-"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_socket(port: int, send: bytes | None = None, read: bool = False) -> socket.socket | None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return None
    try:
        if send:
            sock.sendall(send)
        if read:
            sock.recv(4096)
    except OSError:
        sock.close()
        return None
    return sock


# -- attack classes -----------------------------------------------------------------------------

def connections(svc: JoingateService, seconds: float) -> Figure:
    port = svc.port
    kinds = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", None,
             b"POST /v1/authorize HTTP/1.1\r\nHost: x\r\nX-Slow: ",
             b"POST /admin/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\nt"]
    held: list[socket.socket] = []
    prober = Prober(svc)
    try:
        for i, send in enumerate(kinds):
            for _ in range(400):
                sock = open_socket(port, send, read=i == 0)
                if sock is not None:
                    held.append(sock)
        prober.start()
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline and n < 20_000:  # the attacker reconnects
            sock = open_socket(port, kinds[1 + n % 3])
            if sock is not None:
                held.append(sock)
            n += 1
            if len(held) > 3000:  # stay well under this process's own limit
                for old in held[:1000]:
                    old.close()
                del held[:1000]
            time.sleep(0.002)
    finally:
        figure = prober.finish() if prober.is_alive() or prober.latencies else {}
        for sock in held:
            sock.close()
    return {**figure, "flood connections": 1600 + n}


def census(svc: JoingateService, seconds: float) -> Figure:
    assert svc.proc is not None
    before = rss_mb(svc.proc.pid)
    kept = 0
    for source in range(300):
        body = json.dumps({"source": f"shard-{source}", "rooms": {
            f"s{source}-meeting-{i:05d}": {"CN": 1, "US": 2, "HK": 3, "": 1}
            for i in range(5000)}}, separators=(",", ":")).encode()
        kept += http("POST", f"{svc.url}/v1/census", body, svc.plugin_token, timeout=60)[0] == 200
    after = rss_mb(svc.proc.pid)
    prober = Prober(svc, interval=0.02)
    prober.start()
    request = urllib.request.Request(f"{svc.url}/v1/census",
                                     headers={"Authorization": f"Bearer {svc.admin_token}"})
    for _ in range(3):
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
    probes = prober.finish()
    return {"reports kept": f"{kept}/300", "RSS MB": f"{before:.0f} -> {after:.0f}",
            "authorize worst ms (during reads)": probes["worst ms"],
            "answered within 2 s": probes["answered within 2 s"]}


def bodies(svc: JoingateService, seconds: float) -> Figure:
    hostile = [b"[" * 990 + b"]" * 990, b'{"a":' * 990 + b"1" + b"}" * 990,
               b"[" * 100_000 + b"]" * 100_000, b'{"reason": "' + b"x" * 300_000 + b'"}',
               b'{"rooms": {"r": {"CN": ' + b"[" * 990 + b"]" * 990 + b"}}}",
               b'{"room": "\\ud800", "ip": "1"}', b"\xff\xfe", b"", b"null"]
    bomb = gzip.compress(b"[" * 4_000_000)
    statuses: dict[int, int] = {}
    paths = sorted(p.replace("{id}", "1") for m, p, _ in ROUTES if m == "POST")
    for path in paths:
        token = svc.plugin_token if path.startswith(("/v1/authorize", "/v1/census")) \
            else svc.admin_token
        for body, encoding in [(b, None) for b in hostile] + [(bomb, "gzip")]:
            request = urllib.request.Request(svc.url + path, data=body, method="POST", headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                **({"Content-Encoding": encoding} if encoding else {})})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            statuses[status] = statuses.get(status, 0) + 1
    return {"routes": len(paths), "bodies": sum(statuses.values()),
            "5xx": sum(n for s, n in statuses.items() if s >= 500),
            "statuses": " ".join(f"{s}x{n}" for s, n in sorted(statuses.items()))}


def geoip(svc: JoingateService, seconds: float) -> Figure:
    svc.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                          "reason": "policy"})
    damaged = damage_data_section(write_test_mmdb(svc.workdir / "damaged.mmdb"))
    damaged.replace(svc.geoip)
    error = wait_until(lambda: http("GET", f"{svc.url}/readyz")[1]["geoip"]["reload_error"],
                       timeout=60, what="the damaged DB to be refused")
    errors = placed = 0
    for country in LOOPBACK_COUNTRY:
        status, verdict = http("POST", f"{svc.url}/v1/authorize",
                               {"room": "vigil", "ip": address(country, 77)}, svc.plugin_token)
        errors += status >= 500
        placed += status == 200 and verdict["country"] == country
    return {"reload error reported": bool(error),
            "participants placed": f"{placed}/{len(LOOPBACK_COUNTRY)}", "authorize 5xx": errors}


def refusal(svc: JoingateService, seconds: float) -> Figure:
    made = svc.api("POST", "/v1/requests", {"authority": "MPS", "jurisdiction": "CN",
                                            "reference": "R-1", "rooms": ["vigil"],
                                            "demand": "end it"})[1]
    draft = {"rooms": ["vigil"], "countries": ["CN"], "request": made["id"], "reason": "r"}

    def create(_: int) -> int:
        return svc.api("POST", "/v1/restrictions", draft)[0]

    def refuse() -> int:
        return svc.api("POST", f"/v1/requests/{made['id']}/decision",
                       {"outcome": "refused", "note": "no"})[0]
    with ThreadPoolExecutor(21) as pool:
        creates = [pool.submit(create, i) for i in range(20)]
        decided = pool.submit(refuse)
        statuses = [c.result() for c in creates]
    in_force = [r for r in svc.api("GET", "/v1/restrictions")[1]["restrictions"]
                if r["request"] == made["id"] and r["state"] in ("active", "scheduled")]
    return {"refusal": decided.result(), "creates answered 201": statuses.count(201),
            "restrictions in force after": len(in_force),
            "CN participant now": svc.authorize("vigil", address("CN"))["decision"]}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def signin(svc: JoingateService, seconds: float) -> Figure:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())

    def call(method: str, token: str | None = None, csrf: str = "") -> tuple[int, str]:
        data = None if token is None else urllib.parse.urlencode(
            {"token": token, "csrf": csrf}).encode()
        path = "/admin/" if token is None else "/admin/signin"
        try:
            with opener.open(urllib.request.Request(svc.url + path, data=data,
                                                    method=method), timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def csrf_of(page: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        return found.group(1) if found else ""
    _, page = call("GET")
    wrong = []
    for _ in range(6):
        status, page = call("POST", "jg_wrong_token_guess", csrf_of(page))
        wrong.append(status)
    status, _ = call("POST", svc.admin_token, csrf_of(page))
    session = any(cookie.name == "joingate_session" for cookie in jar)
    return {"wrong tokens": " ".join(map(str, wrong)),
            "right token after them": f"{status} ({'signed in' if session else 'refused'})"}


# What each class does and what it must show, for the result rows.
TARGETS = {
    "connections": ("1,600 held connections and a reconnecting flood under a 1,024 open-file "
                    "limit, authorize asked every 0.2 s on a new connection",
                    "every probe answered within 2 s"),
    "census": ("300 census reports of ~230 KB from distinct sources, then three reads",
               "reports bounded, RSS bounded, authorize within 2 s"),
    "bodies": ("hostile bodies (deep nesting, huge, gzip bomb, bad UTF-8) on every JSON route",
               "no 5xx"),
    "geoip": ("the GeoIP file replaced by one with a destroyed data section",
              "reload error reported, participants still placed, no 5xx"),
    "refusal": ("20 restriction creates racing the refusal of their request",
                "0 restrictions in force after the refusal"),
    "signin": ("6 wrong admin tokens from one address, then the right one",
               "the right token signs in"),
}

CLASSES: dict[str, tuple[Callable[[JoingateService, float], Figure], dict[str, Any]]] = {
    "connections": (connections, {"open_files": 1024}),
    "census": (census, {}),
    "bodies": (bodies, {}),
    "geoip": (geoip, {}),
    "refusal": (refusal, {}),
    "signin": (signin, {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="length of the connection flood (default 20)")
    result_json.add_option(parser)
    parser.add_argument("--only", nargs="+", choices=sorted(CLASSES), default=list(CLASSES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="joingate-attack-") as tmp:
        for name in args.only:
            attack, options = CLASSES[name]
            svc = JoingateService(Path(tmp) / name, **options)
            with svc:
                figure = attack(svc, args.seconds)
            log = svc.log_path.read_bytes()
            text = json.dumps(figure)
            found = participant_addresses(log) | participant_addresses(text.encode())
            rows.append((name, figure, len(log), len(found)))
            print(f"{name:12} log {len(log):>7} B  addresses {len(found)}  {text}", flush=True)
    failed = [name for name, _, _, found in rows if found]
    print(f"\naddresses found in output: {sum(r[3] for r in rows)} (must be 0)")
    result_json.write(args.json, [result_json.row(
        f"attack (issue 11), {name}: {TARGETS[name][0]}",
        "— (a fresh `joingate serve` per class: SQLite, the test GeoIP DB)",
        "; ".join(f"{k}: {v}" for k, v in figure.items())
        + f"; log {log_bytes:,} B; addresses in any output: {found}",
        f"{TARGETS[name][1]}; 0 addresses") for name, figure, log_bytes, found in rows])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
