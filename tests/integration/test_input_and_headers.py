"""Hostile spellings and headers against a real `joingate serve`: ids only in ASCII digits,
no bidirectional controls in any stored text, nosniff on every JSON answer, and the sign-in
limiter and cookie flags keyed to what a trusted proxy reports (and only a trusted one)."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path
from typing import Any

import pytest

from joingate.testing.service import JoingateService, http

pytestmark = pytest.mark.integration
# Full-width, Arabic-Indic, extended Arabic-Indic and Devanagari one; a mix with ASCII.
NOT_ASCII_IDS = ["\uff11", "\u0661", "\u06f1", "\u0967", "1\u0661"]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


@pytest.fixture
def trusting(tmp_path: Path) -> Iterator[JoingateService]:
    """A service that trusts 127.0.0.1 as its reverse proxy."""
    with JoingateService(tmp_path / "trusting",
                         env={"JOINGATE_SERVER_TRUSTED_PROXIES": "127.0.0.1/32, ::1"}) as svc:
        yield svc


def audit_size(svc: JoingateService) -> int:
    return int(re.search(r"(\d+) entr", svc.cli("audit", "verify").stdout).group(1))  # type: ignore[union-attr]


# -- ids ------------------------------------------------------------------------------------

def test_ids_are_ascii_digits_only(service: JoingateService) -> None:
    for text in NOT_ASCII_IDS:
        quoted = urllib.parse.quote(text)
        for method, path, body in [
                ("GET", f"/v1/restrictions/{quoted}", None),
                ("POST", f"/v1/restrictions/{quoted}/revoke", {"reason": "r"}),
                ("GET", f"/v1/requests/{quoted}", None),
                ("POST", f"/v1/requests/{quoted}/decision", {"outcome": "refused",
                                                             "note": "n"})]:
            status, answer = service.api(method, path, body)
            assert status == 400 and answer["error"]["field"] == "id", (path, answer)
        for query, field in ((f"after={quoted}", "after"), (f"after=0&wait={quoted}", "wait")):
            status, answer = http("GET", f"{service.url}/v1/enforcement?{query}",
                                  token=service.plugin_token)
            assert status == 400 and answer["error"]["field"] == field, (query, answer)
    # ASCII ids still parse: these are simply not there.
    assert service.api("GET", "/v1/restrictions/1")[0] == 404
    assert service.api("GET", "/v1/requests/1")[0] == 404


def test_cli_ids_are_ascii_digits_only(service: JoingateService) -> None:
    request_id = service.cli("request", "add", "--authority", "MPS", "--jurisdiction", "CN",
                             "--reference", "R", "--room", "june4", "--demand",
                             "d").stdout.strip()
    assert request_id == "1"
    before = audit_size(service)
    for text in NOT_ASCII_IDS[:3]:
        for args, field in [
                (("restrict", "revoke", text, "--reason", "r"), "id"),
                (("request", "decide", text, "--outcome", "refused", "--note", "n"), "id"),
                (("restrict", "add", "--room", "june4", "--country", "CN", "--request", text,
                  "--reason", "r"), "request")]:
            done = service.cli(*args, check=False)
            assert done.returncode == 2, (args, done.stderr)
            assert done.stderr.count("\n") == 1 and f"{field}:" in done.stderr, done.stderr
    assert audit_size(service) == before
    assert service.api("GET", "/v1/requests/1")[1]["outcome"] is None


# -- bidirectional controls -----------------------------------------------------------------

def _request(**over: Any) -> dict[str, Any]:
    return {"authority": "Ministry of Public Security", "jurisdiction": "CN",
            "reference": "MPS-0604", "rooms": ["june4-hk"], "demand": "End it.", **over}


def test_bidirectional_controls_are_refused_in_every_text_field(
        service: JoingateService) -> None:
    status, req = service.api("POST", "/v1/requests", _request())
    assert status == 201
    status, made = service.api("POST", "/v1/restrictions", {
        "rooms": ["june4-hk"], "countries": ["CN"], "request": req["id"], "reason": "R"})
    assert status == 201
    before = audit_size(service)
    for char in BIDI:
        text = f"Ministry{char} of Security"
        cases: list[tuple[str, str, dict[str, Any], str]] = [
            ("POST", "/v1/requests", _request(authority=text), "authority"),
            ("POST", "/v1/requests", _request(reference=text), "reference"),
            ("POST", "/v1/requests", _request(demand=text), "demand"),
            ("POST", "/v1/requests", _request(rooms=[f"june4{char}"]), "rooms"),
            ("POST", "/v1/restrictions", {"rooms": ["june4-hk"], "countries": ["CN"],
                                          "reason": text}, "reason"),
            ("POST", "/v1/restrictions", {"rooms": [f"{char}june4"], "countries": ["CN"],
                                          "reason": "r"}, "rooms"),
            ("POST", f"/v1/restrictions/{made['id']}/revoke", {"reason": text}, "reason"),
            ("POST", f"/v1/requests/{req['id']}/decision",
             {"outcome": "complied", "note": text}, "note"),
        ]
        for method, path, body, field in cases:
            status, answer = service.api(method, path, body)
            assert status == 400, (path, field, answer)
            assert answer["error"]["field"] == field
            assert f"U+{ord(char):04X}" in answer["error"]["message"]
    # The census a plugin reports is shown on the admin pages too.
    status, answer = http("POST", f"{service.url}/v1/census", {
        "source": "meet\u202ehost", "rooms": {"june4-hk": {"CN": 1}}}, service.plugin_token)
    assert status == 400 and answer["error"]["field"] == "source", answer
    done = service.cli("token", "create", "--name", "ops\u2067x", "--scope", "admin",
                       check=False)
    assert done.returncode == 2 and "name:" in done.stderr
    done = service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason",
                       "r\u202e", check=False)
    assert done.returncode == 2 and "reason:" in done.stderr
    assert audit_size(service) == before  # nothing written
    # Text without them, right-to-left scripts included, is taken as given.
    status, kept = service.api("POST", "/v1/requests", _request(authority="وزارة الأمن"))
    assert status == 201 and kept["authority"] == "وزارة الأمن"


# -- headers --------------------------------------------------------------------------------

def test_every_json_answer_is_nosniff(service: JoingateService) -> None:
    plugin, admin = service.plugin_token, service.admin_token
    calls: list[tuple[str, str, Any, str | None]] = [
        ("POST", "/v1/authorize", {"room": "r", "ip": "127.0.1.1"}, plugin),
        ("POST", "/v1/authorize", {"room": "r", "ip": "x"}, plugin),
        ("POST", "/v1/authorize", {"room": "r", "ip": "127.0.1.1"}, None),
        ("POST", "/v1/authorize/batch", {"checks": [{"room": "r", "ip": "127.0.1.1"}]}, plugin),
        ("GET", "/v1/enforcement?after=0&wait=0", None, plugin),
        ("GET", "/v1/restrictions", None, admin),
        ("GET", "/v1/census", None, admin),
        ("GET", "/v1/restrictions", None, plugin),
        ("POST", "/v1/restrictions", b"{", admin),
        ("GET", "/v1/requests/9", None, admin),
        ("GET", "/v1/report", None, None),
        ("GET", "/openapi.json", None, None),
        ("GET", "/healthz", None, None),
        ("GET", "/readyz", None, None),
        ("GET", "/nowhere", None, None),
        ("DELETE", "/v1/report", None, None),
    ]
    seen = set()
    for method, path, body, token in calls:
        answer = _raw(service, method, path, body, token)
        assert answer.getheader("Content-Type", "").startswith("application/json"), path
        assert answer.getheader("X-Content-Type-Options") == "nosniff", (method, path)
        seen.add(answer.status)
    assert {200, 400, 401, 403, 404, 405} <= seen


def _raw(svc: JoingateService, method: str, path: str, body: Any = None,
         token: str | None = None, headers: dict[str, str] | None = None,
         form: dict[str, str] | None = None) -> HTTPResponse:
    conn = HTTPConnection("127.0.0.1", svc.port, timeout=10)
    sent = dict(headers or {})
    data: bytes | None = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    if token:
        sent["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=data, headers=sent)
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer


# -- sign-in behind a proxy -----------------------------------------------------------------

def _sign_in(svc: JoingateService, token: str,
             headers: dict[str, str] | None = None) -> HTTPResponse:
    """One sign-in as a browser would: fetch the form (its cookie and token), post it."""
    conn = HTTPConnection("127.0.0.1", svc.port, timeout=10)
    conn.request("GET", "/admin/", headers=headers or {})
    page = conn.getresponse()
    html = page.read().decode()
    cookie = page.getheader("Set-Cookie", "").split(";", 1)[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    conn.request("POST", "/admin/signin",
                 body=urllib.parse.urlencode({"csrf": csrf, "token": token}),
                 headers={**(headers or {}), "Cookie": cookie,
                          "Content-Type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer


def test_limiter_counts_the_client_a_trusted_proxy_names(trusting: JoingateService) -> None:
    guesser = {"X-Forwarded-For": "203.0.113.9"}
    other = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}  # the last hop is the proxy's
    assert [_sign_in(trusting, "jg_guess", guesser).status for _ in range(6)] == \
        [401] * 5 + [429]
    # A different admin behind the same proxy is a different client...
    assert _sign_in(trusting, "jg_typo", {"X-Forwarded-For": "198.51.100.7"}).status == 401
    # (entries left of the proxy's own are the client's word, and not believed)
    assert _sign_in(trusting, "jg_guess", other).status == 429
    # ...and the right token signs in even from the guesser's address.
    answer = _sign_in(trusting, trusting.admin_token, guesser)
    assert answer.status == 303 and answer.getheader("Location") == "/admin/"
    limited = _sign_in(trusting, "jg_guess", guesser)
    assert limited.status == 429 and int(limited.getheader("Retry-After", "0")) > 0


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
        service: JoingateService) -> None:
    # A guesser cannot dodge the limit by inventing a new X-Forwarded-For each time.
    statuses = [_sign_in(service, "jg_guess", {"X-Forwarded-For": f"203.0.113.{i}"}).status
                for i in range(6)]
    assert statuses == [401] * 5 + [429]
    # Nor does it earn a Secure cookie by claiming https.
    answer = _sign_in(service, service.admin_token, {"X-Forwarded-Proto": "https"})
    assert answer.status == 303
    cookies = answer.headers.get_all("Set-Cookie") or []
    session = next(c for c in cookies if c.startswith("joingate_session="))
    assert "secure" not in session.lower()


def test_cookies_are_secure_when_a_trusted_proxy_says_https(
        trusting: JoingateService) -> None:
    answer = _sign_in(trusting, trusting.admin_token, {"X-Forwarded-Proto": "https",
                                                        "X-Forwarded-For": "198.51.100.7"})
    assert answer.status == 303
    session = next(c for c in answer.headers.get_all("Set-Cookie") or []
                   if c.startswith("joingate_session="))
    assert "; secure" in session.lower() and "httponly" in session.lower()
    plain = _sign_in(trusting, trusting.admin_token, {"X-Forwarded-For": "198.51.100.7"})
    session = next(c for c in plain.headers.get_all("Set-Cookie") or []
                   if c.startswith("joingate_session="))
    assert "secure" not in session.lower()
