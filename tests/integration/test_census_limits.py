"""Census bounds (issue 11, item 4): a flood of large reports from distinct sources kept every
report (RSS 59 -> 948 MB), and reading the merged census blocked joins for a second."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from joingate.testing.service import JoingateService, http

pytestmark = pytest.mark.integration


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def big_report(source: int, rooms: int = 5000) -> bytes:
    """~230 KB: `rooms` meetings of four countries each, names distinct per source."""
    return json.dumps({"source": f"shard-{source}", "rooms": {
        f"s{source}-meeting-{i:05d}": {"CN": 1, "US": 2, "HK": 3, "": 1}
        for i in range(rooms)}}, separators=(",", ":")).encode()


def test_census_sources_are_bounded(tmp_path: Path) -> None:
    with JoingateService(tmp_path / "svc", extra_config="[census]\nmax_sources = 2\n") as svc:
        def send(source: str, n: int) -> tuple[int, object]:
            return http("POST", f"{svc.url}/v1/census", {"source": source,
                                                         "rooms": {"r": {"CN": n}}},
                        token=svc.plugin_token)
        assert send("a", 1)[0] == 200 and send("b", 2)[0] == 200
        status, answer = send("c", 4)
        assert status == 409 and answer["error"]["field"] == "source", answer  # type: ignore[index]
        assert send("a", 10)[0] == 200  # a known source still replaces its report
        census = svc.api("GET", "/v1/census")[1]
        assert census["rooms"] == {"r": {"CN": 12}}
        assert [s["source"] for s in census["sources"]] == ["a", "b"]


def test_census_flood_keeps_memory_bounded_and_joins_fast(service: JoingateService) -> None:
    assert service.proc is not None
    before = rss_mb(service.proc.pid)
    refused = 0
    for source in range(300):
        status, _ = http("POST", f"{service.url}/v1/census", big_report(source),
                         token=service.plugin_token, timeout=60)
        assert status in (200, 409), status
        refused += status == 409
    assert refused == 300 - 32  # census.max_sources
    grown = rss_mb(service.proc.pid) - before
    assert grown < 100, f"RSS grew {grown:.0f} MB"

    # Joins stay fast while admins read the merged census (160,000 meetings). The documents
    # are parsed only after the probes: parsing 7 MB here would stall the probing thread.
    latencies: list[float] = []
    stop = threading.Event()
    read = urllib.request.Request(f"{service.url}/v1/census",
                                  headers={"Authorization": f"Bearer {service.admin_token}"})
    documents: list[bytes] = []

    def probe() -> None:
        while not stop.is_set():
            started = time.monotonic()
            service.authorize("june4", "127.0.1.1")
            latencies.append(time.monotonic() - started)
    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for _ in range(3):
            with urllib.request.urlopen(read, timeout=60) as answer:
                documents.append(answer.read())
    finally:
        stop.set()
        prober.join(timeout=30)
    for document in documents:
        assert len(json.loads(document)["rooms"]) == 32 * 5000
    assert len(latencies) >= 10
    assert max(latencies) < 1.0, f"worst authorize {max(latencies):.3f} s"
