"""decide() cost per call, cache hit and miss, as a ratio of a raw maxminddb C lookup.

    .venv/bin/python bench/bench_decide.py [--db PATH] [--n 200000] [--rooms 10]

The floor is `maxminddb.Reader.get()` (C extension, MODE_MMAP_EXT) on the same addresses in
the same run. Targets: hit <= 1.0x, miss <= 5x.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import maxminddb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from joingate.engine import Engine, build_snapshot
from joingate.geo import GeoReader, builtin_database_path
from joingate.policy import Restriction


def public_ipv4(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        a = rng.randrange(1, 224)
        if a in (10, 127) or a >= 224:
            continue
        out.append(f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
    return out


def per_call_ns(fn: Callable[[], None], calls: int, repeat: int = 5) -> float:
    """Median over `repeat` runs of the time per call, in nanoseconds."""
    times = []
    for _ in range(repeat):
        gc.disable()
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / calls)
        gc.enable()
    return statistics.median(times)


def restrictions(rooms: int) -> list[Restriction]:
    now = datetime.now(UTC)
    return [Restriction(id=i + 1, rooms=(f"room-{i}",), countries=("CN",),
                        starts_at=now - timedelta(hours=1), ends_at=None, reason="bench",
                        request=None, mode="block", created_at=now, created_by="bench")
            for i in range(rooms)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=builtin_database_path())
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rooms", type=int, default=10)
    args = parser.parse_args()
    ips = public_ipv4(random.Random(6_04), args.n)

    raw = maxminddb.open_database(str(args.db), maxminddb.MODE_MMAP_EXT)
    get = raw.get

    def floor() -> None:
        for ip in ips:
            get(ip)

    floor()  # warm the page cache
    floor_ns = per_call_ns(floor, len(ips))

    geo = GeoReader(args.db, cache_size=args.n * 2)
    engine = Engine(geo)
    engine.snapshot = build_snapshot(restrictions(args.rooms), datetime.now(UTC))
    decide = engine.decide
    now = time.time()

    def run(room: str) -> Callable[[], None]:
        def go() -> None:
            for ip in ips:
                decide(room, ip, now)
        return go

    def misses(room: str) -> float:
        samples = []
        for _ in range(5):
            geo.country.cache_clear()  # type: ignore[attr-defined]
            samples.append(per_call_ns(run(room), len(ips), repeat=1))
        return statistics.median(samples)

    results = {
        "miss, unrestricted room": misses("lobby"),
        "miss, restricted room": misses("room-0"),
    }
    run("lobby")()
    results["hit, unrestricted room"] = per_call_ns(run("lobby"), len(ips))
    results["hit, restricted room"] = per_call_ns(run("room-0"), len(ips))

    info = geo.info()
    print(f"database: {args.db} ({info.database_type}, {info.node_count} nodes); "
          f"{len(ips)} random public IPv4 addresses; {args.rooms} restricted rooms")
    print(f"{'case':<26} {'ns/op':>8} {'x floor':>8}  target")
    print(f"{'floor: raw maxminddb get':<26} {floor_ns:>8.0f} {1.0:>8.2f}")
    for name, ns in results.items():
        target = "<= 1.0x" if name.startswith("hit") else "<= 5x"
        print(f"{name:<26} {ns:>8.0f} {ns / floor_ns:>8.2f}  {target}")


if __name__ == "__main__":
    main()
