"""The one place HTTP maps errors: JoingateError → 4xx/5xx with {"error": {...}}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from ..errors import JoingateError

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str, field: str | None) -> web.Response:
    body = msgspec.json.encode({"error": {"code": code, "message": message, "field": field}})
    return web.Response(status=status, body=body, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except JoingateError as exc:
        return error_response(exc.http_status, exc.code, exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "http_error")
        return error_response(exc.status, code, exc.reason, None)
    except Exception:
        # Log the route only: bodies carry participant addresses.
        log.exception("unhandled error on %s %s", request.method, request.match_info.route.name)
        return error_response(500, "internal", "internal error", None)
