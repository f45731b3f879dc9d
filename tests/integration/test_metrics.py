"""/metrics: Prometheus text with decisions, latency, cache, GeoIP age, epoch — no address."""

from __future__ import annotations

import re
import sqlite3
import urllib.request

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService, wait_until

pytestmark = pytest.mark.integration


def scrape(svc: JoingateService) -> str:
    with urllib.request.urlopen(f"{svc.url}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        return str(resp.read().decode())


def sample(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in /metrics"
    return float(found.group(1))


def test_metrics(service: JoingateService) -> None:
    service.api("POST", "/v1/restrictions", {"rooms": ["r"], "countries": ["CN"],
                                              "reason": "r"})
    for _ in range(3):
        service.authorize("r", address("CN"))
    service.authorize("r", address("HK"))
    text = scrape(service)
    assert sample(text, "joingate_decisions_total", 'country="CN",outcome="refused"') == 3
    assert sample(text, "joingate_decisions_total", 'country="HK",outcome="allowed"') == 1
    assert sample(text, "joingate_authorize_seconds_count") == 4
    assert sample(text, "joingate_geoip_cache_misses_total") == 2
    assert sample(text, "joingate_geoip_cache_hits_total") == 2
    assert sample(text, "joingate_restricted_rooms") == 1
    assert sample(text, "joingate_store_up") == 1
    assert sample(text, "joingate_geoip_build_timestamp_seconds") > 1.6e9
    assert sample(text, "joingate_enforcement_epoch") > 0
    # The totals survive the flush of the counters to the store.
    def flushed() -> int:
        with sqlite3.connect(service.db) as conn:
            return int(conn.execute("SELECT COALESCE(SUM(n), 0) FROM decision_counts")
                       .fetchone()[0])
    wait_until(lambda: flushed() == 4, what="the counters to be flushed")
    assert sample(scrape(service), "joingate_decisions_total",
                  'country="CN",outcome="refused"') == 3
    assert not re.search(r"\b127\.0\.\d+\.\d+\b", scrape(service))
