"""The aiohttp application: routes, bearer-token scopes, JSON in and out.

`/v1/authorize` is the hot path: decode (msgspec), decide from memory, count, encode. It awaits
nothing but the request body. Admin routes go through `Runtime`, which makes each change
durable before it answers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ..appkeys import RUNTIME
from ..engine import Verdict
from ..errors import Forbidden, InvalidInput, Unauthorized
from ..metrics import registry_for
from ..report import render_json
from ..report.load import load_report
from ..restrictions import parse_id, utc_now
from ..rooms import join_key
from ..runtime import Runtime
from ..store.base import TokenInfo
from ..tlog import b64
from ..vocabulary import (
    CountOutcome,
    Decision,
    Purpose,
    RestrictionState,
    Scope,
    one_of,
    values,
)
from . import schemas
from .errors import JSON_HEADERS, MAX_BODY, http_error, json_errors, response_for
from .openapi import openapi_document

METRICS = web.AppKey("metrics", CollectorRegistry)
_encode = msgspec.json.Encoder().encode
_AUTHORIZE = msgspec.json.Decoder(schemas.AuthorizeIn)
_BATCH = msgspec.json.Decoder(schemas.BatchIn)
_SESSION = msgspec.json.Decoder(schemas.SessionIn)
_RESTRICTION = msgspec.json.Decoder(schemas.RestrictionIn)
_REVOKE = msgspec.json.Decoder(schemas.RevokeIn)
_REQUEST = msgspec.json.Decoder(schemas.RequestIn)
_DECISION = msgspec.json.Decoder(schemas.DecisionIn)
_CENSUS = msgspec.json.Decoder(schemas.CensusIn)
_CORRECTION = msgspec.json.Decoder(schemas.CorrectionIn)
# Bound once: the plugin routes are the hot path, and reading a member from its enum class
# costs about 80 ns on Python 3.11.
_ADMIN, _PLUGIN = Scope.ADMIN, Scope.PLUGIN
_ALLOW, _DENY = Decision.ALLOW, Decision.DENY
_ALLOWED, _REFUSED = CountOutcome.ALLOWED, CountOutcome.REFUSED


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(value), status=status, headers=JSON_HEADERS)


def _auth(request: web.Request, scope: Scope) -> TokenInfo:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthorized("Authorization: send 'Bearer TOKEN'", field="Authorization")
    info = request.app[RUNTIME].token_scope(header[7:].strip())
    if info is None:
        raise Unauthorized("Authorization: unknown token", field="Authorization")
    if info.scope != scope:
        raise Forbidden(f"Authorization: this route needs a {scope} token", field="Authorization")
    return info


def _actor(info: TokenInfo) -> str:
    return f"token:{info.name}"


def _id(request: web.Request) -> int:
    return parse_id(request.match_info["id"], "id")


# -- plugin routes ----------------------------------------------------------------------------

# Encoded verdicts by id(): the engine hands out the same Verdict object for the same answer,
# so each is encoded once. The identity check guards against a recycled id.
_BODIES: dict[int, tuple[Verdict, bytes]] = {}


def _verdict_body(verdict: Verdict) -> bytes:
    found = _BODIES.get(id(verdict))
    if found is not None and found[0] is verdict:
        return found[1]
    if len(_BODIES) > 10_000:
        _BODIES.clear()
    body = _encode(verdict)
    _BODIES[id(verdict)] = (verdict, body)
    return body


async def authorize(request: web.Request) -> web.StreamResponse:
    """The hot path. It maps its own errors (see build_app) to save a coroutine per call."""
    started = time.perf_counter()
    try:
        _auth(request, _PLUGIN)
        body = schemas.decode(await request.read(), _AUTHORIZE)
        rt = request.app[RUNTIME]
        now = time.time()
        verdict = rt.engine.decide(join_key(body.room), body.ip, now)
    except Exception as exc:
        return response_for(exc, "authorize", request)
    rt.engine.count(verdict, now, _ALLOWED if verdict.decision == _ALLOW else _REFUSED)
    response = web.Response(body=_verdict_body(verdict), headers=JSON_HEADERS)
    rt.latency.observe(time.perf_counter() - started)
    return response


async def authorize_session(request: web.Request) -> web.Response:
    """The verdicts for one address over every meeting with a restriction in force, asked by
    the plugin when a client session starts, so that its joins need not wait. Counts nothing:
    the joins it lets in are counted by the plugin's batch (purpose "admitted")."""
    _auth(request, _PLUGIN)
    body = schemas.decode(await request.read(), _SESSION)
    rt = request.app[RUNTIME]
    # The epoch first, the verdicts after: they are at least as new as the epoch they are
    # sent with, so a plugin whose feed is at that epoch never takes older verdicts for
    # current ones.
    epoch = rt.enforcement.epoch
    denied = rt.engine.denied_rooms(body.ip, time.time())
    return _json({"epoch": epoch, "denied": denied})


# purpose -> (how a denial is counted, how an allow is counted; None: not counted)
_BATCH_OUTCOMES: dict[Purpose, tuple[CountOutcome, CountOutcome | None]] = {
    Purpose.JOIN: (CountOutcome.REFUSED, CountOutcome.ALLOWED),
    Purpose.SWEEP: (CountOutcome.REMOVED, None),
    Purpose.ADMITTED: (CountOutcome.REMOVED, CountOutcome.ALLOWED)}


async def authorize_batch(request: web.Request) -> web.Response:
    _auth(request, _PLUGIN)
    body = schemas.decode(await request.read(), _BATCH)
    engine = request.app[RUNTIME].engine
    now = time.time()
    results = []
    for i, check in enumerate(body.checks):
        try:
            verdict = engine.decide(join_key(check.room), check.ip, now)
        except InvalidInput as exc:
            raise InvalidInput(f"checks[{i}].{exc.message}", field=f"checks[{i}].ip") from None
        results.append(verdict)
    denied, allowed = _BATCH_OUTCOMES[body.purpose]
    for verdict in results:
        if verdict.decision == _DENY:
            engine.count(verdict, now, denied)
        elif allowed is not None:
            engine.count(verdict, now, allowed)
    return _json({"results": results})


def _query_number(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        if not raw.isascii():  # float() reads other scripts' digits too
            raise ValueError
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}: must be a number", field=name) from None
    if not value >= 0 or value == float("inf"):
        raise InvalidInput(f"{name}: must be zero or more", field=name)
    return value


async def enforcement(request: web.Request) -> web.Response:
    _auth(request, _PLUGIN)
    rt = request.app[RUNTIME]
    after = parse_id(request.query.get("after", "0"), "after")
    wait = min(_query_number(request, "wait", 25.0), rt.settings.server_enforcement_max_wait)
    rooms = await rt.enforcement.wait(after, wait)
    return _json({"epoch": rt.enforcement.epoch, "rooms": rooms or [],
                  "restricted": rt.engine.snapshot.restricted})


async def census_report(request: web.Request) -> web.Response:
    info = _auth(request, _PLUGIN)
    body = schemas.decode(await request.read(), _CENSUS)
    rooms = request.app[RUNTIME].report_census(body.source or info.name, body.rooms,
                                               body.disputed)
    return _json({"rooms": rooms})


# -- admin routes -----------------------------------------------------------------------------

async def list_restrictions(request: web.Request) -> web.Response:
    _auth(request, _ADMIN)
    rt = request.app[RUNTIME]
    now = utc_now()
    items = [r.as_json(now) for r in await rt.restrictions()]
    state = request.query.get("state")
    if state is not None:
        if state not in values(RestrictionState):
            raise InvalidInput(f"state: one of {one_of(RestrictionState)}", field="state")
        items = [r for r in items if r["state"] == state]
    return _json({"restrictions": items})


async def create_restriction(request: web.Request) -> web.Response:
    info = _auth(request, _ADMIN)
    body = schemas.decode(await request.read(), _RESTRICTION)
    made = await request.app[RUNTIME].add_restriction(msgspec.structs.asdict(body), _actor(info))
    return _json(made.as_json(utc_now()), status=201)


async def preview_restriction(request: web.Request) -> web.Response:
    _auth(request, _ADMIN)
    body = schemas.decode(await request.read(), _RESTRICTION)
    return _json(await request.app[RUNTIME].preview(msgspec.structs.asdict(body)))


async def census_view(request: web.Request) -> web.Response:
    _auth(request, _ADMIN)
    view = await request.app[RUNTIME].census_view()
    return web.Response(body=await asyncio.to_thread(_encode, view), headers=JSON_HEADERS)


async def get_restriction(request: web.Request) -> web.Response:
    _auth(request, _ADMIN)
    found = await request.app[RUNTIME].restriction(_id(request))
    return _json(found.as_json(utc_now()))


async def revoke_restriction(request: web.Request) -> web.Response:
    info = _auth(request, _ADMIN)
    body = schemas.decode(await request.read(), _REVOKE)
    revoked = await request.app[RUNTIME].revoke_restriction(_id(request), body.reason,
                                                            _actor(info))
    return _json(revoked.as_json(utc_now()))


async def list_requests(request: web.Request) -> web.Response:
    _auth(request, _ADMIN)
    items = await request.app[RUNTIME].requests()
    return _json({"requests": [r.as_json() for r in items]})


async def create_request(request: web.Request) -> web.Response:
    info = _auth(request, _ADMIN)
    body = schemas.decode(await request.read(), _REQUEST)
    made = await request.app[RUNTIME].add_request(msgspec.structs.asdict(body), _actor(info))
    return _json(made.as_json(), status=201)


async def get_request(request: web.Request) -> web.Response:
    _auth(request, _ADMIN)
    return _json((await request.app[RUNTIME].request(_id(request))).as_json())


async def decide_request(request: web.Request) -> web.Response:
    info = _auth(request, _ADMIN)
    body = schemas.decode(await request.read(), _DECISION)
    decided = await request.app[RUNTIME].decide_request(_id(request), body.outcome, body.note,
                                                        _actor(info))
    return _json(decided.as_json())


async def list_corrections(request: web.Request) -> web.Response:
    _auth(request, _ADMIN)
    items = await request.app[RUNTIME].corrections()
    return _json({"corrections": [c.as_json() for c in items]})


async def create_correction(request: web.Request) -> web.Response:
    info = _auth(request, _ADMIN)
    body = schemas.decode(await request.read(), _CORRECTION)
    made = await request.app[RUNTIME].add_correction(msgspec.structs.asdict(body), _actor(info))
    return _json(made.as_json(), status=201)


async def remove_correction(request: web.Request) -> web.Response:
    info = _auth(request, _ADMIN)
    body = schemas.decode(await request.read(), _REVOKE)
    removed = await request.app[RUNTIME].remove_correction(_id(request), body.reason,
                                                           _actor(info))
    return _json(removed.as_json())


# -- operations -------------------------------------------------------------------------------

async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    ready = rt.loaded and rt.store_ok
    body = {"ready": ready, "store": "ok" if rt.store_ok else "unreachable",
            "snapshot_loaded": rt.loaded, "epoch": rt.enforcement.epoch,
            "geoip": rt.geoip_status()}
    return _json(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    return web.Response(body=generate_latest(registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def report(request: web.Request) -> web.Response:
    """The public transparency report (the same document as `joingate report --format json`
    and the /transparency page)."""
    store = request.app[RUNTIME].store
    found = await load_report(store, request.query.get("since"), request.query.get("until"))
    return web.Response(body=render_json(found).encode(), headers=JSON_HEADERS)


# -- publicly verifiable audit (hashes and signatures only, never an entry) --------------------

async def audit_key(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    verifier = rt.signing.signer.verifier if rt.signing else None
    return _json({"key": verifier.text if verifier else None,
                  "name": verifier.name if verifier else None,
                  "key_id": verifier.hex_id if verifier else None,
                  "origin": rt.signing.origin if rt.signing else None,
                  "algorithm": "ed25519",
                  "rotations": await rt.key_rotations()})


async def audit_checkpoints(request: web.Request) -> web.Response:
    items = await request.app[RUNTIME].checkpoints()
    return _json({"checkpoints": [c.as_json() for c in items]})


async def audit_consistency(request: web.Request) -> web.Response:
    first = parse_id(request.query.get("from"), "from")
    second = parse_id(request.query.get("to"), "to")
    proof = await request.app[RUNTIME].log_tree.proof(first, second)
    return _json({"from": first, "to": second, "proof": [b64(h) for h in proof]})


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/authorize", authorize),
    ("POST", "/v1/authorize/batch", authorize_batch),
    ("POST", "/v1/authorize/session", authorize_session),
    ("GET", "/v1/enforcement", enforcement),
    ("POST", "/v1/census", census_report),
    ("GET", "/v1/census", census_view),
    ("GET", "/v1/restrictions", list_restrictions),
    ("POST", "/v1/restrictions", create_restriction),
    ("POST", "/v1/restrictions/preview", preview_restriction),
    ("GET", "/v1/restrictions/{id}", get_restriction),
    ("POST", "/v1/restrictions/{id}/revoke", revoke_restriction),
    ("GET", "/v1/requests", list_requests),
    ("POST", "/v1/requests", create_request),
    ("GET", "/v1/requests/{id}", get_request),
    ("POST", "/v1/requests/{id}/decision", decide_request),
    ("GET", "/v1/geoip/corrections", list_corrections),
    ("POST", "/v1/geoip/corrections", create_correction),
    ("POST", "/v1/geoip/corrections/{id}/remove", remove_correction),
    ("GET", "/v1/report", report),
    ("GET", "/v1/audit/key", audit_key),
    ("GET", "/v1/audit/checkpoints", audit_checkpoints),
    ("GET", "/v1/audit/consistency", audit_consistency),
    ("GET", "/healthz", healthz),
    ("GET", "/readyz", readyz),
    ("GET", "/metrics", metrics),
    ("GET", "/openapi.json", openapi),
]


async def unrouted(request: web.Request) -> web.Response:
    """JSON 404/405 for anything no route serves."""
    for resource in request.app.router.resources():
        if resource.canonical == "/{tail}":
            continue
        _, allowed = await resource.resolve(request)
        if allowed:
            return http_error(405, "Method Not Allowed")
    return http_error(404, "Not Found")


def api_app(runtime: Runtime) -> web.Application:
    """The root application with the API's routes (joingate.application mounts the pages)."""
    app = web.Application(client_max_size=MAX_BODY)
    app[RUNTIME] = runtime
    app[METRICS] = registry_for(runtime)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler if handler is authorize
                             else json_errors(handler))
    app.router.add_route("*", "/{tail:.*}", unrouted)  # JSON 404/405 for what nothing serves
    async def end_long_polls(app: web.Application) -> None:
        runtime.enforcement.close()
    app.on_shutdown.append(end_long_polls)
    return app
