"""Soak: joins and leaves through Prosody while restrictions toggle, for a bounded time.

    .venv/bin/python bench/soak.py [--seconds 120] [--participants 60] [--rooms 6]

Participants (a third located in CN, the rest in HK, US, DE) join and leave meetings in a loop
from distinct loopback addresses; every 2 s a restriction for CN on half of the meetings is
created or revoked. Each join is checked against the restrictions in force: a CN participant is
refused exactly in a restricted meeting, everyone else is admitted. Joins that overlap a change
(the 300 ms after it) are not judged. Prints errors, wrong decisions, and the RSS of the service
and of Prosody at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.prosody.harness import ProsodyServer  # noqa: E402
from tests.prosody.xmpp import Participant  # noqa: E402
from tests.support.geodb import write_test_mmdb  # noqa: E402
from tests.support.service import JoingateService  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Soak:
    def __init__(self, svc: JoingateService, rooms: int):
        self.svc = svc
        self.rooms = [f"soak-{i}" for i in range(rooms)]
        self.restricted: set[str] = set()
        self.generation = 0  # odd while a change is being made and settling
        self.judged = self.skipped = self.wrong = self.errors = self.toggles = 0
        self.kinds: dict[tuple[bool, bool, bool, str], int] = {}
        self.closed = 0

    async def toggler(self, until: float) -> None:
        current: int | None = None
        while time.monotonic() < until:
            await asyncio.sleep(2)
            self.generation += 1
            if current is None:
                rooms = random.sample(self.rooms, len(self.rooms) // 2)
                status, made = self.svc.api("POST", "/v1/restrictions", {
                    "rooms": rooms, "countries": ["CN"], "reason": "soak"})
                current, self.restricted = (made["id"], set(rooms)) if status == 201 else \
                    (None, self.restricted)
            else:
                status, _ = self.svc.api("POST", f"/v1/restrictions/{current}/revoke",
                                         {"reason": "soak"})
                current, self.restricted = None, set()
            self.errors += status not in (200, 201)
            self.toggles += 1
            await asyncio.sleep(0.3)
            self.generation += 1
        if current is not None:  # leave no restriction behind for the next run
            self.svc.api("POST", f"/v1/restrictions/{current}/revoke", {"reason": "soak"})
            await asyncio.sleep(0.3)

    async def person(self, p: Participant, cn: bool, until: float, rng: random.Random) -> None:
        while time.monotonic() < until:
            room = rng.choice(self.rooms)
            before = self.generation
            try:
                result = await p.join(room, timeout=5)
            except TimeoutError:
                self.errors += 1
                continue
            if result.joined:
                p.leave(room)
                await asyncio.sleep(0.05)
            if before != self.generation or before % 2:
                self.skipped += 1
                continue
            if not result.joined and "closed while you were joining" in (result.error_text or ""):
                # The last occupant left (destroying the meeting) while this join waited for
                # joingate: the plugin refuses with "please try again" rather than admit
                # someone into a meeting that no longer exists.
                self.closed += 1
                continue
            self.judged += 1
            if result.joined == (cn and room in self.restricted):
                self.wrong += 1
                kind = (cn, room in self.restricted, result.joined,
                        (result.error_text or "")[:60])
                self.kinds[kind] = self.kinds.get(kind, 0) + 1


async def run(svc: JoingateService, server: ProsodyServer, participants: int, rooms: int,
              seconds: float) -> Soak:
    soak = Soak(svc, rooms)
    octets = (1, 2, 3, 7)
    people = [(Participant(server.c2s_port, f"127.0.{octets[i % 4]}.{10 + i}"), i % 4 == 0)
              for i in range(participants)]
    await asyncio.gather(*(p.connect(timeout=60) for p, _ in people))
    until = time.monotonic() + seconds
    try:
        await asyncio.gather(soak.toggler(until),
                             *(soak.person(p, cn, until, random.Random(i))
                               for i, (p, cn) in enumerate(people)))
    finally:
        await asyncio.gather(*(p.disconnect() for p, _ in people))
    return soak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--participants", type=int, default=60)
    parser.add_argument("--rooms", type=int, default=6)
    args = parser.parse_args()
    random.seed(604)
    work = Path(tempfile.mkdtemp(prefix="joingate-soak-"))
    geo = write_test_mmdb(work / "geo.mmdb")
    with JoingateService(work / "svc", geoip=geo) as svc:
        server = ProsodyServer(work / "prosody", joingate={
            "joingate_url": svc.url, "joingate_token": svc.plugin_token})
        server.start()
        try:
            server.wait_for_log("joingate enforcement feed connected")
            assert svc.proc is not None and server.proc is not None
            warm = asyncio.run(run(svc, server, args.participants, args.rooms, 10))
            rss0 = rss_kib(svc.proc.pid), rss_kib(server.proc.pid)
            soak = asyncio.run(run(svc, server, args.participants, args.rooms, args.seconds))
            rss1 = rss_kib(svc.proc.pid), rss_kib(server.proc.pid)
        finally:
            server.stop()
    total = soak.judged + soak.skipped
    print(f"soak: {args.seconds:.0f} s, {args.participants} participants, {args.rooms} meetings,"
          f" {soak.toggles} restriction changes; {total} joins ({total / args.seconds:.0f}/s),"
          f" {soak.judged} judged, {soak.skipped} overlapping a change")
    print(f"  errors: {soak.errors + warm.errors}; wrong decisions: {soak.wrong + warm.wrong}; "
          f"'meeting closed while joining, try again': {soak.closed}")
    print(f"  RSS after warm-up -> end: joingate {rss0[0] / 1024:.1f} -> {rss1[0] / 1024:.1f} "
          f"MiB; Prosody {rss0[1] / 1024:.1f} -> {rss1[1] / 1024:.1f} MiB")
    for kind, n in sorted(soak.kinds.items(), key=lambda kv: -kv[1]):
        print(f"  wrong: CN={kind[0]} restricted={kind[1]} joined={kind[2]} {kind[3]!r}: {n}")
    if soak.errors or soak.wrong or warm.errors or warm.wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
