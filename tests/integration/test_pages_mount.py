"""The admin pages are a sub-application at /admin with their own middleware; the HTTP API is
the root application and runs none of it (joingate/web/README.md, "How the pages are served")."""

from __future__ import annotations

from http.client import HTTPConnection, HTTPResponse
from pathlib import Path

import pytest
from aiohttp import web

from joingate.application import build_app
from joingate.config import load_settings
from joingate.runtime import Runtime
from joingate.testing.geodb import write_test_mmdb
from joingate.testing.service import JoingateService

pytestmark = pytest.mark.integration
PAGE_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy")


def _ask(svc: JoingateService, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[HTTPResponse, bytes]:
    conn = HTTPConnection("127.0.0.1", svc.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    return answer, data


def test_the_api_answers_without_the_pages_headers(service: JoingateService) -> None:
    plugin = {"Authorization": f"Bearer {service.plugin_token}",
              "Content-Type": "application/json"}
    calls = [("POST", "/v1/authorize", b'{"room": "r", "ip": "127.0.1.1"}', plugin),
             ("POST", "/v1/authorize", b"{", plugin),
             ("GET", "/v1/report", None, {}), ("GET", "/healthz", None, {}),
             ("GET", "/nowhere", None, {})]
    for method, path, body, headers in calls:
        answer, _ = _ask(service, method, path, body, headers)
        assert answer.getheader("Content-Type", "").startswith("application/json"), path
        assert [h for h in PAGE_HEADERS if answer.getheader(h)] == [], (method, path)
        assert answer.getheader("Cache-Control") is None, (method, path)


def test_an_admin_address_no_page_serves_is_a_page(service: JoingateService) -> None:
    for path in ("/admin/nowhere", "/admin/restrictions/1/nowhere"):
        answer, data = _ask(service, "GET", path)
        assert answer.status == 404, path
        assert answer.getheader("Content-Type", "").startswith("text/html"), path
        assert answer.getheader("Cache-Control") == "no-store", path
        assert all(answer.getheader(h) for h in PAGE_HEADERS), path
        assert b"<h1>Not found</h1>" in data, path
    # A page that takes only POST: 405 naming it; a POST to no page writes nothing: 404.
    answer, data = _ask(service, "GET", "/admin/signin")
    assert answer.status == 405 and answer.getheader("Allow") == "POST"
    assert b"<h1>Not allowed</h1>" in data
    answer, _ = _ask(service, "POST", "/admin/nowhere", b"csrf=x",
                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 404
    # The pages themselves are where they were.
    answer, _ = _ask(service, "GET", "/admin")
    assert answer.status == 303 and answer.getheader("Location") == "/admin/"
    answer, _ = _ask(service, "GET", "/admin/restrictions")
    assert answer.status == 303 and answer.getheader("Location") == "/admin/"


def test_no_application_gives_aiohttp_middlewares(tmp_path: Path) -> None:
    """aiohttp runs its middleware machinery for every request of a parent application once a
    sub-application has `middlewares=`; the pages compose theirs onto their own handlers."""
    settings = load_settings(environ={
        "JOINGATE_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "JOINGATE_GEOIP_DATABASE": str(write_test_mmdb(tmp_path / "geo.mmdb"))})
    app = build_app(Runtime(settings))
    mounted = {info["prefix"]: info["app"] for info in
               (resource.get_info() for resource in app.router.resources()) if "app" in info}
    assert list(mounted) == ["/admin"]
    sub: web.Application = mounted["/admin"]
    assert not app.middlewares and not sub.middlewares
