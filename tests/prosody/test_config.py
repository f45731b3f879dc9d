"""Options read at load: a missing URL disables the gate loudly; bad values fall back loudly."""

from __future__ import annotations

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService
from tests.prosody.conftest import Crowd, ProsodyFactory

pytestmark = [pytest.mark.prosody, pytest.mark.integration]


async def test_missing_url_disables_the_gate_loudly(make_prosody: ProsodyFactory,
                                                    crowd: Crowd) -> None:
    server = make_prosody(None)
    errors = [line for line in server.plugin_log_lines() if "\terror\t" in line]
    assert any("joingate_url is not set" in line and "DISABLED" in line for line in errors), \
        server.output()
    (cn,) = await crowd.connect(server, address("CN", 120))
    assert (await cn.join("june4")).joined


async def test_invalid_values_are_reported_and_replaced(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")
    server = make_prosody(service.url, service.plugin_token, fail_mode="sometimes")
    errors = "\n".join(line for line in server.plugin_log_lines() if "\terror\t" in line)
    assert 'joingate_fail_mode "sometimes" is not open, closed or restricted' in errors
    await server.until_log("1 restricted")
    assert "fail mode restricted" in server.log()
    (cn,) = await crowd.connect(server, address("CN", 121))
    assert not (await cn.join("june4")).joined


async def test_wrong_token_follows_the_fail_mode(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # The restricted list is learnt with the right token; a second Prosody with a wrong
    # token shares nothing with it, so its "restricted" fail mode knows no rooms: "closed" is
    # what an operator who wants no unchecked join picks.
    server = make_prosody(service.url, "not-a-token", fail_mode="closed")
    await server.until_log("HTTP status 401 (check joingate_token)")
    assert any("\terror\t" in line and "401" in line for line in server.plugin_log_lines())
    (us,) = await crowd.connect(server, address("US", 122))
    refused = await us.join("picnic")
    assert not refused.joined
    assert "join check is unavailable" in (refused.error_text or "")
