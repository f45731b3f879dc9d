"""The report through its shells: GET /v1/report, `joingate report`, a real `joingate serve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService, http, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JoingateService]:
    with JoingateService(tmp_path / "svc") as svc:
        yield svc


def without_time(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "generated_at"}


def test_api_and_cli_give_the_same_document(service: JoingateService) -> None:
    request_id = service.cli("request", "add", "--authority", "MPS", "--jurisdiction", "CN",
                             "--reference", "MPS-1", "--room", "june4-hk",
                             "--demand", "End it.").stdout.strip()
    service.cli("restrict", "add", "--room", "june4-hk", "--country", "CN", "--request",
                request_id, "--reason", "MPS-1")
    service.cli("audit", "checkpoint")
    wait_until(lambda: service.authorize("june4-hk", address("CN"))["decision"] == "deny")

    def flushed() -> dict[str, Any] | None:
        status, body = http("GET", f"{service.url}/v1/report")
        assert status == 200, body
        return dict(body) if body["participants"]["refused"] else None

    api = wait_until(flushed, timeout=10, what="counters flushed")
    assert api["participants"] == {"refused": {"CN": 1}, "removed": {}}
    assert api["requests"][0]["reference"] == "MPS-1"
    assert api["audit_checkpoint"]["size"] >= 2
    cli = json.loads(service.cli("report", "--format", "json").stdout)
    assert without_time(cli) == without_time(api)
    assert json.loads(service.cli("report", "--json").stdout)["requests"] == api["requests"]

    markdown = service.cli("report").stdout
    assert markdown.startswith("# Transparency report") and "MPS-1" in markdown
    html = service.cli("report", "--format", "html").stdout
    assert html.startswith("<!doctype html>") and "<svg" in html and "<style>" in html

    # The published checkpoint verifies against the log.
    published = service.workdir / "report.json"
    published.write_text(json.dumps(api))
    assert service.cli("audit", "verify", "--checkpoint", str(published)).returncode == 0


def test_period_from_the_query_and_the_options(service: JoingateService) -> None:
    status, body = http("GET", f"{service.url}/v1/report?since=2026-06-01&until=2026-06-30")
    assert status == 200
    assert body["period"] == {"since": "2026-06-01", "until": "2026-06-30"}
    cli = json.loads(service.cli("report", "--json", "--since", "2026-06-01",
                                 "--until", "2026-06-30").stdout)
    assert cli["period"] == body["period"]


@pytest.mark.parametrize(("query", "args", "field"), [
    ("since=2026-13-01", ["--since", "2026-13-01"], "since"),
    ("until=tomorrow", ["--until", "tomorrow"], "until"),
    ("since=2026-06-05&until=2026-06-04", ["--since", "2026-06-05", "--until", "2026-06-04"],
     "since"),
])
def test_bad_dates(service: JoingateService, query: str, args: list[str], field: str) -> None:
    status, body = http("GET", f"{service.url}/v1/report?{query}")
    assert status == 400 and body["error"]["field"] == field
    result = service.cli("report", *args, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"joingate: {field}: ")
