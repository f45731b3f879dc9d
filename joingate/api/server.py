"""Serving the app: the open-file limit, a cap on connections, header and idle timeouts.

Every open connection holds a file descriptor, whether or not it ever sends a request. At the
process's open-file limit accept() fails; asyncio then logs a traceback per failure and stops
accepting for a second, and the plugin's joins wait with everybody else. So, here:

- the soft open-file limit is raised to the hard one at start;
- at most `server.max_connections` connections are open, and never more than the open-file
  limit minus `2 * BACKLOG + FD_RESERVE` (192). When full, an idle connection makes
  room: first one kept alive between requests (its client simply reconnects), then one that
  has not finished sending its request, head or body, oldest first (looking at `ROOM_SCAN`
  at most). A request that has fully arrived — a plugin's enforcement long-poll included —
  is never closed for room. Only when every connection is busy is the new one answered 503
  and closed;
- a request, head and body, must have arrived within `server.receive_timeout` of its first
  byte (of the connection's opening, for its first request);
- a client that goes away in the middle of a request is not logged as an error;
- a connection idle between requests closes after `server.keepalive_timeout` (aiohttp's own);
- asyncio's report of a failed accept() is logged once a minute at most, with a count.

aiohttp's RequestHandler says whether a request is in progress only through private
attributes; `_Connection.busy`, `.body_pending` and `.requests` are the only places reading
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from typing import Any

from aiohttp import web

from ..config import Settings

log = logging.getLogger(__name__)
# asyncio accepts up to BACKLOG connections per loop turn before their protocol factories
# run, and a connection closed to make room releases its descriptor a turn later: so up to
# 2 x BACKLOG may be open above the cap for a moment. FD_RESERVE more are for the store, the
# GeoIP files, logs and the loop itself.
BACKLOG = 64
FD_RESERVE = 64
ROOM_SCAN = 64  # idle connections looked at to find one kept alive between requests
REPORT_INTERVAL = 60.0  # seconds between log lines about dropped connections or failed accepts
ACCEPT_FAILED = "socket.accept() out of system resource"
_BUSY_BODY = (b'{"error":{"code":"busy","message":"every connection is busy; try again",'
              b'"field":null}}')
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s"
         % (len(_BUSY_BODY), _BUSY_BODY))


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def connection_limit(max_connections: int, open_files: int) -> int:
    if open_files == resource.RLIM_INFINITY:
        return max_connections
    return max(1, min(max_connections, open_files - 2 * BACKLOG - FD_RESERVE))


class _Connection(asyncio.Protocol):
    """Passes every event to aiohttp's handler; notes when the current request head began."""

    def __init__(self, guard: ConnectionGuard, handler: web.RequestHandler) -> None:
        self.guard = guard
        self.handler = handler
        self.transport: asyncio.BaseTransport | None = None
        self.head_since: float | None = guard.now()  # first byte of a head not yet complete
        self.head_count = 0                           # requests parsed when that byte came

    # -- aiohttp's handler state (private attributes; see the module docstring) -----------
    def busy(self) -> bool:
        """A whole request, head and body, is in the service's hands (a long-poll too)."""
        handler: Any = self.handler
        if handler._messages:
            return True
        if not handler._request_in_progress:
            return False
        request = handler._current_request
        return request is None or bool(request.content.is_eof())

    def body_pending(self) -> bool:
        handler: Any = self.handler
        return bool(handler._request_in_progress) and not self.busy()

    def requests(self) -> int:
        return int(self.handler._request_count)

    # -- state -----------------------------------------------------------------------------
    def head_pending(self) -> bool:
        """Part of a request head (or nothing yet, on a new connection) has arrived."""
        return self.head_since is not None and self.requests() == self.head_count

    def receiving(self) -> bool:
        """A request is still arriving: its head, or the body of one being handled."""
        return self.head_pending() or self.body_pending()

    def close(self) -> None:
        self.guard.forget(self)
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.receiving() and not self.busy():  # idle until now: a request begins
            self.head_since, self.head_count = self.guard.now(), self.requests()
        self.handler.data_received(data)

    def eof_received(self) -> None:
        self.handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        self.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()


class _Busy(asyncio.Protocol):
    """A connection accepted while every other one is busy: 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_BUSY)
        transport.close()


class ConnectionGuard:
    """Keeps the open connections under `limit` and closes slow request heads."""

    def __init__(self, limit: int, receive_timeout: float) -> None:
        self.limit = limit
        self.receive_timeout = receive_timeout
        self._open: dict[_Connection, None] = {}  # in the order they opened
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = {"idle": 0, "slow": 0, "busy": 0}
        self._reported = dict(self.dropped)

    def now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    @property
    def open_count(self) -> int:
        return len(self._open)

    def accept(self, server: web.Server) -> asyncio.Protocol:
        """The protocol factory of the listening socket."""
        if len(self._open) >= self.limit and not self._make_room():
            self.dropped["busy"] += 1
            return _Busy()
        # Counted from here, not from connection_made (a loop turn later): a burst of
        # accepts must see each other.
        conn = _Connection(self, server())
        self._open[conn] = None
        return conn

    def _make_room(self) -> bool:
        """Close the oldest connection kept alive between requests among the ROOM_SCAN
        oldest idle ones, else the oldest still sending its head. Bounded: under a flood
        this runs for every new connection."""
        victim: _Connection | None = None
        seen = 0
        for conn in self._open:
            if conn.transport is None or conn.busy():  # not even connected yet, or busy
                continue
            if not conn.receiving():  # kept alive between requests: the cheapest
                victim = conn
                break
            if victim is None:
                victim = conn
            seen += 1
            if seen == ROOM_SCAN:
                break
        if victim is None:
            return False
        victim.close()
        self.dropped["idle"] += 1
        return True

    def forget(self, conn: _Connection) -> None:
        self._open.pop(conn, None)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep(self) -> None:
        last_report = self.now()
        while True:
            await asyncio.sleep(min(1.0, self.receive_timeout / 4))
            now = self.now()
            deadline = now - self.receive_timeout
            for conn in [c for c in self._open if c.head_since is not None
                         and c.head_since < deadline and c.receiving()]:
                conn.close()
                self.dropped["slow"] += 1
            if now - last_report >= REPORT_INTERVAL and self.dropped != self._reported:
                last_report = now
                diff = {k: v - self._reported[k] for k, v in self.dropped.items()}
                self._reported = dict(self.dropped)
                log.warning("connections: %d open of at most %d; in the last minute closed "
                            "%d idle for room, %d with a request unfinished after %g s, "
                            "answered %d with 503 (all busy)", len(self._open), self.limit,
                            diff["idle"], diff["slow"], self.receive_timeout,
                            diff["busy"])


def _not_a_client_gone(record: logging.LogRecord) -> bool:
    """aiohttp logs a traceback when a handler fails because its client went away (reading
    a body, say): one per connection a flood drops. Not an error of the service."""
    return not (record.exc_info and isinstance(record.exc_info[1], ConnectionResetError)
                and record.getMessage().startswith("Error handling request"))


class AcceptErrorLog:
    """A loop exception handler that reports failed accept() calls once a minute at most
    (asyncio reports each one with a traceback) and passes anything else on."""

    def __init__(self) -> None:
        self.failures = 0
        self._next_report = 0.0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_FAILED:
            loop.default_exception_handler(context)
            return
        self.failures += 1
        now = loop.time()
        if now >= self._next_report:
            self._next_report = now + REPORT_INTERVAL
            exc = context.get("exception")
            log.error("accept() failed (%s): %d time(s) since the last report; new "
                      "connections wait", exc.strerror if isinstance(exc, OSError) else exc,
                      self.failures)
            self.failures = 0


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass through a ConnectionGuard."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int,
                 guard: ConnectionGuard) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self._host, self._port, self._guard = host, port, guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert isinstance(server, web.Server)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: self._guard.accept(server),
                                                self._host, self._port, backlog=self._backlog)
        self._guard.start()

    async def stop(self) -> None:
        await self._guard.stop()
        await super().stop()


async def _serve(app: web.Application, settings: Settings, guard: ConnectionGuard) -> None:
    host, port = settings.listen_host_port
    runner = web.AppRunner(app, access_log=None, handle_signals=True,
                           keepalive_timeout=settings.server_keepalive_timeout)
    await runner.setup()
    try:
        await GuardedSite(runner, host, port, guard).start()
        await asyncio.Event().wait()  # until SIGINT or SIGTERM
    finally:
        await runner.cleanup()


def serve(app: web.Application, settings: Settings) -> None:
    """Run `app` until SIGINT or SIGTERM (what `joingate serve` does)."""
    open_files = raise_open_file_limit()
    guard = ConnectionGuard(connection_limit(settings.server_max_connections, open_files),
                            settings.server_receive_timeout)
    log.info("at most %d connections (open-file limit %d)", guard.limit, open_files)
    logging.getLogger("aiohttp.server").addFilter(_not_a_client_gone)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(AcceptErrorLog())
    main = loop.create_task(_serve(app, settings, guard))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main.done():
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        rest = asyncio.all_tasks(loop)
        for task in rest:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
