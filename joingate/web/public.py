"""The public pages, outside the admin sub-application: /transparency (the report with charts)
and /static/ (the stylesheets and the icon). They need no session, so they are two routes of
the root application, each behind its own middleware (security headers, error pages)."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import RUNTIME
from ..errors import InvalidInput
from ..report import html_context
from ..report.load import load_report
from .forms import Form
from .pages import PAGES, Pages, error_pages, render, secure, security_headers, through


async def transparency(request: web.Request) -> web.StreamResponse:
    since, until = request.query.get("since"), request.query.get("until")
    values = {"since": since or "", "until": until or ""}
    try:
        report = await load_report(request.app[RUNTIME].store, since, until)
    except InvalidInput as exc:
        form = Form(values=values)
        form.fail(exc, ("since", "until"))
        return render(request, "transparency.html", 400, title="Transparency report",
                      form=form, report=None, query="")
    query = "&".join(f"{k}={v}" for k, v in values.items() if v)
    return render(request, "transparency.html", title="Transparency report",
                  form=Form(values=values), query=query, **html_context(report))


async def static(request: web.Request) -> web.StreamResponse:
    found = request.app[PAGES].static.get(request.match_info["name"])
    if found is None:
        return secure(web.Response(status=404, text="not found"), False)
    body, content_type = found
    response = web.Response(body=body, content_type=content_type)
    secure(response, False)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def add_public_pages(app: web.Application, pages: Pages) -> None:
    """Add /transparency and /static/ to the (root) application."""
    app[PAGES] = pages
    app.router.add_route("GET", "/transparency",
                         through(transparency, [security_headers(private=False), error_pages]))
    app.router.add_route("GET", "/static/{name}", static)
