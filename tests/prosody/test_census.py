"""The plugin reports who is in which meeting as counts per country, never an address."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import AUTH_DOMAIN, MUC_DOMAIN
from joingate.testing.service import JoingateService
from tests.prosody.conftest import Crowd, ProsodyFactory
from tests.support.witness import write_witness_mmdb

pytestmark = [pytest.mark.prosody, pytest.mark.integration]


async def test_census_counts_present_participants_by_country(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    server = make_prosody(service.url, service.plugin_token, census_interval=1)
    await server.until_log("joingate enforcement feed connected")
    cn1, cn2, hk, us, unplaced = await crowd.connect(
        server, address("CN", 130), address("CN", 131), address("HK", 130),
        address("US", 130), "127.0.0.1")
    focus = await crowd.account(server, address("CN", 132), f"focus@{AUTH_DOMAIN}")
    for p in (cn1, cn2, hk, unplaced, focus):
        assert (await p.join("june4-hk")).joined
    assert (await us.join("[acme]june4-us")).joined
    await cn2.disconnect()  # gone: must drop out of the counts

    expected = {"june4-hk": {"": 1, "CN": 1, "HK": 1}, "acme/june4-us": {"US": 1}}
    deadline = time.monotonic() + 10
    census: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, census = service.api("GET", "/v1/census")
        assert status == 200
        if census["rooms"] == expected:
            break
        await asyncio.sleep(0.2)  # the plugin reports every second; poll until it has
    assert census["rooms"] == expected, census
    assert [s["source"] for s in census["sources"]] == [MUC_DOMAIN]
    assert "127.0." not in json.dumps(census)



async def test_census_and_preview_show_disputed_locations(
        tmp_path: Path, geodb: Path, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    """With a witness DB that places the HK range in CN, a participant joining a CN-restricted
    meeting from HK is admitted on contested evidence (geoip.disputed = allow): the census
    counts them as disputed, and a preview of a CN restriction on another meeting lists them
    apart instead of counting them as removed."""
    witness = write_witness_mmdb(tmp_path / "witness.mmdb")
    with JoingateService(tmp_path / "joingate", geoip=geodb,
                         env={"JOINGATE_GEOIP_WITNESS": str(witness)}) as service:
        service.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                                  "reason": "policy"})
        server = make_prosody(service.url, service.plugin_token, census_interval=1)
        await server.until_log("joingate enforcement feed connected")
        hk, us = await crowd.connect(server, address("HK", 140), address("US", 140))
        assert (await hk.join("vigil")).joined
        assert (await us.join("vigil")).joined
        deadline = time.monotonic() + 15
        census: dict[str, Any] = {}
        while time.monotonic() < deadline:
            census = service.api("GET", "/v1/census")[1]
            if census["disputed"] == {"vigil": {"HK": 1}}:
                break
            await asyncio.sleep(0.2)
        assert census["rooms"] == {"vigil": {"HK": 1, "US": 1}}, census
        assert census["disputed"] == {"vigil": {"HK": 1}}, census
        status, preview = service.api("POST", "/v1/restrictions/preview", {
            "rooms": ["vigil"], "countries": ["HK", "US"], "reason": "draft"})
        assert status == 200, preview
        assert preview["rooms"] == {"vigil": {"US": 1}} and preview["total"] == 1
        assert preview["disputed"] == {"vigil": {"HK": 1}} and preview["disputed_total"] == 1
