"""The plugin reports who is in which meeting as counts per country, never an address."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.prosody.conftest import Crowd, ProsodyFactory
from tests.prosody.harness import AUTH_DOMAIN, MUC_DOMAIN
from tests.support.geodb import address
from tests.support.service import JoingateService

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

