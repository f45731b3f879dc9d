"""Every write, shared by every shell (HTTP API, CLI, web page): the rules, the change and its
audit entry.

Each action validates with `restrictions` / `corrections`, then, in one store transaction,
reads what its rules depend on, checks them again where a concurrent write could have changed
the answer, writes, and appends its audit entry (the action name, subject and details below are
what the hash chain records: changing them changes the log). Making the change visible to a
running service is the caller's job (`Runtime` rebuilds its snapshot; a separate service
notices the store change).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .audit import Checkpoint, make_checkpoint, needs_checkpoint
from .corrections import Correction, build_correction, check_remove
from .errors import Conflict, InvalidInput, NotFound, RuleViolation
from .jurisdiction import jurisdictions
from .restrictions import (
    AuthorityRequest,
    RequestDraft,
    Restriction,
    RestrictionDraft,
    build_request,
    build_restriction,
    check_decision,
    check_request_open,
    check_revoke,
    ended_by_decision,
    format_time,
    refusal_reason,
    refuse_bidi,
    utc_now,
)
from .store.base import Store, Tx, hash_token
from .tlog import Signing
from .vocabulary import Scope, one_of, values


async def _audit(tx: Tx, now: datetime, actor: str, action: str, subject: str,
                 details: dict[str, Any]) -> None:
    await tx.append_audit(format_time(now) or "", actor, action, subject, details)


# -- restrictions -------------------------------------------------------------------------

async def add_restriction(store: Store, fields: Mapping[str, Any], actor: str) -> Restriction:
    now = utc_now()
    draft = await check_restriction(store, fields, now)
    return await record_restriction(store, draft, actor, now)


async def check_restriction(store: Store, fields: Mapping[str, Any],
                            now: datetime) -> RestrictionDraft:
    """Validate a new restriction (every rule, including its request's jurisdiction)."""
    request_id = fields.get("request")
    request: AuthorityRequest | None = None
    if request_id is not None:
        if not isinstance(request_id, int) or isinstance(request_id, bool) \
                or not 0 < request_id < 2**63:
            raise InvalidInput("request: must be the id of an authority request",
                               field="request")
        try:
            request = await store.get_request(request_id)
        except NotFound:
            raise RuleViolation(f"request: there is no authority request {request_id}",
                                field="request") from None
    return build_restriction(
        rooms=fields.get("rooms") or [], countries=fields.get("countries") or [],
        starts_at=fields.get("starts_at"), ends_at=fields.get("ends_at"),
        reason=fields.get("reason"), request=request, request_id=request_id,
        mode=fields.get("mode"), now=now, table=jurisdictions())


async def record_restriction(store: Store, draft: RestrictionDraft, actor: str,
                             now: datetime) -> Restriction:
    """Write a validated draft. Its request is read again under the write lock: a refusal
    committed since `check_restriction` refuses it (a refused request produces none)."""
    async with store.transaction() as tx:
        if draft.request is not None:
            check_request_open(await tx.request(draft.request))
        made = await tx.restriction(await tx.insert("restrictions", {
            "rooms": draft.rooms, "countries": draft.countries, "mode": draft.mode,
            "starts_at": draft.starts_at, "ends_at": draft.ends_at, "reason": draft.reason,
            "request_id": draft.request, "created_at": now, "created_by": actor}))
        await _audit(tx, now, actor, "restriction.create", f"restriction/{made.id}", {
            "rooms": list(made.rooms), "countries": list(made.countries), "mode": made.mode,
            "starts_at": format_time(made.starts_at), "ends_at": format_time(made.ends_at),
            "reason": made.reason, "request": made.request})
        return made


async def revoke_restriction(store: Store, restriction_id: int, reason: str,
                             actor: str) -> Restriction:
    now = utc_now()
    async with store.transaction() as tx:
        text = check_revoke(await tx.restriction(restriction_id), reason, now)
        await _revoke(tx, restriction_id, text, actor, now, {"reason": text})
        return await tx.restriction(restriction_id)


async def _revoke(tx: Tx, restriction_id: int, reason: str, actor: str, now: datetime,
                  details: dict[str, Any]) -> None:
    await tx.update("restrictions", restriction_id,
                    {"revoked_at": now, "revoked_by": actor, "revoke_reason": reason})
    await _audit(tx, now, actor, "restriction.revoke", f"restriction/{restriction_id}",
                 details)


# -- authority requests -------------------------------------------------------------------

async def add_request(store: Store, fields: Mapping[str, Any], actor: str) -> AuthorityRequest:
    now = utc_now()
    draft = build_request(
        authority=fields.get("authority"), jurisdiction=fields.get("jurisdiction"),
        reference=fields.get("reference"), rooms=fields.get("rooms") or [],
        demand=fields.get("demand"), received_at=fields.get("received_at"), now=now,
        table=jurisdictions())
    return await record_request(store, draft, actor, now)


async def record_request(store: Store, draft: RequestDraft, actor: str,
                         now: datetime) -> AuthorityRequest:
    async with store.transaction() as tx:
        made = await tx.request(await tx.insert("requests", {
            "authority": draft.authority, "jurisdiction": draft.jurisdiction,
            "reference": draft.reference, "rooms": draft.rooms, "demand": draft.demand,
            "received_at": draft.received_at, "recorded_at": now, "recorded_by": actor}))
        await _audit(tx, now, actor, "request.record", f"request/{made.id}", {
            "id": made.id, "authority": made.authority, "jurisdiction": made.jurisdiction,
            "reference": made.reference, "rooms": list(made.rooms), "demand": made.demand,
            "received_at": format_time(made.received_at), "recorded_by": made.recorded_by})
        return made


async def decide_request(store: Store, request_id: int, outcome: str, note: str,
                         actor: str) -> AuthorityRequest:
    """Record the decision; a refusal ends every restriction made for the request that is
    still scheduled or active, in the same transaction (the request is locked meanwhile, so
    no restriction can be added to it between the two)."""
    now = utc_now()
    async with store.transaction() as tx:
        current = await tx.request(request_id)
        outcome_text, note_text = check_decision(current, outcome, note)
        await tx.update("requests", request_id, {"outcome": outcome_text, "note": note_text,
                                                 "decided_at": now, "decided_by": actor})
        await _audit(tx, now, actor, "request.decide", f"request/{request_id}",
                     {"outcome": outcome_text, "note": note_text})
        made = [await tx.restriction(rid) for rid in current.restrictions]
        reason_text = refusal_reason(current, note_text)
        for ended in ended_by_decision(outcome_text, made, now):
            await _revoke(tx, ended.id, reason_text, actor, now,
                          {"reason": reason_text, "request": request_id})
        return await tx.request(request_id)


# -- tokens -------------------------------------------------------------------------------

async def create_token(store: Store, name: str, scope: str, actor: str, token: str) -> None:
    if not name.strip() or len(name) > 100:
        raise InvalidInput("name: 1-100 characters", field="name")
    refuse_bidi(name, "name")
    if scope not in values(Scope):
        raise InvalidInput(f"scope: one of {one_of(Scope)}", field="scope")
    name, now = name.strip(), utc_now()
    async with store.transaction() as tx:
        if await tx.token_named(name):
            raise Conflict(f"name: a token named {name!r} exists", field="name",
                           code="name_taken")
        await tx.insert("tokens", {"name": name, "scope": scope, "token_hash": hash_token(token),
                                   "created_at": now, "created_by": actor})
        await _audit(tx, now, actor, "token.create", f"token/{name}", {"scope": scope})


# -- GeoIP corrections --------------------------------------------------------------------

async def add_correction(store: Store, fields: Mapping[str, Any], actor: str) -> Correction:
    draft = build_correction(network=fields.get("network"), country=fields.get("country"),
                             reason=fields.get("reason"), table=jurisdictions())
    now = utc_now()
    async with store.transaction() as tx:
        made = await tx.correction(await tx.insert("geoip_corrections", {
            "network": draft.network, "country": draft.country, "reason": draft.reason,
            "created_at": now, "created_by": actor}))
        await _audit(tx, now, actor, "geoip.correction.add", f"correction/{made.id}",
                     {"network": made.network, "country": made.country, "reason": made.reason})
        return made


async def remove_correction(store: Store, correction_id: int, reason: str,
                            actor: str) -> Correction:
    now = utc_now()
    async with store.transaction() as tx:
        text = check_remove(await tx.correction(correction_id), reason)
        await tx.update("geoip_corrections", correction_id,
                        {"removed_at": now, "removed_by": actor, "remove_reason": text})
        await _audit(tx, now, actor, "geoip.correction.remove", f"correction/{correction_id}",
                     {"reason": text})
        return await tx.correction(correction_id)


# -- the audit log itself -----------------------------------------------------------------

async def add_checkpoint(store: Store, now: datetime,
                         signing: Signing | None = None) -> Checkpoint | None:
    """Record a checkpoint of the audit log (signed with `signing`) when `needs_checkpoint`
    says so, under the write lock: one signer at a time, one tree. `make_checkpoint` refuses
    (Conflict) a log that no longer extends the last checkpoint."""
    async with store.transaction() as tx:
        last = await tx.last_checkpoint()
        if not needs_checkpoint(await tx.audit_size(), last, signing):
            return None
        entries = await tx.audit_log()
        # Hashing the whole log: off the event loop, so joins are decided meanwhile.
        made = await asyncio.to_thread(make_checkpoint, entries, last, format_time(now) or "",
                                       signing)
        await tx.insert("audit_checkpoints", {
            "at": made.at, "size": made.size, "head": made.head, "root": made.root,
            "note": made.note, "signer_key": made.key})
        return made


async def record_key_rotation(store: Store, note: str, old_key: str, new_key: str, actor: str,
                              now: datetime) -> None:
    """Record a key rotation statement (signed by both keys), naming the retired and the new
    verifier key by id, and its audit entry."""
    async with store.transaction() as tx:
        await tx.insert("audit_key_rotations", {"at": format_time(now), "note": note})
        await _audit(tx, now, actor, "audit.key.rotate", "audit/key",
                     {"old": old_key, "new": new_key})
