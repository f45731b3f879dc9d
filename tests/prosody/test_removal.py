"""Mid-meeting removal: a restriction created, a window opening and closing, a revocation."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from joingate.testing.geodb import address
from joingate.testing.prosody import ProsodyServer
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import Participant, PresenceInfo, assert_stay, wait_others_see_removed
from tests.prosody.conftest import Crowd

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

REASON = ("You were removed from this meeting: participants from your location cannot take part"
          " in it.")


def restrict(service: JoingateService, rooms: list[str], countries: list[str],
             starts_at: datetime | None = None, ends_at: datetime | None = None) -> int:
    body: dict[str, object] = {"rooms": rooms, "countries": countries, "reason": "test order"}
    if starts_at:
        body["starts_at"] = starts_at.isoformat()
    if ends_at:
        body["ends_at"] = ends_at.isoformat()
    status, made = service.api("POST", "/v1/restrictions", body)
    assert status == 201, made
    return int(made["id"])


async def all_join(room: str, *people: Participant) -> None:
    for p in people:
        result = await p.join(room)
        assert result.joined, (p.source_ip, result)


async def test_restriction_removes_exactly_the_covered_occupants(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    cn1, cn2, hk, us, mo, tw, cn_elsewhere, us_elsewhere = await crowd.connect(
        prosody, address("CN", 20), address("CN", 21), address("HK", 20), address("US", 20),
        address("MO", 20), address("TW", 20), address("CN", 22), address("US", 22))
    # cn1 creates the room and so becomes its owner: the removal must not touch that.
    await all_join("june4", cn1, cn2, hk, us, mo, tw)
    await all_join("quiet-meeting", cn_elsewhere, us_elsewhere)

    t0 = time.monotonic()
    restrict(service, ["june4"], ["CN"])
    removed: list[PresenceInfo] = list(await asyncio.gather(
        cn1.wait_removed("june4"), cn2.wait_removed("june4")))
    elapsed = max(r.received_at for r in removed) - t0

    for info in removed:
        assert {"307", "110"} <= info.statuses
        assert info.reason == REASON
    stayers = [hk, us, mo, tw]
    for nick in (cn1.nick, cn2.nick):
        seen = await wait_others_see_removed(stayers, "june4", nick)
        assert all("307" in s.statuses for s in seen)
    assert elapsed < 1.5, f"covered participants out {elapsed:.3f} s after the restriction"

    # The meeting goes on for everyone else, and nobody else was touched.
    us.say("june4", "still here")
    await asyncio.gather(*(p.wait_message("june4", "still here") for p in (hk, mo, tw)))
    cn_elsewhere.say("quiet-meeting", "hello")
    await us_elsewhere.wait_message("quiet-meeting", "hello")
    await asyncio.gather(assert_stay(stayers, "june4"),
                         assert_stay([cn_elsewhere], "quiet-meeting"))

    # The removed can no longer come back; the owner keeps its affiliation (a kick changes
    # the role only), as everyone in the room saw in the removal presence.
    back = await cn1.join("june4")
    assert not back.joined and back.presence.error_condition == "not-allowed"
    owner_removal = next(r for r in removed if r.nick == cn1.nick)
    assert (owner_removal.affiliation, owner_removal.role) == ("owner", "none")


async def test_scheduled_window_opens_and_closes(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    cn, hk = await crowd.connect(prosody, address("CN", 30), address("HK", 30))
    await all_join("vigil", cn, hk)
    # Whole seconds: the service keeps window bounds to the second. The window opens late
    # enough to watch the quiet time before it for QUIET_WATCH.
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    opens, closes = now + timedelta(seconds=4), now + timedelta(seconds=7)
    restrict(service, ["vigil"], ["CN"], starts_at=opens, ends_at=closes)

    # Before the window: nothing happens (watched until half a second before it opens).
    before = (opens - datetime.now(UTC)).total_seconds() - 0.5
    await assert_stay([cn, hk], "vigil", before)
    # The window opens: the CN participant is removed within a second of it.
    info = await cn.wait_removed("vigil", timeout=5)
    # When the removal arrived, on the wall clock (received_at is monotonic).
    removed_at = datetime.now(UTC) - timedelta(seconds=time.monotonic() - info.received_at)
    late = (removed_at - opens).total_seconds()
    assert "307" in info.statuses and -0.05 <= late < 1.5, late  # not before it opened
    mark = prosody.log_mark()  # the feed's next "0 restricted" is the window closing
    refused = await cn.join("vigil")
    assert not refused.joined
    await assert_stay([hk], "vigil")

    # The window closes: the feed says so, and the same person may come back.
    await prosody.until_log("0 restricted", after=mark, timeout=5)
    assert datetime.now(UTC) >= closes
    assert (await cn.join("vigil")).joined


async def test_revocation_lets_people_back_and_updates_fail_mode_knowledge(
        service: JoingateService, prosody: ProsodyServer, crowd: Crowd) -> None:
    rid = restrict(service, ["tiananmen"], ["CN"])
    (cn,) = await crowd.connect(prosody, address("CN", 40))
    assert not (await cn.join("tiananmen")).joined

    # The CLI writes to the store; the running service learns of it from its change feed and
    # tells the plugin through the enforcement long-poll.
    mark = prosody.log_mark()
    service.cli("restrict", "revoke", str(rid), "--reason", "order withdrawn")
    await prosody.until_log("0 restricted", after=mark)
    assert (await cn.join("tiananmen")).joined

    # The plugin's list of restricted rooms followed the revocation: with the service gone, the
    # default fail mode ("restricted") no longer refuses this meeting.
    service.stop()
    (cn2,) = await crowd.connect(prosody, address("CN", 41))
    assert (await cn2.join("tiananmen")).joined
