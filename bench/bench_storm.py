"""Join storms through Debian's Prosody with mod_joingate, restricted meetings against unrestricted.

    .venv/bin/python bench/bench_storm.py [--joins 2000] [--meetings 200] [--seconds 20]
                                          [--fast-rate 2000] [--rounds 1] [--room-cache N]
                                          [--storms both|paced|fast] [--json FILE]

One `joingate serve` (SQLite, the test GeoIP DB) and one Prosody with the plugin, started by the
plugin tests' harness, log level info, Prosody's default MUC room cache unless `--room-cache N`
sets muc_room_cache_size (the default is 100 rooms, so a storm over 200 live meetings makes
Prosody swap rooms to storage and back, while joins wait for the service too). Participants are
bench/xmpp_load.py's light clients, each from its own 127.x.y.z address that the test DB places
in CN, HK, US or DE (a fourth each, every meeting gets all four).

1. Paced storm: `--joins` joins spread evenly over `--seconds` into `--meetings` meetings, every
   one with a restriction for CN in force; then the same storm (new participants, new
   addresses) into as many meetings without a restriction: the floor. Back to back, the order
   alternating per round.
2. Fast storm: the same pair sent at `--fast-rate` joins/s (or as fast as this client manages:
   the rate reached is printed).

Every join is judged: in a restricted meeting a CN participant must be refused with the
restriction's text and everyone else admitted; in the others everyone is admitted. Counted
apart: joins the plugin's fail mode answered (its log lines "without an answer from joingate",
and refusals with its "join check is unavailable" text), "meeting closed" refusals, any other
refusal, joins unanswered within 60 s. After each storm its participants are watched for 2 s:
a removal of anyone admitted counts as wrong. Percentiles are of the time from sending the
join presence to reading the room's answer, over every join (one unanswered in 60 s counted as
60 s, and the percentile then shown as ">= 60,000 ms").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import result_json  # noqa: E402
from xmpp_load import (  # noqa: E402
    JoinResult,
    LightParticipant,
    connect_all,
    cpu_seconds,
    leave_all,
    load_average,
    raise_fd_limit,
)

from joingate.testing.geodb import wide_address, write_test_mmdb  # noqa: E402
from joingate.testing.prosody import ProsodyServer  # noqa: E402
from joingate.testing.service import JoingateService  # noqa: E402
from joingate.testing.xmpp import QUIET_WATCH  # noqa: E402

COUNTRIES = ("CN", "HK", "US", "DE")
FAIL_MODE_TEXT = "join check is unavailable"
FAIL_MODE_LOG = "without an answer from joingate"
ANSWER_TIMEOUT = 60.0


async def until_idle(pid: int, limit: float = 300.0) -> float:
    """Wait until the process used under 5 % of a core for a whole second (the last storm's
    backlog done); returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        before = cpu_seconds(pid)
        await asyncio.sleep(1.0)
        if cpu_seconds(pid) - before < 0.05:
            break
    return time.monotonic() - start


class Addresses:
    """Distinct addresses per country, never handed out twice in a run."""

    def __init__(self) -> None:
        self.used = Counter[str]()

    def next(self, country: str) -> str:
        n = self.used[country]
        self.used[country] += 1
        return wide_address(country, n)


@dataclass
class Storm:
    """One storm's outcome."""

    restricted: bool
    rate: float = 0.0  # joins per second actually sent
    times: list[float] = field(default_factory=list)
    admitted: int = 0
    refused_as_expected: int = 0
    wrong: int = 0
    fail_mode: int = 0
    closed: int = 0
    other: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    load: str = ""
    cpu_ms_per_join: float = 0.0  # Prosody's CPU from the first join sent to the last answer

    def pct(self, q: int) -> float:
        """Percentile in ms over every join, an unanswered one counted as ANSWER_TIMEOUT."""
        every = self.times + [ANSWER_TIMEOUT] * self.unanswered
        return statistics.quantiles(every, n=100, method="inclusive")[q - 1] * 1000

    def ms(self, q: int) -> str:
        value = self.pct(q)
        return f">= {value:,.0f}" if value >= ANSWER_TIMEOUT * 1000 else f"{value:,.0f}"

    def summary(self) -> str:
        return (f"p50 {self.ms(50)} ms, p99 {self.ms(99)} ms; admitted "
                f"{self.admitted}, refused as expected {self.refused_as_expected}, wrong "
                f"{self.wrong}, fail mode {self.fail_mode}, 'meeting closed' {self.closed}, "
                f"other refusals {sum(self.other.values())}, unanswered {self.unanswered}; "
                f"Prosody CPU {self.cpu_ms_per_join:.1f} ms per join")


def restriction_text(restriction: int) -> tuple[str, str]:
    return "Participants located in CN cannot join", f"(restriction {restriction})"


async def storm(server: ProsodyServer, addresses: Addresses, rooms: list[str],
                joins: int, rate: float, restriction: int | None) -> Storm:
    result = Storm(restricted=restriction is not None)
    countries = [COUNTRIES[(i // len(rooms)) % len(COUNTRIES)] for i in range(joins)]
    people = [LightParticipant(server.c2s_port, addresses.next(c)) for c in countries]
    assert server.proc is not None
    await until_idle(server.proc.pid)
    await connect_all(people)
    await until_idle(server.proc.pid)
    mark = server.log_mark()
    result.load = load_average()
    waits: list[asyncio.Task[JoinResult]] = []
    cpu_start = cpu_seconds(server.proc.pid)
    start = time.monotonic()
    sent_at = start
    for i, person in enumerate(people):
        delay = start + i / rate - time.monotonic()
        if delay > 0.001:
            await asyncio.sleep(delay)
        room = rooms[i % len(rooms)]
        sent = person.send_join(room)
        sent_at = sent[1]
        waits.append(asyncio.create_task(person.answer(room, sent, ANSWER_TIMEOUT)))
    result.rate = joins / max(sent_at - start, 1e-6)
    answers = await asyncio.gather(*waits, return_exceptions=True)
    result.cpu_ms_per_join = (cpu_seconds(server.proc.pid) - cpu_start) * 1000 / joins
    expected_text = restriction_text(restriction) if restriction is not None else None
    admitted: list[tuple[LightParticipant, str]] = []
    for i, (person, answer) in enumerate(zip(people, answers, strict=True)):
        covered = result.restricted and countries[i] == "CN"
        if isinstance(answer, BaseException):
            result.unanswered += 1
            continue
        result.times.append(answer.seconds)
        text = answer.error_text or ""
        if answer.joined:
            result.admitted += 1
            admitted.append((person, rooms[i % len(rooms)]))
            if covered:
                result.wrong += 1
        elif FAIL_MODE_TEXT in text:
            result.fail_mode += 1
        elif expected_text and all(part in text for part in expected_text):
            if covered:
                result.refused_as_expected += 1
            else:
                result.wrong += 1
        elif "closed" in text:
            result.closed += 1
        else:
            result.other[f"{answer.presence.error_condition}: {text}"] += 1
    # Nobody admitted is removed afterwards (an admitted-early check that said "deny").
    await asyncio.sleep(QUIET_WATCH)
    result.wrong += sum(1 for person, room in admitted if person.removal(room) is not None)
    log = server.log()[mark:]
    # Joins the fail mode let in (refusals by it were counted by their text above).
    result.fail_mode += sum(1 for line in log.splitlines()
                            if FAIL_MODE_LOG in line and "let through" in line)
    result.load += f" -> {load_average()}"
    print(f"  {'restricted' if result.restricted else 'unrestricted'} storm at "
          f"{result.rate:,.0f} joins/s: {result.summary()}; load average {result.load}",
          flush=True)
    await leave_all(people)
    return result


def wait_restricted(svc: JoingateService, n: int) -> None:
    """Until the service's feed lists n restricted meetings (the plugin's long-poll answers at
    the same moment)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body = svc.api("GET", "/v1/enforcement?after=0&wait=0", token=svc.plugin_token)
        if status == 200 and len(body["restricted"]) >= n:
            time.sleep(0.5)
            return
        time.sleep(0.05)
    raise SystemExit("the restriction did not reach the feed")


async def pair(server: ProsodyServer, addresses: Addresses, args: argparse.Namespace,
               rate: float, restriction: int, restricted_rooms: list[str],
               round_no: int) -> tuple[Storm, Storm]:
    free_rooms = [f"storm-free-{round_no}-{i}" for i in range(args.meetings)]
    if round_no % 2 == 0:
        ours = await storm(server, addresses, restricted_rooms, args.joins, rate, restriction)
        floor = await storm(server, addresses, free_rooms, args.joins, rate, None)
    else:
        floor = await storm(server, addresses, free_rooms, args.joins, rate, None)
        ours = await storm(server, addresses, restricted_rooms, args.joins, rate, restriction)
    return ours, floor


def report(label: str, ours: Storm, floor: Storm) -> str:
    ratio = ours.pct(99) / floor.pct(99)
    print(f"{label}: sent at {ours.rate:,.0f} / {floor.rate:,.0f} joins/s "
          f"(restricted / unrestricted)")
    print(f"  restricted meetings:   {ours.summary()}; load average {ours.load}")
    print(f"  unrestricted (floor):  {floor.summary()}; load average {floor.load}")
    for text, n in (ours.other + floor.other).items():
        print(f"  other refusal x{n}: {text}")
    print(f"  p99 restricted / unrestricted: {ratio:.2f}x (target <= 2x)")
    return ratio_text(ours, floor, ratio)


def ratio_text(ours: Storm, floor: Storm, ratio: float) -> str:
    return (f"p50/p99 {ours.ms(50)}/{ours.ms(99)} ms vs {floor.ms(50)}/{floor.ms(99)} ms "
            f"(an unanswered join counted as {ANSWER_TIMEOUT:.0f} s): p99 {ratio:.2f}x; "
            f"fail-mode answers {ours.fail_mode}/"
            f"{floor.fail_mode}, wrong {ours.wrong}/{floor.wrong}, 'meeting closed' "
            f"{ours.closed}/{floor.closed}, other refusals {sum(ours.other.values())}/"
            f"{sum(floor.other.values())}, unanswered {ours.unanswered}/{floor.unanswered}, "
            f"Prosody CPU per join {ours.cpu_ms_per_join:.1f}/{floor.cpu_ms_per_join:.1f} ms "
            f"(restricted/unrestricted); sent at {ours.rate:,.0f}/{floor.rate:,.0f} joins/s; "
            f"load average {ours.load} / {floor.load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--joins", type=int, default=2000)
    parser.add_argument("--meetings", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fast-rate", type=float, default=2000.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--storms", choices=("both", "paced", "fast"), default="both",
                        help="run only the paced or only the fast pair")
    parser.add_argument("--room-cache", type=int, default=None,
                        help="muc_room_cache_size (default: not set, Prosody's own default)")
    result_json.add_option(parser)
    args = parser.parse_args()
    if args.joins > 2 * 254 * 256:
        raise SystemExit("--joins: at most 130,048")
    fds = raise_fd_limit()
    cache_text = "default room cache" if args.room_cache is None else \
        f"muc_room_cache_size = {args.room_cache}"
    work = Path(tempfile.mkdtemp(prefix="joingate-bench-storm-"))
    geo = write_test_mmdb(work / "geo.mmdb")
    addresses = Addresses()
    rows: list[result_json.Row] = []
    with JoingateService(work / "svc", geoip=geo) as svc:
        cache = {} if args.room_cache is None else {"muc_room_cache_size": args.room_cache}
        server = ProsodyServer(work / "prosody", joingate={
            "joingate_url": svc.url, "joingate_token": svc.plugin_token},
            muc_options=cache, log_level="info")
        server.start()
        try:
            server.wait_for_log("joingate enforcement feed connected")
            restricted_rooms = [f"storm-{i}" for i in range(args.meetings)]
            status, made = svc.api("POST", "/v1/restrictions", {
                "rooms": restricted_rooms, "countries": ["CN"], "reason": "bench"})
            assert status == 201, made
            wait_restricted(svc, args.meetings)
            print(f"{args.joins} joins into {args.meetings} meetings per storm, each from its own "
                  f"address (CN/HK/US/DE a fourth each); {cache_text}; "
                  f"open files {fds}")
            for round_no in range(args.rounds if args.storms != "fast" else 0):
                ours, floor = asyncio.run(pair(server, addresses, args,
                                               args.joins / args.seconds, made["id"],
                                               restricted_rooms, round_no))
                result = report(f"paced storm, round {round_no + 1}", ours, floor)
                rows.append(result_json.row(
                    f"join storm through Prosody: {args.joins:,} joins in {args.seconds:g} s into "
                    f"{args.meetings} meetings with a CN restriction in force, {cache_text}",
                    "the same storm into as many meetings without a restriction, same run, back "
                    "to back", result,
                    "0 fail-mode answers, 0 wrong, 0 'meeting closed'; p99 <= 2x"))
            for round_no in range(args.rounds if args.storms != "paced" else 0):
                ours, floor = asyncio.run(pair(server, addresses, args, args.fast_rate,
                                               made["id"], restricted_rooms,
                                               args.rounds + round_no))
                result = report(f"fast storm, round {round_no + 1}", ours, floor)
                rows.append(result_json.row(
                    f"join storm through Prosody at {args.fast_rate:,.0f} joins/s: "
                    f"{args.joins:,} joins into {args.meetings} meetings with a CN restriction, "
                    f"{cache_text}", "the same storm into as many meetings without a "
                    "restriction, same run, back to back", result,
                    "no live meeting reported closed, 0 wrong"))
        finally:
            server.stop()
    result_json.write(args.json, rows)


if __name__ == "__main__":
    main()
