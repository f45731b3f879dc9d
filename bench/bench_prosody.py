"""Join overhead through Prosody, and the mid-meeting sweep, with real XMPP clients.

    .venv/bin/python bench/bench_prosody.py [--joins 200] [--occupants 1000] [--rooms 100]

1. Median time of a MUC join (presence sent -> own presence back) through Debian's Prosody
   without the plugin (the floor) and with mod_joingate asking a real `joingate serve`, in the
   same run, by clients from distinct loopback addresses. Target: <= 1.15x.
2. Sweep: `--occupants` participants in `--rooms` meetings, 10 % of them located in CN; one
   restriction for CN over every meeting; time until the last covered participant has been
   removed (and nobody else). Target: <= 1 s.
Uses the plugin tests' harness (tests/prosody), so it runs from a checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from joingate.testing.geodb import write_test_mmdb  # noqa: E402
from joingate.testing.prosody import ProsodyServer  # noqa: E402
from joingate.testing.service import JoingateService  # noqa: E402
from joingate.testing.xmpp import Participant, room_jid  # noqa: E402


def addr(country_octet: int, i: int) -> str:
    return f"127.0.{country_octet}.{10 + i % 240}"


async def connect_all(server: ProsodyServer, addresses: list[str],
                      batch: int = 50) -> list[Participant]:
    people = [Participant(server.c2s_port, a) for a in addresses]
    for start in range(0, len(people), batch):
        await asyncio.gather(*(p.connect(timeout=60) for p in people[start:start + batch]))
    return people


async def join_times(server: ProsodyServer, n: int, prefix: str = "bench") -> list[float]:
    # US, HK, DE, TW participants: the service admits them all.
    people = await connect_all(server, [addr((3, 2, 7, 5)[i % 4], i) for i in range(n)])
    times = []
    try:
        for i, p in enumerate(people):
            result = await p.join(f"{prefix}-{i % 20}")
            assert result.joined, result
            times.append(result.seconds)
    finally:
        await asyncio.gather(*(p.disconnect() for p in people))
    return times


async def sweep(svc: JoingateService, server: ProsodyServer, occupants: int,
                rooms: int) -> tuple[float, int, int]:
    covered_every = 10  # 10 % located in CN
    addresses = [addr(1 if i % covered_every == 0 else (3, 2, 7)[i % 3], i)
                 for i in range(occupants)]
    people = await connect_all(server, addresses)
    try:
        for start in range(0, occupants, 50):
            results = await asyncio.gather(*(p.join(f"sweep-{i % rooms}") for i, p in
                                             enumerate(people[start:start + 50], start)))
            assert all(r.joined for r in results)
        covered = [(i, p) for i, p in enumerate(people) if i % covered_every == 0]
        started = time.monotonic()
        status, made = svc.api("POST", "/v1/restrictions", {
            "rooms": [f"sweep-{r}" for r in range(rooms)], "countries": ["CN"],
            "reason": "bench"})
        assert status == 201, made
        removed = await asyncio.gather(*(p.wait_removed(f"sweep-{i % rooms}", timeout=30)
                                         for i, p in covered))
        last = max(info.received_at for info in removed) - started
        # Nobody else was removed.
        wrongly = sum(1 for i, p in enumerate(people) if i % covered_every != 0
                      for info in p.presences.items if info.type == "unavailable"
                      and info.frm == f"{room_jid(f'sweep-{i % rooms}')}/{p.nick}")
        return last, len(covered), wrongly
    finally:
        await asyncio.gather(*(p.disconnect() for p in people))


def wait_restricted(svc: JoingateService, n: int) -> None:
    """Until the service's feed lists n restricted meetings (the plugin follows within ms)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, body = svc.api("GET", "/v1/enforcement?after=0&wait=0",
                               token=svc.plugin_token)
        if status == 200 and len(body["restricted"]) >= n:
            time.sleep(0.2)  # the plugin's long-poll answers at the same moment
            return
        time.sleep(0.05)
    raise SystemExit("the restriction did not reach the feed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--joins", type=int, default=200)
    parser.add_argument("--occupants", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="joingate-bench-prosody-"))
    geo = write_test_mmdb(work / "geo.mmdb")
    with JoingateService(work / "svc", geoip=geo) as svc:
        # Both at Prosody's usual production log level: debug lines cost more than a join.
        bare = ProsodyServer(work / "bare", joingate={}, load_plugin=False, log_level="info")
        gated = ProsodyServer(work / "gated", joingate={
            "joingate_url": svc.url, "joingate_token": svc.plugin_token}, log_level="info")
        bare.start()
        gated.start()
        try:
            gated.wait_for_log("joingate enforcement feed connected")
            floor = asyncio.run(join_times(bare, args.joins))
            ours = asyncio.run(join_times(gated, args.joins))
            floor2 = asyncio.run(join_times(bare, args.joins))  # the floor again, interleaved
            # Meetings with a restriction in force (for CN): the gate waits for the answer.
            status, _ = svc.api("POST", "/v1/restrictions", {
                "rooms": [f"gated-{i}" for i in range(20)], "countries": ["CN"],
                "reason": "bench"})
            assert status == 201
            wait_restricted(svc, 20)
            waited = asyncio.run(join_times(gated, args.joins, prefix="gated"))
            base = statistics.median(floor + floor2)
            med = statistics.median(ours)
            print(f"joins: {args.joins} per run, clients from distinct loopback addresses")
            print(f"  median join without the plugin  {base * 1000:7.2f} ms (floor)")
            print(f"  median join with mod_joingate   {med * 1000:7.2f} ms  "
                  f"{med / base:.2f}x (target <= 1.15x), meetings without a restriction")
            print(f"  median join with mod_joingate   {statistics.median(waited) * 1000:7.2f} ms"
                  f"  {statistics.median(waited) / base:.2f}x, meetings with a restriction "
                  "(the join waits for the service's answer)")
            print(f"  p95 with / without: {statistics.quantiles(ours, n=20)[18] * 1000:.2f} ms"
                  f" / {statistics.quantiles(floor + floor2, n=20)[18] * 1000:.2f} ms")
            last, covered, wrongly = asyncio.run(sweep(svc, gated, args.occupants, args.rooms))
            print(f"sweep: {args.occupants} occupants in {args.rooms} meetings, {covered} in CN:"
                  f" last one removed {last:.3f} s after the restriction was created "
                  f"(target <= 1 s); others removed: {wrongly}")
        finally:
            gated.stop()
            bare.stop()


if __name__ == "__main__":
    main()
