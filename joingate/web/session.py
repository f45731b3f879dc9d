"""Who may reach an admin page, checked before its handler: the session (opened with an admin
token, security.py) and the CSRF token every form carries. A POST that fails either is refused
(403) before the handler reads the form, so nothing is written.

Each route says what it needs (`Access`); `CHECKS[access]` is the middleware put in front of
it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from aiohttp import web

from ..appkeys import RUNTIME
from ..vocabulary import Scope
from .pages import Handler, Middleware, redirect, render
from .security import LOGIN_COOKIE, SESSION_COOKIE, Session, Sessions, SignInLimiter, same_secret


@dataclass
class SignIns:
    """The open sessions and the sign-in limiter (memory only: a restart signs everyone out)."""

    sessions: Sessions = field(default_factory=Sessions)
    limiter: SignInLimiter = field(default_factory=SignInLimiter)


SIGN_INS = web.AppKey("joingate_sign_ins", SignIns)


class Access(Enum):
    SIGNED_IN = "a session; on POST, its CSRF token"
    SIGNED_OUT_TOO = "the session if there is one, for the header (none needed)"
    SIGN_IN_FORM = "the sign-in form's own CSRF token (double submit: no session yet)"
    ANYONE = "nothing to check (the redirect from /admin to /admin/)"


class Route(NamedTuple):
    method: str
    path: str  # under the sub-application's prefix (/admin)
    handler: Handler
    access: Access = Access.SIGNED_IN


def session_of(request: web.Request) -> Session | None:
    """The signed-in session, if its token is still an admin token (stored on the request)."""
    sessions = request.app[SIGN_INS].sessions
    session = sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        info = request.app[RUNTIME].tokens.get(session.token_hash)
        if info is None or info.scope != Scope.ADMIN:
            sessions.drop(session.id)
            session = None
    request["session"] = session
    return session


def actor(request: web.Request) -> str:
    """Who the audit log names for a write made from the pages."""
    session: Session = request["session"]
    return f"web:{session.name}"


async def find_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    session_of(request)
    return await handler(request)


async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    if session_of(request) is None:
        if request.method == "POST":
            return render(request, "error.html", 403, title="Signed out",
                          message="Your session has ended. Sign in again; nothing was changed.")
        return redirect("/admin/")
    return await handler(request)


async def _posted_token(request: web.Request) -> str | None:
    given = (await request.post()).get("csrf")
    return given if isinstance(given, str) else None


async def session_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A POST carries the CSRF token of its session (require_session found it)."""
    if request.method == "POST":
        session: Session = request["session"]
        if not same_secret(await _posted_token(request), session.csrf):
            return render(request, "error.html", 403, title="Form refused",
                          message="This form did not carry the token of your session, so "
                                  "nothing was changed. Go back, reload the page and try again.")
    return await handler(request)


async def sign_in_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The sign-in form carries the token its sign-in cookie holds (double submit)."""
    if not same_secret(await _posted_token(request), request.cookies.get(LOGIN_COOKIE)):
        return render(request, "error.html", 403, title="Form refused",
                      message="The sign-in form was not the one this server gave you. "
                              "Reload the sign-in page and try again.")
    return await handler(request)


CHECKS: dict[Access, tuple[Middleware, ...]] = {
    Access.SIGNED_IN: (require_session, session_csrf),
    Access.SIGNED_OUT_TOO: (find_session,),
    Access.SIGN_IN_FORM: (sign_in_csrf,),
    Access.ANYONE: ()}
