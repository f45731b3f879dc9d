"""Nothing acknowledged is lost across restarts and kill -9; no address reaches any file."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from tests.support.geodb import LOOPBACK_COUNTRY, address
from tests.support.service import JoingateService, http, wait_until

pytestmark = pytest.mark.integration

IPV4 = re.compile(rb"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?![\d.])")
IPV6 = re.compile(rb"(?<![0-9A-Fa-f:])((?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f:.]*)")


def participant_addresses_in(data: bytes, participants: set[str]) -> set[str]:
    found: set[str] = set()
    for match in IPV4.findall(data) + IPV6.findall(data):
        text = match.decode()
        try:
            if str(ipaddress.ip_address(text)) in participants:
                found.add(text)
        except ValueError:
            continue
    return found


def test_restart_and_kill_lose_nothing_and_store_no_address(tmp_path: Path) -> None:
    participants = {address(c, h) for c in LOOPBACK_COUNTRY for h in (10, 11)}
    participants |= {"2001:db8:1::7", "2001:db8:2::7"}
    with JoingateService(tmp_path / "svc") as svc:
        _, req = svc.api("POST", "/v1/requests", {
            "authority": "Ministry", "jurisdiction": "CN", "reference": "R1",
            "rooms": ["a", "b"], "demand": "stop"})
        made = [svc.api("POST", "/v1/restrictions", {
            "rooms": ["a"], "countries": ["CN"], "request": req["id"], "reason": "R1"})[1]]
        made.append(svc.api("POST", "/v1/restrictions", {
            "rooms": ["b"], "countries": ["CN"], "reason": "policy"})[1])
        for ip in sorted(participants):
            for room in ("a", "b", "c"):
                svc.authorize(room, ip)
        # Let the counters reach the store, then restart cleanly.
        svc.stop()
        svc.start()
        assert [r["id"] for r in svc.api("GET", "/v1/restrictions")[1]["restrictions"]] == \
            [m["id"] for m in made]
        assert svc.authorize("a", address("CN"))["decision"] == "deny"
        assert svc.authorize("b", address("CN"))["decision"] == "deny"

        # kill -9 right after an acknowledged write: it is there after the restart.
        _, late = svc.api("POST", "/v1/restrictions", {
            "rooms": ["c"], "countries": ["HK"], "reason": "policy"})
        status, _ = svc.api("POST", f"/v1/requests/{req['id']}/decision", {
            "outcome": "partially", "note": "meeting a only"})
        assert status == 200
        svc.stop(kill=True)
        svc.start()
        ids = [r["id"] for r in svc.api("GET", "/v1/restrictions")[1]["restrictions"]]
        assert late["id"] in ids
        assert svc.api("GET", f"/v1/requests/{req['id']}")[1]["outcome"] == "partially"
        assert svc.authorize("c", address("HK"))["decision"] == "deny"
        assert "intact" in svc.cli("audit", "verify").stdout
        # a sweep count reaches the store too
        http("POST", f"{svc.url}/v1/authorize/batch",
             {"checks": [{"room": "a", "ip": address("CN", 11)}], "purpose": "sweep"},
             token=svc.plugin_token)
        svc.stop()
        import sqlite3
        with sqlite3.connect(svc.db) as conn:
            rows = conn.execute("SELECT outcome, SUM(n) FROM decision_counts "
                                "GROUP BY outcome").fetchall()
        totals = dict(rows)
        assert totals["removed"] == 1
        assert totals["refused"] >= 2 * 2  # CN twice in a and b before the restart
        assert totals["allowed"] > 0

    leaked = {}
    for path in (tmp_path / "svc").rglob("*"):
        if path.is_file() and path.suffix != ".mmdb":
            hits = participant_addresses_in(path.read_bytes(), participants)
            if hits:
                leaked[str(path)] = hits
    assert leaked == {}


def test_counts_flush_while_running(service: JoingateService) -> None:
    import sqlite3

    service.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                              "reason": "r"})
    service.authorize("r", address("CN"))

    def refused() -> int:
        with sqlite3.connect(service.db) as conn:
            row = conn.execute("SELECT SUM(n) FROM decision_counts WHERE outcome='refused' "
                               "AND country='CN'").fetchone()
        return int(row[0] or 0)
    assert wait_until(refused, timeout=5, what="counters flushed") == 1
