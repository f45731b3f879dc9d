"""A lobby (Jitsi's lobby.<domain>) is its main meeting's door: covered people are refused at
the knock, and people waiting there are swept with the meeting.

Lobbies are made by tests/prosody/modules/mod_test_lobby_rooms.lua the way Jitsi's
mod_muc_lobby_rooms makes them: a members-only main room gets NODE@lobby.localhost with
`main_room_jid` set, and non-members are sent there with registration-required.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import MUC_DOMAIN, ProsodyServer
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import Participant, assert_stay
from tests.prosody.conftest import Crowd, ProsodyFactory
from tests.prosody.jitsi_rooms import (
    Invites,
    admit,
    enable_lobby,
    feeds_connected,
    lobby_of,
    on_every_component,
)
from tests.prosody.test_removal import REASON, restrict

pytestmark = [pytest.mark.prosody, pytest.mark.integration]


@pytest.fixture
async def jitsi(service: JoingateService, make_prosody: ProsodyFactory) -> ProsodyServer:
    server = make_prosody(service.url, service.plugin_token, jitsi_rooms=True, census_interval=1)
    await feeds_connected(server)
    return server


async def meeting_with_lobby(moderator: Participant, room: str) -> str:
    """`moderator` opens `room`, turns its lobby on and watches the lobby, as Jitsi's
    moderators do."""
    assert (await moderator.join(room)).joined
    await enable_lobby(moderator, room)
    assert (await moderator.join(lobby_of(room))).joined
    return lobby_of(room)


async def knock(p: Participant, room: str) -> None:
    """The main room sends a non-member to its lobby."""
    sent = await p.join(room)
    assert not sent.joined and sent.presence.error_condition == "registration-required", sent


async def test_covered_knock_is_refused_and_moderators_never_see_it(
        service: JoingateService, jitsi: ProsodyServer, crowd: Crowd) -> None:
    mark = jitsi.log_mark()
    restrict(service, ["council", "plaza"], ["CN"])
    await on_every_component(jitsi, "2 restricted", after=mark)
    mod, cn, us = await crowd.connect(jitsi, address("US", 190), address("CN", 190),
                                      address("US", 191))
    lobby = await meeting_with_lobby(mod, "council")

    await knock(cn, "council")
    at_lobby = await cn.join(lobby)
    assert not at_lobby.joined
    assert (at_lobby.presence.error_type, at_lobby.presence.error_condition) == \
        ("cancel", "not-allowed")
    at_plaza = await cn.join("plaza")  # the same restriction, a meeting without a lobby
    assert not at_plaza.joined and at_lobby.error_text == at_plaza.error_text
    assert "CN" in (at_lobby.error_text or "")
    with pytest.raises(TimeoutError):
        await mod.presences.wait_for(lambda i: i.frm == f"{lobby}/{cn.nick}", 2.0)

    # An allowed person knocks, is seen, admitted, and joins.
    invites = Invites(us)
    await knock(us, "council")
    assert (await us.join(lobby)).joined
    await mod.presences.wait_for(lambda i: i.frm == f"{lobby}/{us.nick}" and i.type is None)
    admit(mod, "council", us)
    await invites.wait("council")
    assert (await us.join("council")).joined
    us.leave(lobby)
    await us.left(lobby)


async def test_people_waiting_in_a_lobby_are_swept_with_the_meeting(
        service: JoingateService, jitsi: ProsodyServer, crowd: Crowd) -> None:
    mod, cn, us = await crowd.connect(jitsi, address("US", 200), address("CN", 200),
                                      address("US", 201))
    lobby = await meeting_with_lobby(mod, "council")
    for p in (cn, us):
        await knock(p, "council")
        assert (await p.join(lobby)).joined

    # People waiting in a lobby are not in the meeting: the census counts the moderator only.
    # The lobby and breakout components, with nobody to count, never report.
    expected = {"council": {"US": 1}}
    deadline = time.monotonic() + 15
    census: dict[str, Any] = {}
    while time.monotonic() < deadline:
        census = service.api("GET", "/v1/census")[1]
        if census["rooms"] == expected:
            break
        await asyncio.sleep(0.2)
    assert census["rooms"] == expected, census
    watch_until = time.monotonic() + 2.0  # two more rounds of reports (every second)
    while time.monotonic() < watch_until:
        census = service.api("GET", "/v1/census")[1]
        assert census["rooms"] == expected
        assert [s["source"] for s in census["sources"]] == [MUC_DOMAIN]
        await asyncio.sleep(0.2)

    restrict(service, ["council"], ["CN"])
    removed = await cn.wait_removed(lobby)
    assert {"307", "110"} <= removed.statuses and removed.reason == REASON
    await asyncio.gather(assert_stay([us], lobby),
                         assert_stay([mod], lobby),
                         assert_stay([mod], "council"))
    assert not (await cn.join(lobby)).joined



async def test_lobby_swapped_out_of_memory_is_still_its_meeting(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # A lobby Prosody swapped out to storage comes back without Jitsi's in-memory main_room_jid;
    # the main room's _data.lobbyroom still links it. Every component keeps 2 rooms in memory,
    # so of 3 lobbies at least one is out of memory when the restriction comes.
    server = make_prosody(service.url, service.plugin_token, jitsi_rooms=True,
                          muc_options={"muc_room_cache_size": 2})
    await feeds_connected(server)
    meetings = ["council", "picnic", "fair"]
    mods = await crowd.connect(server, *(address("US", 220 + i) for i in range(3)))
    waiting = await crowd.connect(server, *(address("CN", 220 + i) for i in range(3)))
    (us,) = await crowd.connect(server, address("US", 230))
    lobbies = [await meeting_with_lobby(mod, m) for mod, m in zip(mods, meetings, strict=True)]
    for p, meeting, lobby in zip(waiting, meetings, lobbies, strict=True):
        await knock(p, meeting)
        assert (await p.join(lobby)).joined
    await knock(us, "council")
    assert (await us.join(lobbies[0])).joined

    mark = server.log_mark()
    restrict(service, meetings, ["CN"])
    removed = await asyncio.gather(*(p.wait_removed(lobby)
                                     for p, lobby in zip(waiting, lobbies, strict=True)))
    assert all(r.reason == REASON for r in removed)
    assert "@lobby.localhost from storage" in server.log()[mark:]
    await assert_stay([us], lobbies[0])


async def test_a_lobby_room_nobody_linked_is_no_way_in(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # With room creation open on the lobby component, anyone can make NODE@lobby directly. A
    # room no meeting links is no meeting's door: refused for everyone, never gated as a meeting
    # of its own (which no restriction would name).
    server = make_prosody(service.url, service.plugin_token, jitsi_rooms=True,
                          muc_options={"restrict_room_creation": False})
    await feeds_connected(server)
    mark = server.log_mark()
    restrict(service, ["council"], ["CN"])
    await on_every_component(server, "1 restricted", after=mark)
    mod, cn, us = await crowd.connect(server, address("US", 200), address("CN", 200),
                                      address("US", 201))
    assert (await mod.join("council")).joined  # a meeting without a lobby
    for p in (cn, us):
        made = await p.join(lobby_of("council"))
        assert not made.joined and made.presence.error_condition == "not-allowed", made
        assert "does not belong to a meeting" in (made.error_text or ""), made
    assert not (await cn.join("council")).joined
