"""The running service: store, GeoIP reader, engine and enforcement, kept in step.

`Runtime` is the shell around the pure core. Writes go through it so that a change is durable
(store), then visible to decisions (snapshot rebuild), then announced to the plugins (epoch).
Background tasks: watch the store for changes made by other processes, rebuild when a window
opens or closes, reload a replaced GeoIP file, and flush the decision counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from . import actions
from .audit import Checkpoint
from .census import Census, clean_counts, impact, render
from .config import Settings
from .corrections import Correction
from .enforcement import Enforcement
from .engine import Engine, Snapshot, build_snapshot, changed_rooms, pending
from .errors import JoingateError
from .geo import GeoReader, freshness, open_geoip
from .latency import LatencyHistogram
from .restrictions import AuthorityRequest, Restriction, refuse_bidi, utc_now
from .signing import LogTree, load_signing
from .store import Store, open_store
from .store.base import CountRow, TokenInfo, hash_token
from .tlog import Signing

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _build(restrictions: Sequence[Restriction], now: datetime) -> tuple[Snapshot,
                                                                        list[Restriction]]:
    """The snapshot at `now`, and the restrictions later rebuilds still need."""
    live = pending(restrictions, now)
    return build_snapshot(live, now), live


class Runtime:
    def __init__(self, settings: Settings, store: Store | None = None,
                 geo: GeoReader | None = None):
        self.settings = settings
        self.store = store or open_store(settings.store_url)
        self.geo = geo or open_geoip(settings.geoip_database, settings.geoip_cache_size,
                                     verify=True, witness=settings.geoip_witness)
        self.engine = Engine(self.geo, settings.geoip_unknown, settings.geoip_disputed)
        self.enforcement = Enforcement()
        self.tokens: Mapping[str, TokenInfo] = {}
        self._token_memo: dict[str, TokenInfo] = {}
        self.store_ok = False
        self.loaded = False
        self._refresh_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._marker: object = None
        self._live: Sequence[Restriction] = ()
        self.census = Census(settings.census_max_sources)
        # The same census, of participants whose last verdict was disputed (a subset).
        self.disputed_census = Census(settings.census_max_sources)
        self.signing: Signing | None = load_signing(settings)  # a bad key file stops start-up
        self.log_tree = LogTree(self.store)  # answers the public consistency-proof route
        self.latency = LatencyHistogram()
        # Decision counts already flushed to the store, kept for /metrics (bounded by
        # days x restrictions x countries x outcomes).
        self.decision_totals: Counter[tuple[int, int, str, str]] = Counter()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.store.open()
        if self.signing is None:
            log.warning("audit.signing_key is not set: audit checkpoints are recorded "
                        "unsigned, and reports cannot be verified by their readers")
        self._marker = await self.store.change_marker()
        await self.reload()
        self.store_ok = True
        self.loaded = True
        s = self.settings
        self._tasks = [asyncio.create_task(self._watch_store()),
                       asyncio.create_task(self._every(s.counts_flush_interval, self.flush)),
                       asyncio.create_task(self._every(s.audit_checkpoint_interval,
                                                       self._checkpoint))]
        if s.geoip_reload_interval > 0:
            self._tasks.append(asyncio.create_task(
                self._every(s.geoip_reload_interval, self._poll_geoip)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._timer is not None:
            self._timer.cancel()
        try:
            await self.flush()
        finally:
            await self.store.close()
            self.geo.close()

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # a background job must never die for good
                log.exception("background job %s failed", getattr(job, "__name__", job))

    async def _watch_store(self) -> None:
        """Notice changes committed elsewhere (CLI, other instances) and reload."""
        while True:
            try:
                await self.store.wait_change(self.settings.store_poll_interval)
                await self._poll_store()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watching the store failed")
                await asyncio.sleep(self.settings.store_poll_interval)

    async def _poll_store(self) -> None:
        try:
            marker = await self.store.change_marker()
        except JoingateError as exc:
            if self.store_ok:
                log.error("store unreachable, deciding from the last snapshot: %s", exc.message)
            self.store_ok = False
            return
        if not self.store_ok:
            log.info("store reachable again")
        self.store_ok = True
        if marker != self._marker:
            await self.reload()
            self._marker = marker  # only once reloaded: a failed reload is retried

    async def _checkpoint(self) -> None:
        # The key file is read again each time: a rotated key signs from the next checkpoint.
        try:
            self.signing = load_signing(self.settings)
        except JoingateError as exc:
            log.error("keeping the signing key loaded before: %s", exc.message)
        await actions.add_checkpoint(self.store, datetime.now(UTC).replace(microsecond=0),
                                     self.signing)

    async def _poll_geoip(self) -> None:
        # Reading and verifying a replacement takes ~0.3 s for a world DB: off the event loop
        # (in chunks, so the loop gets the GIL between them); the swap itself on the loop.
        loaded = await asyncio.to_thread(self.geo.prepare_reload)
        if loaded is not None:
            self.geo.install(loaded)

    # -- snapshot -------------------------------------------------------------------------
    async def reload(self) -> None:
        """Re-read restrictions, tokens and corrections from the store and rebuild the snapshot."""
        async with self._refresh_lock:
            self.tokens = await self.store.tokens()
            self._token_memo = {}
            self.geo.set_corrections(await self.store.list_corrections())
            await self._build_and_install(await self.store.list_restrictions())

    async def _rebuild(self, *, from_memory: bool = False) -> None:
        """Rebuild the snapshot from the store, or (from_memory) from the restrictions kept
        since the last rebuild. Every read and install happens under one lock: a read that
        began earlier can never install over one that began later (a store-watch reload
        racing an API write once put back a snapshot without the new restriction)."""
        async with self._refresh_lock:
            restrictions = self._live if from_memory else await self.store.list_restrictions()
            await self._build_and_install(restrictions)

    async def _build_and_install(self, restrictions: Sequence[Restriction]) -> None:
        # Off the event loop: with 100,000 stored restrictions, dropping the ended ones
        # and building is ~0.1-0.3 s of work, and /v1/authorize is answered meanwhile.
        snap, live = await asyncio.to_thread(_build, restrictions, _now())
        self._install(snap, live)

    async def _reload_corrections(self) -> None:
        async with self._refresh_lock:
            self.geo.set_corrections(await self.store.list_corrections())

    def _install(self, snap: Snapshot, restrictions: Sequence[Restriction]) -> None:
        old = self.engine.snapshot
        self.engine.snapshot = snap
        self._live = restrictions
        changed = changed_rooms(old, snap)
        if changed:
            self.enforcement.advance(changed)
            log.info("enforcement epoch %d: rooms changed: %s", self.enforcement.epoch,
                     ", ".join(sorted(changed)))
        self._schedule(snap.next_change)

    def _schedule(self, at: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if at is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, at - time.time()) + 0.001
        self._timer = loop.call_later(delay, self._window_boundary)

    def _window_boundary(self) -> None:
        # Rebuild from the restrictions already in memory: a window opening needs no store.
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(self._rebuild(from_memory=True)))

    # -- reads (handlers read through the runtime, as they write) ---------------------------
    async def restrictions(self) -> list[Restriction]:
        return await self.store.list_restrictions()

    async def restriction(self, restriction_id: int) -> Restriction:
        return await self.store.get_restriction(restriction_id)

    async def requests(self) -> list[AuthorityRequest]:
        return await self.store.list_requests()

    async def request(self, request_id: int) -> AuthorityRequest:
        return await self.store.get_request(request_id)

    async def corrections(self) -> list[Correction]:
        return await self.store.list_corrections()

    async def checkpoints(self) -> list[Checkpoint]:
        return await self.store.checkpoints()

    async def key_rotations(self) -> list[str]:
        return await self.store.key_rotations()

    # -- writes ---------------------------------------------------------------------------
    async def add_restriction(self, fields: Mapping[str, Any], actor: str) -> Restriction:
        made = await actions.add_restriction(self.store, fields, actor)
        await self._rebuild()
        return made

    async def revoke_restriction(self, restriction_id: int, reason: str,
                                 actor: str) -> Restriction:
        revoked = await actions.revoke_restriction(self.store, restriction_id, reason, actor)
        await self._rebuild()
        return revoked

    async def add_correction(self, fields: Mapping[str, Any], actor: str) -> Correction:
        made = await actions.add_correction(self.store, fields, actor)
        await self._reload_corrections()
        return made

    async def remove_correction(self, correction_id: int, reason: str,
                                actor: str) -> Correction:
        removed = await actions.remove_correction(self.store, correction_id, reason, actor)
        await self._reload_corrections()
        return removed

    async def add_request(self, fields: Mapping[str, Any], actor: str) -> AuthorityRequest:
        return await actions.add_request(self.store, fields, actor)

    async def decide_request(self, request_id: int, outcome: str, note: str,
                             actor: str) -> AuthorityRequest:
        decided = await actions.decide_request(self.store, request_id, outcome, note, actor)
        await self._rebuild()  # a refusal ends the request's restrictions
        return decided

    # -- GeoIP ----------------------------------------------------------------------------
    def geoip_status(self) -> dict[str, Any]:
        """The databases in use, their age, reload and lookup errors (readyz, admin page)."""
        geo, now, max_age = self.geo, time.time(), self.settings.geoip_max_age
        witness = geo.witness_info()
        return {**geo.info().as_json(), **freshness(geo.info(), max_age, now),
                "reload_error": geo.last_reload_error, "lookup_errors": geo.lookup_errors,
                "corrections": geo.corrections,
                "witness": None if witness is None else {
                    **witness.as_json(), **freshness(witness, max_age, now),
                    "reload_error": geo.witness_reload_error,
                    "disputed": self.settings.geoip_disputed}}

    # -- census -------------------------------------------------------------------------
    def report_census(self, source: str, rooms: Mapping[str, Mapping[str, Any]],
                      disputed: Mapping[str, Mapping[str, Any]] | None = None) -> int:
        refuse_bidi(source, "source")  # shown on the census page, like stored text
        cleaned = clean_counts(rooms, self.settings.census_max_rooms)
        contested = clean_counts(disputed or {}, self.settings.census_max_rooms, "disputed")
        now = time.time()
        self.census.report(source, cleaned, now)
        self.disputed_census.report(source, contested, now)
        return len(cleaned)

    async def census_view(self) -> dict[str, Any]:
        """The merged census, sorted and rendered in a worker thread: with many meetings that
        takes long enough to delay joins if it ran on the event loop."""
        now = time.time()
        sources, merged = self.census.snapshot(now)
        _, disputed = self.disputed_census.snapshot(now)
        view = await asyncio.to_thread(render, sources, merged)
        view["disputed"] = (await asyncio.to_thread(render, [], disputed))["rooms"]
        return view

    async def preview(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """What a draft restriction would do to the meetings now: validated, never written."""
        draft = await actions.check_restriction(self.store, fields, utc_now())
        now = time.time()
        _, merged = self.census.snapshot(now)
        _, disputed = self.disputed_census.snapshot(now)
        return await asyncio.to_thread(impact, draft, merged, self.engine.deny_unknown,
                                       disputed, self.engine.deny_disputed)

    # -- counters -------------------------------------------------------------------------
    async def flush(self) -> None:
        """Write the counters gathered in memory; on failure keep them for the next flush."""
        taken = self.engine.take_counts()
        if not taken:
            return
        rows = [CountRow(_day(day), restriction, country, outcome, n)
                for (day, restriction, country, outcome), n in taken.items()]
        try:
            await self.store.add_counts(rows)
        except Exception:
            self.engine.counts.update(taken)
            raise
        self.decision_totals.update(taken)

    def token_scope(self, token: str) -> TokenInfo | None:
        # Tokens seen valid are remembered in memory (never on disk) to skip hashing each
        # call; the memo is dropped whenever the token table is reloaded.
        found = self._token_memo.get(token)
        if found is None:
            found = self.tokens.get(hash_token(token))
            if found is not None and len(self._token_memo) < 1000:
                self._token_memo[token] = found
        return found


def _day(day_number: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day_number)).strftime("%Y-%m-%d")

