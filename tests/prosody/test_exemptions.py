"""Jitsi's service occupants are never gated or removed (Jicofo's health checks included, by its
account, not by the room's name), and the plugin never writes an address to the log."""

from __future__ import annotations

import re

import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import AUTH_DOMAIN, RECORDER_DOMAIN, ProsodyServer
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import ComponentUser, assert_stay
from tests.prosody.conftest import Crowd, ProsodyFactory

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

SERVICE_ACCOUNTS = [f"focus@{AUTH_DOMAIN}", f"jibri@{AUTH_DOMAIN}", f"jigasi@{AUTH_DOMAIN}",
                    f"transcriber@{AUTH_DOMAIN}", f"recorder@{RECORDER_DOMAIN}"]


async def test_service_occupants_are_never_gated_or_removed(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    # Every service account connects from a mainland address, the worst case.
    accounts = [await crowd.account(prosody, address("CN", 90 + i), jid)
                for i, jid in enumerate(SERVICE_ACCOUNTS)]
    (person,) = await crowd.connect(prosody, address("CN", 99))
    for a in accounts:
        assert (await a.join("june4")).joined
    assert (await person.join("june4")).joined

    # A policy for all meetings: the person is removed, the service occupants stay.
    status, _ = service.api("POST", "/v1/restrictions", {"rooms": ["*"], "countries": ["CN"],
                                                         "reason": "operator policy"})
    assert status == 201
    await person.wait_removed("june4")
    await accounts[0].presences.wait_for(
        lambda i: i.nick == person.nick and i.type == "unavailable")
    await assert_stay(accounts, "june4")
    # And they can still enter any meeting (Jicofo must be able to create rooms).
    for a in accounts:
        assert (await a.join("another-meeting")).joined
    assert not (await person.join("another-meeting")).joined


async def test_health_check_rooms_admit_jicofo_but_are_no_way_around(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    # Jicofo's focus enters its health-check room as an exempt account; anybody else can make
    # a room of that name too, and for them it is a meeting like any other: a name is no
    # way around a policy on all meetings.
    service.cli("restrict", "add", "--room", "*", "--country", "CN", "--reason", "policy")
    await prosody.until_log("1 restricted")
    focus = await crowd.account(prosody, address("CN", 97), f"focus@{AUTH_DOMAIN}")
    (person, other) = await crowd.connect(prosody, address("CN", 96), address("HK", 96))
    assert (await focus.join("__jicofo-health-check-1b2c3d")).joined
    assert not (await person.join("__jicofo-health-check-party")).joined
    assert (await other.join("__jicofo-health-check-party")).joined
    assert not (await person.join("june4")).joined


async def test_exemption_option_adds_to_the_defaults(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    service.cli("restrict", "add", "--room", "*", "--country", "CN", "--reason", "policy")
    server = make_prosody(service.url, service.plugin_token,
                          exempt_jids=[f"bot@{AUTH_DOMAIN}"], exempt_rooms=["lobby-*"])
    await server.until_log("1 restricted")
    bot = await crowd.account(server, address("CN", 95), f"bot@{AUTH_DOMAIN}")
    focus = await crowd.account(server, address("CN", 94), f"focus@{AUTH_DOMAIN}")
    (person,) = await crowd.connect(server, address("CN", 93))
    assert (await bot.join("june4")).joined
    # Setting the option keeps Jicofo's focus (and the other service accounts) exempt: a focus
    # that could be kicked would leave the conference without its organiser.
    assert (await focus.join("june4")).joined
    assert (await person.join("lobby-june4")).joined
    assert not (await person.join("__jicofo-health-check-x")).joined


async def test_component_admins_are_exempt(
        service: JoingateService, make_prosody: ProsodyFactory, crowd: Crowd) -> None:
    # Jitsi lists Jicofo's account in the conference component's `admins`; whatever its name,
    # it is never gated.
    service.cli("restrict", "add", "--room", "*", "--country", "CN", "--reason", "policy")
    server = make_prosody(service.url, service.plugin_token,
                          muc_options={"admins": [f"organiser@{AUTH_DOMAIN}"]})
    await server.until_log("1 restricted")
    organiser = await crowd.account(server, address("CN", 88), f"organiser@{AUTH_DOMAIN}")
    other = await crowd.account(server, address("CN", 87), f"someone@{AUTH_DOMAIN}")
    assert (await organiser.join("june4")).joined
    assert not (await other.join("june4")).joined


IPV4 = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


async def test_plugin_log_names_room_and_country_never_an_address(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")
    await prosody.until_log("1 restricted")
    cn, us, cn2 = await crowd.connect(prosody, address("CN", 92), address("US", 92),
                                      address("CN", 91))
    assert not (await cn.join("june4")).joined
    assert (await us.join("june4")).joined
    assert (await cn2.join("vigil")).joined
    service.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                             "reason": "order"})
    await cn2.wait_removed("vigil")
    service.stop()
    (late,) = await crowd.connect(prosody, address("CN", 90))
    assert not (await late.join("june4")).joined  # fail mode restricted

    lines = prosody.plugin_log_lines()
    text = "\n".join(lines)
    assert "Join to june4 refused (country CN" in text
    # The removal happens either in the sweep or, when the restriction beat the check of the
    # early admission, right after joining: both lines name the room and the country.
    assert re.search(r"Removed a participant from vigil( right after joining)? \(country CN",
                     text)
    assert "refused without an answer from joingate" in text
    leaked = [line for line in lines if IPV4.search(line) or "::" in line.split("\t", 2)[-1]]
    assert not leaked, leaked


async def test_participants_without_a_client_address_follow_joingate_unlocated(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    # A user behind an external component has no address Prosody knows; with the default
    # "restricted" they may enter unrestricted meetings only, and leave one that becomes
    # restricted.
    service.cli("restrict", "add", "--room", "june4", "--country", "CN", "--reason", "order")
    await prosody.until_log("1 restricted")
    bot = ComponentUser(prosody.component_port)
    await bot.connect()
    try:
        refused = await bot.join("june4")
        assert not refused.joined
        assert refused.presence.error_condition == "not-allowed"
        assert "could not be located" in (refused.error_text or "")
        assert (await bot.join("vigil")).joined
        (us,) = await crowd.connect(prosody, address("US", 89))
        assert (await us.join("vigil")).joined
        service.api("POST", "/v1/restrictions", {"rooms": ["vigil"], "countries": ["CN"],
                                                 "reason": "order"})
        removed = await bot.wait_removed("vigil")
        assert "307" in removed.statuses
        await assert_stay([us], "vigil")
    finally:
        await bot.disconnect()
