"""Stand-ins for a joingate service that has gone wrong: the faults a real one cannot be made
to show on demand. Everything that is not a fault is tested against the real `joingate serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

GARBAGE = {
    # A 200 whose body is not JSON (a captive portal, a misrouted proxy).
    "not-json": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n"
                b"Connection: close\r\n\r\n<html></html>",
    # Valid JSON of the wrong shape: must never count as "allow".
    "wrong-shape": b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 21\r\n'
                   b'Connection: close\r\n\r\n{"decision": "maybe"}',
    # A server error.
    "http-500": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n",
}


@contextlib.asynccontextmanager
async def fault_server(kind: str) -> AsyncIterator[str]:
    """An HTTP endpoint on 127.0.0.1 that hangs ("hang": accepts, reads, never answers) or
    answers garbage (a key of GARBAGE). Yields its base URL."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            if kind == "hang":
                await reader.read()  # until the client gives up and closes
            else:
                writer.write(GARBAGE[kind])
                await writer.drain()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for w in held:
            w.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


class HangingFront:
    """What join_checks_hang yields: its URL, and a queue with one item per join check held."""

    def __init__(self) -> None:
        self.url = ""
        self.held: asyncio.Queue[str] = asyncio.Queue()


@contextlib.asynccontextmanager
async def join_checks_hang(service_url: str, first: int | None = None
                           ) -> AsyncIterator[HangingFront]:
    """A front for the real service whose single-join endpoint (POST /v1/authorize) never
    answers (only its `first` calls, when given), while every other route (enforcement feed,
    batch checks) is passed through. The outage a slow database or an overloaded service looks
    like from Prosody."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    front = HangingFront()
    hung = 0

    async def hang(request: web.Request) -> web.StreamResponse:
        nonlocal hung
        if first is not None and hung >= first:
            return await forward(request)
        hung += 1
        front.held.put_nowait(request.path)
        await asyncio.Event().wait()  # cancelled when Prosody gives up and closes
        raise AssertionError("unreachable")

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "content-type", "accept")}
        async with session.request(request.method, service_url + request.path_qs,
                                   data=await request.read(), headers=headers) as resp:
            return web.Response(status=resp.status, body=await resp.read(),
                                content_type=resp.content_type)

    app = web.Application()
    app.router.add_post("/v1/authorize", hang)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    front.url = f"http://127.0.0.1:{port}"
    try:
        yield front
    finally:
        await runner.cleanup()
        await session.close()


@contextlib.asynccontextmanager
async def disagreeing_service() -> AsyncIterator[str]:
    """A service whose enforcement feed reports no restricted meeting while its join checks
    refuse 127.0.1.0/24 (CN in the test DB) everywhere. Yields its base URL."""

    async def enforcement(request: web.Request) -> web.Response:
        if request.query.get("after") != "7":
            return web.json_response({"epoch": 7, "rooms": ["*"], "restricted": []})
        await asyncio.sleep(float(request.query.get("wait", "1")))
        return web.json_response({"epoch": 7, "rooms": [], "restricted": []})

    def verdict(ip: str) -> dict[str, object]:
        if ip.startswith("127.0.1."):
            return {"decision": "deny", "country": "CN", "restriction": 99}
        return {"decision": "allow", "country": None, "restriction": None}

    async def authorize(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(verdict(body["ip"]))

    async def batch(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"results": [verdict(c["ip"]) for c in body["checks"]]})

    async def census(request: web.Request) -> web.Response:
        return web.json_response({"rooms": 0})

    app = web.Application()
    app.router.add_get("/v1/enforcement", enforcement)
    app.router.add_post("/v1/authorize", authorize)
    app.router.add_post("/v1/authorize/batch", batch)
    app.router.add_post("/v1/census", census)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
