"""What every page shares: templates and static files, rendering, the security headers and the
error pages, and how a page's middleware is put in front of its handler.

The pages' middleware is composed onto their own handlers when their routes are added
(`through`), not given to aiohttp as an application's `middlewares=`: once any sub-application
has those, aiohttp runs its middleware machinery for every request of the parent application
too (`Application.pre_freeze` passes `_run_middlewares` up), /v1/authorize included. This way
the HTTP API's routes run none of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web

from ..errors import JoingateError, NotFound
from ..jurisdiction import jurisdictions
from ..report import DBIP_ATTRIBUTION, DBIP_URL, UNKNOWN_COUNTRY, stylesheet, templates
from ..rooms import ALL_MEETINGS, readable
from ..vocabulary import (
    UNDECIDED,
    CorrectionState,
    Decision,
    Mode,
    RequestOutcome,
    RestrictionState,
)
from .security import SECURITY_HEADERS

if TYPE_CHECKING:
    from .security import Session

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
HTML = "text/html"
_TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".ico": "image/x-icon"}


@dataclass(frozen=True)
class Pages:
    """The templates and the static files (read once, at start)."""

    env: jinja2.Environment
    static: dict[str, tuple[bytes, str]]

    @classmethod
    def load(cls) -> Pages:
        return cls(env=_environment(), static=_load_static())


PAGES = web.AppKey("joingate_pages", Pages)
MODE_LABELS = {Mode.BLOCK: "Block the listed countries",
               Mode.ALLOW_ONLY: "Admit only the listed countries"}
OUTCOME_LABELS = {RequestOutcome.COMPLIED: "Complied",
                  RequestOutcome.PARTIALLY: "Partially complied",
                  RequestOutcome.REFUSED: "Refused"}


def _environment() -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([jinja2.PackageLoader("joingate.web", "templates"),
                                  templates()])  # report/*.html: the report's own
    env = jinja2.Environment(loader=loader,
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["country_name"] = lambda code: (
        "location unknown" if code in ("", UNKNOWN_COUNTRY)
        else jurisdictions().country_names.get(code, code))
    env.filters["meeting"] = meeting_label
    # The vocabulary, so that the templates list and compare the words the code uses, and
    # how the pages name them.
    env.globals.update(Mode=Mode, RequestOutcome=RequestOutcome, Decision=Decision,
                       RestrictionState=RestrictionState, CorrectionState=CorrectionState,
                       UNDECIDED=UNDECIDED, mode_label=MODE_LABELS,
                       outcome_label=OUTCOME_LABELS)
    return env


def _load_static() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    for item in (resources.files("joingate.web") / "static").iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _TYPES:
            files[item.name] = (item.read_bytes(), _TYPES[suffix])
    files["report.css"] = (stylesheet().encode(), "text/css")  # the report package's
    return files


def meeting_label(name: str) -> str:
    """A meeting for people: the name they see, and the exact (canonical) name beside it when
    the two differ ("café vigil (caf%c3%a9%20vigil)")."""
    if name == ALL_MEETINGS:
        return "all meetings"
    seen = readable(name)
    return name if seen == name else f"{seen} ({name})"


# -- responses ----------------------------------------------------------------------------------

def render(request: web.Request, template: str, status: int = 200,
           **context: Any) -> web.Response:
    """A page; the signed-in session (if a middleware found one) fills the header."""
    session: Session | None = request.get("session")
    text = request.app[PAGES].env.get_template(template).render(
        session=session, csrf=session.csrf if session else "", path=request.path,
        dbip_attribution=DBIP_ATTRIBUTION, dbip_url=DBIP_URL, **context)
    return web.Response(text=text, status=status, content_type=HTML, charset="utf-8")


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def secure(response: web.StreamResponse, private: bool) -> web.StreamResponse:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store" if private else "no-cache"
    return response


# -- middleware ---------------------------------------------------------------------------------

def through(handler: Handler, middlewares: Sequence[Middleware]) -> Handler:
    """The handler behind the middlewares, the first one outermost (aiohttp's order)."""
    for middleware in reversed(middlewares):
        handler = _behind(middleware, handler)
    return handler


def _behind(middleware: Middleware, inner: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        return await middleware(request, inner)
    wrapped.__name__ = getattr(inner, "__name__", "page")
    return wrapped


def security_headers(private: bool) -> Middleware:
    """The security headers on every answer; `private`: never stored by any cache."""
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        return secure(await handler(request), private)
    return middleware


async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A JoingateError from the handler as a page saying so (nothing was written)."""
    try:
        return await handler(request)
    except NotFound as exc:
        return render(request, "error.html", 404, title="Not found", message=exc.message)
    except JoingateError as exc:  # e.g. the store is unreachable (503): nothing written
        return render(request, "error.html", exc.http_status, title="Not done",
                      message=f"{exc.message} Nothing was changed.")
