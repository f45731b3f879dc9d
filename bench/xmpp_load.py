"""A light XMPP client for load runs: thousands of participants in one asyncio process.

slixmpp costs too much per session to hold 10,000 of them on 2 cores; this speaks the same
real XMPP to the real Prosody with nothing more than a join needs: plain TCP c2s bound to its
own 127.x.y.z source address (Prosody sees it as session.ip), SASL ANONYMOUS, resource
binding, a MUC join presence, and its own presences from the room (the join's answer, a
removal). Stanzas are parsed by expat (ElementTree's pull parser); presences of other
occupants are dropped unread. Presence parsing is joingate/testing/xmpp.py's.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from joingate.testing.xmpp import NS_CLIENT, NS_MUC, JoinResult, PresenceInfo, parse_presence

NS_STREAM = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
PRESENCE = f"{{{NS_CLIENT}}}presence"

_nicks = itertools.count(1)


class LightParticipant(asyncio.Protocol):
    """One anonymous participant on its own TCP connection from `source_ip`."""

    def __init__(self, c2s_port: int, source_ip: str, domain: str = "localhost",
                 muc_domain: str = "conference.localhost") -> None:
        self.c2s_port = c2s_port
        self.source_ip = source_ip
        self.domain = domain
        self.muc_domain = muc_domain
        self.nick = f"l{next(_nicks)}"
        self.transport: asyncio.Transport | None = None
        self._parser = self._new_parser()
        self._depth = 0
        self._stream = ET.Element("stream")
        self._login: asyncio.Queue[ET.Element] | None = asyncio.Queue()
        self._own: dict[str, list[PresenceInfo]] = {}  # occupant JID -> our presences from it
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        for event, element in self._parser.read_events():
            if event == "start":
                if self._depth == 0:
                    self._stream = element  # <stream:stream>: stanzas are its children
                self._depth += 1
                continue
            self._depth -= 1
            if self._depth == 1:  # a whole top-level element (stanza, features, SASL answer)
                self._top_level(element)
                self._stream.remove(element)  # nothing of a read stanza is kept

    # -- stream ---------------------------------------------------------------------------------
    def _new_parser(self) -> ET.XMLPullParser:
        parser = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        return parser

    def _top_level(self, element: ET.Element) -> None:
        if self._login is not None:
            self._login.put_nowait(element)
            return
        if element.tag != PRESENCE:
            return
        frm = element.get("from", "")
        if frm not in self._own:
            return  # another occupant's presence
        self._own[frm].append(parse_presence(element))
        waiter = self._waiters.pop(frm, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(text.encode())

    def _open_stream(self) -> None:
        self._send(f"<?xml version='1.0'?><stream:stream to='{self.domain}' version='1.0' "
                   f"xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'>")

    async def _expect(self, tag: str, timeout: float) -> ET.Element:
        assert self._login is not None
        element = await asyncio.wait_for(self._login.get(), timeout)
        if element.tag != tag:
            raise ConnectionError(f"expected {tag}, got {element.tag}: "
                                  f"{ET.tostring(element, encoding='unicode')[:200]}")
        return element

    async def connect(self, timeout: float = 60.0) -> None:
        """Connect, log in anonymously and bind a resource."""
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.create_connection(
            lambda: self, "127.0.0.1", self.c2s_port, local_addr=(self.source_ip, 0)), timeout)
        self._open_stream()
        await self._expect(f"{{{NS_STREAM}}}features", timeout)
        self._send(f"<auth xmlns='{NS_SASL}' mechanism='ANONYMOUS'/>")
        await self._expect(f"{{{NS_SASL}}}success", timeout)
        self._parser = self._new_parser()  # the stream restarts after SASL
        self._open_stream()
        await self._expect(f"{{{NS_STREAM}}}features", timeout)
        self._send(f"<iq type='set' id='bind'><bind xmlns='{NS_BIND}'/></iq>")
        bound = await self._expect(f"{{{NS_CLIENT}}}iq", timeout)
        if bound.get("type") != "result":
            raise ConnectionError(f"bind failed: {ET.tostring(bound, encoding='unicode')[:200]}")
        self._login = None

    # -- MUC ------------------------------------------------------------------------------------
    def occupant(self, room: str) -> str:
        return f"{room.lower()}@{self.muc_domain}/{self.nick}"

    def send_join(self, room: str) -> tuple[int, float]:
        """Send a MUC join presence; returns where its answer will be in our presences from
        that occupant JID, and the time it was sent (for answer())."""
        occupant = self.occupant(room)
        start = len(self._own.setdefault(occupant, []))
        self._send(f"<presence to='{occupant}'><x xmlns='{NS_MUC}'/></presence>")
        return start, time.monotonic()

    async def _until(self, occupant: str, start: int, timeout: float) -> PresenceInfo:
        deadline = time.monotonic() + timeout
        while True:
            got = self._own[occupant]
            if len(got) > start:
                return got[start]
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[occupant] = waiter
            await asyncio.wait_for(waiter, max(0.0, deadline - time.monotonic()))

    async def answer(self, room: str, sent: tuple[int, float], timeout: float = 60.0) -> JoinResult:
        """The room's answer to the join send_join() sent: our own presence (status 110) or
        an error."""
        start, at = sent
        info = await self._until(self.occupant(room), start, timeout)
        return JoinResult(info.type != "error", info, info.received_at - at)

    async def join(self, room: str, timeout: float = 60.0) -> JoinResult:
        return await self.answer(room, self.send_join(room), timeout)

    def removal(self, room: str) -> PresenceInfo | None:
        """Our unavailable presence from `room` (a removal), if one has arrived."""
        return next((i for i in self._own.get(self.occupant(room), [])
                     if i.type == "unavailable"), None)

    async def wait_removed(self, room: str, timeout: float) -> PresenceInfo:
        occupant = self.occupant(room)
        while True:
            found = self.removal(room)
            if found is not None:
                return found
            await self._until(occupant, len(self._own[occupant]), timeout)

    async def leave(self, timeout: float = 60.0) -> None:
        """Close the stream and wait until Prosody closes its end: by then it has ended the
        session and taken the participant out of its rooms."""
        if self.transport is None or self.transport.is_closing():
            return
        self._send("</stream:stream>")
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except TimeoutError:
            pass  # Prosody is still busy: the socket is closed below all the same
        finally:
            self.transport.close()


    def close(self) -> None:
        """Drop the connection at once."""
        if self.transport is not None:
            self.transport.close()


async def connect_all(people: list[LightParticipant], at_once: int = 100) -> None:
    """Log everyone in, `at_once` handshakes in flight (Prosody's listen backlog is 128)."""
    for start in range(0, len(people), at_once):
        await asyncio.gather(*(p.connect() for p in people[start:start + at_once]))


async def leave_all(people: list[LightParticipant], at_once: int = 500) -> None:
    for start in range(0, len(people), at_once):
        await asyncio.gather(*(p.leave() for p in people[start:start + at_once]))


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def raise_fd_limit() -> int:
    """Soft open-file limit up to the hard one (Prosody, started from here, inherits it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
