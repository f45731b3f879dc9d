"""Room names through a real Prosody: a restriction made on the name people see ("Café Vigil")
gates the room node Jitsi's client makes from it (caf%c3%a9%20vigil), joins and mid-meeting
sweep alike; a tenant's [tenant]room is tenant/room, and tenant\\2froom is another room."""

from __future__ import annotations

import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import ProsodyServer
from joingate.testing.service import JoingateService
from tests.prosody.conftest import Crowd

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

VIGIL = "caf%c3%a9%20vigil"  # encodeURIComponent("café vigil"), as Jitsi's client makes it


async def restrict(service: JoingateService, prosody: ProsodyServer, rooms: list[str],
                   restricted: int) -> None:
    """Make a CN restriction and wait until the plugin's feed has it (unrestricted meetings are
    admitted early, so a join before that would race the feed)."""
    mark = prosody.log_mark()
    status, made = service.api("POST", "/v1/restrictions", {
        "rooms": rooms, "countries": ["CN"], "reason": "operator policy"})
    assert status == 201, made
    await prosody.until_log(f"{restricted} restricted", after=mark)


async def test_a_restriction_on_the_name_people_see_gates_jitsis_room_node(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    cn_early, cn, us = await crowd.connect(prosody, address("CN", 20), address("CN", 21),
                                           address("US", 20))
    assert (await cn_early.join(VIGIL)).joined   # in the meeting before any restriction

    await restrict(service, prosody, ["Café Vigil"], 1)
    removed = await cn_early.wait_removed(VIGIL)
    assert "307" in removed.statuses
    refused = await cn.join(VIGIL)
    assert not refused.joined and "CN" in (refused.error_text or "")
    assert not (await cn.join("CAF%C3%A9%20Vigil")).joined   # Prosody lower-cases the node
    assert (await us.join(VIGIL)).joined
    # Other meetings: another node, and a room no Jitsi client makes (plain UTF-8 node).
    assert (await cn.join("caf%c3%a9")).joined
    assert (await cn.join("café%20vigil")).joined


async def test_tenant_forms(service: JoingateService, prosody: ProsodyServer,
                            crowd: Crowd) -> None:
    # A restriction on the node Jitsi's domain mapper makes, [tenant]room.
    await restrict(service, prosody, ["[acme]room1"], 1)
    # tenant\2froom is a name Jitsi never produces: refused, nothing written.
    status, body = service.api("POST", "/v1/restrictions", {
        "rooms": ["acme\\2froom2"], "countries": ["CN"], "reason": "operator policy"})
    assert status == 400 and body["error"]["field"] == "rooms", body
    # And one on tenant/room, as in the meeting address, with the room as people see it.
    await restrict(service, prosody, ["acme/Room 2"], 2)

    cn, us = await crowd.connect(prosody, address("CN", 22), address("US", 22))
    assert not (await cn.join("[acme]room1")).joined
    assert not (await cn.join("[ACME]Room1")).joined
    assert not (await cn.join("[acme]room%202")).joined
    assert (await us.join("[acme]room1")).joined
    # Another room, not the tenant's meeting: the same characters as an XMPP escape, the room
    # name without the tenant, and another tenant.
    assert (await cn.join("acme\\2froom1")).joined
    assert (await cn.join("room1")).joined
    assert (await cn.join("[other]room1")).joined
