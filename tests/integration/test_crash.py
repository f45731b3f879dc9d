"""kill -9 in the middle of a stream of writes, repeated: nothing acknowledged is lost, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from joingate.testing.service import JoingateService, http
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """None: the service's own SQLite file; else a fresh database on the session's server."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


def test_kill_9_during_writes_loses_nothing_acknowledged(tmp_path: Path,
                                                         store_url: str | None) -> None:
    rng = random.Random(604)
    acknowledged: dict[str, set[int]] = {"restrictions": set(), "requests": set()}
    with JoingateService(tmp_path / "svc", store_url=store_url) as svc:
        for round_no in range(4):
            stop = threading.Event()

            def writer(n: int = round_no, stop: threading.Event = stop) -> None:
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        status, body = http("POST", f"{svc.url}/v1/requests", {
                            "authority": "Ministry", "jurisdiction": "CN",
                            "reference": f"R{n}-{i}", "rooms": [f"m{n}-{i}"], "demand": "d"},
                            token=svc.admin_token, timeout=5)
                        if status == 201:
                            acknowledged["requests"].add(body["id"])
                        status, body = http("POST", f"{svc.url}/v1/restrictions", {
                            "rooms": [f"m{n}-{i}"], "countries": ["CN"],
                            "request": body["id"], "reason": f"R{n}-{i}"},
                            token=svc.admin_token, timeout=5)
                        if status == 201:
                            acknowledged["restrictions"].add(body["id"])
                    except (OSError, KeyError):
                        return  # the service died under us: what was not answered is not owed

            thread = threading.Thread(target=writer)
            thread.start()
            stop.wait(rng.uniform(0.4, 1.2))
            svc.stop(kill=True)
            stop.set()
            thread.join(timeout=20)
            svc.start()
            stored = {
                "restrictions": {r["id"] for r in
                                 svc.api("GET", "/v1/restrictions")[1]["restrictions"]},
                "requests": {r["id"] for r in svc.api("GET", "/v1/requests")[1]["requests"]},
            }
            for kind, ids in acknowledged.items():
                assert ids <= stored[kind], (round_no, kind, sorted(ids - stored[kind]))
            verified = svc.cli("audit", "verify")
            assert "intact" in verified.stdout
        assert len(acknowledged["restrictions"]) >= 8  # the stream really wrote
