"""Sessions, CSRF tokens and the sign-in limiter of the admin pages. All in memory.

A session is a random id (the cookie) mapped to the hash of the admin token that opened it, the
token's name, a CSRF token and an expiry. Nothing here is written to disk, and a restart signs
everybody out. The limiter keys clients by a keyed hash of their address (the key is random per
process), so not even the memory holds a participant's or an admin's address in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

SESSION_COOKIE = "joingate_session"
LOGIN_COOKIE = "joingate_signin"
COOKIE_PATH = "/admin"

SECURITY_HEADERS = {
    # No script at all; styles and images from this server only; no framing; forms post here.
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same_secret(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@dataclass(slots=True)
class Session:
    id: str
    token_hash: str
    name: str
    csrf: str
    expires: float


class Sessions:
    """Signed-in admins. Bounded: past `limit` sessions the oldest is dropped."""

    def __init__(self, ttl: float = 8 * 3600.0, limit: int = 1000):
        self.ttl = ttl
        self.limit = limit
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def create(self, token_hash: str, name: str, now: float | None = None) -> Session:
        now = time.monotonic() if now is None else now
        self._prune(now)
        while len(self._by_id) >= self.limit:
            self._by_id.popitem(last=False)
        session = Session(new_secret(), token_hash, name, new_secret(), now + self.ttl)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None, now: float | None = None) -> Session | None:
        if not session_id:
            return None
        now = time.monotonic() if now is None else now
        session = self._by_id.get(session_id)
        if session is None:
            return None
        if session.expires <= now:
            del self._by_id[session_id]
            return None
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def _prune(self, now: float) -> None:
        for sid in [sid for sid, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[sid]

    def __len__(self) -> int:
        return len(self._by_id)


class SignInLimiter:
    """Counts failed sign-ins per client in a sliding `window` (seconds); past `limit` of them
    the client is told to wait. It only ever judges wrong tokens: the sign-in lets a right one
    in regardless, so nobody can be locked out by someone else's failures (and a success does
    not clear the count, so an admin signing in from a shared address does not reset a
    guesser's). Bounded to `max_clients` records (oldest dropped)."""

    def __init__(self, limit: int = 5, window: float = 300.0, max_clients: int = 10000):
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._key = secrets.token_bytes(32)
        self._failures: OrderedDict[bytes, deque[float]] = OrderedDict()

    def _client(self, address: str) -> bytes:
        return hmac.new(self._key, address.encode("utf-8"), hashlib.sha256).digest()[:16]

    def retry_after(self, address: str, now: float | None = None) -> float:
        """Seconds until this client may try again (0: now)."""
        now = time.monotonic() if now is None else now
        failures = self._failures.get(self._client(address))
        if failures is None:
            return 0.0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            return 0.0
        return max(0.0, failures[0] + self.window - now)

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        client = self._client(address)
        failures = self._failures.pop(client, None) or deque(maxlen=self.limit)
        failures.append(now)
        self._failures[client] = failures
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

