"""Prometheus metrics, computed when scraped from what the service already keeps.

Nothing here runs per request (latency.py keeps the /v1/authorize histogram): decision totals
come from the engine's counters, cache figures from the LRU cache's own statistics, the rest
from the runtime. No label ever carries an address.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from .runtime import Runtime

class RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        decisions = CounterMetricFamily(
            "joingate_decisions", "Decisions since start, by country ('' = not placed) and "
            "outcome (allowed, refused, removed)", labels=["country", "outcome"])
        totals: Counter[tuple[str, str]] = Counter()
        for source in (rt.decision_totals, rt.engine.counts):
            for (_day, _restriction, country, outcome), n in source.items():
                totals[(country, outcome)] += n
        for (country, outcome), n in sorted(totals.items()):
            decisions.add_metric([country, outcome], n)
        yield decisions

        hist = HistogramMetricFamily("joingate_authorize_seconds",
                                     "Time spent in the /v1/authorize handler")
        hist.add_metric([], rt.latency.buckets(), rt.latency.total)
        yield hist

        geo = rt.geo
        yield CounterMetricFamily("joingate_geoip_cache_hits", "GeoIP cache hits",
                                  value=geo.hits)
        yield CounterMetricFamily("joingate_geoip_cache_misses", "GeoIP cache misses",
                                  value=geo.misses)
        yield GaugeMetricFamily("joingate_geoip_cache_entries", "Addresses in the GeoIP cache",
                                value=geo.cache_len)
        info = geo.info()
        yield GaugeMetricFamily("joingate_geoip_build_timestamp_seconds",
                                "Build time of the GeoIP database", value=info.build_epoch)
        yield GaugeMetricFamily("joingate_geoip_age_seconds", "Age of the GeoIP database",
                                value=time.time() - info.build_epoch)
        yield GaugeMetricFamily("joingate_geoip_reload_failed",
                                "1 when the last replacement of the DB file was unreadable",
                                value=1 if geo.last_reload_error else 0)
        yield CounterMetricFamily("joingate_geoip_lookup_errors",
                                  "Lookups the DB failed (the address was treated as unplaced)",
                                  value=geo.lookup_errors)
        yield GaugeMetricFamily("joingate_enforcement_epoch", "Current enforcement epoch",
                                value=rt.enforcement.epoch)
        yield GaugeMetricFamily("joingate_restricted_rooms",
                                "Meetings with a restriction in force",
                                value=len(rt.engine.snapshot.active))
        yield GaugeMetricFamily("joingate_store_up", "1 when the store answered last time",
                                value=1 if rt.store_ok else 0)


def registry_for(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime))
    return registry
