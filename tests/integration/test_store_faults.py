"""A locked SQLite database: decisions keep flowing from memory, writes get 503, nothing is
half-written; a truncated GeoIP replacement leaves the loaded DB in use."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService, http, wait_until

pytestmark = pytest.mark.integration


def test_locked_database(service: JoingateService) -> None:
    service.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                              "reason": "policy"})
    locker = sqlite3.connect(service.db, isolation_level=None, timeout=1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        assert service.authorize("r", address("CN"))["decision"] == "deny"
        # The hot path never waits for the store: well under its 5 s busy timeout (generous
        # for a busy machine; waiting for the lock would take all 5 s).
        assert time.monotonic() - started < 3.0
        status, body = service.api("POST", "/v1/restrictions", {
            "rooms": ["s"], "countries": ["CN"], "reason": "policy"}, timeout=30)
        assert status == 503 and body["error"]["code"] == "unavailable"
        assert service.authorize("r", address("CN"))["decision"] == "deny"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    rooms = [r["rooms"] for r in service.api("GET", "/v1/restrictions")[1]["restrictions"]]
    assert rooms == [["r"]]
    assert "intact" in service.cli("audit", "verify").stdout
    status, _ = service.api("POST", "/v1/restrictions", {"rooms": ["s"], "countries": ["CN"],
                                                          "reason": "policy"})
    assert status == 201


def test_truncated_geoip_replacement(service: JoingateService, tmp_path: Path) -> None:
    assert service.authorize("r", address("TW"))["country"] == "TW"
    whole = service.geoip.read_bytes()
    half = tmp_path / "half.mmdb"
    half.write_bytes(whole[: len(whole) // 2])
    half.replace(service.geoip)
    wait_until(lambda: http("GET", f"{service.url}/readyz")[1]["geoip"]["reload_error"],
               timeout=10, what="the reload error to be reported")
    assert service.authorize("r", address("TW", 99))["country"] == "TW"
    # Truncating the file in place, under the running service, does not crash it either.
    with open(service.geoip, "r+b") as fh:
        fh.truncate(100)
    assert service.authorize("r", address("MO", 98))["country"] == "MO"
    assert http("GET", f"{service.url}/healthz")[0] == 200
