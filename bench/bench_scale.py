"""Decision cost as restrictions grow, and memory with the default cache full.

    .venv/bin/python bench/bench_scale.py

1. decide() ns/op (cache hits) with 10, 1,000 and 100,000 rooms restricted (one restriction
   each), for a restricted and an unrestricted room: it should stay flat (dict lookups).
2. RSS of a process holding the shipped GeoIP DB and a full default-size cache (65,536
   addresses): target <= 100 MB; bytes per cached entry from the growth while filling it.
"""

from __future__ import annotations

import gc
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_decide import restrictions  # the bench/ folder is on sys.path

from joingate.config import SETTINGS
from joingate.engine import Engine, build_snapshot
from joingate.geo import open_geoip


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def per_call_ns(engine: Engine, room: str, ips: list[str]) -> float:
    decide, now, runs = engine.decide, time.time(), []
    for _ in range(5):
        gc.disable()
        start = time.perf_counter_ns()
        for ip in ips:
            decide(room, ip, now)
        runs.append((time.perf_counter_ns() - start) / len(ips))
        gc.enable()
    return statistics.median(runs)


def main() -> None:
    rng = random.Random(604)
    cache_size = next(s.default for s in SETTINGS if s.key == "cache_size")
    ips = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}."
           f"{rng.randrange(1, 255)}" for _ in range(cache_size)]
    base = rss_bytes()
    geo = open_geoip("builtin", cache_size)
    engine = Engine(geo)
    half = len(ips) // 2
    for ip in ips[:half]:  # fill half the cache: this also pages in most of the DB
        geo.country(ip)
    halfway, filled = rss_bytes(), geo.cache_len
    for ip in ips[half:]:
        geo.country(ip)
    full = rss_bytes()
    per_entry = (full - halfway) / (geo.cache_len - filled)
    db_size = geo.path.stat().st_size
    print(f"RSS: interpreter and modules {base / 2**20:.1f} MiB; GeoIP DB {db_size / 2**20:.1f} "
          f"MiB (memfd copy, paged in as used); full cache of {geo.cache_len:,} addresses; "
          f"total {full / 2**20:.1f} MiB (target <= 100 MB); about {per_entry:.0f} bytes per "
          f"cached entry (growth over the second half of the fill)")
    sample = ips[:20_000]
    print(f"{'rooms restricted':>17} {'restricted room':>16} {'unrestricted room':>18}  (ns/op)")
    for n in (10, 1_000, 100_000, 10):
        engine.snapshot = build_snapshot(restrictions(n), datetime.now(UTC))
        print(f"{n:>17,} {per_call_ns(engine, 'room-7', sample):>16.0f} "
              f"{per_call_ns(engine, 'lobby', sample):>18.0f}")
    print(f"RSS with 100,000 restrictions loaded: {rss_bytes() / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
