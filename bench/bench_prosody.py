"""Join overhead through Prosody, and the mid-meeting sweep, with real XMPP clients.

    .venv/bin/python bench/bench_prosody.py [--joins 100] [--rounds 3] [--occupants 1000]
        [--rooms 100] [--json FILE]

1. Time of a MUC join (presence sent -> own presence back) through Debian's Prosody without
   the plugin (the floor), and with mod_joingate asking a real `joingate serve`, into meetings
   without a restriction (admitted at once, checked right after) and into meetings with one in
   force that does not cover the participant (admitted at once on the verdicts the session
   learnt when it started, checked right after; the count of joins that asked per join
   instead, from the service's /metrics, is printed), in the same run, by clients from
   distinct loopback addresses that connect before they join, as Jitsi's do. In each of
   `--rounds` rounds the three cases take turns join by join (their order rotated), every
   join a new (meeting, address) pair so that no answer is remembered; medians and p90 over
   all joins of a case, and the ratio of the medians per round. Target: <= 1.15x for both.
2. Sweep: `--occupants` participants in `--rooms` meetings, 10 % of them located in CN; one
   restriction for CN over every meeting; time until the last covered participant has been
   removed (and nobody else). Target: <= 1 s. `--occupants 0` leaves it out.
Uses the plugin tests' harness (tests/prosody), so it runs from a checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import result_json  # noqa: E402

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


JOIN_CASES = ("floor", "unrestricted", "restricted")


async def join_times(bare: ProsodyServer, gated: ProsodyServer, n: int, r: int
                     ) -> dict[str, list[float]]:
    """Round r: n joins per case, one after another, the cases taking turns join by join (their
    order rotated each join), so that a busy moment of the machine falls on all three alike.
    Each case joins 20 new meetings ({case}-{r}-0..19), by US, HK, DE and TW participants (the
    service admits them all): a (meeting, address) pair never repeats, so the plugin's memory
    of recent answers (joingate_cache_ttl) never answers instead of the service."""
    people = {case: await connect_all(bare if case == "floor" else gated,
                                      [addr((3, 2, 7, 5)[i % 4], i) for i in range(n)])
              for case in JOIN_CASES}
    times: dict[str, list[float]] = {case: [] for case in JOIN_CASES}
    try:
        for i in range(n):
            k = (i + r) % 3
            for case in JOIN_CASES[k:] + JOIN_CASES[:k]:
                result = await people[case][i].join(f"{case}-{r}-{i % 20}")
                assert result.joined, result
                times[case].append(result.seconds)
    finally:
        await asyncio.gather(*(p.disconnect() for group in people.values() for p in group))
    return times


def restricted_rooms(rounds: int) -> list[str]:
    return [f"restricted-{r}-{k}" for r in range(rounds) for k in range(20)]


def join_rounds(bare: ProsodyServer, gated: ProsodyServer, joins: int, rounds: int
                ) -> dict[str, list[list[float]]]:
    """Per case, the join times of each round."""
    times: dict[str, list[list[float]]] = {case: [] for case in JOIN_CASES}
    for r in range(rounds):
        got = asyncio.run(join_times(bare, gated, joins, r))
        for case in JOIN_CASES:
            times[case].append(got[case])
    return times


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[8]


def per_join_calls(svc: JoingateService) -> int:
    """How many /v1/authorize calls the service has answered (its /metrics)."""
    with urllib.request.urlopen(f"{svc.url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(r"^joingate_authorize_seconds_count (\S+)$", text, re.MULTILINE)
    assert found, "joingate_authorize_seconds_count not in /metrics"
    return int(float(found.group(1)))


def join_rows(times: dict[str, list[list[float]]], load: tuple[str, str],
              asked: int) -> list[result_json.Row]:
    """Prints the join figures and returns them as bench result rows. `asked`: how many joins
    called /v1/authorize (a restricted join whose session's verdicts were not used)."""
    every = {case: [t for run in runs for t in run] for case, runs in times.items()}
    med = {case: statistics.median(v) for case, v in every.items()}
    ms = {case: f"median {med[case] * 1000:.2f} ms, p90 {p90(every[case]) * 1000:.2f} ms"
          for case in JOIN_CASES}
    rounds, joins = len(times["floor"]), len(times["floor"][0])

    def per_round(case: str, against: str) -> str:
        ratios = [statistics.median(a) / statistics.median(b)
                  for a, b in zip(times[case], times[against], strict=True)]
        return f"{min(ratios):.2f}-{max(ratios):.2f}x"

    print(f"joins: {rounds} rounds x {joins} per case, clients from distinct loopback addresses,"
          f" load average {load[0]} -> {load[1]}")
    print(f"  without the plugin (floor)           {ms['floor']}")
    restricted_what = ("meetings with a restriction (admitted on the session's verdicts;"
                       f" {asked} of {len(every['restricted'])} asked per join)")
    for case, what in (("unrestricted", "meetings without a restriction (admitted at once)"),
                       ("restricted", restricted_what)):
        print(f"  with mod_joingate, {case:<17} {ms[case]}  {med[case] / med['floor']:.2f}x"
              f" the floor (per round {per_round(case, 'floor')}): {what}")
    print(f"  restricted / unrestricted, both with the plugin: "
          f"{med['restricted'] / med['unrestricted']:.2f}x"
          f" (per round {per_round('restricted', 'unrestricted')})")
    floor = (f"the same Prosody without the plugin, same run, both at log level info "
             f"({ms['floor']}); {rounds} rounds x {joins} joins, the cases taking turns join"
             " by join")
    restricted = (f"{ms['restricted']}: {med['restricted'] / med['floor']:.2f}x (per round"
                  f" {per_round('restricted', 'floor')});"
                  f" {med['restricted'] / med['unrestricted']:.2f}x the join without a"
                  f" restriction (per round"
                  f" {per_round('restricted', 'unrestricted')}); {asked} of"
                  f" {len(every['restricted'])} joins asked per join, the others were admitted"
                  " on the verdicts their session learnt when it started")
    return [
        result_json.row("join through Prosody, meeting without a restriction", floor,
                        f"{ms['unrestricted']}: {med['unrestricted'] / med['floor']:.2f}x"
                        f" (per round {per_round('unrestricted', 'floor')})", "<= 1.15x"),
        result_json.row("join through Prosody, meeting with a restriction in force", floor,
                        restricted, "<= 1.15x"),
    ]


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


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
    parser.add_argument("--joins", type=int, default=100, help="joins per case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--occupants", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    result_json.add_option(parser)
    args = parser.parse_args()
    rows: list[result_json.Row] = []
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
            # Meetings with a restriction in force (for CN): the gate waits for the answer.
            status, _ = svc.api("POST", "/v1/restrictions", {
                "rooms": restricted_rooms(args.rounds), "countries": ["CN"],
                "reason": "bench"})
            assert status == 201
            wait_restricted(svc, 20 * args.rounds)
            load_start = load_average()
            calls = per_join_calls(svc)
            times = join_rounds(bare, gated, args.joins, args.rounds)
            rows += join_rows(times, (load_start, load_average()), per_join_calls(svc) - calls)
            if args.occupants > 0:
                last, covered, wrongly = asyncio.run(sweep(svc, gated, args.occupants,
                                                           args.rooms))
                print(f"sweep: {args.occupants} occupants in {args.rooms} meetings, {covered} in"
                      f" CN: last one removed {last:.3f} s after the restriction was created "
                      f"(target <= 1 s); others removed: {wrongly}")
        finally:
            gated.stop()
            bare.stop()
    result_json.write(args.json, rows)


if __name__ == "__main__":
    main()
