"""Breakout rooms count as their main meeting: gated, swept and counted under its name.

The rooms are made and linked by tests/prosody/modules/mod_test_breakout_rooms.lua the way
Jitsi's mod_muc_breakout_rooms makes them: <uuid>@breakout.localhost, linked only through the
main room's _data.breakout_rooms. Jicofo's focus (exempt) creates each breakout room, as the
component restricts room creation to its admins.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import (
    AUTH_DOMAIN,
    BREAKOUT_DOMAIN,
    MUC_DOMAIN,
    ProsodyServer,
)
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import Participant, assert_stay
from tests.prosody.conftest import Crowd, ProsodyFactory
from tests.prosody.jitsi_rooms import BreakoutRooms, feeds_connected, on_every_component
from tests.prosody.test_removal import REASON, restrict

pytestmark = [pytest.mark.prosody, pytest.mark.integration]


@pytest.fixture
async def jitsi(service: JoingateService, make_prosody: ProsodyFactory) -> ProsodyServer:
    # One census name for the whole Prosody (a shard), as an operator sets it in the global
    # section: each component still reports on its own.
    server = make_prosody(service.url, service.plugin_token, jitsi_rooms=True, census_interval=1,
                          census_source="shard1")
    await feeds_connected(server)
    return server


async def breakout_room(crowd: Crowd, server: ProsodyServer, moderator: Participant, main: str,
                        subject: str, focus_host: int) -> str:
    """A breakout room of `main`, asked for by its moderator and opened by focus."""
    jid = await BreakoutRooms(moderator).add(main, subject)
    assert jid.endswith(f"@{BREAKOUT_DOMAIN}"), jid
    focus = await crowd.account(server, address("US", focus_host), f"focus@{AUTH_DOMAIN}")
    assert (await focus.join(jid)).joined
    return jid


async def test_restriction_on_the_main_meeting_sweeps_its_breakout_rooms(
        service: JoingateService, jitsi: ProsodyServer, crowd: Crowd) -> None:
    mod, hk, cn_out, us_out, other_mod, cn_other = await crowd.connect(
        jitsi, address("US", 150), address("HK", 150), address("CN", 150), address("US", 151),
        address("US", 152), address("CN", 151))
    for p in (mod, hk):
        assert (await p.join("council")).joined
    room = await breakout_room(crowd, jitsi, mod, "council", "Group 1", 153)
    for p in (cn_out, us_out):
        assert (await p.join(room)).joined, p.source_ip
    # Another meeting's breakout room, with a CN participant the restriction does not name.
    assert (await other_mod.join("picnic")).joined
    other_room = await breakout_room(crowd, jitsi, other_mod, "picnic", "Tables", 154)
    assert (await cn_other.join(other_room)).joined

    t0 = time.monotonic()
    restrict(service, ["council"], ["CN"])
    removed = await cn_out.wait_removed(room)
    assert {"307", "110"} <= removed.statuses and removed.reason == REASON
    assert removed.received_at - t0 < 5
    # Nobody else: the US participant in the breakout room, the main room, the other meeting.
    await asyncio.gather(assert_stay([us_out], room),
                         assert_stay([mod], "council"),
                         assert_stay([hk], "council"),
                         assert_stay([cn_other], other_room))


async def test_breakout_door_refuses_with_the_country_text(
        service: JoingateService, jitsi: ProsodyServer, crowd: Crowd) -> None:
    mark = jitsi.log_mark()
    restrict(service, ["council"], ["CN"])
    await on_every_component(jitsi, "1 restricted", after=mark)
    mod, cn_main, cn_door, us = await crowd.connect(
        jitsi, address("US", 160), address("CN", 160), address("CN", 161), address("US", 161))
    assert (await mod.join("council")).joined
    at_main = await cn_main.join("council")
    room = await breakout_room(crowd, jitsi, mod, "council", "Group 1", 162)

    at_breakout = await cn_door.join(room)
    assert not at_breakout.joined
    assert (at_breakout.presence.error_type, at_breakout.presence.error_condition) == \
        ("cancel", "not-allowed")
    assert not at_main.joined and at_breakout.error_text == at_main.error_text
    assert at_breakout.error_text is not None and "CN" in at_breakout.error_text
    assert (await us.join(room)).joined


async def test_removed_from_the_main_room_cannot_come_back_through_a_breakout_room(
        service: JoingateService, jitsi: ProsodyServer, crowd: Crowd) -> None:
    mod, cn = await crowd.connect(jitsi, address("US", 170), address("CN", 170))
    for p in (mod, cn):
        assert (await p.join("council")).joined
    # Every occupant is told every breakout room's JID, as Jitsi's module tells them.
    room = await breakout_room(crowd, jitsi, mod, "council", "Group 1", 171)

    restrict(service, ["council"], ["CN"])
    await cn.wait_removed("council")
    back = await cn.join(room)
    assert not back.joined and back.presence.error_condition == "not-allowed"
    assert "CN" in (back.error_text or "")
    assert not (await cn.join("council")).joined


async def test_census_counts_breakout_occupants_under_the_main_meeting(
        service: JoingateService, jitsi: ProsodyServer, crowd: Crowd) -> None:
    mod, cn_main, cn_out, us_out, hk_out = await crowd.connect(
        jitsi, address("US", 180), address("CN", 180), address("CN", 181), address("US", 181),
        address("HK", 180))
    for p in (mod, cn_main):
        assert (await p.join("council")).joined
    first = await breakout_room(crowd, jitsi, mod, "council", "Group 1", 182)
    second = await breakout_room(crowd, jitsi, mod, "council", "Group 2", 183)
    for p, room in ((cn_out, first), (us_out, first), (hk_out, second)):
        assert (await p.join(room)).joined

    # Focus (exempt) is in both breakout rooms and counts nowhere.
    census = await census_reaches(service, {"council": {"CN": 2, "HK": 1, "US": 2}})
    # The lobby component, with nobody to count, never reports.
    assert sorted(s["source"] for s in census["sources"]) == [
        f"shard1/{BREAKOUT_DOMAIN}", f"shard1/{MUC_DOMAIN}"]
    assert not any(BREAKOUT_DOMAIN in room for room in census["rooms"])

    # Everyone leaves the breakout rooms (focus stays): the breakout component's last report
    # clears its counts.
    for p in (cn_out, us_out, hk_out):
        await p.disconnect()
    await census_reaches(service, {"council": {"CN": 1, "US": 1}})


async def census_reaches(service: JoingateService, expected: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    census: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, census = service.api("GET", "/v1/census")
        assert status == 200
        if census["rooms"] == expected:
            return census
        await asyncio.sleep(0.2)  # each component reports every second
    raise AssertionError(f"census never reached {expected}: {census}")



async def test_sweep_reaches_rooms_prosody_swapped_out_of_memory(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # Prosody keeps at most muc_room_cache_size rooms per component in memory (100 by default)
    # and swaps the least recently used out to storage, occupants and all, bringing it back on
    # its next stanza. Here every component keeps 2: of 3 meetings and 4 breakout rooms, each
    # with a CN participant, some are out of memory when the restriction comes, whichever.
    server = make_prosody(service.url, service.plugin_token, jitsi_rooms=True,
                          muc_options={"muc_room_cache_size": 2})
    await feeds_connected(server)
    meetings = ["council", "picnic", "fair"]
    mods = await crowd.connect(server, *(address("US", 210 + i) for i in range(3)))
    cn_main = await crowd.connect(server, *(address("CN", 210 + i) for i in range(3)))
    for meeting, mod, cn in zip(meetings, mods, cn_main, strict=True):
        assert (await mod.join(meeting)).joined
        assert (await cn.join(meeting)).joined
    cn_out = await crowd.connect(server, *(address("CN", 220 + i) for i in range(4)))
    (us_out,) = await crowd.connect(server, address("US", 220))
    rooms = []
    for i, cn in enumerate(cn_out):
        room = await breakout_room(crowd, server, mods[0], "council", f"Group {i}", 230 + i)
        assert (await cn.join(room)).joined
        rooms.append(room)
    assert (await us_out.join(rooms[0])).joined

    mark = server.log_mark()
    restrict(service, meetings, ["CN"])
    await asyncio.gather(*(cn.wait_removed(room) for cn, room in zip(cn_out, rooms, strict=True)),
                         *(cn.wait_removed(m) for cn, m in zip(cn_main, meetings, strict=True)))
    assert "Restoring room" in server.log()[mark:]  # the sweep did meet swapped-out rooms
    await asyncio.gather(assert_stay([us_out], rooms[0]),
                         *(assert_stay([mod], m) for mod, m in zip(mods, meetings, strict=True)))


async def test_breakout_rooms_found_after_a_reload_while_main_rooms_are_out_of_memory(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # A reloaded module (as after a configuration change) knows no breakout room yet; the main
    # rooms that link them may be out of memory then (2 per component here, 3 meetings).
    server = make_prosody(service.url, service.plugin_token, jitsi_rooms=True,
                          muc_options={"muc_room_cache_size": 2})
    await feeds_connected(server)
    meetings = ["council", "picnic", "fair"]
    mods = await crowd.connect(server, *(address("US", 240 + i) for i in range(3)))
    cn_out = await crowd.connect(server, *(address("CN", 240 + i) for i in range(3)))
    rooms = []
    for i, (meeting, mod, cn) in enumerate(zip(meetings, mods, cn_out, strict=True)):
        assert (await mod.join(meeting)).joined
        room = await breakout_room(crowd, server, mod, meeting, "Tables", 243 + i)
        assert (await cn.join(room)).joined
        rooms.append(room)

    mark = server.log_mark()
    server.shell(f"module:reload('joingate', '{BREAKOUT_DOMAIN}')")
    await server.until_log(f"{BREAKOUT_DOMAIN}:joingate\tinfo\tjoingate enforcement feed connected",
                           after=mark)
    restrict(service, meetings, ["CN"])
    await asyncio.gather(*(cn.wait_removed(room) for cn, room in zip(cn_out, rooms, strict=True)))
    await asyncio.gather(*(assert_stay([mod], m) for mod, m in zip(mods, meetings, strict=True)))
