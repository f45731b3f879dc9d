"""/v1/authorize throughput on one core, as a ratio of a bare aiohttp handler.

    .venv/bin/python bench/bench_authorize.py [--seconds 10] [--connections 32] [--db builtin]

The server process (joingate's app and a bare aiohttp app returning constant JSON, on the same
event loop) is pinned to CPU 0, Debian's `wrk` to CPU 1. Each target is run twice, interleaved,
and the better run counts. Requests vary over 1,000 public addresses (mostly cache hits) and 10
meetings, one of them restricted. Target: >= 0.8x the bare handler.
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


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> tuple[float, str]:
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}",
                          f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} error responses from {url}")
    p50 = re.search(r"50%\s+(\S+)", out)
    return rate, p50.group(1) if p50 else "?"


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
        targets = {"bare aiohttp handler (floor)": f"http://127.0.0.1:{bare_port}/bare",
                   "joingate /v1/authorize": f"http://127.0.0.1:{port}/v1/authorize"}
        best: dict[str, tuple[float, str]] = {}
        for _ in range(2):
            for name, url in targets.items():
                rate, p50 = run_wrk(url, script, args.seconds, args.connections)
                if rate > best.get(name, (0.0, ""))[0]:
                    best[name] = (rate, p50)
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    floor = best["bare aiohttp handler (floor)"][0]
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, server on one core ({args.loop} "
          f"event loop); GeoIP DB: {args.db}")
    print(f"{'target':<30} {'req/s':>9} {'us/req':>7} {'p50':>9} {'x floor':>8}")
    for name, (rate, p50) in best.items():
        print(f"{name:<30} {rate:>9.0f} {1e6 / rate:>7.1f} {p50:>9} {rate / floor:>8.2f}")
    print("target: joingate >= 0.80x the bare handler")


if __name__ == "__main__":
    main()
