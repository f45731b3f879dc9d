"""A refused authority request keeps no restriction in force: the refusal ends the ones made
for it, and none can be made after it — even when 20 creates race the refusal, through the
real HTTP API and through the CLI, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import JOINGATE, JoingateService, http, wait_until
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration
ROOM = "june4-vigil"
RACERS = 20


@pytest.fixture(params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JoingateService]:
    url = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database()
    with JoingateService(tmp_path / "svc", store_url=url) as service:
        yield service


def _request(svc: JoingateService) -> int:
    status, made = svc.api("POST", "/v1/requests", {
        "authority": "Ministry of Public Security", "jurisdiction": "CN",
        "reference": "MPS-0604", "rooms": [ROOM], "demand": "End the meeting."})
    assert status == 201, made
    return int(made["id"])


def _restriction_body(request_id: int) -> dict[str, Any]:
    return {"rooms": [ROOM], "countries": ["CN"], "request": request_id, "reason": "MPS-0604"}


def _assert_nothing_in_force(svc: JoingateService, request_id: int) -> list[dict[str, Any]]:
    """From outside: the request's restrictions are all revoked, a CN participant may enter,
    and the audit log verifies."""
    status, listed = svc.api("GET", "/v1/restrictions")
    assert status == 200
    mine = [r for r in listed["restrictions"] if r["request"] == request_id]
    assert {r["state"] for r in mine} <= {"revoked"}, mine
    status, req = svc.api("GET", f"/v1/requests/{request_id}")
    assert req["outcome"] == "refused" and sorted(req["restrictions"]) == [r["id"] for r in mine]
    assert svc.authorize(ROOM, address("CN"))["decision"] == "allow"
    assert "intact" in svc.cli("audit", "verify").stdout
    return mine


def test_refusal_ends_restrictions_and_the_plugin_hears_of_it(svc: JoingateService) -> None:
    request_id = _request(svc)
    status, made = svc.api("POST", "/v1/restrictions", _restriction_body(request_id))
    assert status == 201, made
    assert svc.authorize(ROOM, address("CN"))["decision"] == "deny"
    _, feed = http("GET", f"{svc.url}/v1/enforcement?after=0", token=svc.plugin_token)
    assert ROOM in feed["restricted"]

    status, decided = svc.api("POST", f"/v1/requests/{request_id}/decision",
                              {"outcome": "refused", "note": "No lawful basis."})
    assert status == 200 and decided["outcome"] == "refused"
    # Refusal is answered only once the snapshot no longer holds the restriction.
    assert svc.authorize(ROOM, address("CN"))["decision"] == "allow"
    status, after = http("GET", f"{svc.url}/v1/enforcement?after={feed['epoch']}&wait=0",
                         token=svc.plugin_token)
    assert status == 200 and after["epoch"] > feed["epoch"]
    assert ROOM in after["rooms"] and ROOM not in after["restricted"]
    ended = _assert_nothing_in_force(svc, request_id)
    assert [r["id"] for r in ended] == [made["id"]]
    assert ended[0]["revoked_by"] == "token:admin"
    assert "No lawful basis." in ended[0]["revoke_reason"]

    status, again = svc.api("POST", "/v1/restrictions", _restriction_body(request_id))
    assert status == 422 and again["error"]["field"] == "request"
    # The public report: the request is refused; the statement that no refused request
    # produced a restriction is left out (one did, before it was refused), and the report
    # says the refusal ended it.
    _, report = http("GET", f"{svc.url}/v1/report")
    assert [r["outcome"] for r in report["requests"]] == ["refused"]
    assert report["by_jurisdiction"]["CN"]["restrictions_created"] == 1
    statements = {s["id"] for s in report["never_done"]}
    assert "refused_requests" not in statements and "refusals_ended" in statements


def _race(jobs: list[Any]) -> list[Any]:
    """Run every job on its own thread, released together; their results in order."""
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        start.wait(timeout=60)
        results[i] = jobs[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    return results


def test_twenty_http_creates_racing_a_refusal(svc: JoingateService) -> None:
    request_id = _request(svc)

    def create() -> tuple[int, Any]:
        return svc.api("POST", "/v1/restrictions", _restriction_body(request_id), timeout=60)

    def refuse() -> tuple[int, Any]:
        return svc.api("POST", f"/v1/requests/{request_id}/decision",
                       {"outcome": "refused", "note": "No."}, timeout=60)
    jobs = [create] * (RACERS // 2) + [refuse] + [create] * (RACERS // 2)
    results = _race(jobs)
    assert results[RACERS // 2][0] == 200, results[RACERS // 2]
    creates = results[:RACERS // 2] + results[RACERS // 2 + 1:]
    for status, body in creates:
        assert status == 201 or (status == 422 and body["error"]["field"] == "request"), body
    mine = _assert_nothing_in_force(svc, request_id)
    assert len(mine) == sum(1 for status, _ in creates if status == 201)


def test_twenty_cli_creates_racing_a_refusal(svc: JoingateService) -> None:
    request_id = _request(svc)
    assert svc.authorize(ROOM, address("CN"))["decision"] == "allow"
    config = ["--config", str(svc.config)]
    create = [*JOINGATE, "restrict", "add", "--room", ROOM, "--country", "CN",
              "--request", str(request_id), "--reason", "MPS-0604", *config]
    refuse = [*JOINGATE, "request", "decide", str(request_id), "--outcome", "refused",
              "--note", "No.", *config]
    commands = [create] * (RACERS // 2) + [refuse] + [create] * (RACERS // 2)
    procs = [subprocess.Popen(c, cwd=svc.workdir, env=svc.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in commands]
    outputs = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert outputs[RACERS // 2][0] == 0, outputs[RACERS // 2]
    creates = outputs[:RACERS // 2] + outputs[RACERS // 2 + 1:]
    for code, _, err in creates:
        assert code == 0 or (code == 2 and "was refused" in err), err
    made = sum(1 for code, _, _ in creates if code == 0)
    # The service learns of the CLI's writes from the store: once it holds a restriction
    # written after all of them, its snapshot holds theirs too.
    svc.cli("restrict", "add", "--room", "sentinel", "--country", "CN", "--reason", "marker")
    wait_until(lambda: svc.authorize("sentinel", address("CN"))["decision"] == "deny",
               timeout=20, what="the service to load the CLI's writes")
    assert len(_assert_nothing_in_force(svc, request_id)) == made
