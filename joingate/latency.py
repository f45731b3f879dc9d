"""The /v1/authorize latency histogram: per request one bisect and two increments; the
buckets are made cumulative only when /metrics is scraped (metrics.py)."""

from __future__ import annotations

import bisect

BOUNDS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)


class LatencyHistogram:
    """Fixed buckets, cumulative only at scrape time."""

    def __init__(self, bounds: tuple[float, ...] = BOUNDS):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out
