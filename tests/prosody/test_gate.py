"""Joins through a real Prosody, gated by a real `joingate serve`."""

from __future__ import annotations

import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import ProsodyServer
from joingate.testing.service import JoingateService
from tests.prosody.conftest import Crowd

pytestmark = [pytest.mark.prosody, pytest.mark.integration]


async def test_refused_and_allowed_joins(service: JoingateService, prosody: ProsodyServer,
                                         crowd: Crowd) -> None:
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order 1")
    cn, hk, us, mo, tw = await crowd.connect(
        prosody, address("CN", 10), address("HK", 10), address("US", 10), address("MO", 10),
        address("TW", 10))

    refused = await cn.join("june4")
    assert not refused.joined
    assert refused.presence.error_type == "cancel"
    assert refused.presence.error_condition == "not-allowed"
    assert refused.error_text is not None and "CN" in refused.error_text

    for p in (hk, us, mo, tw):
        result = await p.join("june4")
        assert result.joined, result

    # The same person is welcome in a meeting the restriction does not name.
    assert (await cn.join("other-meeting")).joined


async def test_room_names_are_lower_cased_and_tenants_mapped(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    mark = prosody.log_mark()
    service.cli("restrict", "add", "--room", "acme/june4", "--country", "CN", "--reason", "t")
    # The CLI writes to the store; the service and then the plugin's feed learn of it.
    await prosody.until_log("1 restricted", after=mark)
    (cn,) = await crowd.connect(prosody, address("CN", 11))
    assert not (await cn.join("[acme]june4")).joined
    assert not (await cn.join("[ACME]June4")).joined
    assert (await cn.join("june4")).joined  # same meeting name without the tenant: not covered
    assert (await cn.join("[other]june4")).joined


async def test_remembered_allow_is_voided_by_a_new_restriction(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    # In a restricted meeting (restricted for HK), a mainland participant is allowed; a page
    # reload is answered from memory, until the restrictions change. (Connected before any
    # restriction, so no verdicts were learnt when the session started: joins ask.)
    (cn,) = await crowd.connect(prosody, address("CN", 12))
    service.cli("restrict", "add", "--room", "reload", "--country", "HK", "--reason", "t")
    await prosody.until_log("1 restricted")
    assert (await cn.join("reload")).joined
    cn.leave("reload")
    await cn.left("reload")
    mark = prosody.log_mark()
    assert (await cn.join("reload")).joined
    assert "Join to reload: remembered answer" in prosody.log()[mark:]
    cn.leave("reload")
    await cn.left("reload")

    mark = prosody.log_mark()
    service.api("POST", "/v1/restrictions", {"rooms": ["reload"], "countries": ["CN"],
                                             "reason": "order"})
    await prosody.until_log("Enforcement update: 1 changed", after=mark)
    refused = await cn.join("reload")
    assert not refused.joined and "CN" in (refused.error_text or "")
