"""The OpenAPI 3.1 document of the HTTP API (served at /openapi.json).

Request bodies come from the msgspec types the handlers decode with, so the document cannot
drift from validation; responses are described here. A test checks that every route of the
app is in the document and every documented operation is a route.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from .. import __version__
from ..engine import SESSION_MAX_ROOMS
from ..vocabulary import (
    UNDECIDED,
    CorrectionState,
    Decision,
    Mode,
    RequestOutcome,
    RestrictionState,
    Scope,
    VerdictRule,
    values,
)
from . import schemas

_STR_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_MEETINGS = {**_STRINGS, "description": (
    "Canonical meeting names: the Jitsi room node (\"caf%c3%a9%20vigil\" for the meeting people "
    "see as \"Café Vigil\"), tenant/room for a tenant's meeting, \"*\" for all meetings.")}
# The vocabulary's sets, each a component described by its docstring (see openapi_document).
_WORDS = (Decision, VerdictRule, Mode, RestrictionState, CorrectionState, RequestOutcome)
_DECISION, _RULE, _MODE, _STATE, _CORRECTION_STATE, _OUTCOME = (
    {"$ref": f"#/components/schemas/{words.__name__}"} for words in _WORDS)
_ADMIN, _PLUGIN = Scope.ADMIN, Scope.PLUGIN

_RESPONSES: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "field"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "field": _STR_OR_NULL}}}},
    "Verdict": {"type": "object", "required": ["decision", "country", "restriction"],
                "properties": {
                    "decision": _DECISION,
                    "country": _STR_OR_NULL, "restriction": _INT_OR_NULL,
                    "rule": _RULE,
                    "message": {"type": "string"},
                    "witness_country": {"type": "string", "description": (
                        f"only when rule is '{VerdictRule.DISPUTED}': where the witness DB "
                        "places the address")}}},
    "Correction": {"type": "object", "required": [
        "id", "network", "country", "reason", "state", "created_at", "created_by"],
        "properties": {
            "id": {"type": "integer"}, "network": {"type": "string"},
            "country": {"type": "string"}, "reason": {"type": "string"},
            "state": _CORRECTION_STATE, "created_at": {"type": "string"},
            "created_by": {"type": "string"}, "removed_at": _STR_OR_NULL,
            "removed_by": _STR_OR_NULL, "remove_reason": _STR_OR_NULL}},
    "CorrectionList": {"type": "object", "required": ["corrections"], "properties": {
        "corrections": {"type": "array", "items": {"$ref": "#/components/schemas/Correction"}}}},
    "BatchResult": {"type": "object", "required": ["results"], "properties": {
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Verdict"}}}},
    "SessionVerdicts": {"type": "object", "required": ["epoch", "denied"], "properties": {
        "epoch": {"type": "integer", "description": (
            "the enforcement epoch the verdicts are at least as new as")},
        "denied": {"type": ["array", "null"], "items": {"type": "string"}, "description": (
            "the meetings with a restriction in force now where this address would be "
            "refused; \"*\": refused in every meeting covered only by a restriction on all "
            f"meetings; null: more than {SESSION_MAX_ROOMS:,} meetings have a restriction in "
            "force, ask per join")}}},
    "Enforcement": {"type": "object", "required": ["epoch", "rooms", "restricted"],
                    "properties": {"epoch": {"type": "integer"}, "rooms": _MEETINGS,
                                   "restricted": _MEETINGS}},
    "Restriction": {"type": "object", "required": [
        "id", "rooms", "countries", "mode", "starts_at", "ends_at", "reason", "request", "state",
        "created_at", "created_by"], "properties": {
        "id": {"type": "integer"}, "rooms": _MEETINGS, "countries": _STRINGS,
        "mode": _MODE, "starts_at": {"type": "string"},
        "ends_at": _STR_OR_NULL, "reason": {"type": "string"}, "request": _INT_OR_NULL,
        "state": _STATE,
        "created_at": {"type": "string"}, "created_by": {"type": "string"},
        "revoked_at": _STR_OR_NULL, "revoked_by": _STR_OR_NULL, "revoke_reason": _STR_OR_NULL}},
    "RestrictionList": {"type": "object", "required": ["restrictions"], "properties": {
        "restrictions": {"type": "array", "items": {"$ref": "#/components/schemas/Restriction"}}}},
    "Request": {"type": "object", "required": [
        "id", "authority", "jurisdiction", "reference", "rooms", "demand", "received_at",
        "outcome", "note", "restrictions"], "properties": {
        "id": {"type": "integer"}, "authority": {"type": "string"},
        "jurisdiction": {"type": "string"}, "reference": {"type": "string"}, "rooms": _MEETINGS,
        "demand": {"type": "string"}, "received_at": {"type": "string"},
        "recorded_by": {"type": "string"},
        "outcome": {"oneOf": [_OUTCOME, {"type": "null"}]}, "note": _STR_OR_NULL,
        "decided_at": _STR_OR_NULL, "decided_by": _STR_OR_NULL,
        "restrictions": {"type": "array", "items": {"type": "integer"}}}},
    "RequestList": {"type": "object", "required": ["requests"], "properties": {
        "requests": {"type": "array", "items": {"$ref": "#/components/schemas/Request"}}}},
    "Report": {"type": "object", "required": [
        "period", "by_jurisdiction", "requests", "participants", "accounts_suspended",
        "meetings_ended", "audit_checkpoint"], "properties": {
        "period": {"type": "object", "required": ["since", "until"], "properties": {
            "since": _STR_OR_NULL, "until": {"type": "string", "format": "date"}}},
        "generated_at": {"type": "string"},
        "by_jurisdiction": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {
                "name": {"type": "string"}, "covers": _STRINGS,
                "requests_received": {"type": "integer"}, "meetings_named": {"type": "integer"},
                "outcomes": {"type": "object", "additionalProperties": {"type": "integer"}},
                "restrictions_created": {"type": "integer"}, "restricted_countries": _STRINGS,
                "restrictions_outside_jurisdiction": {"type": "integer"},
                "participants": {"$ref": "#/components/schemas/CountsByCountry"},
                "accounts_suspended": {"type": "integer"},
                "meetings_ended": {"type": "integer"}}}},
        "requests": {"type": "array", "items": {"type": "object", "required": [
            "jurisdiction", "authority", "reference", "received_at", "outcome",
            "meetings_named"], "properties": {
            "id": {"type": "integer"}, "jurisdiction": {"type": "string"},
            "authority": {"type": "string"}, "reference": {"type": "string"},
            "received_at": {"type": "string"},
            "outcome": {"enum": [*values(RequestOutcome), UNDECIDED]},
            "meetings_named": {"type": "integer",
                               "description": "how many (names are not published)"},
            "decided_at": _STR_OR_NULL,
            "restrictions": {"type": "array", "items": {"type": "integer"}},
            "restricted_countries": _STRINGS}}},
        "participants": {"$ref": "#/components/schemas/CountsByCountry"},
        "participants_total": {"type": "object", "properties": {
            "refused": {"type": "integer"}, "removed": {"type": "integer"}}},
        "operator_policies": {"type": "object"},
        "accounts_suspended": {"const": 0}, "meetings_ended": {"const": 0},
        "audit_checkpoint": {"oneOf": [{"type": "null"},
                                       {"$ref": "#/components/schemas/AuditCheckpoint"}]},
        "audit_key_rotations": {"type": "array", "items": {"type": "string"}, "description": (
            "key rotation statements (signed notes naming the old and the new verifier key, "
            "signed by both)")},
        "audit_verify": {"type": "string", "description": "how a reader verifies the head"},
        "never_done": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "statement": {"type": "string"},
            "basis": {"type": "string"}}}},
        "unknown_country": {"type": "string"},
        "geolocation": {"type": "object"},
        "disputed": {"type": "object", "description": (
            "decisions made when the witness GeoIP DB disagreed about a restricted country"),
            "properties": {"by_country": {"type": "object", "additionalProperties": {
                "type": "integer"}}, "total": {"type": "integer"}}},
        "geoip_corrections": {"type": "array", "items": {"type": "object", "properties": {
            "network": {"type": "string"}, "country": {"type": "string"},
            "reason": {"type": "string"}, "created_at": {"type": "string"},
            "removed_at": _STR_OR_NULL}}}}},
    "AuditCheckpoint": {"type": "object", "required": [
        "at", "size", "head", "root", "origin", "key_id", "signature", "note", "key"],
        "description": "a checkpoint of the audit log; origin, key_id, signature, note and "
                       "key are null when it is unsigned, root when it predates the tree",
        "properties": {
            "at": {"type": "string"}, "size": {"type": "integer"},
            "head": {"type": "string", "description": "hex hash of the chain's last entry"},
            "root": {**_STR_OR_NULL, "description": "base64 RFC 9162 Merkle root"},
            "origin": _STR_OR_NULL,
            "key_id": {**_STR_OR_NULL, "description": "8 hex digits"},
            "signature": {**_STR_OR_NULL, "description":
                          "base64 Ed25519 signature over the checkpoint body"},
            "note": {**_STR_OR_NULL, "description":
                     "the C2SP signed note: checkpoint body, blank line, signature line"},
            "key": {**_STR_OR_NULL, "description":
                    "verifier key <name>+<key id>+<base64 key> that signed it"}}},
    "AuditCheckpointList": {"type": "object", "required": ["checkpoints"], "properties": {
        "checkpoints": {"type": "array", "items": {
            "$ref": "#/components/schemas/AuditCheckpoint"}}}},
    "AuditKey": {"type": "object", "required": ["key", "key_id", "rotations"], "properties": {
        "key": {**_STR_OR_NULL, "description": "verifier key in use; null: unsigned"},
        "name": _STR_OR_NULL, "key_id": _STR_OR_NULL, "origin": _STR_OR_NULL,
        "algorithm": {"const": "ed25519"},
        "rotations": {"type": "array", "items": {"type": "string"}}}},
    "ConsistencyProof": {"type": "object", "required": ["from", "to", "proof"], "properties": {
        "from": {"type": "integer"}, "to": {"type": "integer"},
        "proof": {"type": "array", "items": {"type": "string"},
                  "description": "base64 node hashes, RFC 9162 PROOF(from, D[to])"}}},
    "CountsByCountry": {"type": "object", "required": ["refused", "removed"], "properties": {
        "refused": {"type": "object", "additionalProperties": {"type": "integer"}},
        "removed": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    "Census": {"type": "object", "required": ["rooms", "sources", "updated_at"], "properties": {
        "rooms": {"type": "object", "description": "by meeting, as the plugins name them "
                  "(canonical names), then by country", "additionalProperties": {
            "type": "object", "additionalProperties": {"type": "integer"}}},
        "sources": {"type": "array", "items": {"type": "object"}},
        "updated_at": _STR_OR_NULL,
        "disputed": {"type": "object", "description": (
            "of the participants in `rooms`, those whose last verdict was disputed, by the "
            "primary DB's country"), "additionalProperties": {
            "type": "object", "additionalProperties": {"type": "integer"}}}}},
    "CensusAccepted": {"type": "object", "required": ["rooms"],
                       "properties": {"rooms": {"type": "integer"}}},
    "Impact": {"type": "object", "required": ["rooms", "total"], "properties": {
        "rooms": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": {"type": "integer"}}},
        "total": {"type": "integer"},
        "disputed": {"type": "object", "description": (
            "covered participants whose last verdict was disputed; unless geoip.disputed is "
            "deny they are not in `rooms` and `total`"), "additionalProperties": {
            "type": "object", "additionalProperties": {"type": "integer"}}},
        "disputed_total": {"type": "integer"}}},
    "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
    "Ready": {"type": "object", "required": ["ready"], "properties": {
        "ready": {"type": "boolean"}, "store": {"type": "string"},
        "snapshot_loaded": {"type": "boolean"}, "epoch": {"type": "integer"},
        "geoip": {"type": "object"}}},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(name: str, status: str = "200", text: str = "OK") -> dict[str, Any]:
    return {status: {"description": text, "content": {"application/json": {"schema": _ref(name)}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {400: "invalid input (the field is named)", 401: "missing or unknown token",
             403: "token of the wrong scope", 404: "no such object",
             409: "conflicts with the current state", 422: "refused by a policy rule",
             413: "body larger than 256 KiB once decompressed (field: body)",
             503: "the store cannot take writes now"}
    return {str(s): {"description": texts[s],
                     "content": {"application/json": {"schema": _ref("Error")}}}
            for s in statuses}


def _op(summary: str, scope: Scope | None, responses: dict[str, Any],
        body: str | None = None, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if scope is not None:
        op["security"] = [{"bearer": []}]
        op["x-scope"] = scope
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(body)}}}
        op["responses"] = {**responses, **_errors(413)}
    if params:
        op["parameters"] = params
    return op


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_PLUGIN_ERRORS = (400, 401, 403)
_ADMIN_WRITE = (400, 401, 403, 409, 422, 503)


@cache
def openapi_document() -> dict[str, Any]:
    _, body_schemas = msgspec.json.schema_components(
        [schemas.AuthorizeIn, schemas.BatchIn, schemas.SessionIn, schemas.CensusIn,
         schemas.RestrictionIn, schemas.RevokeIn, schemas.CorrectionIn,
         schemas.RequestIn, schemas.DecisionIn, *_WORDS],
        ref_template="#/components/schemas/{name}")
    paths: dict[str, Any] = {
        "/v1/authorize": {"post": _op(
            "May this participant, at this address, enter this meeting?", _PLUGIN,
            {**_ok("Verdict"), **_errors(*_PLUGIN_ERRORS)}, body="AuthorizeIn")},
        "/v1/authorize/batch": {"post": _op(
            "Several checks at once: purpose 'join' (counted as joins), 'sweep' (re-checks; "
            "denials counted as removals) or 'admitted' (joins let in before the answer; "
            "denials counted as removals)", _PLUGIN,
            {**_ok("BatchResult"), **_errors(*_PLUGIN_ERRORS)}, body="BatchIn")},
        "/v1/authorize/session": {"post": _op(
            "This address's verdicts over every meeting with a restriction in force, with "
            "the enforcement epoch they hold for (asked when a client session starts; "
            "nothing is counted)", _PLUGIN,
            {**_ok("SessionVerdicts"), **_errors(*_PLUGIN_ERRORS)}, body="SessionIn")},
        "/v1/enforcement": {"get": _op(
            "Long-poll: which meetings' restrictions changed since an epoch", _PLUGIN,
            {**_ok("Enforcement"), **_errors(*_PLUGIN_ERRORS)}, params=[
                {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0}}])},
        "/v1/census": {
            "post": _op("Report current participants per meeting and country (counts only; "
                        "409 when census.max_sources other hosts report already)",
                        _PLUGIN, {**_ok("CensusAccepted"), **_errors(*_PLUGIN_ERRORS, 409)},
                        body="CensusIn"),
            "get": _op("Current participants per meeting and country, from every source",
                       _ADMIN, {**_ok("Census"), **_errors(401, 403)})},
        "/v1/restrictions/preview": {"post": _op(
            "Impact preview: how many current participants a draft restriction would remove "
            "(validated like a create; nothing is written)", _ADMIN,
            {**_ok("Impact"), **_errors(400, 401, 403, 422)}, body="RestrictionIn")},
        "/v1/restrictions": {
            "get": _op("List restrictions", _ADMIN,
                       {**_ok("RestrictionList"), **_errors(400, 401, 403)}, params=[
                           {"name": "state", "in": "query", "schema": _STATE}]),
            "post": _op("Create a restriction", _ADMIN,
                        {**_ok("Restriction", "201", "created"), **_errors(*_ADMIN_WRITE)},
                        body="RestrictionIn")},
        "/v1/restrictions/{id}": {"get": _op(
            "One restriction", _ADMIN, {**_ok("Restriction"), **_errors(400, 401, 403, 404)},
            params=_ID)},
        "/v1/restrictions/{id}/revoke": {"post": _op(
            "Revoke a restriction", _ADMIN,
            {**_ok("Restriction"), **_errors(404, *_ADMIN_WRITE)}, body="RevokeIn", params=_ID)},
        "/v1/geoip/corrections": {
            "get": _op("List GeoIP corrections (active and removed)", _ADMIN,
                       {**_ok("CorrectionList"), **_errors(401, 403)}),
            "post": _op("Correct the GeoIP databases for a network (/24 or /48 at the "
                        "narrowest); effective at once in every instance, audited", _ADMIN,
                        {**_ok("Correction", "201", "created"), **_errors(*_ADMIN_WRITE)},
                        body="CorrectionIn")},
        "/v1/geoip/corrections/{id}/remove": {"post": _op(
            "Remove a GeoIP correction", _ADMIN,
            {**_ok("Correction"), **_errors(404, *_ADMIN_WRITE)}, body="RevokeIn", params=_ID)},
        "/v1/requests": {
            "get": _op("List authority requests", _ADMIN,
                       {**_ok("RequestList"), **_errors(401, 403)}),
            "post": _op("Record an authority request", _ADMIN,
                        {**_ok("Request", "201", "recorded"), **_errors(*_ADMIN_WRITE)},
                        body="RequestIn")},
        "/v1/requests/{id}": {"get": _op(
            "One authority request", _ADMIN, {**_ok("Request"), **_errors(400, 401, 403, 404)},
            params=_ID)},
        "/v1/requests/{id}/decision": {"post": _op(
            "Record the decision on an authority request (a refusal revokes every "
            "scheduled or active restriction made for it)", _ADMIN,
            {**_ok("Request"), **_errors(404, *_ADMIN_WRITE)}, body="DecisionIn", params=_ID)},
        "/v1/report": {"get": _op(
            "The transparency report for a period (public; ZZ: location unknown)", None,
            {**_ok("Report"), **_errors(400)}, params=[
                {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"},
                 "description": "first day, YYYY-MM-DD (UTC); default: start of the record"},
                {"name": "until", "in": "query", "schema": {"type": "string", "format": "date"},
                 "description": "last day, included; default: today"}])},
        "/v1/audit/key": {"get": _op(
            "The verifier key that signs the audit log's checkpoints, and the key rotation "
            "statements (public)", None, _ok("AuditKey"))},
        "/v1/audit/checkpoints": {"get": _op(
            "Every checkpoint of the audit log: signed tree heads (public; hashes only)", None,
            _ok("AuditCheckpointList"))},
        "/v1/audit/consistency": {"get": _op(
            "RFC 9162 consistency proof that the tree of size `to` extends the tree of size "
            "`from` (public; hashes only, never an entry); 400 naming from or to for a range "
            "the log cannot answer", None, {**_ok("ConsistencyProof"), **_errors(400)},
            params=[{"name": "from", "in": "query", "required": True,
                     "schema": {"type": "integer", "minimum": 1}},
                    {"name": "to", "in": "query", "required": True,
                     "schema": {"type": "integer", "minimum": 1}}])},
        "/healthz": {"get": _op("Liveness", None, _ok("Health"))},
        "/readyz": {"get": _op("Readiness (store reachable, snapshot loaded)", None,
                               {**_ok("Ready"), "503": {
                                   "description": "not ready",
                                   "content": {"application/json": {"schema": _ref("Ready")}}}})},
        "/metrics": {"get": _op("Prometheus metrics (text exposition format)", None, {
            "200": {"description": "metrics", "content": {"text/plain": {
                "schema": {"type": "string"}}}}})},
        "/openapi.json": {"get": _op("This document", None,
                                     {"200": {"description": "OpenAPI document"}})},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "joingate", "version": __version__,
                 "description": "Participant-level, jurisdiction-scoped join gate."},
        "paths": paths,
        "components": {
            "schemas": {**body_schemas, **_RESPONSES},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
