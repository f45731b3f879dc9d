"""`joingate demo`: June 2020 replayed on a local Prosody with mod_joingate.

It starts a real `joingate serve` and Debian's Prosody with the plugin from this checkout,
connects simulated participants from distinct loopback addresses (placed in countries by
seeds/demo/loopback-country.mmdb), replays seeds/demo/june2020.toml, and prints a timeline of
who was refused and who was removed, then who is in each meeting, which meetings still exist
and which hosts are still connected as Prosody itself reports them (`prosodyctl shell`), then
the transparency report.

The demo drives the same Prosody harness and XMPP clients as the plugin's tests and bench/
(joingate.testing, the demo extra). Prosody loads mod_joingate from plugins/prosody, so the demo
runs from a source checkout; a wheel does not ship the plugin.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import JoingateError

if TYPE_CHECKING:  # imported in run(): the service's own commands never need the demo extra
    from .testing.prosody import ProsodyServer
    from .testing.service import JoingateService
    from .testing.xmpp import Participant

PLUGIN = Path(__file__).resolve().parent.parent / "plugins" / "prosody" / "mod_joingate.lua"


class DemoError(JoingateError):
    code = "demo"


class Timeline:
    def __init__(self, echo: Callable[[str], None]):
        self.echo = echo
        self.t0 = time.monotonic()

    def __call__(self, text: str, indent: int = 0) -> None:
        self.echo(f"[{time.monotonic() - self.t0:6.2f}s] {'  ' * indent}{text}")


def scenario() -> dict[str, Any]:
    raw = (resources.files("joingate.seeds") / "demo" / "june2020.toml").read_text("utf-8")
    return tomllib.loads(raw)


def run(echo: Callable[[str], None] = print) -> None:
    if not PLUGIN.exists():
        raise DemoError("joingate demo runs from a source checkout: Prosody loads mod_joingate "
                        "from its plugins/prosody")
    if shutil.which("prosody") is None:
        raise DemoError("joingate demo needs Debian's prosody: apt-get install prosody")
    try:
        from .testing.prosody import MUC_DOMAIN, ProsodyServer
        from .testing.service import JoingateService
    except ModuleNotFoundError as exc:
        raise DemoError(f"joingate demo needs the demo extra ({exc.name}): pip install -e "
                        "'.[demo]' (or bash scripts/setup.sh --test)") from None
    work = Path(tempfile.mkdtemp(prefix="joingate-demo-"))
    geo = Path(str(resources.files("joingate.seeds") / "demo" / "loopback-country.mmdb"))
    try:
        with JoingateService(work / "joingate", geoip=geo) as svc:
            prosody = ProsodyServer(work / "prosody", joingate={
                "joingate_url": svc.url, "joingate_token": svc.plugin_token,
                "joingate_poll_wait": 2})
            prosody.start()
            try:
                prosody.wait_for_log("joingate enforcement feed connected")
                echo("joingate demo: June 2020, replayed on a local Prosody with mod_joingate")
                echo(f"  joingate {svc.url} · Prosody c2s 127.0.0.1:{prosody.c2s_port} · "
                     "participants join from loopback addresses placed in countries by "
                     "seeds/demo/loopback-country.mmdb\n")
                asyncio.run(_story(svc, prosody, MUC_DOMAIN, scenario(), Timeline(echo)))
                _wait_for_counts(svc)
                checkpoint = svc.cli("audit", "checkpoint").stdout.strip()
                echo(f"\nAudit log checkpoint (joingate audit checkpoint): {checkpoint}")
                echo("\nThe transparency report (joingate report --format md):\n")
                echo(svc.cli("report", "--format", "md").stdout)
            finally:
                prosody.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _wait_for_counts(svc: JoingateService, timeout: float = 10.0) -> None:
    """The service writes its decision counters every few seconds: wait until the report
    counts every mainland participant the story refused or removed."""
    expected = sum(1 for m in [*scenario()["meetings"], scenario()["upcoming"]]
                   for _, address in m["people"] if address.startswith("127.0.1.")) + 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, report = svc.api("GET", "/v1/report")
        people = report.get("participants", {}) if status == 200 else {}
        if sum(people.get("refused", {}).values()) + \
                sum(people.get("removed", {}).values()) >= expected:
            return
        time.sleep(0.1)
    raise DemoError("the service did not count the demo's decisions in time")


def _who(p: Participant, country: dict[str, str], hosts: set[str]) -> str:
    host = ", host" if p.nick in hosts else ""
    return f"{p.nick} ({country[p.nick]}{host})"


class Observed:
    """What Prosody reports, read through its admin shell: each meeting's occupants (nick →
    affiliation) or None for a meeting it no longer has, and which sessions it still has."""

    def __init__(self, prosody: ProsodyServer, muc_domain: str, rooms: list[str], jids: list[str]):
        names = ", ".join(f'"{r}"' for r in rooms)
        sessions = ", ".join(f'"{j}"' for j in jids)
        # One Lua line in the shell's global environment (">"): print() reaches our stdout.
        out = prosody.shell(
            f'>local muc = prosody.hosts["{muc_domain}"].modules.muc; '
            f"for _, name in ipairs({{{names}}}) do "
            f'local room = muc.get_room_from_jid(name .. "@{muc_domain}"); '
            'if room == nil then print("gone\t" .. name) else print("room\t" .. name); '
            "for occupant_jid, occupant in room:each_occupant() do "
            'print("occupant\t" .. name .. "\t" .. occupant_jid:match("/(.*)$") .. "\t" .. '
            '(room:get_affiliation(occupant.bare_jid) or "none")) end end end; '
            f"for _, jid in ipairs({{{sessions}}}) do "
            'if prosody.full_sessions[jid] then print("session\t" .. jid) end end')
        self.rooms: dict[str, dict[str, str] | None] = {}
        self.sessions: set[str] = set()
        for line in out.splitlines():
            kind, _, rest = line.partition("\t")
            fields = rest.split("\t")
            if kind == "gone":
                self.rooms[fields[0]] = None
            elif kind == "room":
                self.rooms[fields[0]] = {}
            elif kind == "occupant" and len(fields) == 3:
                occupants = self.rooms.get(fields[0])
                if occupants is not None:
                    occupants[fields[1]] = fields[2]
            elif kind == "session":
                self.sessions.add(fields[0])
        if set(self.rooms) != set(rooms):
            raise DemoError(f"prosodyctl shell did not report every meeting: {out}")

    def present(self, room: str, story: list[Participant], country: dict[str, str]) -> str:
        """Who is in `room`, in the story's order, hosts (owners) marked; anyone Prosody lists
        that the story did not bring is named too."""
        occupants = self.rooms[room]
        if occupants is None:
            return "the meeting no longer exists"
        known = {p.nick for p in story}
        names = [p.nick for p in story if p.nick in occupants]
        names += sorted(n for n in occupants if n not in known)
        return ", ".join(
            f"{n} ({country.get(n, '?')}{', host' if occupants[n] == 'owner' else ''})"
            for n in names) or "nobody"


async def _story(svc: JoingateService, prosody: ProsodyServer, muc_domain: str,
                 story: dict[str, Any], say: Timeline) -> None:
    from .testing.xmpp import Participant

    people: dict[str, list[Participant]] = {}
    country: dict[str, str] = {}
    hosts: set[str] = set()  # the first one into each meeting opens it and owns it
    everyone: list[Participant] = []

    def observe(rooms: list[str], sessions: list[Participant]) -> Observed:
        return Observed(prosody, muc_domain, rooms, [p.jid for p in sessions])

    async def enter(room: str, names: list[list[str]]) -> list[Participant]:
        joined: list[Participant] = []
        for name, address in names:
            p = Participant(prosody.c2s_port, address, nick=name)
            everyone.append(p)
            await p.connect()
            result = await p.join(room)
            country[name] = svc.cli("geoip", "lookup", address).stdout.strip()
            if not result.joined:
                raise DemoError(f"{name} could not join {room}: {result.error_text}")
            if not joined:
                hosts.add(name)
            joined.append(p)
        return joined

    try:
        say("Participants join five meetings, each from an address of their own:")
        for meeting in [*story["meetings"], story["upcoming"]]:
            people[meeting["name"]] = await enter(meeting["name"], meeting["people"])
            say(f"{meeting['name']:<13} {meeting['about']}: "
                + ", ".join(_who(p, country, hosts) for p in people[meeting["name"]]), 1)
        say("Everyone was admitted: no restriction is in force.", 1)

        req = story["request"]
        status, request = svc.api("POST", "/v1/requests", {
            k: req[k] for k in ("authority", "jurisdiction", "reference", "rooms", "demand")})
        assert status == 201, request
        say(f"Authority request #{request['id']} recorded: {req['authority']} "
            f"({req['jurisdiction']}), {req['reference']}: \"{req['demand']}\"")
        current = [m["name"] for m in story["meetings"] if m["name"] in req["rooms"]]

        status, refused = svc.api("POST", "/v1/restrictions", {
            "rooms": current, "countries": ["CN", "HK"], "request": request["id"],
            "reason": f"{req['reference']}, widened to Hong Kong"})
        say(f"A restriction for CN and HK is refused (HTTP {status}, field "
            f"{refused['error']['field']}): {refused['error']['message']}. Nothing was written.")

        started = time.monotonic()
        status, made = svc.api("POST", "/v1/restrictions", {
            "rooms": current, "countries": ["CN"], "request": request["id"],
            "reason": f"{req['reference']}, limited to participants in mainland China"})
        assert status == 201, made
        say(f"Restriction #{made['id']}: participants located in CN, in {', '.join(current)} "
            "only. The meetings go on; no account is touched.")
        await _removals(say, [p for room in current for p in people[room]], current, country,
                        hosts, started, people)
        seen = observe(current, [])
        for room in current:
            say(f"in {room} now (as Prosody lists it): "
                f"{seen.present(room, people[room], country)}", 1)

        late = story["late"]
        comer = Participant(prosody.c2s_port, late["address"], nick=f"{late['name']}-again")
        everyone.append(comer)
        await comer.connect()
        result = await comer.join(late["room"])
        say(f"{late['name']} ({country[late['name']]}) tries to rejoin {late['room']}: "
            f"{'admitted' if result.joined else 'refused'} — \"{result.error_text}\"")

        upcoming = story["upcoming"]
        starts = (datetime.now(UTC) + timedelta(seconds=upcoming["starts_in_seconds"])
                  ).replace(microsecond=0) + timedelta(seconds=1)
        status, window = svc.api("POST", "/v1/restrictions", {
            "rooms": [upcoming["name"]], "countries": ["CN"], "request": request["id"],
            "starts_at": starts.isoformat(), "reason": f"{req['reference']}, the vigil"})
        assert status == 201, window
        say(f"Restriction #{window['id']} on {upcoming['name']} from "
            f"{starts:%H:%M:%S} UTC ({window['state']}); its participants joined early "
            "and are still in.")
        opened = starts.timestamp() - time.time() + time.monotonic()
        await _removals(say, people[upcoming["name"]], [upcoming["name"]], country, hosts,
                        opened, people, timeout=upcoming["starts_in_seconds"] + 5)
        seen = observe([upcoming["name"]], [])
        say(f"in {upcoming['name']} now (as Prosody lists it): "
            f"{seen.present(upcoming['name'], people[upcoming['name']], country)}", 1)

        status, decided = svc.api("POST", f"/v1/requests/{request['id']}/decision", {
            "outcome": "partially", "note": "Restricted to participants located in mainland "
            "China, in the meetings named. No meeting ended, no account suspended."})
        say(f"Request #{request['id']} decided: {decided['outcome']} "
            f"(restrictions {decided['restrictions']}).")

        owners = [members[0] for members in people.values()]
        seen = observe(list(people), owners)
        say("Who stayed (each meeting's occupants as Prosody lists them):")
        for room, members in people.items():
            say(f"{room:<13} {seen.present(room, members, country)}", 1)
        suspended = [h.nick for h in owners if h.jid not in seen.sessions]
        ended = [room for room, occupants in seen.rooms.items() if occupants is None]
        say(f"Host accounts suspended: {len(suspended)}. Meetings ended: {len(ended)}.")
        say(f"(Prosody still has the session of {len(owners) - len(suspended)} of {len(owners)} "
            f"hosts{': not ' + ', '.join(suspended) if suspended else ''} and "
            f"{len(people) - len(ended)} of {len(people)} meetings"
            f"{': not ' + ', '.join(ended) if ended else ''}.)", 1)
    finally:
        for p in everyone:
            await p.disconnect()


async def _removals(say: Timeline, watched: list[Participant], rooms: list[str],
                    country: dict[str, str], hosts: set[str], since: float,
                    people: dict[str, list[Participant]], timeout: float = 5.0) -> None:
    """Print each removal as it happens; expect exactly the CN participants to go."""
    expected = [p for p in watched if country[p.nick] == "CN"]
    room_of = {id(p): room for room in rooms for p in people[room] if p in watched}

    async def one(p: Participant) -> str:
        room = room_of[id(p)]
        info = await p.wait_removed(room, timeout)
        p.rooms.discard(room.lower())
        say(f"removed from {room}: {_who(p, country, hosts)}, "
            f"{info.received_at - since:.2f} s after the restriction took effect (status "
            f"{','.join(sorted(info.statuses))}, role {info.role}, affiliation unchanged: "
            f"{info.affiliation})", 1)
        return str(info.reason)

    reasons = set(await asyncio.gather(*(one(p) for p in expected)))
    for reason in sorted(reasons):
        say(f"what they were shown: \"{reason}\"", 1)
