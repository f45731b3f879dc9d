"""Real XMPP participants for the Prosody tests.

`Participant` is a slixmpp client whose TCP socket is bound to a chosen 127.0.x.y source address,
so Prosody sees that address as session.ip. `BoshParticipant` speaks BOSH (XEP-0124/0206) over
plain HTTP with aiohttp, which lets a test send X-Forwarded-For as a web proxy would.
Both log in anonymously and join rooms with a plain MUC presence; tests wait on stanzas with
timeouts, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import slixmpp
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from .prosody import BOT_DOMAIN, BOT_SECRET, DOMAIN, MUC_DOMAIN

NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_CLIENT = "jabber:client"
DEFAULT_TIMEOUT = 10.0
# How long a check that something does NOT happen ("nobody else removed") watches: long
# enough for the plugin's removals, which take well under a second, to have arrived.
QUIET_WATCH = 2.0


@dataclass(frozen=True)
class PresenceInfo:
    """What a test needs from one presence stanza, parsed once."""

    frm: str
    type: str | None
    statuses: frozenset[str]
    reason: str | None
    affiliation: str | None
    role: str | None
    error_type: str | None
    error_condition: str | None
    error_text: str | None
    received_at: float = field(compare=False)

    @property
    def nick(self) -> str:
        return self.frm.split("/", 1)[1] if "/" in self.frm else ""

    @property
    def room(self) -> str:
        return self.frm.split("/", 1)[0]


def parse_presence(xml: ET.Element) -> PresenceInfo:
    statuses: set[str] = set()
    reason = affiliation = role = None
    for x in xml.findall(f"{{{NS_MUC_USER}}}x"):
        for status in x.findall(f"{{{NS_MUC_USER}}}status"):
            statuses.add(status.get("code", ""))
        item = x.find(f"{{{NS_MUC_USER}}}item")
        if item is not None:
            affiliation, role = item.get("affiliation"), item.get("role")
            r = item.find(f"{{{NS_MUC_USER}}}reason")
            if r is not None:
                reason = r.text
    error_type = error_condition = error_text = None
    error = next((c for c in xml if c.tag == "error" or c.tag.endswith("}error")), None)
    if error is not None:
        error_type = error.get("type")
        for child in error:
            tag = child.tag.split("}", 1)[-1]
            if tag == "text":
                error_text = child.text
            elif child.tag.startswith(f"{{{NS_STANZAS}}}"):
                error_condition = tag
    return PresenceInfo(
        frm=xml.get("from", ""), type=xml.get("type"), statuses=frozenset(statuses),
        reason=reason, affiliation=affiliation, role=role, error_type=error_type,
        error_condition=error_condition, error_text=error_text, received_at=time.monotonic(),
    )


@dataclass(frozen=True)
class JoinResult:
    joined: bool
    presence: PresenceInfo
    seconds: float

    @property
    def error_text(self) -> str | None:
        return self.presence.error_text


def room_jid(room: str, muc_domain: str = MUC_DOMAIN) -> str:
    """A room of `muc_domain` by name, or any room by its full JID."""
    return room if "@" in room else f"{room}@{muc_domain}"


class PresenceLog:
    """Every presence a client received, with a way to wait for one that matches."""

    def __init__(self) -> None:
        self.items: list[PresenceInfo] = []
        self._waiters: list[asyncio.Future[None]] = []

    def add(self, info: PresenceInfo) -> None:
        self.items.append(info)
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def wait_for(self, match: Callable[[PresenceInfo], bool],
                       timeout: float = DEFAULT_TIMEOUT, start: int = 0) -> PresenceInfo:
        async def find() -> PresenceInfo:
            index = start
            while True:
                for info in self.items[index:]:
                    if match(info):
                        return info
                index = len(self.items)
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter
        return await asyncio.wait_for(find(), timeout)

    def mark(self) -> int:
        return len(self.items)


class _BoundClient(slixmpp.ClientXMPP):
    """slixmpp cannot choose a source address; this overrides only its connection step."""

    def __init__(self, source_ip: str, jid: str | None = None, domain: str = DOMAIN) -> None:
        # No username: SASL ANONYMOUS. With a username: PLAIN, any password (test hosts).
        super().__init__(jid or domain, "secret" if jid else "")
        self.plugin["feature_mechanisms"].unencrypted_plain = True  # the test server has no TLS
        self.source_ip = source_ip
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self.presences = PresenceLog()
        self.messages: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.register_handler(Callback("joingate test presences", StanzaPath("presence"),
                                       self._on_presence))
        self.register_handler(Callback("joingate test messages",
                                       StanzaPath("message@type=groupchat"), self._on_groupchat))

    async def _attempt_connection(self, host: str, port: int, tls: bool,
                                  server_hostname: str | None) -> bool:
        self.event_when_connected = "connected"
        if self._current_connection_attempt is None:
            return False
        try:
            await self.loop.create_connection(lambda: self, host, port,
                                              local_addr=(self.source_ip, 0))
        except OSError as e:
            self.event("connection_failed", e)
            return False
        self._connect_loop_wait = 0
        return True

    def _on_presence(self, presence: StanzaBase) -> None:
        self.presences.add(parse_presence(presence.xml))

    def _on_groupchat(self, msg: StanzaBase) -> None:
        self.messages.put_nowait((str(msg["from"]), str(msg["body"])))


_nicks = itertools.count(1)


class _Occupant:
    """What a client participant and a component user share: connecting, waiting to be
    removed, disconnecting."""

    client: Any
    nick: str
    presences: PresenceLog
    muc_domain: str = MUC_DOMAIN

    def room_jid(self, room: str) -> str:
        return room_jid(room, self.muc_domain)

    def _dial(self) -> None:
        raise NotImplementedError

    async def connect(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        started = asyncio.get_running_loop().create_future()

        def on_start(_: object) -> None:
            if not started.done():
                started.set_result(True)

        self.client.add_event_handler("session_start", on_start)
        self._dial()
        await asyncio.wait_for(started, timeout)

    async def wait_removed(self, room: str, timeout: float = DEFAULT_TIMEOUT) -> PresenceInfo:
        """Wait for our own unavailable presence from the room (a kick: 110 and 307)."""
        own = f"{self.room_jid(room)}/{self.nick}"
        return await self.presences.wait_for(
            lambda i: i.frm == own and i.type == "unavailable", timeout)

    async def disconnect(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect(wait=0.5)
            await asyncio.wait_for(self.client.disconnected, 5)
        self.client.abort()


class Participant(_Occupant):
    """One person in a meeting, connecting from `source_ip` to the server of `domain` (an
    anonymous login there unless `jid` names an account) and joining rooms on `muc_domain`
    (default conference.<domain>)."""

    def __init__(self, c2s_port: int, source_ip: str, nick: str | None = None,
                 jid: str | None = None, domain: str = DOMAIN,
                 muc_domain: str | None = None) -> None:
        self.c2s_port = c2s_port
        self.source_ip = source_ip
        self.nick = nick or f"p{next(_nicks)}"
        self.muc_domain = muc_domain or f"conference.{domain}"
        self.client = _BoundClient(source_ip, jid, domain)
        self.presences = self.client.presences
        self.rooms: set[str] = set()
        self._leave_mark = 0

    @property
    def jid(self) -> str:
        return str(self.client.boundjid)

    def _dial(self) -> None:
        self.client.connect(host="127.0.0.1", port=self.c2s_port)

    async def join(self, room: str, timeout: float = DEFAULT_TIMEOUT) -> JoinResult:
        """Send a MUC join and wait for the room's answer: our own presence or an error."""
        occupant = f"{self.room_jid(room)}/{self.nick}"
        mark = self.presences.mark()
        # Prosody answers from the nodeprepped (lower-cased) room address.
        expected = f"{self.room_jid(room).lower()}/{self.nick}"
        t0 = time.monotonic()
        pres = self.client.make_presence(pto=occupant)
        pres.append(ET.Element(f"{{{NS_MUC}}}x"))
        pres.send()

        def answer(info: PresenceInfo) -> bool:
            return info.frm == expected and (info.type == "error" or (
                info.type is None and "110" in info.statuses))

        info = await self.presences.wait_for(answer, timeout, start=mark)
        joined = info.type != "error"
        if joined:
            self.rooms.add(room.lower())
        return JoinResult(joined, info, info.received_at - t0)

    def leave(self, room: str) -> None:
        """Send an unavailable presence to the room; `await left(room)` for its answer."""
        self._leave_mark = self.presences.mark()
        self.client.make_presence(pto=slixmpp.JID(f"{self.room_jid(room)}/{self.nick}"),
                                  ptype="unavailable").send()

    async def left(self, room: str, timeout: float = DEFAULT_TIMEOUT) -> PresenceInfo:
        """Wait until the room confirms the last leave()."""
        own = f"{self.room_jid(room).lower()}/{self.nick}"
        return await self.presences.wait_for(
            lambda i: i.frm == own and i.type == "unavailable", timeout, start=self._leave_mark)

    def say(self, room: str, body: str) -> None:
        self.client.send_message(mto=slixmpp.JID(self.room_jid(room)), mbody=body,
                                 mtype="groupchat")

    async def wait_message(self, room: str, body: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        async def find() -> None:
            while True:
                frm, text = await self.client.messages.get()
                if frm.startswith(self.room_jid(room) + "/") and text == body:
                    return
        await asyncio.wait_for(find(), timeout)



class ComponentUser(_Occupant):
    """A user behind an external component (XEP-0114): Prosody has no client address for them,
    so joingate_unlocated decides."""

    def __init__(self, component_port: int, user: str = "alice") -> None:
        self.client = slixmpp.ComponentXMPP(  # type: ignore[no-untyped-call]
            BOT_DOMAIN, BOT_SECRET, "127.0.0.1", component_port)
        self.jid = f"{user}@{BOT_DOMAIN}/x"
        self.nick = f"c{next(_nicks)}"
        self.presences = PresenceLog()
        self.client.register_handler(Callback("joingate test presences", StanzaPath("presence"),
                                              lambda p: self.presences.add(parse_presence(p.xml))))

    def _dial(self) -> None:
        self.client.connect()

    async def join(self, room: str, timeout: float = DEFAULT_TIMEOUT) -> JoinResult:
        occupant = f"{room_jid(room)}/{self.nick}"
        mark = self.presences.mark()
        t0 = time.monotonic()
        pres = self.client.make_presence(pto=slixmpp.JID(occupant), pfrom=slixmpp.JID(self.jid))
        pres.append(ET.Element(f"{{{NS_MUC}}}x"))
        pres.send()
        info = await self.presences.wait_for(
            lambda i: i.frm == occupant and (i.type == "error" or "110" in i.statuses),
            timeout, start=mark)
        return JoinResult(info.type != "error", info, info.received_at - t0)



async def wait_others_see_removed(observers: list[Participant], room: str, nick: str,
                                  timeout: float = DEFAULT_TIMEOUT) -> list[PresenceInfo]:
    occupant = f"{room_jid(room)}/{nick}"
    return list(await asyncio.gather(*(
        o.presences.wait_for(lambda i: i.frm == occupant and i.type == "unavailable", timeout)
        for o in observers)))


async def assert_stay(people: list[Any], room: str, seconds: float = QUIET_WATCH) -> None:
    """None of `people` (participants or component users) is removed from `room`, or has
    been, while all of them are watched at once for `seconds`."""
    assert seconds >= QUIET_WATCH, f"a negative check watches at least {QUIET_WATCH} s"
    outcomes = await asyncio.gather(*(p.wait_removed(room, seconds) for p in people),
                                    return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, TimeoutError):
            raise outcome
    removed = [p.nick for p, outcome in zip(people, outcomes, strict=True)
               if isinstance(outcome, PresenceInfo)]
    assert removed == [], f"removed from {room}: {removed}"


# --- BOSH -------------------------------------------------------------------------------------

NS_BOSH = "http://jabber.org/protocol/httpbind"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_XBOSH = "urn:xmpp:xbosh"


class BoshParticipant:
    """A minimal BOSH client: enough to log in anonymously and join a room.

    Its TCP connections come from `source_ip`; `forwarded_for`, if given, is sent as the
    X-Forwarded-For header on every request, as a web proxy in front of Prosody would.
    """

    def __init__(self, bosh_url: str, source_ip: str, forwarded_for: str | None = None,
                 nick: str | None = None) -> None:
        self.url = bosh_url
        self.source_ip = source_ip
        self.forwarded_for = forwarded_for
        self.nick = nick or f"b{next(_nicks)}"
        self.rid = 1_000_000
        self.sid: str | None = None
        self.session: aiohttp.ClientSession | None = None

    async def _post(self, children: list[ET.Element], **attrs: str) -> ET.Element:
        assert self.session is not None
        body = ET.Element(f"{{{NS_BOSH}}}body", {"rid": str(self.rid), **attrs})
        self.rid += 1
        if self.sid:
            body.set("sid", self.sid)
        body.extend(children)
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        async with self.session.post(self.url, data=ET.tostring(body), headers=headers) as resp:
            resp.raise_for_status()
            return ET.fromstring(await resp.read())

    async def _until(self, found: Callable[[ET.Element], ET.Element | None],
                     timeout: float = DEFAULT_TIMEOUT) -> ET.Element:
        """Poll with empty bodies until a payload matches."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = await self._post([])
            hit = found(reply)
            if hit is not None:
                return hit
        raise TimeoutError("no matching BOSH payload")

    async def connect(self) -> None:
        connector = aiohttp.TCPConnector(local_addr=(self.source_ip, 0), force_close=True)
        self.session = aiohttp.ClientSession(connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT))
        reply = await self._post([], to=DOMAIN, wait="2", hold="1", ver="1.6",
                                 **{"xml:lang": "en", f"{{{NS_XBOSH}}}version": "1.0"})
        self.sid = reply.get("sid")
        assert self.sid, ET.tostring(reply)
        features = reply.find("{http://etherx.jabber.org/streams}features")
        if features is None:
            features = await self._until(
                lambda r: r.find("{http://etherx.jabber.org/streams}features"))
        auth = ET.Element(f"{{{NS_SASL}}}auth", mechanism="ANONYMOUS")
        reply = await self._post([auth])
        success = reply.find(f"{{{NS_SASL}}}success")
        if success is None:
            success = await self._until(lambda r: r.find(f"{{{NS_SASL}}}success"))
        await self._post([], to=DOMAIN, **{f"{{{NS_XBOSH}}}restart": "true"})
        iq = ET.Element(f"{{{NS_CLIENT}}}iq", type="set", id="bind1")
        ET.SubElement(iq, f"{{{NS_BIND}}}bind")
        reply = await self._post([iq])
        if reply.find(f"{{{NS_CLIENT}}}iq") is None:
            await self._until(lambda r: r.find(f"{{{NS_CLIENT}}}iq"))

    async def join(self, room: str, timeout: float = DEFAULT_TIMEOUT) -> JoinResult:
        occupant = f"{room_jid(room)}/{self.nick}"
        pres = ET.Element(f"{{{NS_CLIENT}}}presence", to=occupant)
        ET.SubElement(pres, f"{{{NS_MUC}}}x")
        t0 = time.monotonic()

        def answer(reply: ET.Element) -> ET.Element | None:
            for p in reply.findall(f"{{{NS_CLIENT}}}presence"):
                info = parse_presence(p)
                if info.frm == occupant and (info.type == "error" or "110" in info.statuses):
                    return p
            return None

        reply = await self._post([pres])
        hit = answer(reply)
        if hit is None:
            hit = await self._until(answer, timeout)
        info = parse_presence(hit)
        return JoinResult(info.type != "error", info, time.monotonic() - t0)

    async def wait_removed(self, room: str, timeout: float = DEFAULT_TIMEOUT) -> PresenceInfo:
        own = f"{room_jid(room)}/{self.nick}"

        def removal(reply: ET.Element) -> ET.Element | None:
            for p in reply.findall(f"{{{NS_CLIENT}}}presence"):
                if p.get("from") == own and p.get("type") == "unavailable":
                    return p
            return None

        return parse_presence(await self._until(removal, timeout))

    async def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self._post([], type="terminate")
            await self.session.close()
            self.session = None


# --- websocket (RFC 7395) ---------------------------------------------------------------------

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


class WebsocketParticipant:
    """A minimal XMPP-over-websocket client, bound to `source_ip`, sending X-Forwarded-For
    when asked (as nginx does once the operator adds the line the README shows); an anonymous
    login on `domain`, joining rooms on conference.<domain>."""

    def __init__(self, ws_url: str, source_ip: str, forwarded_for: str | None = None,
                 nick: str | None = None, domain: str = DOMAIN) -> None:
        self.url = ws_url
        self.domain = domain
        self.source_ip = source_ip
        self.forwarded_for = forwarded_for
        self.nick = nick or f"w{next(_nicks)}"
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def _send(self, element: ET.Element) -> None:
        assert self.ws is not None
        await self.ws.send_str(ET.tostring(element, encoding="unicode"))

    async def _until(self, found: Callable[[ET.Element], bool],
                     timeout: float = DEFAULT_TIMEOUT) -> ET.Element:
        assert self.ws is not None
        ws = self.ws

        async def read() -> ET.Element:
            while True:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"websocket closed: {msg.type}")
                element = ET.fromstring(msg.data)
                if found(element):
                    return element
        return await asyncio.wait_for(read(), timeout)

    def _open(self) -> ET.Element:
        return ET.Element(f"{{{NS_FRAMING}}}open", {"to": self.domain, "version": "1.0"})

    async def connect(self) -> None:
        connector = aiohttp.TCPConnector(local_addr=(self.source_ip, 0), force_close=True)
        self.session = aiohttp.ClientSession(connector=connector)
        headers = {"X-Forwarded-For": self.forwarded_for} if self.forwarded_for else {}
        self.ws = await self.session.ws_connect(self.url, protocols=("xmpp",), headers=headers)
        features = "{http://etherx.jabber.org/streams}features"
        await self._send(self._open())
        await self._until(lambda e: e.tag == features)
        await self._send(ET.Element(f"{{{NS_SASL}}}auth", mechanism="ANONYMOUS"))
        await self._until(lambda e: e.tag == f"{{{NS_SASL}}}success")
        await self._send(self._open())
        await self._until(lambda e: e.tag == features)
        iq = ET.Element(f"{{{NS_CLIENT}}}iq", type="set", id="bind1")
        ET.SubElement(iq, f"{{{NS_BIND}}}bind")
        await self._send(iq)
        await self._until(lambda e: e.tag == f"{{{NS_CLIENT}}}iq" and e.get("id") == "bind1")

    async def join(self, room: str, timeout: float = DEFAULT_TIMEOUT) -> JoinResult:
        occupant = f"{room_jid(room, f'conference.{self.domain}')}/{self.nick}"
        pres = ET.Element(f"{{{NS_CLIENT}}}presence", to=occupant)
        ET.SubElement(pres, f"{{{NS_MUC}}}x")
        t0 = time.monotonic()
        await self._send(pres)

        def answer(e: ET.Element) -> bool:
            if e.tag != f"{{{NS_CLIENT}}}presence":
                return False
            info = parse_presence(e)
            return info.frm == occupant and (info.type == "error" or "110" in info.statuses)

        info = parse_presence(await self._until(answer, timeout))
        return JoinResult(info.type != "error", info, time.monotonic() - t0)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.ws = None
        if self.session is not None:
            await self.session.close()
            self.session = None
