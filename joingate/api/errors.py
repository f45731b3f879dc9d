"""The one place HTTP maps errors: JoingateError → 4xx/5xx with {"error": {...}}.

Handlers are wrapped one by one (`json_errors`) rather than through an aiohttp middleware:
measured on /v1/authorize, the middleware chain cost ~10% of the request rate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from ..errors import JoingateError

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024  # bytes of a request body (decompressed), for every route
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Every JSON answer: nosniff, so no browser ever reads one as HTML or script. (A plain dict:
# aiohttp builds a response's headers from it no slower than from content_type=.)
JSON_HEADERS = {"Content-Type": "application/json", "X-Content-Type-Options": "nosniff"}


def error_response(status: int, code: str, message: str, field: str | None) -> web.Response:
    body = msgspec.json.encode({"error": {"code": code, "message": message, "field": field}})
    return web.Response(status=status, body=body, headers=JSON_HEADERS)


def json_errors(handler: Handler) -> Handler:
    """Wrap a handler so that every error leaves as the contract's JSON error body."""
    name = getattr(handler, "__name__", "handler")

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            return response_for(exc, name, request)
    wrapped.__name__ = name
    return wrapped


def response_for(exc: Exception, route: str, request: web.Request) -> web.Response:
    """The JSON error response for any exception a handler raised."""
    if isinstance(exc, JoingateError):
        return error_response(exc.http_status, exc.code, exc.message, exc.field)
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return http_error(exc.status, exc.reason)
    if request.transport is None or request.transport.is_closing():
        # The client went away mid-request (reading its body, say): nobody reads this, and
        # a flood of such clients must not fill the log with tracebacks.
        return error_response(400, "disconnected", "the connection was lost", None)
    # Log the route only: bodies carry participant addresses.
    log.error("unhandled error on %s", route, exc_info=exc)
    return error_response(500, "internal", "internal error", None)


def http_error(status: int, reason: str) -> web.Response:
    if status == 413:  # aiohttp refused the body (after decompression) as over client_max_size
        return error_response(413, "too_large", f"body: larger than {MAX_BODY} bytes", "body")
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    return error_response(status, code, reason, None)
