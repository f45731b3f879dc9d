"""Signing in and out, and /admin/ itself: the sign-in form, or the overview once signed in."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import RUNTIME
from ..restrictions import utc_now
from ..store.base import hash_token
from ..vocabulary import Scope
from .forms import text
from .pages import redirect, render
from .proxy import came_over_tls, client_address
from .security import COOKIE_PATH, LOGIN_COOKIE, SESSION_COOKIE, Session, new_secret
from .session import SIGN_INS, Access, Route


def _client(request: web.Request) -> str:
    # Kept only as a keyed hash in the limiter's memory; never logged or stored.
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", ()),
                          request.app[RUNTIME].settings.trusted_proxy_networks)


def _set_cookie(response: web.Response, request: web.Request, name: str, value: str,
                max_age: int) -> None:
    secure = came_over_tls(request.secure, request.remote,
                           request.headers.getall("X-Forwarded-Proto", ()),
                           request.app[RUNTIME].settings.trusted_proxy_networks)
    response.set_cookie(name, value, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=secure, max_age=max_age)


def _login_page(request: web.Request, status: int = 200, error: str | None = None,
                retry_after: float = 0.0) -> web.Response:
    nonce = new_secret()
    response = render(request, "login.html", status, title="Sign in", login_csrf=nonce,
                      error=error)
    _set_cookie(response, request, LOGIN_COOKIE, nonce, 3600)
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after) + 1)
    return response


async def home(request: web.Request) -> web.StreamResponse:
    session: Session | None = request.get("session")
    if session is None:
        return _login_page(request)
    rt = request.app[RUNTIME]
    now = utc_now()
    restrictions = await rt.restrictions()
    requests = await rt.requests()
    states: dict[str, int] = {}
    for r in restrictions:
        states[r.state(now)] = states.get(r.state(now), 0) + 1
    undecided = [r for r in requests if r.outcome is None]
    return render(request, "home.html", title="joingate admin", states=states,
                  undecided=undecided, n_requests=len(requests), geoip=rt.geoip_status())


async def sign_in(request: web.Request) -> web.StreamResponse:
    """A right admin token always opens a session; wrong ones past the limit get 429 (see
    joingate/web/README.md for why the limiter never stands in the way of the right token)."""
    sign_ins = request.app[SIGN_INS]
    token = text(await request.post(), "token")
    info = request.app[RUNTIME].token_scope(token) if token else None
    if info is None or info.scope != Scope.ADMIN:
        client = _client(request)
        wait = sign_ins.limiter.retry_after(client)
        sign_ins.limiter.failed(client)
        if wait:
            return _login_page(request, 429, error="token: too many wrong tokens from here. "
                               f"Wait {int(wait) + 1} seconds before trying another.",
                               retry_after=wait)
        message = ("token: this is a plugin token; sign in with an admin token"
                   if info is not None else "token: not a token this server knows")
        return _login_page(request, 401, error=message)
    session = sign_ins.sessions.create(hash_token(token), info.name)
    response = redirect("/admin/")
    _set_cookie(response, request, SESSION_COOKIE, session.id, int(sign_ins.sessions.ttl))
    response.del_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    request.app[SIGN_INS].sessions.drop(request.cookies.get(SESSION_COOKIE))
    response = redirect("/admin/?signed_out=1")
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


async def to_home(request: web.Request) -> web.StreamResponse:
    return redirect("/admin/")


ROUTES = [Route("GET", "", to_home, Access.ANYONE),  # /admin
          Route("GET", "/", home, Access.SIGNED_OUT_TOO),
          Route("POST", "/signin", sign_in, Access.SIGN_IN_FORM),
          Route("POST", "/signout", sign_out)]
