"""Nothing acknowledged is lost across restarts and kill -9; no address reaches any file or
database: on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections import Counter
from pathlib import Path

import pytest

from joingate.store import open_store
from joingate.testing.geodb import LOOPBACK_COUNTRY, address
from joingate.testing.service import JoingateService, http, wait_until
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def postgres_or_none(request: pytest.FixtureRequest) -> PostgresServer | None:
    """None: the service's own SQLite file; else the session's PostgreSQL server."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server


def totals(store_url: str, country: str | None = None) -> Counter[str]:
    """Counted decisions by outcome, read through joingate's own store layer."""
    async def read() -> Counter[str]:
        store = open_store(store_url)
        await store.open()
        try:
            rows = await store.counts(None, None)
        finally:
            await store.close()
        out: Counter[str] = Counter()
        for row in rows:
            if country is None or row.country == country:
                out[row.outcome] += row.n
        return out
    return asyncio.run(read())

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


def test_restart_and_kill_lose_nothing_and_store_no_address(
        tmp_path: Path, postgres_or_none: PostgresServer | None) -> None:
    participants = {address(c, h) for c in LOOPBACK_COUNTRY for h in (10, 11)}
    participants |= {"2001:db8:1::7", "2001:db8:2::7"}
    pg = postgres_or_none
    with JoingateService(tmp_path / "svc",
                         store_url=pg.create_database() if pg else None) as svc:
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
        counted = totals(svc.store_url)
        assert counted["removed"] == 1
        assert counted["refused"] >= 2 * 2  # CN twice in a and b before the restart
        assert counted["allowed"] > 0

    # No address in any file the service wrote, nor in the database (dumped as SQL text).
    if pg is not None:
        (tmp_path / "svc" / "database.sql").write_text(pg.dump_all(svc.store_url))
    leaked = {}
    for path in (tmp_path / "svc").rglob("*"):
        if path.is_file() and path.suffix != ".mmdb":
            hits = participant_addresses_in(path.read_bytes(), participants)
            if hits:
                leaked[str(path)] = hits
    assert leaked == {}


def test_counts_flush_while_running(tmp_path: Path,
                                    postgres_or_none: PostgresServer | None) -> None:
    pg = postgres_or_none
    with JoingateService(tmp_path / "svc",
                         store_url=pg.create_database() if pg else None) as service:
        service.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                                  "reason": "r"})
        service.authorize("r", address("CN"))
        assert wait_until(lambda: totals(service.store_url, "CN")["refused"], timeout=10,
                          what="counters flushed") == 1
