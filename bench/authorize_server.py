"""Serve joingate's app and a bare aiohttp app on the same event loop (for bench_authorize).

    python bench/authorize_server.py --config FILE --port P --bare-port B
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from joingate.api.app import build_app
from joingate.api.server import ConnectionGuard, GuardedSite
from joingate.config import load_settings
from joingate.service import Runtime

BARE_BODY = b'{"decision":"allow","country":"US","restriction":null}'


async def bare(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BARE_BODY, content_type="application/json")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bare-port", type=int, required=True)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    runtime = Runtime(load_settings(args.config))
    await runtime.start()
    bare_app = web.Application()
    bare_app.router.add_post("/bare", bare)
    runners = [web.AppRunner(build_app(runtime, manage_runtime=False), access_log=None),
               web.AppRunner(bare_app, access_log=None)]
    for runner in runners:
        await runner.setup()
    # joingate's app behind the connection guard, as `joingate serve` runs it
    await GuardedSite(runners[0], "127.0.0.1", args.port, ConnectionGuard(4096, 10.0)).start()
    await web.TCPSite(runners[1], "127.0.0.1", args.bare_port).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()
        await runtime.stop()


if __name__ == "__main__":
    if "uvloop" in sys.argv:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
