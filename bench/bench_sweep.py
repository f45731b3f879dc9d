"""The mid-meeting sweep at scale: a restriction created over meetings already under way.

    .venv/bin/python bench/bench_sweep.py [--occupants 10000] [--meetings 1000]
                                          [--room-cache N] [--json FILE]

One `joingate serve` (SQLite, the test GeoIP DB) and Debian's Prosody with the plugin, started
by the plugin tests' harness at log level info, Prosody's default MUC room cache unless
`--room-cache` sets muc_room_cache_size. `--occupants` participants (bench/xmpp_load.py's light
clients, each from its own 127.x.y.z address) sit in `--meetings` meetings, one in ten of each
meeting located in CN by the test DB, the rest in HK, US and DE. Once everyone is in and
Prosody is idle again, one restriction for CN over every meeting is created through the HTTP
API, and the time from the request until the last covered participant has read its removal is
measured; everyone else is watched for 2 s after that, and must stay. CPU time of Prosody, of
joingate and of the load client meanwhile; RSS of Prosody and of joingate before and after.
The load client is the measuring instrument: its Python objects are frozen before the
restriction (gc.freeze), so that its cycle collector does not walk 10,000 sessions' state in
the middle of the sweep. The open-file limit is raised to the hard limit first (Prosody,
started from here, inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import result_json  # noqa: E402
from xmpp_load import (  # noqa: E402
    LightParticipant,
    connect_all,
    cpu_seconds,
    load_average,
    raise_fd_limit,
)

from joingate.testing.geodb import wide_address, write_test_mmdb  # noqa: E402
from joingate.testing.prosody import ProsodyServer  # noqa: E402
from joingate.testing.service import JoingateService  # noqa: E402
from joingate.testing.xmpp import QUIET_WATCH  # noqa: E402

OTHERS = ("HK", "US", "DE")
COVERED_EVERY = 10  # one occupant in ten is located in CN


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def settle(pid: int, window: float = 0.5, idle: float = 0.02, limit: float = 60.0) -> float:
    """Waits until the process used under `idle` s of CPU in a `window`; returns the wait."""
    started = time.monotonic()
    used = cpu_seconds(pid)
    while time.monotonic() - started < limit:
        await asyncio.sleep(window)
        now = cpu_seconds(pid)
        if now - used < idle:
            break
        used = now
    return time.monotonic() - started


async def sweep(svc: JoingateService, server: ProsodyServer, occupants: int,
                meetings: int) -> dict[str, object]:
    # Meeting m holds occupants m * per .. (m + 1) * per - 1, who join one meeting after the
    # other (with a bounded room cache, each meeting is brought back from storage once, not
    # once per join); one in ten of each meeting is in CN.
    per = -(-occupants // meetings)
    rooms = [f"sweep-{i // per}" for i in range(occupants)]
    covered = [(i % per) % COVERED_EVERY == 0 for i in range(occupants)]
    people = [LightParticipant(server.c2s_port, wide_address("CN", i) if covered[i] else
                               wide_address(OTHERS[i % 3], i)) for i in range(occupants)]
    out: dict[str, object] = {}
    t0 = time.monotonic()
    await connect_all(people)
    out["connect_s"] = time.monotonic() - t0
    t0 = time.monotonic()
    for start in range(0, occupants, 500):
        answers = await asyncio.gather(*(p.join(rooms[i]) for i, p in
                                         enumerate(people[start:start + 500], start)))
        refused = [a.error_text for a in answers if not a.joined]
        if refused:
            raise SystemExit(f"{len(refused)} joins refused before the restriction: {refused[0]}")
    out["join_s"] = time.monotonic() - t0
    # The load client is the measuring instrument: Python's cycle collector walking the state
    # of 10,000 sessions stalled its event loop for ~0.6 s during a sweep (a gen-2 collection),
    # and removals were read that much late. Everything made so far is kept: frozen, it is never
    # walked again.
    gc.collect()
    gc.freeze()
    # The joins' tail (the last batch of joins checked after admission, their presences still
    # being written) is not the sweep's work: start once Prosody is idle.
    out["settled_s"] = await settle(server.proc.pid)  # type: ignore[union-attr]
    out["rss_before"] = (rss_mib(server.proc.pid), rss_mib(svc.proc.pid))  # type: ignore[union-attr]
    out["load_before"] = load_average()
    assert server.proc is not None and svc.proc is not None
    cpu = cpu_seconds(server.proc.pid), cpu_seconds(svc.proc.pid), time.process_time()
    started = time.monotonic()
    status, made = svc.api("POST", "/v1/restrictions", {
        "rooms": sorted(set(rooms)), "countries": ["CN"], "reason": "bench"}, timeout=60)
    assert status == 201, made
    out["api_s"] = time.monotonic() - started
    removed = await asyncio.gather(*(p.wait_removed(rooms[i], timeout=120)
                                     for i, p in enumerate(people) if covered[i]),
                                   return_exceptions=True)
    missing = sum(1 for r in removed if isinstance(r, BaseException))
    done = [r.received_at for r in removed if not isinstance(r, BaseException)]
    out["covered"] = sum(covered)
    out["missing"] = missing
    out["first_s"] = min(done) - started if done else float("nan")
    out["last_s"] = max(done) - started if done else float("nan")
    out["cpu"] = (cpu_seconds(server.proc.pid) - cpu[0], cpu_seconds(svc.proc.pid) - cpu[1],
                  time.process_time() - cpu[2])
    await asyncio.sleep(QUIET_WATCH)  # the watch for wrong removals: >= 2 s after the last
    out["others_removed"] = sum(1 for i, p in enumerate(people)
                                if not covered[i] and p.removal(rooms[i]) is not None)
    out["watched_s"] = time.monotonic() - started - out["last_s"]  # type: ignore[operator]
    out["rss_after"] = (rss_mib(server.proc.pid), rss_mib(svc.proc.pid))  # type: ignore[union-attr]
    out["load_after"] = load_average()
    for person in people:
        person.close()  # Prosody is stopped next: no need to wait for it to see everyone leave
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--occupants", type=int, default=10000)
    parser.add_argument("--meetings", type=int, default=1000)
    parser.add_argument("--room-cache", type=int, default=None,
                        help="muc_room_cache_size (default: not set, Prosody's own default)")
    result_json.add_option(parser)
    args = parser.parse_args()
    fds = raise_fd_limit()
    if args.occupants + 200 > fds:
        raise SystemExit(f"--occupants: the open-file limit here is {fds}")
    work = Path(tempfile.mkdtemp(prefix="joingate-bench-sweep-"))
    geo = write_test_mmdb(work / "geo.mmdb")
    cache = {} if args.room_cache is None else {"muc_room_cache_size": args.room_cache}
    cache_text = "Prosody's default MUC room cache" if args.room_cache is None else \
        f"muc_room_cache_size = {args.room_cache}"
    with JoingateService(work / "svc", geoip=geo) as svc:
        server = ProsodyServer(work / "prosody", joingate={
            "joingate_url": svc.url, "joingate_token": svc.plugin_token},
            muc_options=cache, log_level="info")
        server.start()
        try:
            server.wait_for_log("joingate enforcement feed connected")
            out = asyncio.run(sweep(svc, server, args.occupants, args.meetings))
        finally:
            server.stop()
    rss0, rss1 = out["rss_before"], out["rss_after"]
    cpu = out["cpu"]
    result = (f"{out['covered']:,} covered: the first removed {out['first_s']:.3f} s and the "
              f"last {out['last_s']:.3f} s after the request (the API answered in "
              f"{out['api_s']:.3f} s; CPU used meanwhile: Prosody {cpu[0]:.1f} s, joingate "  # type: ignore[index]
              f"{cpu[1]:.1f} s, load client {cpu[2]:.1f} s), {out['missing']} not "  # type: ignore[index]
              f"removed within 120 s; others removed: {out['others_removed']} (watched "
              f"{out['watched_s']:.1f} s after the last removal); RSS Prosody "
              f"{rss0[0]:.0f} -> {rss1[0]:.0f} MiB, joingate {rss0[1]:.0f} -> {rss1[1]:.0f} "  # type: ignore[index]
              f"MiB; {cache_text}; load average {out['load_before']} -> {out['load_after']}")
    print(f"sweep: {args.occupants:,} occupants in {args.meetings:,} meetings (logged in in "
          f"{out['connect_s']:.1f} s, joined in {out['join_s']:.1f} s, Prosody idle "
          f"{out['settled_s']:.1f} s later; open files {fds})")
    print(f"  {result}")
    result_json.write(args.json, [result_json.row(
        f"mid-meeting sweep: {args.occupants:,} occupants in {args.meetings:,} meetings, 10 % "
        "in CN, one CN restriction created over all of them",
        "—", result, "all covered out <= 2 s; nobody else removed")])


if __name__ == "__main__":
    main()
