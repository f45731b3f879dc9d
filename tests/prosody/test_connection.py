"""The plugin's connections to the service: kept open between calls, and what happens when the
service drops one, restarts, answers in pieces or cuts an answer.

Between Prosody and the real service sits a front (`ConnectionFront`) that passes every call
through to the service and controls only the connection: when it closes, and how the answer's
bytes go out. The service still answers every call that is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import ProsodyServer
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import assert_stay
from tests.prosody.conftest import Crowd, ProsodyFactory
from tests.prosody.faults import fault_server

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

UNAVAILABLE = "join check is unavailable"
AUTHORIZE = "/v1/authorize"
SLOW = 0.1
MAX_OPEN = 32  # joingate_client.lib.lua: connections open at once

# What the front does with the n-th call (1-based) on a connection, given its path:
# "answer"; "split" (the answer in 7-byte pieces, each sent alone); "close-after" (answer, then
# close without having said so); "drop" (close without answering); "cut" (half an answer, then
# close); "slow" (answer after SLOW seconds); "hang" (never answer; the connection stays open
# until the plugin closes it).
Behaviour = Callable[[int, str], str]


@dataclass
class ConnectionFront:
    service_url: str
    behaviour: Behaviour
    url: str = ""
    # (connection number, n-th call on it, path, what the front did), in the order received
    calls: list[tuple[int, int, str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _handlers: set[asyncio.Task[object]] = field(default_factory=set)

    def authorize_calls(self) -> list[tuple[int, int, str, str]]:
        return [c for c in self.calls if c[2] == AUTHORIZE]

    async def handle(self, session: aiohttp.ClientSession, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        conn = next(self._ids)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(conn, session, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _serve(self, conn: int, session: aiohttp.ClientSession,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for n in itertools.count(1):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            body = await reader.readexactly(int(headers.get("Content-Length", "0")))
            path = target.split("?", 1)[0]
            action = self.behaviour(n, path)
            self.calls.append((conn, n, path, action))
            if action == "drop":
                break
            if action == "hang":
                await reader.read()
                break
            if action == "slow":
                await asyncio.sleep(SLOW)
            forwarded = {k: v for k, v in headers.items()
                         if k.lower() in ("authorization", "content-type", "accept")}
            async with session.request(method, self.service_url + target, data=body,
                                       headers=forwarded) as resp:
                payload = await resp.read()
                raw = (f"HTTP/1.1 {resp.status} {resp.reason}\r\n"
                       f"Content-Type: {resp.content_type}\r\n"
                       f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
            if action == "cut":
                writer.write(raw[:len(raw) // 2])
                await writer.drain()
                break
            if action == "split":
                for i in range(0, len(raw), 7):
                    writer.write(raw[i:i + 7])
                    await writer.drain()
                    await asyncio.sleep(0.002)
            else:
                writer.write(raw)
                await writer.drain()
            if action == "close-after":
                break


@contextlib.asynccontextmanager
async def connection_front(service_url: str, behaviour: Behaviour
                           ) -> AsyncIterator[ConnectionFront]:
    front = ConnectionFront(service_url, behaviour)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    server = await asyncio.start_server(
        lambda r, w: front.handle(session, r, w), "127.0.0.1", 0)
    front.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield front
    finally:
        server.close()
        for task in front._handlers:
            task.cancel()
        await asyncio.gather(*front._handlers, return_exceptions=True)
        await session.close()


def answer_all(n: int, path: str) -> str:
    return "answer"


async def started(service: JoingateService, make_prosody: ProsodyFactory,
                  url: str) -> ProsodyServer:
    """Prosody with fail mode "closed" (a join decided without the service's answer is
    refused, "unavailable"), after it has learnt that june4 is restricted for CN: every join
    there waits for the service (none is admitted early on its session's verdicts)."""
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")
    server = make_prosody(url, service.plugin_token, fail_mode="closed",
                          admit_unrestricted=False)
    await server.until_log("1 restricted")
    return server


async def assert_judged(server: ProsodyServer, crowd: Crowd, host: int) -> None:
    """A US and a CN participant join june4: the service's own answers, not the fail mode."""
    us, cn = await crowd.connect(server, address("US", host), address("CN", host))
    allowed = await us.join("june4")
    assert allowed.joined, allowed
    refused = await cn.join("june4")
    assert not refused.joined, refused
    assert "CN" in (refused.error_text or "") and UNAVAILABLE not in (refused.error_text or "")


async def test_join_checks_share_one_kept_connection(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    async with connection_front(service.url, answer_all) as front:
        server = await started(service, make_prosody, front.url)
        for host in range(120, 125):
            await assert_judged(server, crowd, host)
        calls = front.authorize_calls()
        assert len(calls) == 10
        # One after another, so one kept connection carries them (two at most: a connection
        # is kept for whichever call comes next, and the enforcement long-poll's is one).
        assert len({conn for conn, *_ in calls}) <= 2, calls


async def test_a_connection_the_service_closes_after_answering_is_replaced(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    async with connection_front(service.url, lambda n, path: "close-after") as front:
        server = await started(service, make_prosody, front.url)
        for host in range(126, 129):
            await assert_judged(server, crowd, host)
        calls = front.authorize_calls()
        assert len(calls) == 6 and len({conn for conn, *_ in calls}) == 6, calls


async def test_a_stale_kept_connection_is_retried_on_a_new_one(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # The service closes a kept connection just as the next call arrives on it (its
    # keep-alive timeout, a restart): that call is sent again on a new connection, once.
    async with connection_front(
            service.url, lambda n, path: "drop" if n > 1 and path == AUTHORIZE else "answer"
    ) as front:
        server = await started(service, make_prosody, front.url)
        for host in range(130, 133):
            await assert_judged(server, crowd, host)
        calls = front.authorize_calls()
        dropped = [c for c in calls if c[3] == "drop"]
        answered = [c for c in calls if c[3] == "answer"]
        # Each join's call found a kept connection, except perhaps the first.
        assert len(answered) == 6 and 5 <= len(dropped) <= 6, calls
        assert all(n == 1 for _, n, _, _ in answered), calls


async def test_answers_split_across_packets(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    async with connection_front(service.url, lambda n, path: "split") as front:
        server = await started(service, make_prosody, front.url)  # the feed's answers split too
        for host in range(134, 137):
            await assert_judged(server, crowd, host)
        calls = front.authorize_calls()
        assert len(calls) == 6 and len({conn for conn, *_ in calls}) <= 2, calls


async def test_an_answer_cut_halfway_is_not_retried_and_the_fail_mode_decides(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    async with connection_front(
            service.url, lambda n, path: "cut" if path == AUTHORIZE else "answer") as front:
        server = await started(service, make_prosody, front.url)
        (us,) = await crowd.connect(server, address("US", 137))
        for _ in range(3):
            result = await us.join("june4")
            assert not result.joined, result
            assert UNAVAILABLE in (result.error_text or ""), result
        # The service saw each call once: part of an answer had come, so none was sent again.
        assert len(front.authorize_calls()) == 3, front.calls
        # Once the service answers again, the next join is judged.
        front.behaviour = answer_all
        await assert_judged(server, crowd, 138)


async def test_after_a_service_restart_the_next_join_reconnects_and_is_judged(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    server = await started(service, make_prosody, service.url)
    await assert_judged(server, crowd, 140)
    service.stop()
    service.start()
    # At once, before the enforcement feed's back-off has ended.
    await assert_judged(server, crowd, 141)


async def test_a_burst_of_joins_waits_for_a_few_connections_and_each_is_judged(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # 80 joins at once into a restricted meeting, each answered 0.1 s after it arrives: the
    # plugin opens at most MAX_OPEN connections and the rest wait for one, in turn. They wait
    # longer than joingate_timeout (0.3 s) by the clock, yet none is decided by the fail mode:
    # the service answers steadily, and each call's limit counts from when it was sent.
    async with connection_front(
            service.url, lambda n, path: "slow" if path == AUTHORIZE else "answer") as front:
        server = await started(service, make_prosody, front.url)
        us = await crowd.connect(server, *(address("US", 10 + i) for i in range(40)))
        cn = await crowd.connect(server, *(address("CN", 10 + i) for i in range(40)))
        results = await asyncio.gather(*(p.join("june4") for p in us + cn))
        assert all(r.joined for r in results[:40]), results[:40]
        refused = results[40:]
        assert all(not r.joined and "CN" in (r.error_text or "")
                   and UNAVAILABLE not in (r.error_text or "") for r in refused), refused
        calls = front.authorize_calls()
        assert len(calls) == 80, calls
        assert len({conn for conn, *_ in calls}) <= MAX_OPEN, calls
        assert max(r.seconds for r in results) > 0.3, results  # they did wait their turn


async def test_a_burst_of_joins_to_a_silent_service_is_decided_within_the_time_limit(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # More joins than connections, and a service that reads every call and never answers:
    # the calls waiting for a connection do not queue up behind the silent ones' limits.
    async with fault_server("hang") as url:
        server = make_prosody(url, service.plugin_token, fail_mode="closed", timeout=0.3,
                              admit_unrestricted=False)
        people = await crowd.connect(server, *(address("US", 60 + i) for i in range(48)))
        results = await asyncio.gather(*(p.join("picnic") for p in people))
        assert all(not r.joined and UNAVAILABLE in (r.error_text or "") for r in results), results
        assert max(r.seconds for r in results) < 0.3 + 2.0, results


def collector_running(server: ProsodyServer) -> bool:
    """Whether Prosody's Lua garbage collector is running, read through its admin shell."""
    out = server.shell(">collectgarbage('isrunning')")
    assert "true" in out or "false" in out, out
    return "true" in out


@pytest.mark.parametrize("hold", [True, False], ids=["default", "sweep_hold_gc-false"])
async def test_a_sweep_holds_the_collector_only_within_its_bound(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd,
        hold: bool) -> None:
    # The collector is held while a sweep removes people (joingate_gc.lib.lua) and given back
    # after it; when the sweep's batch call never answers, it is given back after 5 s all the
    # same (the batch call's own limit here is 10 s), and the sweep is repeated once the
    # service answers again: the covered participant is removed, nobody else. With
    # joingate_sweep_hold_gc = false it is never held.
    hang = [False]
    batch = "/v1/authorize/batch"
    async with connection_front(
            service.url, lambda n, path: "hang" if hang[0] and path == batch else "answer"
    ) as front:
        server = make_prosody(front.url, service.plugin_token, admit_unrestricted=False,
                              sweep_hold_gc=hold)
        us, cn = await crowd.connect(server, address("US", 150), address("CN", 150))
        assert (await us.join("june4")).joined and (await cn.join("june4")).joined
        assert collector_running(server)
        hang[0] = True
        service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not any(c[2] == batch and c[3] == "hang" for c in front.calls):
            assert loop.time() < deadline, front.calls
            await asyncio.sleep(0.05)
        held_at = loop.time()
        assert collector_running(server) is not hold
        while not collector_running(server):
            assert loop.time() < held_at + 5 + 3, "the collector was held past its bound"
            await asyncio.sleep(0.2)
        hang[0] = False
        await cn.wait_removed("june4", timeout=30)
        await assert_stay([us], "june4")
        assert collector_running(server)


async def test_an_https_service_is_still_called_through_net_http(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # https:// is not kept open by the plugin: Prosody's net.http makes the call, as before.
    # An endpoint that never completes the TLS handshake: the join is decided by the fail mode
    # at joingate_timeout.
    async with fault_server("hang") as url:
        server = make_prosody(url.replace("http://", "https://"), service.plugin_token,
                              fail_mode="closed", timeout=0.3, admit_unrestricted=False)
        (us,) = await crowd.connect(server, address("US", 142))
        result = await us.join("picnic")
        assert not result.joined and UNAVAILABLE in (result.error_text or ""), result
        assert 0.27 <= result.seconds < 0.3 + 2.0, result
        assert "Making HTTPS POST request" in server.log()  # net.http's own debug line
