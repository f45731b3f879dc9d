"""/v1/authorize throughput and CPU per request on one core, against two floors.

    .venv/bin/python bench/bench_authorize.py [--seconds 10] [--connections 32] [--db builtin]

Floors, measured in the same run on the same addresses:
- a bare aiohttp handler returning constant JSON, on the same event loop as joingate's app
  (target: joingate >= 0.8x);
- nginx with Debian's geoip2 module doing a site-level country check of the same addresses (a
  C floor: target >= 0.2x). Needs `apt-get install nginx-light libnginx-mod-http-geoip2`.
Servers are pinned to CPU 0, Debian's `wrk` to CPU 1. Each target runs twice, interleaved, and
the better run counts. Requests vary over 1,000 public addresses (mostly cache hits) and 10
meetings, one of them restricted. CPU per request is the server's user+system time over the
run divided by the requests served.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk_script(path: Path, token: str, bodies: list[str]) -> None:
    lua_bodies = ",\n".join(json.dumps(b) for b in bodies)
    path.write_text(f"""
local bodies = {{
{lua_bodies}
}}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
""")


def nginx_script(path: Path, ips: list[str]) -> None:
    lua_ips = ", ".join(json.dumps(ip) for ip in ips)
    path.write_text(f"""
local ips = {{ {lua_ips} }}
local i = 0
request = function()
  i = i % #ips + 1
  return wrk.format("GET", "/authorize?ip=" .. ips[i])
end
""")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, script: Path, seconds: int, connections: int,
            pids: list[int]) -> tuple[float, str, float]:
    """(requests/s, median latency, CPU microseconds per request) for one wrk run."""
    cpu_before = cpu_seconds(pids)
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}",
                          f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    cpu = cpu_seconds(pids) - cpu_before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} error responses from {url}")
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    return rate, p50.group(1) if p50 else "?", cpu / total * 1e6


NGINX_MODULE = Path("/usr/lib/nginx/modules/ngx_http_geoip2_module.so")


def start_nginx(work: Path, db: Path, port: int) -> subprocess.Popen[bytes] | None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists() or not NGINX_MODULE.exists():
        print("nginx floor skipped: apt-get install nginx-light libnginx-mod-http-geoip2")
        return None
    conf = work / "nginx.conf"
    conf.write_text(f"""
load_module {NGINX_MODULE};
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-body;
  # The record shape of the shipped DB ({{"country_code": ...}}).
  geoip2 {db} {{ $country source=$arg_ip country_code; }}
  map $country $blocked {{ CN 1; default 0; }}
  server {{
    listen 127.0.0.1:{port};
    location = /authorize {{
      default_type application/json;
      if ($blocked) {{ return 200 '{{"decision":"deny","country":"$country"}}'; }}
      return 200 '{{"decision":"allow","country":"$country"}}';
    }}
  }}
}}
""")
    proc = subprocess.Popen(["taskset", "-c", "0", nginx, "-c", str(conf), "-p", str(work)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/authorize?ip=1.2.4.8") as r:
                if json.load(r)["country"] == "CN":
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"nginx did not start: {(work / 'nginx-error.log').read_text()}")


def family(pid: int) -> list[int]:
    """A process and its children (nginx's master and worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return [pid, *kids]


def _db_path(database: str) -> Path:
    if database == "builtin":
        return ROOT / "seeds" / "geoip" / "country.mmdb"
    return Path(database).resolve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--db", default="builtin")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("needs Debian's wrk and taskset (apt-get install wrk util-linux)")
    work = Path(tempfile.mkdtemp(prefix="joingate-bench-"))
    config = work / "joingate.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{work}/bench.db"\n'
                      f'[geoip]\ndatabase = "{args.db}"\n')
    joingate = [PY, "-m", "joingate"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    token = subprocess.run([*joingate, "token", "create", "--name", "bench", "--scope", "plugin",
                            "--config", str(config)], capture_output=True, text=True, check=True,
                           env=env).stdout.strip()
    subprocess.run([*joingate, "restrict", "add", "--room", "room-0", "--country", "CN",
                    "--reason", "bench", "--config", str(config)], check=True,
                   capture_output=True, env=env)
    rng = random.Random(604)
    ips = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.7"
           for _ in range(1000)]
    bodies = [json.dumps({"room": f"room-{i % 10}", "ip": ip}) for i, ip in enumerate(ips)]
    script = work / "authorize.lua"
    wrk_script(script, token, bodies)
    port, bare_port = free_port(), free_port()
    server = subprocess.Popen(["taskset", "-c", "0", PY, str(ROOT / "bench/authorize_server.py"),
                               "--config", str(config), "--port", str(port),
                               "--bare-port", str(bare_port), "--loop", args.loop],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("bench server did not start")
        check = urllib.request.Request(f"http://127.0.0.1:{port}/v1/authorize",
                                       data=bodies[0].encode(), method="POST",
                                       headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(check) as resp:
            assert json.load(resp)["decision"] in ("allow", "deny")
        db = _db_path(args.db)
        nginx_port = free_port()
        nginx = start_nginx(work, db, nginx_port)
        nginx_lua = work / "nginx.lua"
        nginx_script(nginx_lua, ips)
        targets = {"bare aiohttp handler": (f"http://127.0.0.1:{bare_port}/bare", script,
                                            [server.pid]),
                   "joingate /v1/authorize": (f"http://127.0.0.1:{port}/v1/authorize", script,
                                              [server.pid])}
        if nginx is not None:
            targets["nginx + geoip2 (C floor)"] = (f"http://127.0.0.1:{nginx_port}/authorize",
                                                   nginx_lua, family(nginx.pid))
        best: dict[str, tuple[float, str, float]] = {}
        for _ in range(2):
            for name, (url, lua, pids) in targets.items():
                result = run_wrk(url, lua, args.seconds, args.connections, pids)
                if result[0] > best.get(name, (0.0, "", 0.0))[0]:
                    best[name] = result
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, servers on one core ({args.loop} "
          f"event loop); GeoIP DB: {args.db}")
    ours = best["joingate /v1/authorize"]
    print(f"{'target':<26} {'req/s':>9} {'CPU us/req':>11} {'p50':>9} {'joingate / it':>14}")
    for name, (rate, p50, cpu) in best.items():
        print(f"{name:<26} {rate:>9.0f} {cpu:>11.1f} {p50:>9} {ours[0] / rate:>14.2f}")
    print("targets: joingate >= 0.80x the bare aiohttp handler, >= 0.20x nginx + geoip2")


if __name__ == "__main__":
    main()
