"""Decision cost as restrictions grow, and memory with the default cache full.

    .venv/bin/python bench/bench_scale.py [--json FILE]

1. decide() ns/op (GeoIP cache hits) as rules grow where they weigh: 1 to 1,000 rules in the
   one room asked about, 100 rules on every meeting (`*`), and 10 to 100,000 rooms restricted
   (one rule each); for that room and for an unrestricted one. Floor: the same call with one
   rule (the first row). Three rounds over all cases, the best of each. Target: flat.
2. Snapshot rebuild from 100,000 stored restrictions, 99 % of them ended (best of 3), and
   the worst stall of the event loop while it runs, on the loop and off it as the service
   does it.
3. RSS of a process holding the shipped GeoIP DB and a full default-size cache (65,536
   addresses): target <= 100 MB; bytes per cached entry from the growth while filling it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import result_json  # the bench/ folder is on sys.path
from bench_decide import restrictions

from joingate.config import SETTINGS
from joingate.engine import Engine, build_snapshot, pending
from joingate.geo import open_geoip
from joingate.restrictions import ALL_MEETINGS, Restriction


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


def in_one_room(n: int, room: str = "room-7") -> list[Restriction]:
    """`n` rules in `room`, each blocking a country nobody in the sample is placed in (X?
    codes are user-assigned, never in a DB), the last one blocking CN: every rule is looked at
    for anyone not from CN."""
    now = datetime.now(UTC)
    return [Restriction(id=i + 1, rooms=(room,),
                        countries=("CN",) if i == n - 1 else (f"X{chr(65 + i % 26)}",),
                        starts_at=now - timedelta(hours=1), ends_at=None, reason="bench",
                        request=None, mode="block", created_at=now, created_by="bench")
            for i in range(n)]


def everywhere(n: int) -> list[Restriction]:
    """`n` rules on every meeting, like in_one_room's."""
    return [replace(r, id=10_000 + r.id, rooms=(ALL_MEETINGS,)) for r in in_one_room(n)]


def stored(n: int, live: int) -> list[Restriction]:
    """`n` stored restrictions, `live` of them in force (one room each), the rest ended."""
    now = datetime.now(UTC)
    return [Restriction(id=i + 1, rooms=(f"room-{i}",), countries=("CN",),
                        starts_at=now - timedelta(days=30),
                        ends_at=None if i < live else now - timedelta(days=1), reason="bench",
                        request=None, mode="block", created_at=now, created_by="bench")
            for i in range(n)]


async def loop_stalls(stored_rules: list[Restriction]) -> tuple[float, float]:
    """The worst lateness of a 1 ms ticker while the snapshot is rebuilt on the loop, and
    while it is rebuilt in a thread (what Runtime._rebuild does)."""
    def build() -> None:
        now = datetime.now(UTC)
        build_snapshot(pending(stored_rules, now), now)

    async def worst_while(job: Callable[[], Awaitable[None]]) -> float:
        worst, done = 0.0, False

        async def ticker() -> None:
            nonlocal worst
            while not done:
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                worst = max(worst, time.perf_counter() - before - 0.001)

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        await job()
        done = True
        await tick
        return worst

    async def on_loop() -> None:
        build()

    async def off_loop() -> None:
        await asyncio.to_thread(build)

    return await worst_while(on_loop), await worst_while(off_loop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result_json.add_option(parser)
    args = parser.parse_args()
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
    cases = [(f"{n:,} rule(s) in the room", in_one_room(n)) for n in (1, 10, 100, 1_000)]
    cases.append(("1 rule + 100 on every meeting", in_one_room(1) + everywhere(100)))
    cases += [(f"{n:,} rooms restricted", restrictions(n)) for n in (10, 100_000)]
    cases.append(("1 rule in the room (again)", in_one_room(1)))
    best: dict[str, tuple[float, float]] = {}
    for _ in range(3):  # rounds over every case, the best of each: load and warm-up even out
        for name, rules in cases:
            engine.snapshot = build_snapshot(rules, datetime.now(UTC))
            inside = per_call_ns(engine, "room-7", sample)
            outside = per_call_ns(engine, "lobby", sample)
            was = best.get(name, (inside, outside))
            best[name] = (min(was[0], inside), min(was[1], outside))
    rows = [(name, *best[name]) for name, _ in cases]
    floor_in, floor_out = rows[0][1], rows[0][2]
    print(f"{'rules':<31} {'restricted room':>16} {'x floor':>8} {'unrestricted room':>18} "
          f"{'x floor':>8}  (ns/op; floor: the first row)")
    for name, inside, outside in rows:
        print(f"{name:<31} {inside:>16.0f} {inside / floor_in:>8.2f} {outside:>18.0f} "
              f"{outside / floor_out:>8.2f}")
    loaded_rss = rss_bytes()
    print(f"RSS with 100,000 restrictions loaded: {loaded_rss / 2**20:.1f} MiB")
    many = stored(100_000, 1_000)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        build_snapshot(many, datetime.now(UTC))
        times.append(time.perf_counter() - start)
    print(f"snapshot rebuild from 100,000 stored restrictions (1,000 in force, the rest ended): "
          f"{min(times) * 1000:.0f} ms (best of 3; target < 1 s)")
    on_loop, off_loop = asyncio.run(loop_stalls(many))
    print(f"event loop stall while rebuilding (a 1 ms ticker's worst lateness): "
          f"{on_loop * 1000:.1f} ms built on the loop, {off_loop * 1000:.1f} ms as the service "
          f"does it (pending() and build_snapshot in asyncio.to_thread)")
    ratio = {name: (inside / floor_in, outside / floor_out) for name, inside, outside in rows}
    spread = [r[1] for r in ratio.values()]
    result_json.write(args.json, [
        result_json.row(
            "decision cost vs rules (restricted room)",
            f"the same call with 1 rule in the room ({floor_in:,.0f} ns restricted room / "
            f"{floor_out:,.0f} ns unrestricted); warm: GeoIP cache hits on "
            f"{len(sample):,} addresses; best of 3 rounds over all cases",
            "10 / 100 / 1,000 rules in one room: " + " / ".join(
                f"{ratio[f'{n:,} rule(s) in the room'][0]:.2f}x" for n in (10, 100, 1_000))
            + f"; 1 rule + 100 on every meeting "
            f"{ratio['1 rule + 100 on every meeting'][0]:.2f}x; 10 and 100,000 rooms "
            f"restricted {ratio['10 rooms restricted'][0]:.2f}x / "
            f"{ratio['100,000 rooms restricted'][0]:.2f}x; 1 rule again "
            f"{ratio['1 rule in the room (again)'][0]:.2f}x. The unrestricted room, which "
            f"never looks at these rules (the noise): {min(spread):.2f}-{max(spread):.2f}x",
            "flat"),
        result_json.row(
            "snapshot rebuild, 100,000 stored restrictions, 1,000 in force", "—",
            f"{min(times) * 1000:,.0f} ms (best of 3); the event loop's worst stall "
            f"{off_loop * 1000:.1f} ms as the service does it (in a thread), "
            f"{on_loop * 1000:.1f} ms built on the loop", "< 1 s, off the loop"),
        result_json.row(
            "memory, default GeoIP cache full", "—",
            f"{full / 2**20:.1f} MiB RSS in all ({base / 2**20:.1f} MiB interpreter and "
            f"modules) with the DB ({db_size / 2**20:.1f} MiB) and {geo.cache_len:,} cached "
            f"addresses; ~{per_entry:.0f} bytes per cached entry; {loaded_rss / 2**20:.1f} MiB "
            "with 100,000 restricted rooms loaded as well", "<= 100 MB"),
    ])


if __name__ == "__main__":
    main()
