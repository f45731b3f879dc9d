"""The report from a store: the one place the report reads I/O (the API, the page and the CLI
all call `load_report`)."""

from __future__ import annotations

from datetime import datetime

from ..restrictions import utc_now
from ..store.base import Store
from .model import Report, build_report
from .period import parse_period


async def load_report(store: Store, since: str | None, until: str | None,
                      now: datetime | None = None) -> Report:
    """Read what the report needs from the store and build it. The dates are checked before
    the store is touched (InvalidInput naming since or until)."""
    now = now or utc_now()
    start, end = parse_period(since, until, now)
    return build_report(await store.list_requests(), await store.list_restrictions(),
                        await store.counts(start, end), await store.checkpoints(), start, end,
                        now, await store.list_corrections(), await store.key_rotations())
