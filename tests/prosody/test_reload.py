"""Options are read at load: an operator changes them, reloads the config and the module, and
the new values apply while the old module's enforcement loop stops."""

from __future__ import annotations

import asyncio

import pytest

from tests.prosody.conftest import Crowd, ProsodyFactory
from tests.prosody.harness import MUC_DOMAIN
from tests.support.geodb import address
from tests.support.service import JoingateService

pytestmark = [pytest.mark.prosody, pytest.mark.integration]


async def test_reload_applies_new_options_and_stops_the_old_loop(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")
    server = make_prosody(service.url, service.plugin_token, fail_mode="open")
    await server.until_log("1 restricted")

    server.joingate["joingate_fail_mode"] = "closed"
    server.config_path.write_text(server.config_text())
    mark = server.log_mark()
    server.shell("config:reload()")
    server.shell(f"module:reload('joingate', '{MUC_DOMAIN}')")
    await server.until_log("fail mode closed", after=mark)
    await server.until_log("joingate enforcement feed connected", after=mark)

    cn, us = await crowd.connect(server, address("CN", 140), address("US", 140))
    assert not (await cn.join("june4")).joined
    assert (await us.join("june4")).joined

    mark = server.log_mark()
    service.stop()
    # One enforcement loop notices the outage, not two: the old module's loop ended.
    await server.until_log("enforcement feed unavailable", after=mark)
    refused = await us.join("picnic")  # the new fail mode decides
    assert not refused.joined and "join check is unavailable" in (refused.error_text or "")
    await asyncio.sleep(2.5)  # past the first retry (1 s) of any loop still running
    assert server.log()[mark:].count("enforcement feed unavailable") == 1
