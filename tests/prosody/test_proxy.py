"""BOSH and websocket behind a web proxy: X-Forwarded-For counts only from trusted_proxies.

The tests' Prosody trusts 127.0.0.2 only (trusted_proxies = { "127.0.0.2" }), so 127.0.0.1,
which Prosody would trust by default, is an ordinary untrusted peer here. A BOSH or websocket
session whose address is still a loopback one, or the trusted proxy's, came through a proxy that
passed no header: mod_joingate treats it as unlocated (never located where the proxy is).
"""

from __future__ import annotations

import pytest

from joingate.testing.geodb import forwarded_address as fwd
from joingate.testing.prosody import ProsodyServer
from joingate.testing.service import JoingateService
from tests.prosody.conftest import Crowd

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

PROXY = "127.0.0.2"
UNLOCATED = "could not be located"
MISSING_HEADER = "does not pass X-Forwarded-For"


@pytest.fixture
def restricted(service: JoingateService) -> None:
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")


async def test_forwarded_address_from_trusted_proxy_is_gated(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    await prosody.until_log("1 restricted")
    cn = await crowd.bosh(prosody, PROXY, forwarded_for=fwd("CN", 80))
    refused = await cn.join("june4")
    assert not refused.joined
    assert refused.presence.error_condition == "not-allowed"
    assert "CN" in (refused.error_text or "")

    us = await crowd.bosh(prosody, PROXY, forwarded_for=fwd("US", 80))
    assert (await us.join("june4")).joined
    assert MISSING_HEADER not in prosody.log()


async def test_client_supplied_forwarded_for_does_not_hide_the_real_address(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    # A mainland participant sends "X-Forwarded-For: <US address>"; the proxy appends the
    # address it really sees. Prosody takes the last address that is not a trusted proxy.
    await prosody.until_log("1 restricted")
    spoofer = await crowd.bosh(prosody, PROXY, forwarded_for=f"{fwd('US', 81)}, {fwd('CN', 81)}")
    refused = await spoofer.join("june4")
    assert not refused.joined and "CN" in (refused.error_text or "")


@pytest.mark.parametrize("peer", ["127.0.3.82", "127.0.0.1"])
async def test_forwarded_for_from_untrusted_peer_is_ignored(
        restricted: None, prosody: ProsodyServer, crowd: Crowd, peer: str) -> None:
    await prosody.until_log("1 restricted")
    # The peer claims to forward for a US address; Prosody ignores the header, and what is
    # left is a loopback address on a BOSH session: a proxy that passed no header. The
    # participant is unlocated, never judged by the claimed address.
    b = await crowd.bosh(prosody, peer, forwarded_for=fwd("US", 82))
    refused = await b.join("june4")
    assert not refused.joined
    assert UNLOCATED in (refused.error_text or "")


async def test_bosh_participant_removed_mid_meeting(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    cn = await crowd.bosh(prosody, PROXY, forwarded_for=fwd("CN", 83))
    hk = await crowd.bosh(prosody, PROXY, forwarded_for=fwd("HK", 83))
    assert (await cn.join("vigil")).joined
    assert (await hk.join("vigil")).joined
    service.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                             "reason": "order"})
    removed = await cn.wait_removed("vigil")
    assert "307" in removed.statuses


async def test_websocket_through_trusted_proxy_is_gated(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    await prosody.until_log("1 restricted")
    cn = await crowd.websocket(prosody, PROXY, forwarded_for=fwd("CN", 84))
    refused = await cn.join("june4")
    assert not refused.joined and "CN" in (refused.error_text or "")
    tw = await crowd.websocket(prosody, PROXY, forwarded_for=fwd("TW", 84))
    assert (await tw.join("june4")).joined


async def test_websocket_without_forwarded_for_is_unlocated_and_logged_once(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    # Jitsi's stock /xmpp-websocket location passes no X-Forwarded-For: Prosody sees only the
    # proxy. Those participants are unlocated (refused in a restricted meeting, admitted to
    # others under the default joingate_unlocated), and one error line names the header.
    await prosody.until_log("1 restricted")
    first = await crowd.websocket(prosody, PROXY)
    refused = await first.join("june4")
    assert not refused.joined and UNLOCATED in (refused.error_text or "")
    second = await crowd.websocket(prosody, PROXY)
    assert (await second.join("picnic")).joined
    errors = [line for line in prosody.plugin_log_lines()
              if "\terror\t" in line and MISSING_HEADER in line]
    assert len(errors) == 1, errors


async def test_websocket_forwarded_for_from_untrusted_peer_is_ignored(
        restricted: None, prosody: ProsodyServer, crowd: Crowd) -> None:
    await prosody.until_log("1 restricted")
    w = await crowd.websocket(prosody, "127.0.2.85", forwarded_for=fwd("US", 85))
    refused = await w.join("june4")
    assert not refused.joined and UNLOCATED in (refused.error_text or "")
