"""The admin pages: an aiohttp sub-application, mounted at /admin, with its own middleware.

In front of every handler, outermost first: the security headers with `no-store`, JoingateErrors
as error pages, then the checks its route's `Access` asks for (session.py): the session, and
on POST the CSRF token. The HTTP API is outside this application, so none of it runs for
/v1/authorize (see pages.py for why the middleware is composed per route).
"""

from __future__ import annotations

from aiohttp import web

from ..appkeys import RUNTIME
from ..runtime import Runtime
from . import census, geoip, requests, restrictions, signin
from .pages import PAGES, Pages, error_pages, render, security_headers, through
from .session import CHECKS, SIGN_INS, Access, Route, SignIns

PREFIX = "/admin"


async def unrouted(request: web.Request) -> web.StreamResponse:
    """An address under /admin that no page serves: 404, or 405 with the methods it takes."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical != f"{PREFIX}/{{tail}}":
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        response = render(request, "error.html", 405, title="Not allowed",
                          message=f"This page does not take {request.method}.")
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    return render(request, "error.html", 404, title="Not found",
                  message="There is no such page.")


ROUTES: list[Route] = [*signin.ROUTES, *restrictions.ROUTES, *requests.ROUTES,
                       *census.ROUTES, *geoip.ROUTES,
                       Route("*", "/{tail:.*}", unrouted, Access.SIGNED_OUT_TOO)]  # last


def admin_app(runtime: Runtime, pages: Pages) -> web.Application:
    """The sub-application, to be mounted at PREFIX."""
    app = web.Application()
    app[RUNTIME] = runtime
    app[PAGES] = pages
    app[SIGN_INS] = SignIns()
    for route in ROUTES:
        middlewares = [security_headers(private=True), error_pages, *CHECKS[route.access]]
        app.router.add_route(route.method, route.path, through(route.handler, middlewares))
    return app
