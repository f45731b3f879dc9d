"""Options are read at load: an operator changes them, reloads the config and the module, and
the new values apply while the old module's enforcement loop stops."""

from __future__ import annotations

import asyncio

import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import MUC_DOMAIN
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import assert_stay
from tests.prosody.conftest import Crowd, ProsodyFactory
from tests.prosody.faults import join_checks_hang

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


@pytest.mark.parametrize(("country", "fail_mode", "joins"),
                         [("US", "restricted", True), ("CN", "open", False)])
async def test_a_join_waiting_for_the_service_during_a_reload_is_decided_by_the_service(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd,
        country: str, fail_mode: str, joins: bool) -> None:
    # The operator reloads the module while a join waits for its answer: the reload cuts the
    # call, but the service is there, so the join must still get the service's decision — never
    # the fail mode's (an allowed participant refused, a covered one let in unchecked).
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")
    async with join_checks_hang(service.url, first=1) as front:
        server = make_prosody(front.url, service.plugin_token, fail_mode=fail_mode, timeout=20)
        await server.until_log("1 restricted")
        person, = await crowd.connect(server, address(country, 190))
        joining = asyncio.create_task(person.join("june4", timeout=40))
        await asyncio.wait_for(front.held.get(), 20)
        mark = server.log_mark()
        await asyncio.to_thread(server.shell, f"module:reload('joingate', '{MUC_DOMAIN}')")
        result = await joining
        assert result.joined is joins, result
        if not joins:
            assert country in (result.error_text or ""), result
        assert "without an answer from joingate" not in server.log()[mark:]
        if joins:
            await assert_stay([person], "june4")
