"""What a Jitsi client does with breakout rooms and lobbies, against the test stand-ins in
tests/prosody/modules (mod_test_breakout_rooms, mod_test_lobby_rooms)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import xml.etree.ElementTree as ET

from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from joingate.testing.prosody import BREAKOUT_DOMAIN, LOBBY_DOMAIN, MUC_DOMAIN, ProsodyServer
from joingate.testing.xmpp import DEFAULT_TIMEOUT, NS_MUC_USER, Participant, room_jid

NS_JITMEET = "http://jitsi.org/jitmeet"
NS_CLIENT = "jabber:client"
GATED_HOSTS = (MUC_DOMAIN, BREAKOUT_DOMAIN, LOBBY_DOMAIN)


async def on_every_component(server: ProsodyServer, text: str, after: int = 0,
                             timeout: float = 15.0) -> None:
    """Wait until the gate on each of the three components has logged `text` (each component
    runs its own gate and enforcement feed)."""
    deadline = time.monotonic() + timeout
    pending = set(GATED_HOSTS)
    while pending:
        log = server.log()[after:]
        pending = {h for h in pending if not re.search(
            rf"^.*\b{re.escape(h)}:joingate\s.*{re.escape(text)}", log, re.M)}
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged on {sorted(pending)}:\n{server.output()}")
        await asyncio.sleep(0.05)


async def feeds_connected(server: ProsodyServer) -> None:
    await on_every_component(server, "joingate enforcement feed connected")


class BreakoutRooms:
    """The breakout rooms the breakout component announced to one participant, by subject."""

    def __init__(self, p: Participant) -> None:
        self.p = p
        self.rooms: dict[str, str] = {}
        self._changed = asyncio.Event()
        p.client.register_handler(Callback("breakout rooms", StanzaPath("message"),
                                           self._on_message))

    def _on_message(self, msg: StanzaBase) -> None:
        payload = msg.xml.find(f"{{{NS_JITMEET}}}json-message")
        if payload is None or str(msg["from"]) != BREAKOUT_DOMAIN:
            return
        rooms = json.loads(payload.text or "{}").get("rooms") or []
        if isinstance(rooms, dict):  # Lua's JSON writes an empty list as {}
            rooms = list(rooms.values())
        self.rooms = {r["name"]: r["jid"] for r in rooms}
        self._changed.set()

    async def room(self, subject: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        async def find() -> str:
            while subject not in self.rooms:
                self._changed.clear()
                await self._changed.wait()
            return self.rooms[subject]
        return await asyncio.wait_for(find(), timeout)

    async def add(self, main_room: str, subject: str) -> str:
        """Ask for a breakout room of `main_room` (as its moderator) and return its JID."""
        msg = self.p.client.make_message(mto=BREAKOUT_DOMAIN)
        msg.xml.append(ET.Element(f"{{{NS_CLIENT}}}breakout_rooms", {
            "type": "add", "room": room_jid(main_room), "subject": subject}))
        msg.send()
        return await self.room(subject)


async def enable_lobby(moderator: Participant, room: str) -> None:
    """Make `room` members-only through the room configuration form, as Jitsi's client does
    when a moderator turns the lobby on."""
    iq = moderator.client.make_iq_set(ito=room_jid(room))
    query = ET.SubElement(iq.xml, "{http://jabber.org/protocol/muc#owner}query")
    form = ET.SubElement(query, "{jabber:x:data}x", {"type": "submit"})
    for var, value in (("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig"),
                       ("muc#roomconfig_membersonly", "1")):
        field = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
        ET.SubElement(field, "{jabber:x:data}value").text = value
    await iq.send(timeout=DEFAULT_TIMEOUT)


def admit(moderator: Participant, room: str, knocker: Participant) -> None:
    """Let `knocker` in as Jitsi's client does: a mediated invite to the members-only room
    (Prosody then makes the invitee a member and forwards the invite)."""
    msg = moderator.client.make_message(mto=room_jid(room))
    x = ET.SubElement(msg.xml, f"{{{NS_MUC_USER}}}x")
    ET.SubElement(x, f"{{{NS_MUC_USER}}}invite", {"to": knocker.jid})
    msg.send()


class Invites:
    """MUC invites one participant received, by room JID."""

    def __init__(self, p: Participant) -> None:
        self.rooms: set[str] = set()
        self._changed = asyncio.Event()
        p.client.register_handler(Callback("invites", StanzaPath("message"), self._on_message))

    def _on_message(self, msg: StanzaBase) -> None:
        x = msg.xml.find(f"{{{NS_MUC_USER}}}x")
        if x is not None and x.find(f"{{{NS_MUC_USER}}}invite") is not None:
            self.rooms.add(str(msg["from"]).split("/")[0])
            self._changed.set()

    async def wait(self, room: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        async def find() -> None:
            while room_jid(room) not in self.rooms:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(find(), timeout)


def lobby_of(room: str) -> str:
    return f"{room}@{LOBBY_DOMAIN}"
