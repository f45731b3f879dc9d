"""Sessions, the sign-in limiter and the forwarded-header rules on their own (pure, with
explicit clocks)."""

from __future__ import annotations

from ipaddress import ip_network

from joingate.web.proxy import came_over_tls, client_address
from joingate.web.security import Sessions, SignInLimiter, same_secret

PROXIES = (ip_network("10.0.0.0/8"), ip_network("::1/128"))


def test_sessions_expire_and_are_bounded() -> None:
    sessions = Sessions(ttl=60.0, limit=2)
    a = sessions.create("hash-a", "ops", now=0.0)
    assert sessions.get(a.id, now=59.0) is a
    assert sessions.get(a.id, now=60.0) is None  # expired, and forgotten
    assert sessions.get(a.id, now=0.0) is None
    b = sessions.create("hash-b", "b", now=100.0)
    c = sessions.create("hash-c", "c", now=101.0)
    d = sessions.create("hash-d", "d", now=102.0)  # past the limit: the oldest goes
    assert sessions.get(b.id, now=103.0) is None
    assert sessions.get(c.id, now=103.0) is c and sessions.get(d.id, now=103.0) is d
    assert len({c.id, d.id, c.csrf, d.csrf}) == 4
    sessions.drop(c.id)
    assert sessions.get(c.id, now=103.0) is None and len(sessions) == 1


def test_limiter_window_and_reset() -> None:
    limiter = SignInLimiter(limit=3, window=100.0)
    for t in (0.0, 10.0, 20.0):
        assert limiter.retry_after("203.0.113.7", now=t) == 0.0
        limiter.failed("203.0.113.7", now=t)
    assert limiter.retry_after("203.0.113.7", now=30.0) == 70.0
    assert limiter.retry_after("198.51.100.1", now=30.0) == 0.0  # per client
    assert limiter.retry_after("203.0.113.7", now=100.0) == 0.0  # the first failure aged out
    limiter.failed("203.0.113.7", now=101.0)
    assert limiter.retry_after("203.0.113.7", now=102.0) > 0
    # Every failure counts, so a guesser who keeps going stays limited.
    limiter.failed("203.0.113.7", now=103.0)
    limiter.failed("203.0.113.7", now=104.0)
    assert limiter.retry_after("203.0.113.7", now=150.0) == 51.0
    assert limiter.retry_after("203.0.113.7", now=205.0) == 0.0


def test_limiter_holds_no_address() -> None:
    limiter = SignInLimiter(limit=1, window=10.0, max_clients=2)
    for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        limiter.failed(client, now=0.0)
    assert "203.0.113" not in repr(vars(limiter))
    assert len(limiter._failures) == 2  # bounded


def test_same_secret() -> None:
    assert same_secret("abc", "abc")
    assert not same_secret("abc", "abd")
    assert not same_secret("", "")
    assert not same_secret(None, "abc")


def test_client_address_believes_only_trusted_proxies() -> None:
    # An untrusted peer is the client, whatever it claims.
    assert client_address("203.0.113.7", ["198.51.100.1"], PROXIES) == "203.0.113.7"
    # A trusted peer: the right-most hop that is not a trusted proxy.
    assert client_address("10.0.0.2", ["198.51.100.1"], PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.2", ["192.0.2.66, 198.51.100.1, 10.0.0.9"],
                          PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.2", ["192.0.2.66", "198.51.100.1"],
                          PROXIES) == "198.51.100.1"  # several header lines, in order
    assert client_address("::ffff:10.0.0.2", ["2001:db8::1"], PROXIES) == "2001:db8::1"
    assert client_address("::1", [], PROXIES) == "::1"  # the proxy passed no header
    assert client_address("10.0.0.2", ["10.0.0.3"], PROXIES) == "10.0.0.3"  # only proxies
    assert client_address(None, ["198.51.100.1"], PROXIES) == "unknown"
    assert client_address("10.0.0.2", ["198.51.100.1"], ()) == "10.0.0.2"  # none trusted


def test_tls_is_believed_from_the_socket_or_a_trusted_proxy() -> None:
    assert came_over_tls(True, "203.0.113.7", [], PROXIES)
    assert came_over_tls(False, "10.0.0.2", ["https"], PROXIES)
    assert came_over_tls(False, "10.0.0.2", ["HTTPS, http"], PROXIES)
    assert not came_over_tls(False, "10.0.0.2", ["http"], PROXIES)
    assert not came_over_tls(False, "10.0.0.2", [], PROXIES)
    assert not came_over_tls(False, "203.0.113.7", ["https"], PROXIES)
    assert not came_over_tls(False, None, ["https"], PROXIES)
