"""Admin actions shared by every shell (HTTP API, CLI, web page): validate, then store.

Each function validates with `restrictions` and writes through the store (which records the audit
entry in the same transaction). Making the change visible to a running service is the
caller's job (`Runtime` rebuilds its snapshot; a separate service notices the store change).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .corrections import Correction, build_correction
from .errors import InvalidInput, NotFound, RuleViolation
from .jurisdiction import jurisdictions
from .restrictions import (
    AuthorityRequest,
    Restriction,
    RestrictionDraft,
    build_request,
    build_restriction,
    refuse_bidi,
    utc_now,
)
from .store.base import SCOPES, Store, hash_token


async def add_restriction(store: Store, fields: Mapping[str, Any], actor: str) -> Restriction:
    now = utc_now()
    draft = await check_restriction(store, fields, now)
    return await store.create_restriction(draft, actor, now)


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


async def revoke_restriction(store: Store, restriction_id: int, reason: str,
                             actor: str) -> Restriction:
    return await store.revoke_restriction(restriction_id, reason, actor, utc_now())


async def add_request(store: Store, fields: Mapping[str, Any], actor: str) -> AuthorityRequest:
    now = utc_now()
    draft = build_request(
        authority=fields.get("authority"), jurisdiction=fields.get("jurisdiction"),
        reference=fields.get("reference"), rooms=fields.get("rooms") or [],
        demand=fields.get("demand"), received_at=fields.get("received_at"), now=now,
        table=jurisdictions())
    return await store.create_request(draft, actor, now)


async def decide_request(store: Store, request_id: int, outcome: str, note: str,
                         actor: str) -> AuthorityRequest:
    return await store.decide_request(request_id, outcome, note, actor, utc_now())


async def create_token(store: Store, name: str, scope: str, actor: str, token: str) -> None:
    if not name.strip() or len(name) > 100:
        raise InvalidInput("name: 1-100 characters", field="name")
    refuse_bidi(name, "name")
    if scope not in SCOPES:
        raise InvalidInput(f"scope: one of {', '.join(SCOPES)}", field="scope")
    await store.create_token(name.strip(), scope, hash_token(token), actor, utc_now())


async def add_correction(store: Store, fields: Mapping[str, Any], actor: str) -> Correction:
    draft = build_correction(network=fields.get("network"), country=fields.get("country"),
                             reason=fields.get("reason"), table=jurisdictions())
    return await store.create_correction(draft, actor, utc_now())


async def remove_correction(store: Store, correction_id: int, reason: str,
                            actor: str) -> Correction:
    return await store.remove_correction(correction_id, reason, actor, utc_now())
