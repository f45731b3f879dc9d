"""The floor for bench_authorize: a bare aiohttp handler returning constant JSON, alone in
its own process (nothing else on its event loop), with aiohttp's defaults as `joingate serve`
uses them (no access log).

    python bench/bare_server.py --port P
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

BODY = (b'{"decision":"allow","country":"US","restriction":null,"rule":"no-restriction",'
        b'"message":""}')


async def bare(request: web.Request) -> web.Response:
    await request.read()  # the same body as /v1/authorize gets, read the same way
    return web.Response(body=BODY, content_type="application/json")


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/v1/authorize", bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
