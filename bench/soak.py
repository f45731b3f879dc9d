"""Soak: joins and leaves through Prosody while restrictions toggle, for a bounded time.

    .venv/bin/python bench/soak.py [--seconds 1800] [--warmup 60] [--participants 60] [--rooms 6]
                                   [--json FILE]

Participants (a fourth located in CN, the rest in HK, US, DE) join and leave meetings in a loop
from distinct loopback addresses; every 2 s a restriction for CN on half of the meetings is
created or revoked. Each join is checked against the restrictions in force: a CN participant is
refused exactly in a restricted meeting, everyone else is admitted. Every join is counted: judged,
overlapping a change (not judged: from the change until a probe from CN is refused in a newly
restricted meeting, i.e. the plugin has it, plus 300 ms), or unanswered within 30 s (an error;
the machine may be shared, so the bound is generous). A refusal "the meeting closed while you
were joining" is judged like any other answer (wrong when the participant should have been
admitted) and also counted apart. How long Prosody, joingate and this client ran on a CPU and
waited for one is printed too (/proc schedstat): on a shared machine joins wait for a CPU.
After a warm-up run of the same load, the RSS of the service and of Prosody is sampled every
10 s; the least-squares slope over those samples is printed in MiB per hour, with the samples'
range. Prosody logs at level info, as in production (debug lines cost time per stanza). The
work folder is removed after a clean run and kept (its path printed) after a failed one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import result_json  # noqa: E402

from joingate.testing.geodb import write_test_mmdb  # noqa: E402
from joingate.testing.prosody import ProsodyServer  # noqa: E402
from joingate.testing.service import JoingateService  # noqa: E402
from joingate.testing.xmpp import Participant  # noqa: E402

SAMPLE_EVERY = 10.0  # seconds between RSS samples
JOIN_TIMEOUT = 30.0  # a join unanswered this long counts as an error


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sched_seconds(pid: int | str) -> tuple[float, float]:
    """Seconds a process has run on a CPU and waited, runnable, for one (/proc schedstat)."""
    ran, waited = Path(f"/proc/{pid}/schedstat").read_text().split()[:2]
    return int(ran) / 1e9, int(waited) / 1e9


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) samples, in MiB per hour."""
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    cov = sum((t - mt) * (v - mv) for t, v in samples)
    return cov / var * 3600 if var else 0.0


class Soak:
    def __init__(self, svc: JoingateService, rooms: int):
        self.svc = svc
        self.rooms = [f"soak-{i}" for i in range(rooms)]
        self.restricted: set[str] = set()
        self.generation = 0  # odd while a change is being made and settling
        self.judged = self.skipped = self.wrong = self.timeouts = self.toggles = 0
        self.api_errors = 0
        self.kinds: dict[tuple[bool, bool, bool, str], int] = {}
        self.closed = 0
        self.latencies: list[float] = []  # seconds from a join's presence to its answer
        # (seconds since the start, MiB) per process: joingate, Prosody
        self.rss: tuple[list[tuple[float, float]], list[tuple[float, float]]] = ([], [])
        # seconds run on a CPU and waited for one during the run, per process
        self.sched: dict[str, tuple[float, float]] = {}

    @property
    def joins(self) -> int:
        return self.judged + self.skipped + self.timeouts

    async def applied(self, probe: Participant, room: str) -> None:
        """Until Prosody refuses a CN join into `room`: the plugin has the new restriction.

        Until its feed delivers a restriction, the plugin admits a join into that meeting at
        once and removes the participant when the service's answer arrives; on a busy machine
        that can take longer than any fixed wait. A revocation needs no wait: the plugin then
        still asks the service, which already answers "allow"."""
        deadline = time.monotonic() + JOIN_TIMEOUT
        while time.monotonic() < deadline:
            try:
                result = await probe.join(room, timeout=JOIN_TIMEOUT)
            except TimeoutError:
                break
            if not result.joined:
                return
            probe.leave(room)
            await asyncio.sleep(0.1)
        self.api_errors += 1  # not applied within JOIN_TIMEOUT

    async def toggler(self, probe: Participant, until: float) -> None:
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
                if current is not None:
                    await self.applied(probe, rooms[0])
            else:
                status, _ = self.svc.api("POST", f"/v1/restrictions/{current}/revoke",
                                         {"reason": "soak"})
                current, self.restricted = None, set()
            self.api_errors += status not in (200, 201)
            self.toggles += 1
            await asyncio.sleep(0.3)
            self.generation += 1
        if current is not None:  # leave no restriction behind for the next run
            self.svc.api("POST", f"/v1/restrictions/{current}/revoke", {"reason": "soak"})
            await asyncio.sleep(0.3)

    async def sampler(self, pids: tuple[int, int], until: float) -> None:
        start = time.monotonic()
        while True:
            now = time.monotonic()
            for series, pid in zip(self.rss, pids, strict=True):
                series.append((now - start, rss_kib(pid) / 1024))
            if now + SAMPLE_EVERY > until:
                return
            await asyncio.sleep(SAMPLE_EVERY - (time.monotonic() - now))

    async def person(self, p: Participant, cn: bool, until: float, rng: random.Random) -> None:
        while time.monotonic() < until:
            room = rng.choice(self.rooms)
            before = self.generation
            try:
                result = await p.join(room, timeout=JOIN_TIMEOUT)
            except TimeoutError:
                self.timeouts += 1
                continue
            self.latencies.append(result.seconds)
            if result.joined:
                p.leave(room)
                await asyncio.sleep(0.05)
            if before != self.generation or before % 2:
                self.skipped += 1
                continue
            self.judged += 1
            if not result.joined and "closed while you were joining" in (result.error_text or ""):
                self.closed += 1
            if result.joined == (cn and room in self.restricted):
                self.wrong += 1
                kind = (cn, room in self.restricted, result.joined,
                        (result.error_text or "")[:60])
                self.kinds[kind] = self.kinds.get(kind, 0) + 1


async def run(svc: JoingateService, server: ProsodyServer, participants: int, rooms: int,
              seconds: float, pids: tuple[int, int] | None = None) -> Soak:
    soak = Soak(svc, rooms)
    octets = (1, 2, 3, 7)
    people = [(Participant(server.c2s_port, f"127.0.{octets[i % 4]}.{10 + i}"), i % 4 == 0)
              for i in range(participants)]
    probe = Participant(server.c2s_port, f"127.0.{octets[0]}.250")  # placed in CN
    await asyncio.gather(probe.connect(timeout=60), *(p.connect(timeout=60) for p, _ in people))
    until = time.monotonic() + seconds
    sampler = [soak.sampler(pids, until)] if pids else []
    watched = {"joingate": pids[0], "Prosody": pids[1], "this client": "self"} if pids else {}
    before = {name: sched_seconds(pid) for name, pid in watched.items()}
    try:
        await asyncio.gather(soak.toggler(probe, until), *sampler,
                             *(soak.person(p, cn, until, random.Random(i))
                               for i, (p, cn) in enumerate(people)))
        for name, pid in watched.items():
            now = sched_seconds(pid)
            soak.sched[name] = (now[0] - before[name][0], now[1] - before[name][1])
    finally:
        await asyncio.gather(probe.disconnect(), *(p.disconnect() for p, _ in people))
    return soak


def percentile(soak: Soak, q: float) -> str:
    ordered = sorted(soak.latencies)
    if not ordered:
        return "-"
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:,.0f} ms"


def rss_summary(name: str, series: list[tuple[float, float]]) -> str:
    values = [v for _, v in series]
    return (f"{name} {slope_per_hour(series):+.2f} MiB/hour (samples {min(values):.1f}-"
            f"{max(values):.1f} MiB, first {values[0]:.1f}, last {values[-1]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--warmup", type=float, default=60,
                        help="seconds of the same load before the measured run")
    parser.add_argument("--participants", type=int, default=60)
    parser.add_argument("--rooms", type=int, default=6)
    result_json.add_option(parser)
    args = parser.parse_args()
    random.seed(604)
    work = Path(tempfile.mkdtemp(prefix="joingate-soak-"))
    geo = write_test_mmdb(work / "geo.mmdb")
    with JoingateService(work / "svc", geoip=geo) as svc:
        server = ProsodyServer(work / "prosody", joingate={
            "joingate_url": svc.url, "joingate_token": svc.plugin_token}, log_level="info")
        server.start()
        try:
            server.wait_for_log("joingate enforcement feed connected")
            assert svc.proc is not None and server.proc is not None
            warm = asyncio.run(run(svc, server, args.participants, args.rooms, args.warmup))
            soak = asyncio.run(run(svc, server, args.participants, args.rooms, args.seconds,
                                   (svc.proc.pid, server.proc.pid)))
        finally:
            server.stop()
    errors = soak.timeouts + soak.api_errors + warm.timeouts + warm.api_errors
    wrong = soak.wrong + warm.wrong
    samples = len(soak.rss[0])
    decisions = (
        f"{args.seconds:.0f} s, {args.participants} participants, {args.rooms} meetings, "
        f"{soak.toggles} restriction changes: {soak.joins:,} joins ({soak.joins / args.seconds:.0f}"
        f"/s), every one counted: {soak.judged:,} judged, {soak.skipped:,} overlapping a change, "
        f"{soak.timeouts} unanswered in {JOIN_TIMEOUT:.0f} s; join p50 {percentile(soak, 0.5)}, "
        f"p99 {percentile(soak, 0.99)}, max {percentile(soak, 1.0)}; {wrong} wrong decisions, "
        f"{errors} errors; "
        f"'meeting closed while joining': {soak.closed}. CPU: " + ", ".join(
            f"{name} ran {ran:,.0f} s and waited {waited:,.0f} s for a CPU"
            for name, (ran, waited) in soak.sched.items()))
    rss = (f"{rss_summary('joingate', soak.rss[0])}; {rss_summary('Prosody', soak.rss[1])}; "
           f"{samples} samples every {SAMPLE_EVERY:.0f} s over {args.seconds:.0f} s")
    print(f"soak: {decisions}")
    print(f"  (warm-up {args.warmup:.0f} s before: {warm.joins:,} joins, {warm.wrong} wrong, "
          f"{warm.timeouts + warm.api_errors} errors)")
    print(f"  RSS slope: {rss}")
    for kind, n in sorted(soak.kinds.items(), key=lambda kv: -kv[1]):
        print(f"  wrong: CN={kind[0]} restricted={kind[1]} joined={kind[2]} {kind[3]!r}: {n}")
    warmed = (f"after a {args.warmup:.0f} s warm-up run of the same load (same service and "
              f"Prosody, caches warm)")
    result_json.write(args.json, [
        result_json.row("soak with restrictions toggling (CN on half the meetings, every 2 s)",
                        f"— (each join checked against the restrictions in force); {warmed}",
                        decisions, "0 wrong decisions, every join counted"),
        result_json.row("soak: RSS slope of joingate and Prosody",
                        f"— (least-squares slope of RSS sampled every {SAMPLE_EVERY:.0f} s); "
                        f"{warmed}", rss, "~0 MiB/hour (no leak)"),
    ])
    if errors or wrong:
        print(f"  work folder kept: {work}")
        sys.exit(1)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
