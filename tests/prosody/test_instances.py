"""Scale-out: two joingate instances on one PostgreSQL, each serving its own Prosody. A
restriction created on one instance removes the covered participants on the Prosody served by
the other within a second; nobody else is touched."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from joingate.testing.geodb import address
from joingate.testing.service import JoingateService
from joingate.testing.xmpp import assert_stay
from tests.prosody.conftest import Crowd, ProsodyFactory
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.prosody, pytest.mark.integration]


async def test_restriction_on_one_instance_removes_on_the_other_shard(
        postgres: PostgresServer, geodb: Path, tmp_path: Path, make_prosody: ProsodyFactory,
        crowd: Crowd) -> None:
    url = postgres.create_database()
    with JoingateService(tmp_path / "a", geoip=geodb, store_url=url, name="-a") as a, \
            JoingateService(tmp_path / "b", geoip=geodb, store_url=url, name="-b") as b:
        shard_a = make_prosody(a.url, a.plugin_token)
        shard_b = make_prosody(b.url, b.plugin_token)
        for shard in (shard_a, shard_b):
            shard.wait_for_log("joingate enforcement feed connected")
        cn_b, hk_b, us_b = await crowd.connect(shard_b, address("CN", 30), address("HK", 30),
                                               address("US", 30))
        cn_a, de_a = await crowd.connect(shard_a, address("CN", 31), address("DE", 31))
        for p in (cn_b, hk_b, us_b):
            assert (await p.join("june4-vigil")).joined
        for p in (cn_a, de_a):
            assert (await p.join("june4-vigil")).joined  # same name, the other shard's room

        started = time.monotonic()
        status, made = a.api("POST", "/v1/restrictions", {
            "rooms": ["june4-vigil"], "countries": ["CN"], "reason": "policy"})
        assert status == 201, made
        removed_b, removed_a = await asyncio.gather(cn_b.wait_removed("june4-vigil"),
                                                    cn_a.wait_removed("june4-vigil"))
        took = time.monotonic() - started
        assert took < 1.0, f"covered participants removed after {took:.2f} s"
        assert "307" in removed_b.statuses and "307" in removed_a.statuses
        # Everyone else is still in the meeting: nobody else is removed, and they can still
        # talk in it.
        await assert_stay([hk_b, us_b, de_a], "june4-vigil")
        hk_b.say("june4-vigil", "still here")
        await us_b.wait_message("june4-vigil", "still here")
        de_a.say("june4-vigil", "here too")
        await de_a.wait_message("june4-vigil", "here too")
        # And a new CN participant on shard B is refused by instance B.
        late = (await crowd.connect(shard_b, address("CN", 32)))[0]
        refused = await late.join("june4-vigil")
        assert not refused.joined and "CN" in (refused.error_text or "")
