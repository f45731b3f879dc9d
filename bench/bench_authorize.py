"""/v1/authorize throughput and CPU per request on one core, against floors in their own
processes.

    .venv/bin/python bench/bench_authorize.py [--seconds 8] [--rounds 3] [--connections 50]
                                              [--json FILE]

Servers, each a process of its own pinned to CPU 0, one loaded at a time:
- `joingate serve` (the real command: store polling, counter flushes, connection guard);
- the floor: a bare aiohttp handler returning constant JSON of the same size
  (`bench/bare_server.py`), nothing else on its event loop;
- the C floor: nginx with Debian's geoip2 module, a site-level country check of the same
  addresses; it gets the same POST body (and discards it), the address in the query.
Debian's `wrk -t1 -cN` runs on CPU 1. Three ways of asking:
- keep-alive, warm: 1,000 addresses x 4 meetings (one restricted) cycled: every cache warm;
- new connection per request (`Connection: close`), warm: what Prosody 0.12's net.http does;
- keep-alive, cold: every request a new address (GeoIP cache miss), never reused across rounds.
Rounds alternate the servers (order rotated each round); each figure is the best of the
rounds, and the joingate/floor ratio is printed best-to-best, per round (the two runs next to
each other in time) and as CPU per request (floor's / ours: less swayed by other jobs on the
machine than the rate). CPU per request is the server's user+system time over the run
divided by the requests served. A missing tool (wrk, taskset, nginx, its geoip2 module) fails
the run. The load average is printed: on a shared machine read the ratios, not the rates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import result_json  # the bench/ folder is on sys.path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
NGINX_MODULE = Path("/usr/lib/nginx/modules/ngx_http_geoip2_module.so")
MODES = {"keep-alive, warm": ("warm", "keep"), "new connection, warm": ("warm", "close"),
         "keep-alive, cold": ("cold", "keep")}
TARGETS = {"keep-alive, warm": 0.85, "new connection, warm": 0.85, "keep-alive, cold": 0.7}
WARMTH = {"keep-alive, warm": "1,000 addresses x 4 meetings (one restricted) cycled: every "
          "cache warm",
          "new connection, warm": "a new connection per request (`Connection: close`, as "
          "Prosody 0.12's net.http), the same warm addresses",
          "keep-alive, cold": "every request a new address (GeoIP cache miss), never reused "
          "across rounds"}

# One script for every server and mode; init() gets: mode (warm|cold), connection
# (keep|close), the first address number (cold: never reused), nginx (1: address in the query).
WRK_LUA = """
local token = "TOKEN"
local rooms = {"room-0", "room-1", "room-2", "room-3"}
local ips = {}
local mode, conn, n, nginx
local floor = math.floor

local function addr(k)
  -- k -> a public IPv4 address, a in 11..99 (no private or reserved first octet there)
  return (11 + floor(k / 16646144) % 89) .. "." .. floor(k / 65024) % 256 .. "."
    .. floor(k / 254) % 256 .. "." .. (k % 254 + 1)
end

init = function(args)
  mode, conn, n, nginx = args[1], args[2], tonumber(args[3]), args[4] == "1"
  for i = 1, 1000 do ips[i] = addr(i * 7919 + 3) end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  if conn == "close" then wrk.headers["Connection"] = "close" end
end

request = function()
  n = n + 1
  local ip
  if mode == "cold" then ip = addr(n) else ip = ips[floor(n / 4) % 1000 + 1] end
  local body = '{"room":"' .. rooms[n % 4 + 1] .. '","ip":"' .. ip .. '"}'
  local path = nil
  if nginx then path = "/authorize?ip=" .. ip end
  return wrk.format(nil, path, nil, body)
end
"""


@dataclass
class Run:
    rate: float
    cpu_us: float
    p50: str
    p99: str
    errors: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes so far (all their threads)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, script: Path, args: list[str], seconds: int, connections: int,
            pids: list[int]) -> Run:
    cpu_before = cpu_seconds(pids)
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}",
                          f"-d{seconds}s", "--latency", "-s", str(script), url, "--", *args],
                         capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    cpu = cpu_seconds(pids) - cpu_before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} error responses from {url}")
    errors = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    return Run(rate, cpu / total * 1e6, p50.group(1) if p50 else "?",
               p99.group(1) if p99 else "?", errors.group(1) if errors else "")


def wait_ready(url: str, body: bytes, token: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited ({proc.returncode})")
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                if json.load(resp)["decision"] in ("allow", "deny"):
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url}: not ready within 60 s")


def nginx_conf(work: Path, db: Path, port: int) -> Path:
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
    return conf


def family(pid: int) -> list[int]:
    """A process and its children (nginx's master and worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return [pid, *kids]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    result_json.add_option(parser)
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    missing = [t for t in ("wrk", "taskset") if not shutil.which(t)]
    if not Path(nginx).exists() or not NGINX_MODULE.exists():
        missing.append("nginx with its geoip2 module")
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (apt-get install wrk util-linux "
                         "nginx-light libnginx-mod-http-geoip2)")
    work = Path(tempfile.mkdtemp(prefix="joingate-bench-"))
    port, bare_port, nginx_port = free_port(), free_port(), free_port()
    config = work / "joingate.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n'
                      f'[store]\nurl = "sqlite:///{work}/bench.db"\n'
                      '[geoip]\ndatabase = "builtin"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    joingate = [PY, "-m", "joingate"]
    token = subprocess.run([*joingate, "token", "create", "--name", "bench", "--scope", "plugin",
                            "--config", str(config)], capture_output=True, text=True, check=True,
                           env=env).stdout.strip()
    subprocess.run([*joingate, "restrict", "add", "--room", "room-0", "--country", "CN",
                    "--reason", "bench", "--config", str(config)], check=True,
                   capture_output=True, env=env)
    script = work / "authorize.lua"
    script.write_text(WRK_LUA.replace("TOKEN", token))
    db = ROOT / "seeds" / "geoip" / "country.mmdb"
    procs = {
        "joingate serve": subprocess.Popen(["taskset", "-c", "0", *joingate, "serve",
                                            "--config", str(config)], env=env,
                                           stderr=subprocess.DEVNULL),
        "bare aiohttp (own process)": subprocess.Popen(
            ["taskset", "-c", "0", PY, str(ROOT / "bench/bare_server.py"), "--port",
             str(bare_port)], stdout=subprocess.DEVNULL),
        "nginx + geoip2 (C floor)": subprocess.Popen(
            ["taskset", "-c", "0", nginx, "-c", str(nginx_conf(work, db, nginx_port)), "-p",
             str(work)]),
    }
    urls = {"joingate serve": f"http://127.0.0.1:{port}/v1/authorize",
            "bare aiohttp (own process)": f"http://127.0.0.1:{bare_port}/v1/authorize",
            "nginx + geoip2 (C floor)": f"http://127.0.0.1:{nginx_port}/authorize?ip=1.2.4.8"}
    runs: dict[tuple[str, str], list[Run]] = {}
    loads = [load_average()]
    try:
        probe = b'{"room":"room-0","ip":"1.2.4.8"}'
        for name, url in urls.items():
            wait_ready(url, probe, token, procs[name])
        urls["nginx + geoip2 (C floor)"] = f"http://127.0.0.1:{nginx_port}/authorize"
        names = list(urls)
        first = 0
        for rnd in range(args.rounds):
            for mode, (cache, conn) in MODES.items():
                for name in names[rnd % 3:] + names[:rnd % 3]:
                    first += 2_000_000  # cold addresses are never reused
                    pids = family(procs[name].pid) if name.startswith("nginx") else \
                        [procs[name].pid]
                    run = run_wrk(urls[name], script,
                                  [cache, conn, str(first), "1" if name.startswith("nginx")
                                   else "0"], args.seconds, args.connections, pids)
                    runs.setdefault((mode, name), []).append(run)
                    time.sleep(0.5)
            loads.append(load_average())
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s on CPU 1, each server alone in its "
          f"process on CPU 0; {args.rounds} rounds alternating; load average "
          f"{loads[0]} at the start, {loads[-1]} at the end")
    print(f"{'mode':<22} {'server':<27} {'best req/s':>10} {'CPU us/req':>10} {'p50':>8} "
          f"{'p99':>8} {'joingate / it':>13} {'per round':>16} {'CPU it / ours':>13}  target")
    rows: list[result_json.Row] = []
    c_floor: list[str] = []
    for mode in MODES:
        ours = runs[(mode, "joingate serve")]
        best_ours = max(ours, key=lambda r: r.rate)
        for name in urls:
            rs = runs[(mode, name)]
            best = max(rs, key=lambda r: r.rate)
            per_round = [a.rate / b.rate for a, b in zip(ours, rs, strict=True)]
            ratio = best_ours.rate / best.rate
            target = f">= {TARGETS[mode]}x" if name.startswith("bare") else ""
            span = f"{min(per_round):.2f}-{max(per_round):.2f}"
            cpu_ratio = min(r.cpu_us for r in rs) / min(r.cpu_us for r in ours)
            print(f"{mode:<22} {name:<27} {best.rate:>10.0f} {min(r.cpu_us for r in rs):>10.1f} "
                  f"{best.p50:>8} {best.p99:>8} {ratio:>13.2f} {span:>16} {cpu_ratio:>13.2f}"
                  f"  {target}"
                  + (f"  socket errors: {best.errors}" if best.errors else ""))
            figure = (f"{ratio:.2f}x best-to-best ({best_ours.rate:,.0f} vs {best.rate:,.0f} "
                      f"req/s), {span}x per round; CPU per request "
                      f"{min(r.cpu_us for r in ours):.1f} vs {min(r.cpu_us for r in rs):.1f} us "
                      f"({cpu_ratio:.2f}x)")
            if name.startswith("bare"):
                rows.append(result_json.row(
                    f"`/v1/authorize`, {mode}",
                    f"a bare aiohttp handler returning constant JSON of the same size, in its "
                    f"own process (`bench/bare_server.py`), same core, same `wrk -t1 "
                    f"-c{args.connections} -d{args.seconds}s` on the other core, "
                    f"{args.rounds} rounds alternating; {WARMTH[mode]}", figure,
                    f">= {TARGETS[mode]}x"))
            elif name.startswith("nginx"):
                c_floor.append(f"{mode}: {figure}")
    rows.append(result_json.row(
        "`/v1/authorize` vs a C floor",
        "nginx + Debian's geoip2 module, the same POST body, the address in the query, same "
        "core and wrk as above", "; ".join(c_floor), ">= 0.2x"))
    result_json.write(args.json, rows)


if __name__ == "__main__":
    main()
