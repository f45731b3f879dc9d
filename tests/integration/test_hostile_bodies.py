"""Every JSON route answers any body with a 4xx and the contract's error JSON, never a 500 or
a traceback in the log (issue 11, item 5: 990 nested arrays made a RecursionError)."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from joingate.api.app import ROUTES
from joingate.testing.service import JoingateService

pytestmark = pytest.mark.integration

# Every route that reads a JSON body; "{id}" routes get an id that exists in no store.
BODY_ROUTES = sorted(path.replace("{id}", "1") for method, path, _ in ROUTES if method == "POST")
FIELDS = ["room", "ip", "checks", "rooms", "countries", "reason", "source", "outcome", "note",
          "authority", "jurisdiction", "reference", "demand", "request", "mode", "purpose"]


def nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


HOSTILE: list[tuple[str, bytes, dict[str, str]]] = [
    ("990 nested arrays", nested(990), {}),
    ("990 nested objects", deep_object(990), {}),
    ("100k nested arrays", nested(100_000), {}),
    ("invalid UTF-8", b'{"room": "\xff\xfe", "ip": "1.2.3.4"}', {}),
    ("lone surrogate", b'{"room": "\\ud800", "ip": "1.2.3.4"}', {}),
    ("NaN", b'{"room": NaN}', {}),
    ("huge number", b'{"request": 1' + b"0" * 5000 + b"}", {}),
    ("1e999", b'{"request": 1e999}', {}),
    ("empty", b"", {}),
    ("null", b"null", {}),
    ("BOM", b'\xef\xbb\xbf{"room": "r", "ip": "1.2.3.4"}', {}),
    ("truncated", b'{"room": "r", "ip": ', {}),
    ("300 KB", b'{"reason": "' + b"x" * 300_000 + b'"}', {}),
    ("gzip bomb", gzip.compress(b"[" * 4_000_000), {"Content-Encoding": "gzip"}),
    ("unknown encoding", b"{}", {"Content-Encoding": "x-unknown"}),
]
# Deep nesting under each field name, and under a census meeting and country.
HOSTILE += [(f"990 nested arrays in {name}", b'{"%s": ' % name.encode() + nested(990) + b"}", {})
            for name in FIELDS]
HOSTILE += [("990 nested arrays in a census count",
             b'{"rooms": {"r": {"CN": ' + nested(990) + b"}}}", {}),
            ("990 nested objects in a census count",
             b'{"rooms": {"r": {"CN": ' + deep_object(990) + b"}}}", {}),
            ("990 nested arrays in a check",
             b'{"checks": [{"room": "r", "ip": ' + nested(990) + b"}]}", {})]


def post(url: str, body: bytes, token: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def error_of(raw: bytes) -> dict[str, Any]:
    answer = json.loads(raw)
    assert set(answer) == {"error"}, answer
    error = answer["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert error["field"] is None or isinstance(error["field"], str)
    return dict(error)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_every_json_route_answers_hostile_bodies_with_a_4xx(service: JoingateService,
                                                               path: str) -> None:
    token = service.plugin_token if path.startswith(("/v1/authorize", "/v1/census")) \
        else service.admin_token
    for what, body, headers in HOSTILE:
        status, raw, content_type = post(service.url + path, body, token, headers)
        assert 400 <= status < 500, (path, what, status, raw[:300])
        assert content_type.startswith("application/json"), (path, what, content_type)
        error = error_of(raw)
        if what in ("300 KB", "gzip bomb"):
            assert (status, error["field"]) == (413, "body"), (path, what, error)
        if what.startswith("990 nested") or what.startswith("100k"):
            assert error["field"], (path, what, error)
    # Nothing reached the store and nothing went wrong inside.
    assert service.api("GET", "/v1/restrictions")[1] == {"restrictions": []}
    assert service.api("GET", "/v1/requests")[1] == {"requests": []}
    assert service.api("GET", "/v1/census")[1]["rooms"] == {}
    log = service.log_path.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
