"""The web pages: /admin/ (restrictions, authority requests, census, impact preview) and the
public /transparency report. Server-rendered HTML (jinja2), no script, nothing external.

Every write goes through `Runtime`, like the HTTP API's; the errors it raises carry the field
they are about, and the form shows each message next to that field. Admin pages need a session
opened with an admin token (security.py); every form carries the session's CSRF token, and a
POST without a valid one is refused (403) before the handler runs, so nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web

from ..errors import InvalidInput, JoingateError, NotFound
from ..jurisdiction import jurisdictions
from ..report import (
    DBIP_ATTRIBUTION,
    DBIP_URL,
    UNKNOWN_COUNTRY,
    html_context,
    stylesheet,
    templates,
)
from ..report.load import load_report
from ..restrictions import utc_now
from ..rooms import ALL_MEETINGS, readable
from ..store.base import hash_token
from ..vocabulary import RequestOutcome, values
from .proxy import came_over_tls, client_address
from .security import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Session,
    Sessions,
    SignInLimiter,
    new_secret,
    same_secret,
)

if TYPE_CHECKING:
    from ..runtime import Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HTML = "text/html"
_ID_RE = re.compile(r"[1-9][0-9]{0,17}")


@dataclass
class WebState:
    env: jinja2.Environment
    static: dict[str, tuple[bytes, str]]
    sessions: Sessions = field(default_factory=Sessions)
    limiter: SignInLimiter = field(default_factory=SignInLimiter)


WEB = web.AppKey("joingate_web", WebState)


def _runtime(request: web.Request) -> Runtime:
    # Imported here: api.app imports this module to call add_web_routes.
    from ..api.app import RUNTIME
    return request.app[RUNTIME]


# -- responses ----------------------------------------------------------------------------------

def _secure(response: web.StreamResponse, private: bool) -> web.StreamResponse:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store" if private else "no-cache"
    return response


def _render(request: web.Request, template: str, status: int = 200,
            **context: Any) -> web.Response:
    state = request.app[WEB]
    session: Session | None = request.get("session")
    text = state.env.get_template(template).render(
        session=session, csrf=session.csrf if session else "", path=request.path,
        dbip_attribution=DBIP_ATTRIBUTION, dbip_url=DBIP_URL, **context)
    return web.Response(text=text, status=status, content_type=HTML, charset="utf-8")


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _session(request: web.Request) -> Session | None:
    """The signed-in session, if its token is still an admin token (stored on the request)."""
    state = request.app[WEB]
    session = state.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        info = _runtime(request).tokens.get(session.token_hash)
        if info is None or info.scope != "admin":
            state.sessions.drop(session.id)
            session = None
    request["session"] = session
    return session


def _page(handler: Handler, *, admin: bool, signed_in: bool = True,
          private: bool | None = None) -> Handler:
    """Security headers on every page. For admin pages: the session check (`signed_in`: the
    page needs one) and, on POST, the CSRF check — both before the handler reads the form."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if admin:
            session = _session(request)
            if request.method == "POST":
                if session is None:
                    return _secure(_render(request, "error.html", 403, title="Signed out",
                                           message="Your session has ended. Sign in again; "
                                                   "nothing was changed."), True)
                form = await request.post()
                given = form.get("csrf")
                if not same_secret(given if isinstance(given, str) else None, session.csrf):
                    return _secure(_render(
                        request, "error.html", 403, title="Form refused",
                        message="This form did not carry the token of your session, so "
                                "nothing was changed. Go back, reload the page and try "
                                "again."), True)
            elif session is None and signed_in:
                return _secure(_redirect("/admin/"), True)
        try:
            response = await handler(request)
        except NotFound as exc:
            response = _render(request, "error.html", 404, title="Not found",
                               message=exc.message)
        except JoingateError as exc:  # e.g. the store is unreachable (503): nothing written
            response = _render(request, "error.html", exc.http_status, title="Not done",
                               message=f"{exc.message} Nothing was changed.")
        return _secure(response, admin if private is None else private)
    wrapped.__name__ = getattr(handler, "__name__", "page")
    return wrapped


# -- forms --------------------------------------------------------------------------------------

@dataclass
class Form:
    """Submitted values, and the error of each field (or of the whole form)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def fail(self, exc: JoingateError, fields: tuple[str, ...]) -> None:
        if exc.field in fields:
            # Shown under the field's label: drop the "field: " the message starts with.
            text = exc.message.removeprefix(f"{exc.field}: ")
            self.errors[exc.field] = text[:1].upper() + text[1:]
        else:
            self.general.append(exc.message)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,;]+", text) if w]


def _lines(text: str) -> list[str]:
    """One meeting per line: a meeting's name may hold spaces and commas."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _optional(text: str) -> str | None:
    return text or None


def _match_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not _ID_RE.fullmatch(text):
        raise NotFound(f"There is no {text!r} here.", field="id")
    return int(text)


def _status(exc: JoingateError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 400


# -- sign in / out ------------------------------------------------------------------------------

def _client(request: web.Request) -> str:
    # Kept only as a keyed hash in the limiter's memory; never logged or stored.
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", ()),
                          _runtime(request).settings.trusted_proxy_networks)


def _set_cookie(response: web.Response, request: web.Request, name: str, value: str,
                max_age: int) -> None:
    secure = came_over_tls(request.secure, request.remote,
                           request.headers.getall("X-Forwarded-Proto", ()),
                           _runtime(request).settings.trusted_proxy_networks)
    response.set_cookie(name, value, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=secure, max_age=max_age)


def _login_page(request: web.Request, status: int = 200, error: str | None = None,
                retry_after: float = 0.0) -> web.Response:
    nonce = new_secret()
    response = _render(request, "login.html", status, title="Sign in", login_csrf=nonce,
                       error=error)
    _set_cookie(response, request, LOGIN_COOKIE, nonce, 3600)
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after) + 1)
    return response


async def admin_home(request: web.Request) -> web.StreamResponse:
    session: Session | None = request.get("session")
    if session is None:
        return _login_page(request)
    rt = _runtime(request)
    now = utc_now()
    restrictions = await rt.store.list_restrictions()
    requests = await rt.store.list_requests()
    states: dict[str, int] = {}
    for r in restrictions:
        states[r.state(now)] = states.get(r.state(now), 0) + 1
    undecided = [r for r in requests if r.outcome is None]
    return _render(request, "home.html", title="joingate admin", states=states,
                   undecided=undecided, n_requests=len(requests), geoip=rt.geoip_status())


async def sign_in(request: web.Request) -> web.StreamResponse:
    """A right admin token always opens a session; wrong ones past the limit get 429 (see
    joingate/web/README.md for why the limiter never stands in the way of the right token)."""
    state = request.app[WEB]
    form = await request.post()
    given = form.get("csrf")
    if not same_secret(given if isinstance(given, str) else None,
                       request.cookies.get(LOGIN_COOKIE)):
        return _render(request, "error.html", 403, title="Form refused",
                       message="The sign-in form was not the one this server gave you. "
                               "Reload the sign-in page and try again.")
    token = _text(form, "token")
    info = _runtime(request).token_scope(token) if token else None
    if info is None or info.scope != "admin":
        client = _client(request)
        wait = state.limiter.retry_after(client)
        state.limiter.failed(client)
        if wait:
            return _login_page(request, 429, error="token: too many wrong tokens from here. "
                               f"Wait {int(wait) + 1} seconds before trying another.",
                               retry_after=wait)
        message = ("token: this is a plugin token; sign in with an admin token"
                   if info is not None else "token: not a token this server knows")
        return _login_page(request, 401, error=message)
    session = state.sessions.create(hash_token(token), info.name)
    response = _redirect("/admin/")
    _set_cookie(response, request, SESSION_COOKIE, session.id, int(state.sessions.ttl))
    response.del_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    state = request.app[WEB]
    state.sessions.drop(request.cookies.get(SESSION_COOKIE))
    response = _redirect("/admin/?signed_out=1")
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def _actor(request: web.Request) -> str:
    session: Session = request["session"]
    return f"web:{session.name}"


# -- restrictions -------------------------------------------------------------------------------

RESTRICTION_FIELDS = ("rooms", "countries", "starts_at", "ends_at", "request", "mode", "reason")


async def restrictions_list(request: web.Request) -> web.StreamResponse:
    rt = _runtime(request)
    now = utc_now()
    items = [r.as_json(now) for r in await rt.store.list_restrictions()]
    items.reverse()  # newest first
    return _render(request, "restrictions.html", title="Restrictions", restrictions=items)


async def _restriction_form(request: web.Request, form: Form, status: int = 200,
                            preview: dict[str, Any] | None = None) -> web.Response:
    requests = await _runtime(request).store.list_requests()
    return _render(request, "restriction_form.html", status, title="New restriction",
                   form=form, requests=requests, preview=preview,
                   geoip_disputed=_runtime(request).settings.geoip_disputed,
                   country_names=jurisdictions().country_names)


async def restriction_new(request: web.Request) -> web.StreamResponse:
    form = Form(values={"mode": "block"})
    chosen = request.query.get("request", "")
    if _ID_RE.fullmatch(chosen):
        try:
            req = await _runtime(request).store.get_request(int(chosen))
        except NotFound:
            form.general.append(f"There is no authority request {chosen}.")
        else:
            form.values.update(request=str(req.id), rooms="\n".join(req.rooms),
                               countries=req.jurisdiction,
                               reason=f"{req.authority}, {req.reference}")
    return await _restriction_form(request, form)


def _restriction_fields(form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    values = {name: _text(form, name) for name in RESTRICTION_FIELDS}
    request_text = values["request"]
    fields: dict[str, Any] = {
        "rooms": _lines(values["rooms"]), "countries": _words(values["countries"]),
        "starts_at": _optional(values["starts_at"]), "ends_at": _optional(values["ends_at"]),
        "mode": values["mode"] or "block", "reason": values["reason"],
        "request": (int(request_text) if _ID_RE.fullmatch(request_text)
                    else _optional(request_text)),
    }
    return values, fields


async def restriction_create(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    values, fields = _restriction_fields(posted)
    form = Form(values=values)
    rt = _runtime(request)
    if _text(posted, "action") == "preview":
        try:
            preview = await rt.preview(fields)
        except JoingateError as exc:
            form.fail(exc, RESTRICTION_FIELDS)
            return await _restriction_form(request, form, _status(exc))
        return await _restriction_form(request, form, preview=preview)
    try:
        made = await rt.add_restriction(fields, _actor(request))
    except JoingateError as exc:
        form.fail(exc, RESTRICTION_FIELDS)
        return await _restriction_form(request, form, _status(exc))
    return _redirect(f"/admin/restrictions/{made.id}?done=created")


async def _restriction_page(request: web.Request, restriction_id: int, form: Form,
                            status: int = 200) -> web.Response:
    rt = _runtime(request)
    found = await rt.store.get_restriction(restriction_id)
    req = None
    if found.request is not None:
        try:
            req = await rt.store.get_request(found.request)
        except NotFound:
            req = None
    return _render(request, "restriction.html", status,
                   title=f"Restriction {found.id}", r=found.as_json(utc_now()), req=req,
                   form=form, done=request.query.get("done"))


async def restriction_show(request: web.Request) -> web.StreamResponse:
    return await _restriction_page(request, _match_id(request), Form())


async def restriction_revoke(request: web.Request) -> web.StreamResponse:
    restriction_id = _match_id(request)
    posted = await request.post()
    form = Form(values={"reason": _text(posted, "reason")})
    try:
        await _runtime(request).revoke_restriction(restriction_id, form.values["reason"],
                                                   _actor(request))
    except NotFound:
        raise
    except JoingateError as exc:
        form.fail(exc, ("reason",))
        return await _restriction_page(request, restriction_id, form, _status(exc))
    return _redirect(f"/admin/restrictions/{restriction_id}?done=revoked")


# -- authority requests -------------------------------------------------------------------------

REQUEST_FIELDS = ("authority", "jurisdiction", "reference", "rooms", "demand", "received_at")
DECISION_FIELDS = ("outcome", "note")


async def requests_list(request: web.Request) -> web.StreamResponse:
    items = list(reversed(await _runtime(request).store.list_requests()))
    return _render(request, "requests.html", title="Authority requests", requests=items)


async def request_new(request: web.Request) -> web.StreamResponse:
    return _render(request, "request_form.html", title="Record an authority request",
                   form=Form())


async def request_create(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    values = {name: _text(posted, name) for name in REQUEST_FIELDS}
    fields = {**values, "rooms": _lines(values["rooms"]),
              "received_at": _optional(values["received_at"])}
    form = Form(values=values)
    try:
        made = await _runtime(request).add_request(fields, _actor(request))
    except JoingateError as exc:
        form.fail(exc, REQUEST_FIELDS)
        return _render(request, "request_form.html", _status(exc),
                       title="Record an authority request", form=form)
    return _redirect(f"/admin/requests/{made.id}?done=recorded")


async def _request_page(request: web.Request, request_id: int, form: Form,
                        status: int = 200) -> web.Response:
    rt = _runtime(request)
    found = await rt.store.get_request(request_id)
    now = utc_now()
    produced = []
    for rid in found.restrictions:
        try:
            produced.append((await rt.store.get_restriction(rid)).as_json(now))
        except NotFound:
            continue
    covers = sorted(jurisdictions().get(found.jurisdiction).covers)
    return _render(request, "request.html", status, title=f"Request {found.reference}",
                   req=found.as_json(), produced=produced, covers=covers, form=form,
                   outcomes=values(RequestOutcome), done=request.query.get("done"))


async def request_show(request: web.Request) -> web.StreamResponse:
    return await _request_page(request, _match_id(request), Form())


async def request_decide(request: web.Request) -> web.StreamResponse:
    request_id = _match_id(request)
    posted = await request.post()
    form = Form(values={name: _text(posted, name) for name in DECISION_FIELDS})
    try:
        await _runtime(request).decide_request(request_id, form.values["outcome"],
                                               form.values["note"], _actor(request))
    except NotFound:
        raise
    except JoingateError as exc:
        form.fail(exc, DECISION_FIELDS)
        return await _request_page(request, request_id, form, _status(exc))
    return _redirect(f"/admin/requests/{request_id}?done=decided")


# -- census -------------------------------------------------------------------------------------

async def census(request: web.Request) -> web.StreamResponse:
    view = await _runtime(request).census_view()
    rooms: Mapping[str, Mapping[str, int]] = view.get("rooms") or {}
    countries = sorted({c for counts in rooms.values() for c in counts if c})
    rows = []
    for room in sorted(rooms):
        counts = rooms[room]
        rows.append((room, [counts.get(c, 0) for c in countries], counts.get("", 0),
                     sum(counts.values()), sum((view.get("disputed") or {}).get(room, {})
                                               .values())))
    return _render(request, "census.html", title="Census", rows=rows, countries=countries,
                   updated_at=view.get("updated_at"), sources=view.get("sources") or [],
                   country_names=jurisdictions().country_names)


# -- public report ------------------------------------------------------------------------------

async def transparency(request: web.Request) -> web.StreamResponse:
    since, until = request.query.get("since"), request.query.get("until")
    values = {"since": since or "", "until": until or ""}
    try:
        report = await load_report(_runtime(request).store, since, until)
    except InvalidInput as exc:
        form = Form(values=values)
        form.fail(exc, ("since", "until"))
        return _render(request, "transparency.html", 400, title="Transparency report",
                       form=form, report=None, query="")
    query = "&".join(f"{k}={v}" for k, v in values.items() if v)
    return _render(request, "transparency.html", title="Transparency report",
                   form=Form(values=values), query=query, **html_context(report))


# -- static files -------------------------------------------------------------------------------

_TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".ico": "image/x-icon"}


def _load_static() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    for item in (resources.files("joingate.web") / "static").iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _TYPES:
            files[item.name] = (item.read_bytes(), _TYPES[suffix])
    files["report.css"] = (stylesheet().encode(), "text/css")  # the report package's
    return files


async def static(request: web.Request) -> web.StreamResponse:
    found = request.app[WEB].static.get(request.match_info["name"])
    if found is None:
        return _secure(web.Response(status=404, text="not found"), False)
    body, content_type = found
    response = web.Response(body=body, content_type=content_type)
    _secure(response, False)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# -- wiring -------------------------------------------------------------------------------------

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
    return env


def meeting_label(name: str) -> str:
    """A meeting for people: the name they see, and the exact (canonical) name beside it when
    the two differ ("café vigil (caf%c3%a9%20vigil)")."""
    if name == ALL_MEETINGS:
        return "all meetings"
    seen = readable(name)
    return name if seen == name else f"{seen} ({name})"


async def admin_redirect(request: web.Request) -> web.StreamResponse:
    return _secure(_redirect("/admin/"), True)


def add_web_routes(app: web.Application) -> None:
    """Add the pages to the app (before its catch-all route)."""
    from .geoip import geoip_pages  # it builds on this module's helpers
    app[WEB] = WebState(env=_environment(), static=_load_static())
    admin_pages: list[tuple[str, str, Handler]] = [
        ("GET", "/admin/restrictions", restrictions_list),
        ("GET", "/admin/restrictions/new", restriction_new),
        ("POST", "/admin/restrictions", restriction_create),
        ("GET", "/admin/restrictions/{id}", restriction_show),
        ("POST", "/admin/restrictions/{id}/revoke", restriction_revoke),
        ("GET", "/admin/requests", requests_list),
        ("GET", "/admin/requests/new", request_new),
        ("POST", "/admin/requests", request_create),
        ("GET", "/admin/requests/{id}", request_show),
        ("POST", "/admin/requests/{id}/decision", request_decide),
        ("GET", "/admin/census", census),
        *geoip_pages(),
        ("POST", "/admin/signout", sign_out),
    ]
    app.router.add_route("GET", "/admin", admin_redirect)
    # /admin/ and the sign-in answer signed out too (the sign-in form).
    app.router.add_route("GET", "/admin/", _page(admin_home, admin=True, signed_in=False))
    app.router.add_route("POST", "/admin/signin", _page(sign_in, admin=False, private=True))
    for method, path, handler in admin_pages:
        app.router.add_route(method, path, _page(handler, admin=True))
    app.router.add_route("GET", "/transparency", _page(transparency, admin=False))
    app.router.add_route("GET", "/static/{name}", static)

