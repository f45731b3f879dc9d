"""A TLS-terminating reverse proxy in front of a `joingate serve`, as an operator's nginx would
be: it serves https with a throw-away self-signed certificate, forwards each request over plain
HTTP, and adds `X-Forwarded-For` (the browser's address) and `X-Forwarded-Proto: https`.

    with TlsProxy(workdir, upstream="http://127.0.0.1:PORT") as proxy: proxy.url  # https://...

Run as a subprocess (`python -m tests.support.tls_proxy`), so it never shares an event loop
with the test.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from joingate.testing.service import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "host", "content-length"}


class TlsProxy:
    def __init__(self, workdir: Path, upstream: str):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.upstream = upstream
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.cert, self.key = self.workdir / "proxy.crt", self.workdir / "proxy.key"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TlsProxy:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-keyout", str(self.key), "-out", str(self.cert)],
                       check=True, capture_output=True, timeout=60)
        log = open(self.workdir / "proxy.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.tls_proxy", "--port", str(self.port),
             "--upstream", self.upstream, "--cert", str(self.cert), "--key", str(self.key)],
            stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.workdir / "proxy.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("the TLS proxy did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


def _serve(port: int, upstream: str, cert: str, key: str) -> None:
    from aiohttp import ClientSession, web

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP
                   and k.lower() not in ("x-forwarded-for", "x-forwarded-proto")}
        seen = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{seen}, {request.remote}" if seen else str(request.remote)
        headers["X-Forwarded-Proto"] = "https"
        session: ClientSession = request.app["session"]
        async with session.request(request.method, upstream + request.path_qs,
                                   headers=headers, data=await request.read(),
                                   allow_redirects=False) as answer:
            body = await answer.read()
            response = web.Response(status=answer.status, body=body)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-encoding":
                    response.headers.add(name, value)
            return response

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = ClientSession(auto_decompress=True)
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, print=None,
                access_log=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    _serve(args.port, args.upstream, args.cert, args.key)
