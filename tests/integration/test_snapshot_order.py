"""A reload that read the store before an admin write can never install its older snapshot
over the one the write built: the new restriction stays in force the moment its create returns.

The interleaving (a store-watch reload that has read the restrictions, an API create that
commits and rebuilds, then the reload installing what it read) happened on a busy machine; here
the reload's read is held open on purpose so the order is certain. The store is real SQLite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from joingate.config import load_settings
from joingate.runtime import Runtime
from joingate.store.base import Restriction
from joingate.store.sqlite import SqliteStore
from joingate.testing.geodb import address, write_test_mmdb

pytestmark = pytest.mark.integration
ROOM = "june4-vigil"


class HeldReadStore(SqliteStore):
    """A real SQLite store whose next restriction read, once armed, waits for a release after
    reading — a store-watch reload caught between its read and its install."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), f"sqlite:///{path}")
        self.armed = False
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()

    async def list_restrictions(self) -> Sequence[Restriction]:
        rows = await super().list_restrictions()
        if self.armed:
            self.armed = False
            self.read_done.set()
            await self.release.wait()
        return rows


async def test_an_older_reload_never_installs_over_a_write(tmp_path: Path) -> None:
    settings = load_settings(environ={
        "JOINGATE_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "JOINGATE_GEOIP_DATABASE": str(write_test_mmdb(tmp_path / "geo.mmdb"))})
    store = HeldReadStore(tmp_path / "store.db")
    runtime = Runtime(settings, store=store)
    await runtime.start()
    try:
        store.armed = True
        reload = asyncio.create_task(runtime.reload())
        await asyncio.wait_for(store.read_done.wait(), 30)
        create = asyncio.create_task(runtime.add_restriction(
            {"rooms": [ROOM], "countries": ["CN"], "reason": "order 1"}, "token:admin"))
        # Give the create every chance to commit and rebuild while the reload holds what it
        # read (before the fix it finished here; now it waits for the reload to install).
        await asyncio.wait({create}, timeout=2)
        store.release.set()
        await asyncio.wait_for(asyncio.gather(reload, create), 30)
        now = time.time()
        assert runtime.engine.decide(ROOM, address("CN"), now).decision == "deny"
        assert runtime.engine.decide(ROOM, address("HK"), now).decision == "allow"
    finally:
        await runtime.stop()
