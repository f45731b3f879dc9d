"""BOSH and websocket behind a web proxy: X-Forwarded-For counts only from trusted_proxies.

The tests' Prosody trusts 127.0.0.2 only (trusted_proxies = { "127.0.0.2" }), so 127.0.0.1,
which Prosody would trust by default, is an ordinary untrusted peer here.
"""

from __future__ import annotations

import pytest

from tests.prosody.conftest import Crowd
from tests.prosody.harness import ProsodyServer
from tests.support.geodb import address
from tests.support.service import JoingateService

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

PROXY = "127.0.0.2"


@pytest.fixture
def restricted(service: JoingateService) -> None:
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")


async def test_forwarded_address_from_trusted_proxy_is_gated(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    await prosody.until_log("1 restricted")
    cn = await crowd.bosh(prosody, PROXY, forwarded_for=address("CN", 80))
    refused = await cn.join("june4")
    assert not refused.joined
    assert refused.presence.error_condition == "not-allowed"
    assert "CN" in (refused.error_text or "")

    us = await crowd.bosh(prosody, PROXY, forwarded_for=address("US", 80))
    assert (await us.join("june4")).joined


async def test_client_supplied_forwarded_for_does_not_hide_the_real_address(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    # A mainland participant sends "X-Forwarded-For: <US address>"; the proxy appends the
    # address it really sees. Prosody takes the last address that is not a trusted proxy.
    await prosody.until_log("1 restricted")
    spoofer = await crowd.bosh(prosody, PROXY,
                               forwarded_for=f"{address('US', 81)}, {address('CN', 81)}")
    assert not (await spoofer.join("june4")).joined


@pytest.mark.parametrize("peer", [address("US", 82), "127.0.0.1"])
async def test_forwarded_for_from_untrusted_peer_is_ignored(
        restricted: None, prosody: ProsodyServer, crowd: Crowd, peer: str) -> None:
    await prosody.until_log("1 restricted")
    # The peer claims to forward for a mainland address; Prosody ignores the header and the
    # plugin judges the peer's own address (US, or 127.0.0.1 which the test DB does not place).
    b = await crowd.bosh(prosody, peer, forwarded_for=address("CN", 82))
    assert (await b.join("june4")).joined


async def test_bosh_participant_removed_mid_meeting(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    cn = await crowd.bosh(prosody, PROXY, forwarded_for=address("CN", 83))
    hk = await crowd.bosh(prosody, PROXY, forwarded_for=address("HK", 83))
    assert (await cn.join("vigil")).joined
    assert (await hk.join("vigil")).joined
    service.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                             "reason": "order"})
    removed = await cn.wait_removed("vigil")
    assert "307" in removed.statuses


async def test_websocket_through_trusted_proxy_is_gated(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    await prosody.until_log("1 restricted")
    cn = await crowd.websocket(prosody, PROXY, forwarded_for=address("CN", 84))
    refused = await cn.join("june4")
    assert not refused.joined and "CN" in (refused.error_text or "")
    tw = await crowd.websocket(prosody, PROXY, forwarded_for=address("TW", 84))
    assert (await tw.join("june4")).joined
    # Without the header (Jitsi's stock /xmpp-websocket location) the proxy's own address is
    # all Prosody sees: the participant cannot be placed, and the restriction misses them.
    unlocated = await crowd.websocket(prosody, PROXY)
    assert (await unlocated.join("june4")).joined


async def test_websocket_forwarded_for_from_untrusted_peer_is_ignored(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    await prosody.until_log("1 restricted")
    w = await crowd.websocket(prosody, address("HK", 85), forwarded_for=address("CN", 85))
    assert (await w.join("june4")).joined
