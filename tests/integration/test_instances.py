"""Several joingate instances on one PostgreSQL: in step within a second; a lost database
leaves decisions running and writes refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from joingate.testing.geodb import address, write_test_mmdb
from joingate.testing.service import HeldRequest, JoingateService, http, wait_until
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration


def test_a_change_on_one_instance_reaches_the_other_within_a_second(
        postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.create_database()
    geo = write_test_mmdb(tmp_path / "geo.mmdb")
    with JoingateService(tmp_path / "a", geoip=geo, store_url=url, name="-a") as a, \
            JoingateService(tmp_path / "b", geoip=geo, store_url=url, name="-b") as b:
        # Long poll instance B, then create the restriction on instance A.
        _, first = http("GET", f"{b.url}/v1/enforcement?after=0", token=b.plugin_token)
        held = HeldRequest(b.url, f"/v1/enforcement?after={first['epoch']}&wait=20",
                           b.plugin_token)
        wait_until(held.received, timeout=10, what="the poll to reach instance B")
        created_at = time.monotonic()
        status, made = a.api("POST", "/v1/restrictions", {
            "rooms": ["june4-hk"], "countries": ["CN"], "reason": "policy"})
        assert status == 201
        status, woke = held.response()
        assert status == 200 and woke["rooms"] == ["june4-hk"]
        assert time.monotonic() - created_at < 1.0
        assert b.authorize("june4-hk", address("CN"))["restriction"] == made["id"]
        # and back: revoked on B, allowed on A
        b.api("POST", f"/v1/restrictions/{made['id']}/revoke", {"reason": "lifted"})
        wait_until(lambda: a.authorize("june4-hk", address("CN"))["decision"] == "allow",
                   timeout=1.0, what="the revocation to reach instance A")
        assert "intact" in a.cli("audit", "verify").stdout


def test_losing_the_database(tmp_path: Path) -> None:
    with PostgresServer() as pg:
        url = pg.create_database()
        with JoingateService(tmp_path / "svc", store_url=url) as svc:
            status, _ = svc.api("POST", "/v1/restrictions", {
                "rooms": ["r"], "countries": ["CN"], "reason": "policy"})
            assert status == 201
            pg.stop_server()
            wait_until(lambda: http("GET", f"{svc.url}/readyz")[0] == 503, timeout=10,
                       what="readiness to drop")
            # Decisions go on from the last snapshot...
            assert svc.authorize("r", address("CN"))["decision"] == "deny"
            assert svc.authorize("r", address("HK"))["decision"] == "allow"
            # ...and writes are refused, not lost.
            status, body = svc.api("POST", "/v1/restrictions", {
                "rooms": ["s"], "countries": ["CN"], "reason": "policy"})
            assert status == 503 and body["error"]["code"] == "unavailable"
            pg.start()
            wait_until(lambda: http("GET", f"{svc.url}/readyz")[0] == 200, timeout=20,
                       what="readiness to come back")
            status, _ = svc.api("POST", "/v1/restrictions", {
                "rooms": ["s"], "countries": ["CN"], "reason": "policy"})
            assert status == 201
            ids = [r["rooms"] for r in svc.api("GET", "/v1/restrictions")[1]["restrictions"]]
            assert ids == [["r"], ["s"]]
