"""Verdicts a session learns when it starts (POST /v1/authorize/session at resource bind): joins
into restricted meetings they allow need no per-join call; refusals, and every join the answer
no longer holds for, still ask the service. Observed from outside: the service's /metrics (the
count of /v1/authorize calls, the decisions it counted) and what the participants see."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from joingate.engine import SESSION_MAX_ROOMS
from joingate.testing.geodb import address
from joingate.testing.prosody import MUC_DOMAIN, ProsodyServer
from joingate.testing.service import JoingateService, wait_until
from joingate.testing.xmpp import QUIET_WATCH, assert_stay
from tests.integration.test_metrics import sample, scrape
from tests.prosody.conftest import Crowd, ProsodyFactory

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

LEARNT = "Session verdicts learnt"


def restrict(service: JoingateService, rooms: list[str], countries: list[str]) -> None:
    status, made = service.api("POST", "/v1/restrictions", {
        "rooms": rooms, "countries": countries, "reason": "test order"})
    assert status == 201, made


def per_join_calls(service: JoingateService) -> int:
    """How many /v1/authorize calls the service has answered."""
    return int(sample(scrape(service), "joingate_authorize_seconds_count"))


def decisions(service: JoingateService, country: str, outcome: str) -> int:
    found = re.search(rf'^joingate_decisions_total{{country="{country}",outcome="{outcome}"}} '
                      r"(\S+)$", scrape(service), re.MULTILINE)
    return int(float(found.group(1))) if found else 0


async def counted(service: JoingateService, country: str, outcome: str, n: int) -> None:
    await asyncio.to_thread(wait_until, lambda: decisions(service, country, outcome) == n,
                            timeout=10, what=f"{n} {outcome} from {country} counted")


async def learnt(server: ProsodyServer, n: int, after: int) -> None:
    """Until `n` sessions' verdicts have arrived since `after` (a log mark)."""
    deadline = time.monotonic() + 10
    while server.log()[after:].count(LEARNT) < n:
        assert time.monotonic() < deadline, f"{n} sessions' verdicts not learnt"
        await asyncio.sleep(0.02)


async def test_allowed_joins_need_no_call_and_refusals_still_ask(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    restrict(service, ["june4"], ["CN"])
    await prosody.until_log("1 restricted")
    mark = prosody.log_mark()
    hk, cn, cn2, tw = await crowd.connect(prosody, address("HK", 60), address("CN", 60),
                                          address("CN", 59), address("TW", 60))
    await learnt(prosody, 4, mark)  # CN twice, HK and TW alike: two sets, each shared
    calls = per_join_calls(service)

    assert (await hk.join("june4")).joined
    assert per_join_calls(service) == calls  # admitted without a /v1/authorize call...
    await counted(service, "HK", "allowed", 1)  # ...and counted by the check right after
    await assert_stay([hk], "june4")

    refused = await cn.join("june4")
    assert not refused.joined
    assert refused.presence.error_condition == "not-allowed"
    assert "Participants located in CN cannot join this meeting" in (refused.error_text or "")
    assert per_join_calls(service) == calls + 1
    await counted(service, "CN", "refused", 1)
    assert not (await cn2.join("june4")).joined
    assert (await tw.join("june4")).joined
    assert per_join_calls(service) == calls + 2
    await counted(service, "CN", "refused", 2)
    await counted(service, "TW", "allowed", 1)
    assert decisions(service, "CN", "removed") == 0


async def test_a_policy_on_all_meetings(service: JoingateService, prosody: ProsodyServer,
                                        crowd: Crowd) -> None:
    restrict(service, ["*"], ["CN"])
    await prosody.until_log("1 restricted")
    mark = prosody.log_mark()
    us, cn = await crowd.connect(prosody, address("US", 61), address("CN", 61))
    await learnt(prosody, 2, mark)
    calls = per_join_calls(service)
    assert (await us.join("any-meeting")).joined
    assert per_join_calls(service) == calls
    refused = await cn.join("any-meeting")
    assert not refused.joined and "CN" in (refused.error_text or "")
    assert per_join_calls(service) == calls + 1


async def test_a_restriction_made_after_the_session_started_is_asked_per_join(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    restrict(service, ["june4"], ["CN"])
    await prosody.until_log("1 restricted")
    mark = prosody.log_mark()
    (hk,) = await crowd.connect(prosody, address("HK", 62))
    await learnt(prosody, 1, mark)  # june4 does not refuse HK: nothing denied
    mark = prosody.log_mark()
    restrict(service, ["june4"], ["HK"])  # the epoch moves on
    await prosody.until_log("Enforcement update: 1 changed", after=mark)
    calls = per_join_calls(service)
    refused = await hk.join("june4")
    assert not refused.joined and "HK" in (refused.error_text or "")
    assert per_join_calls(service) == calls + 1
    await counted(service, "HK", "refused", 1)
    assert decisions(service, "HK", "removed") == 0  # refused at the door, never let in


async def test_service_down_when_the_session_starts(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    restrict(service, ["june4"], ["CN"])
    await prosody.until_log("1 restricted")
    mark = prosody.log_mark()
    service.stop()
    await prosody.until_log("enforcement feed unavailable", after=mark)
    (us,) = await crowd.connect(prosody, address("US", 63))
    refused = await us.join("june4")  # the fail mode decides, as before
    assert not refused.joined and "join check is unavailable" in (refused.error_text or "")

    service.start()
    await prosody.until_log("joingate enforcement feed connected", after=mark)
    calls = per_join_calls(service)
    assert (await us.join("june4")).joined
    assert per_join_calls(service) == calls + 1  # nothing learnt: asked per join
    assert LEARNT not in prosody.log()[mark:]


async def test_a_reload_keeps_the_answers_of_the_same_service_only(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    restrict(service, ["june4"], ["CN"])
    server = make_prosody(service.url, service.plugin_token)
    await server.until_log("1 restricted")
    mark = server.log_mark()
    hk, us = await crowd.connect(server, address("HK", 64), address("US", 64))
    await learnt(server, 2, mark)

    # Reloaded with the same service, at the same epoch: the answer still holds.
    mark = server.log_mark()
    await asyncio.to_thread(server.shell, f"module:reload('joingate', '{MUC_DOMAIN}')")
    await server.until_log("joingate enforcement feed connected", after=mark)
    calls = per_join_calls(service)
    assert (await hk.join("june4")).joined
    assert per_join_calls(service) == calls
    # The reloaded module hooks the session start again, once: a new session is asked once.
    mark = server.log_mark()
    await crowd.connect(server, address("MO", 64))
    await learnt(server, 1, mark)
    await asyncio.sleep(QUIET_WATCH)
    assert server.log()[mark:].count(LEARNT) == 1

    # Reloaded to another service: what the first one said is never used.
    with JoingateService(tmp_path_factory.mktemp("other"), geoip=service.geoip) as other:
        restrict(other, ["june4"], ["CN"])
        server.joingate["joingate_url"] = other.url
        server.joingate["joingate_token"] = other.plugin_token
        server.config_path.write_text(server.config_text())
        mark = server.log_mark()
        await asyncio.to_thread(server.shell, "config:reload()")
        await asyncio.to_thread(server.shell, f"module:reload('joingate', '{MUC_DOMAIN}')")
        await server.until_log("joingate enforcement feed connected", after=mark)
        assert (await us.join("june4")).joined
        assert per_join_calls(other) == 1


async def test_one_call_per_session_with_the_breakout_and_lobby_components(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    restrict(service, ["june4"], ["CN"])
    server = make_prosody(service.url, service.plugin_token, jitsi_rooms=True)
    await server.until_log("1 restricted")
    mark = server.log_mark()
    (us,) = await crowd.connect(server, address("US", 65))
    await learnt(server, 1, mark)
    await asyncio.sleep(QUIET_WATCH)
    assert server.log()[mark:].count(LEARNT) == 1
    calls = per_join_calls(service)
    assert (await us.join("june4")).joined
    assert per_join_calls(service) == calls


async def test_a_verdict_the_feed_cannot_announce_is_caught_right_after_the_join(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    # A GeoIP correction moves an address to another country without moving the epoch: a
    # session that learnt its verdicts before it is admitted on them, and the check right
    # after the join removes it at once.
    restrict(service, ["june4"], ["CN"])
    await prosody.until_log("1 restricted")
    mark = prosody.log_mark()
    hk, us = await crowd.connect(prosody, address("HK", 66), address("US", 66))
    await learnt(prosody, 2, mark)
    status, made = service.api("POST", "/v1/geoip/corrections", {
        "network": "127.0.2.0/24", "country": "CN", "reason": "test: a registry moved it"})
    assert status == 201, made
    assert service.authorize("june4", address("HK", 66))["decision"] == "deny"
    assert (await us.join("june4")).joined
    assert (await hk.join("june4")).joined
    removed = await hk.wait_removed("june4", timeout=10)
    assert "307" in removed.statuses
    assert "Removed a participant from june4 right after joining (country CN" in prosody.log()
    await counted(service, "CN", "removed", 1)
    await assert_stay([us], "june4")


async def test_past_the_services_bound_every_join_asks(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    # More meetings with a restriction than the service lists for a session: it answers
    # "denied": null, and each join into them asks per join.
    rooms = [f"m{i}" for i in range(SESSION_MAX_ROOMS)]
    restrict(service, rooms, ["CN"])
    restrict(service, ["one-more"], ["CN"])
    await prosody.until_log(f"{SESSION_MAX_ROOMS + 1} restricted")
    mark = prosody.log_mark()
    (hk,) = await crowd.connect(prosody, address("HK", 67))
    await prosody.until_log("Session verdicts not listed", after=mark)
    calls = per_join_calls(service)
    assert (await hk.join("m7")).joined
    assert per_join_calls(service) == calls + 1
