"""Stand-ins for a joingate service that has gone wrong: the faults a real one cannot be made
to show on demand. Everything that is not a fault is tested against the real `joingate serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

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
