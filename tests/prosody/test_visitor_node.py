"""A Jitsi visitor node: a second real Prosody that receives the main deployment's participants
over s2s, the way Jitsi's mod_visitors (main) and mod_fmuc (visitor node) do it.

The main Prosody (localhost) mirrors every occupant of its rooms into the room of the same name
on conference.v1.localhost, from the occupant's own JID (tests/prosody/modules/
mod_test_visitors.lua); the visitor node makes its local occupants visitors (role "visitor",
presences not broadcast, as Jitsi configures the node) and destroys a room for everyone once no
main participant is left in it (mod_test_vnode.lua, as mod_fmuc does). s2s runs with dialback
and s2s_bidi, as Jitsi's visitor setups enable it. Both run mod_joingate against one service.
Visitors connect to the node from their own addresses and are judged by them; the main
participants were judged by the main deployment and are left alone on the node.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from joingate.testing.geodb import address, forwarded_address
from joingate.testing.prosody import DOMAIN, MUC_DOMAIN, ProsodyServer
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import QUIET_WATCH, Participant, PresenceInfo, assert_stay
from tests.prosody import PLUGIN_PATHS
from tests.prosody.conftest import Crowd

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

VNODE = "v1.localhost"
VNODE_MUC = f"conference.{VNODE}"
ELSEWHERE = "evil.example"  # an unrelated XMPP server whose users can reach the node over s2s


class Deployment:
    """The main Prosody, its visitor node and an unrelated server, all s2s-connected."""

    def __init__(self, workdir: Path, service: JoingateService, *,
                 vnode_options: dict[str, Any]) -> None:
        gate = {"joingate_url": service.url, "joingate_token": service.plugin_token,
                "joingate_poll_wait": 2, "joingate_census_interval": 1}
        self.main = ProsodyServer(workdir / "main", joingate=gate, muc_modules=["test_visitors"],
                                  muc_options={"test_visitor_muc": VNODE_MUC},
                                  plugin_paths=PLUGIN_PATHS)
        # Jitsi's visitor MUC: visitors' presences are not broadcast (mod_fmuc's config).
        broadcast = {"visitor": False, "participant": True, "moderator": True}
        self.vnode = ProsodyServer(workdir / "vnode", joingate=gate, domain=VNODE,
                                   muc_modules=["test_vnode"],
                                   muc_options={"muc_room_default_presence_broadcast": broadcast,
                                                **vnode_options},
                                   plugin_paths=PLUGIN_PATHS)
        self.elsewhere = ProsodyServer(workdir / "elsewhere", joingate={}, load_plugin=False,
                                       domain=ELSEWHERE, plugin_paths=PLUGIN_PATHS)
        to_main = {host: self.main.s2s_port for host in (DOMAIN, MUC_DOMAIN)}
        to_vnode = {host: self.vnode.s2s_port for host in (VNODE, VNODE_MUC)}
        self.main.s2s_routes = to_vnode
        self.elsewhere.s2s_routes = to_vnode
        self.vnode.s2s_routes = {**to_main, f"auth.{ELSEWHERE}": self.elsewhere.s2s_port}
        self.servers = (self.main, self.vnode, self.elsewhere)

    def start(self) -> None:
        for server in self.servers:
            server.start()
        self.main.wait_for_log("joingate enforcement feed connected")
        self.vnode.wait_for_log("joingate enforcement feed connected")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def deployment(tmp_path: Path, service: JoingateService) -> Iterator[Deployment]:
    # Jitsi's visitor-node config sets main_domain (mod_fmuc requires it): nothing else needed.
    d = Deployment(tmp_path, service, vnode_options={"main_domain": DOMAIN})
    d.start()
    yield d
    d.stop()


def in_node_room(room: str, nick: str) -> str:
    return f"{room}@{VNODE_MUC}/{nick}"


async def sees_present(observer: Participant, room: str, nick: str) -> PresenceInfo:
    return await observer.presences.wait_for(
        lambda i: i.frm == in_node_room(room, nick) and i.type is None)


async def census_of(service: JoingateService, room: str, want: dict[str, int]) -> dict[str, Any]:
    """The merged census once `room` has the counts `want` (both Prosodies report every 1 s)."""
    deadline = time.monotonic() + 15
    census: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, census = service.api("GET", "/v1/census")
        assert status == 200
        if census["rooms"].get(room) == want and len(census["sources"]) == 2:
            return census
        await asyncio.sleep(0.2)
    raise AssertionError(f"census never showed {room}: {want}: {census}")


async def test_visitors_are_gated_and_main_participants_left_alone(
        service: JoingateService, deployment: Deployment, crowd: Crowd) -> None:
    main, vnode = deployment.main, deployment.vnode
    # Two main participants, placed in the US by the main deployment's gate.
    a, b = await crowd.connect(main, address("US", 150), address("US", 151))
    for p in (a, b):
        assert (await p.join("vigil")).joined
    # Visitors on the node: the room holds the mirrored main participants.
    us_visitor, cn_visitor = await crowd.connect(vnode, address("US", 152), address("CN", 152))
    joined = await us_visitor.join("vigil")
    assert joined.joined and joined.presence.role == "visitor"
    for p in (a, b):
        await sees_present(us_visitor, "vigil", p.nick)
    assert (await cn_visitor.join("vigil")).joined

    # A restriction starts: the CN visitor is swept by their own address; nobody else leaves
    # the node's room (a removed main participant would end the meeting for every visitor),
    # and nobody leaves the main room.
    node_mark = us_visitor.presences.mark()
    status, _ = service.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                                         "reason": "order"})
    assert status == 201
    removed = await cn_visitor.wait_removed("vigil")
    assert "307" in removed.statuses

    async def nobody_else_leaves_the_node_room() -> None:
        with pytest.raises(TimeoutError):
            await us_visitor.presences.wait_for(
                lambda i: i.type == "unavailable" and i.nick != cn_visitor.nick,
                timeout=QUIET_WATCH, start=node_mark)

    await asyncio.gather(nobody_else_leaves_the_node_room(),
                         assert_stay([a, b, us_visitor], "vigil"))

    # The door: a CN visitor is refused with the country text, a US visitor enters, and a
    # main participant who joins now (the main deployment let them in) is mirrored in.
    cn_late, us_late = await crowd.connect(vnode, address("CN", 153), address("US", 153))
    refused = await cn_late.join("vigil")
    assert not refused.joined
    assert refused.presence.error_condition == "not-allowed"
    assert "CN" in (refused.error_text or "")
    assert (await us_late.join("vigil")).joined
    # Visitors normally come through the web proxy (Jitsi's nginx sends /xmpp-websocket?vnode=v1
    # to the node): judged by the X-Forwarded-For address the proxy passes.
    cn_web = await crowd.websocket(vnode, "127.0.0.2", forwarded_for=forwarded_address("CN", 155))
    us_web = await crowd.websocket(vnode, "127.0.0.2", forwarded_for=forwarded_address("US", 155))
    refused = await cn_web.join("vigil")
    assert not refused.joined and "CN" in (refused.error_text or "")
    assert (await us_web.join("vigil")).joined
    (c,) = await crowd.connect(main, address("US", 154))
    assert (await c.join("vigil")).joined
    await sees_present(us_visitor, "vigil", c.nick)

    node_log = "\n".join(vnode.plugin_log_lines())
    assert node_log.count("Removed a participant from vigil") == 1, node_log
    assert node_log.count("Join to vigil refused") == 2, node_log
    assert "visitor node of localhost" in node_log

    # The census counts each person once: main participants by the main deployment, the
    # visitors by the node (never the mirrored copies as unplaced).
    census = await census_of(service, "vigil", {"US": 6})
    assert sorted(s["source"] for s in census["sources"]) == [MUC_DOMAIN, VNODE_MUC]

    # The stand-in does end the meeting once the main room empties, so the watch above could
    # have failed: the node destroys its room for every visitor.
    for p in (a, b, c):
        p.leave("vigil")
    ended = await us_visitor.wait_removed("vigil")
    assert ended.type == "unavailable"
    assert vnode.log().count(f"No main participant left in vigil@{VNODE_MUC}") == 1


async def test_remote_service_accounts_are_not_exempt_on_the_node(
        service: JoingateService, deployment: Deployment, crowd: Crowd) -> None:
    vnode, elsewhere = deployment.vnode, deployment.elsewhere
    service.cli("restrict", "add", "--room", "vigil", "--country", "CN", "--reason", "order")
    await vnode.until_log("1 restricted")
    # focus@auth.evil.example matches the default pattern focus@auth.*, but its host is not
    # one of the node's, nor the main deployment's: it is an ordinary participant without a
    # client address here, so joingate_unlocated ("restricted") decides.
    remote_focus = await crowd.account(elsewhere, address("US", 160), f"focus@auth.{ELSEWHERE}",
                                       muc_domain=VNODE_MUC)
    refused = await remote_focus.join("vigil")
    assert not refused.joined
    assert "could not be located" in (refused.error_text or "")
    # The node's own focus is exempt from any address.
    local_focus = await crowd.account(vnode, address("CN", 160), f"focus@auth.{VNODE}")
    assert (await local_focus.join("vigil")).joined

    # In a meeting that becomes restricted, the remote account is swept like anyone unlocated
    # (a main participant is there, so the node keeps the room).
    (a,) = await crowd.connect(deployment.main, address("US", 161))
    assert (await a.join("later")).joined
    assert (await local_focus.join("later")).joined
    await sees_present(local_focus, "later", a.nick)
    assert (await remote_focus.join("later")).joined
    service.api("POST", "/v1/restrictions", {"rooms": ["later"], "countries": ["CN"],
                                             "reason": "order"})
    removed = await remote_focus.wait_removed("later")
    assert "307" in removed.statuses
    await assert_stay([local_focus, a], "later")


async def test_without_main_domain_mirrored_participants_are_unlocated(
        tmp_path: Path, service: JoingateService, crowd: Crowd) -> None:
    # What the issue found on docker-jitsi-meet before: a node that does not know its main
    # deployment judges the mirrored main participants as unlocated and refuses them in a
    # restricted meeting. main_domain (set by Jitsi's visitor-node configs) is what tells it;
    # a pattern is not a domain, and is refused loudly.
    d = Deployment(tmp_path, service, vnode_options={"joingate_main_domains": ["*.localhost"]})
    d.start()
    try:
        errors = [line for line in d.vnode.plugin_log_lines() if "\terror\t" in line]
        assert any("not domain names: *.localhost" in line for line in errors), errors
        service.cli("restrict", "add", "--room", "vigil", "--country", "CN", "--reason", "order")
        await d.vnode.until_log("1 restricted")
        (a,) = await crowd.connect(d.main, address("US", 170))
        assert (await a.join("vigil")).joined
        await d.vnode.until_log("Join to vigil refused without an answer from joingate")
        assert "visitor node of" not in "\n".join(d.vnode.plugin_log_lines())
    finally:
        d.stop()
