"""Schema-driven fuzzing of a running joingate service (Schemathesis + Hypothesis).

`Fuzzer(service).run(operation, mode, examples, seed)` generates requests for one operation of
the service's own `/openapi.json`, sends each with the bearer token its `x-scope` asks for (and,
one time in three, none, the other scope's or an unknown one), and checks every answer:

- no 5xx, ever;
- every 4xx is `{"error": {"code": str, "message": str, "field": str|null}}`; a 400/422 names a
  field that is in the request (a body property or a key the body carries, a query or path
  parameter, or "body" for the body as a whole); 401/403 name "Authorization"; 404 on an {id}
  route names "id";
- responses conform to the document (Schemathesis's own checks: status code, content type,
  response schema);
- nothing is written by a refused request, and nothing by a read: the restrictions, requests
  and audit log tables (read from the SQLite file) are the same before and after; an
  acknowledged write adds exactly one audit entry;
- a restriction acknowledged for an authority request stays within that authority's
  jurisdiction, within the meetings it names, and blocks; an acknowledged restriction holds
  the country codes asked for, upper-cased, and only codes written in ASCII.

Positive cases are half the time steered towards values the service accepts (country codes,
meeting names, date-times near now, ids of stored objects, addresses the test DB places), so
the fuzzing reaches past the first validation step. Used by tests/fuzz/test_api_fuzz.py (a
fixed seed, a few hundred cases) and bench/fuzz_api.py (the long run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from joingate.jurisdiction import jurisdictions
from joingate.testing.geodb import address
from joingate.testing.service import JoingateService

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Routes that write to the store when they answer 2xx.
WRITES = {
    "POST /v1/restrictions", "POST /v1/restrictions/{id}/revoke", "POST /v1/requests",
    "POST /v1/requests/{id}/decision", "POST /v1/geoip/corrections",
    "POST /v1/geoip/corrections/{id}/remove",
}
SCHEMA_CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance,
                 response_schema_conformance)
TABLES = ("requests", "restrictions", "geoip_corrections", "audit_log")
# Replayed requests hide the bearer token, and only it: Schemathesis's default markers ("auth")
# would also hide the "authority" of an authority request.
CONFIG = schemathesis.Config.from_dict({"output": {"sanitization": {
    "keys-to-sanitize": ["authorization"], "sensitive-markers": ["bearer"]}}})

# -- values the service accepts, to steer positive cases past the first check ----------------

ROOMS = ["june4-hk", "june4-us", "June4-HK", "vigil", "acme/june4", "town-hall"]
CODES = ["CN", "cn", "HK", "MO", "TW", "US", "gu", "PR", "FR", "nc", "DE", "GB", "AW"]
ODD_CODES = ["ZZ", "", "CHN", "\u00df"]
# "Now" for the steered date-times: a fixed instant, not the clock, so that one seed sends the
# same requests on every run. It lies ahead of the clock, so windows near it are accepted.
NOW = datetime(2036, 6, 4, 12, 0, tzinfo=UTC)


def _rooms() -> st.SearchStrategy[list[str]]:
    return st.one_of(st.lists(st.sampled_from(ROOMS), min_size=1, max_size=3),
                     st.lists(st.sampled_from(ROOMS), min_size=1, max_size=2),
                     st.sampled_from([["*"], ["*", "vigil"], [], ["a/b/c"]]))


def _countries() -> st.SearchStrategy[list[str]]:
    return st.one_of(st.lists(st.sampled_from(CODES), min_size=1, max_size=3),
                     st.lists(st.sampled_from(CODES), min_size=1, max_size=2),
                     st.lists(st.sampled_from(CODES + ODD_CODES), max_size=3))


def _date_times() -> st.SearchStrategy[str | None]:
    near = st.integers(-3 * 86400, 30 * 86400).map(lambda s: NOW + timedelta(seconds=s))
    zone = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    far = st.datetimes(timezones=zone)
    return st.one_of(
        st.none(), st.none(), st.none(),
        st.tuples(near, zone).map(lambda nz: nz[0].astimezone(nz[1]).isoformat()),
        far.map(lambda d: d.isoformat()),
        st.sampled_from(["2026-06-04T20:00:00", "2026-06-04", "tomorrow", ""]),
    )


def _addresses() -> st.SearchStrategy[str]:
    placed = [address(c) for c in ("CN", "HK", "US", "MO", "TW", "GU", "DE")]
    return st.one_of(
        st.sampled_from(placed),
        st.sampled_from(placed).map(lambda a: f"::ffff:{a}"),
        st.sampled_from(["127.0.0.1", "::1", "2001:db8:1::5", "2001:db8:2::5%eth0",
                         "fe80::1%eth0", "127.1", "0x7f.0.1.10", "1.2.3.04", " 127.0.1.10 ",
                         "::ffff:127.0.1", "", "not an address"]),
    )


STEER: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "rooms": _rooms,
    "countries": _countries,
    "jurisdiction": lambda: st.sampled_from(["CN", "us", "HK", "FR", "DE", "XX"]),
    "request": lambda: st.one_of(st.none(), st.none(), st.integers(1, 4)),
    "mode": lambda: st.sampled_from(["block", "block", "allow-only"]),
    "starts_at": _date_times,
    "ends_at": _date_times,
    "received_at": _date_times,
    "reason": lambda: st.sampled_from(["ordered", "operator policy", "ordered", " "]),
    "note": lambda: st.sampled_from(["done", ""]),
    "outcome": lambda: st.sampled_from(["complied", "partially", "refused"]),
    "authority": lambda: st.sampled_from(["Ministry of Public Security", "FBI"]),
    "reference": lambda: st.sampled_from(["MPS-0604", "REF-1"]),
    "demand": lambda: st.sampled_from(["End the commemorations.", "Remove participants."]),
    "room": lambda: st.sampled_from([*ROOMS, "*", "Other"]),
    "ip": _addresses,
    "network": lambda: st.sampled_from(["203.0.113.0/24", "198.51.100.77/24", "2001:db8:3::/48",
                                        "203.0.113.0/24", "192.0.2.9/32", "2001:db8::/64"]),
    "country": lambda: st.sampled_from(["HK", "cn", "HK", "\u00df"]),
}


@dataclass
class Failure:
    operation: str
    check: str
    status: int | None
    detail: str
    request: str  # a curl command that replays the request

    def key(self) -> tuple[str, str, int | None]:
        return (self.operation, self.check, self.status)


@dataclass
class Tally:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    failures: dict[tuple[str, str, int | None], Failure] = field(default_factory=dict)
    failure_counts: Counter[tuple[str, str, int | None]] = field(default_factory=Counter)

    def add(self, operation: str, status: int | None) -> None:
        self.cases += 1
        if status is not None:
            self.statuses[status] += 1
            self.by_operation.setdefault(operation, Counter())[status] += 1

    def fail(self, failure: Failure) -> None:
        self.failure_counts[failure.key()] += 1
        self.failures.setdefault(failure.key(), failure)

    def report(self, limit: int = 20) -> str:
        lines = []
        for key, failure in list(self.failures.items())[:limit]:
            lines.append(f"{failure.operation} [{failure.check}] status {failure.status} "
                         f"(x{self.failure_counts[key]}): {failure.detail}\n    "
                         f"{failure.request}")
        return "\n".join(lines)


class Fuzzer:
    def __init__(self, service: JoingateService, schema_url: str | None = None):
        self.service = service
        self.schema = schemathesis.openapi.from_url(schema_url or f"{service.url}/openapi.json",
                                                    config=CONFIG)
        self.operations = {op.label: op for op in
                           (r.ok() for r in self.schema.get_all_operations())}
        self.session = requests.Session()
        self.tally = Tally()
        self.sent: list[str] = []  # every case sent: method, path, query, body (no token)
        self.table = jurisdictions()
        self._db = sqlite3.connect(f"file:{service.db}?mode=ro", uri=True,
                                   isolation_level=None, check_same_thread=False)
        self._state = self._fingerprint()

    def close(self) -> None:
        self._db.close()
        self.session.close()

    # -- store state --------------------------------------------------------------------
    def _fingerprint(self) -> tuple[str, int]:
        """A digest of every row of the tables a write may touch, and the audit entry count."""
        digest = hashlib.sha256()
        for table in TABLES:
            for row in self._db.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                digest.update(repr(row).encode())
        (entries,) = self._db.execute("SELECT count(*) FROM audit_log").fetchone()
        return digest.hexdigest(), int(entries)

    def seed_objects(self) -> None:
        """A few stored objects, so generated ids reach real ones (1, 2, ...)."""
        api = self.service.api
        for body in (
            {"authority": "Ministry of Public Security", "jurisdiction": "CN",
             "reference": "MPS-0604", "rooms": ["june4-hk", "june4-us"], "demand": "End them."},
            {"authority": "FBI", "jurisdiction": "US", "reference": "FBI-1",
             "rooms": ["vigil"], "demand": "Remove participants."},
        ):
            status, answer = api("POST", "/v1/requests", body)
            assert status == 201, answer
        for body in (
            {"rooms": ["june4-hk"], "countries": ["CN"], "reason": "MPS-0604", "request": 1},
            {"rooms": ["town-hall"], "countries": ["DE"], "reason": "operator policy"},
        ):
            status, answer = api("POST", "/v1/restrictions", body)
            assert status == 201, answer
        status, answer = api("POST", "/v1/geoip/corrections", {
            "network": "192.0.2.0/24", "country": "HK", "reason": "seed"})
        assert status == 201, answer
        self._state = self._fingerprint()

    # -- generation -----------------------------------------------------------------------
    def _auth(self, scope: str | None, choice: int) -> str | None:
        """The Authorization header for `choice` in 0..8: the right token (0-5), none (6), the
        other scope's token (7) or an unknown one (8)."""
        svc = self.service
        right = {"admin": svc.admin_token, "plugin": svc.plugin_token}.get(scope or "")
        if right is None or choice < 6:
            return f"Bearer {right}" if right else None
        if choice == 6:
            return None
        other = svc.plugin_token if scope == "admin" else svc.admin_token
        return f"Bearer {other}" if choice == 7 else "Bearer not-a-token"

    @staticmethod
    def _steer(case: Any, data: st.DataObject) -> None:
        """Replace every known field (or, one time in four, some of them) with a likely
        value."""
        every = data.draw(st.integers(0, 3)) > 0
        body = case.body
        if isinstance(body, dict):
            for name in list(body):
                if name in STEER and (every or data.draw(st.booleans())):
                    body[name] = data.draw(STEER[name]())
            if isinstance(body.get("checks"), list):
                for check in body["checks"]:
                    if isinstance(check, dict):
                        check["ip"] = data.draw(STEER["ip"]())
                        check["room"] = data.draw(STEER["room"]())
        if "id" in (case.path_parameters or {}) and (every or data.draw(st.booleans())):
            case.path_parameters["id"] = data.draw(st.integers(1, 6))

    def run(self, label: str, mode: GenerationMode, examples: int, seed_value: int) -> int:
        """Fuzz one operation; returns the number of cases sent."""
        operation = self.operations[label]
        scope = operation.definition.raw.get("x-scope")
        strategy = operation.as_strategy(generation_mode=mode)
        sent = 0

        @seed(seed_value)
        @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
                  phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                  suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def fuzz(data: st.DataObject) -> None:
            nonlocal sent
            case = data.draw(strategy)
            if mode is GenerationMode.POSITIVE and data.draw(st.integers(0, 3)) > 0:
                self._steer(case, data)
            auth = self._auth(scope, data.draw(st.integers(0, 8)))
            if auth is None:
                case.headers.pop("Authorization", None)
            else:
                case.headers["Authorization"] = auth
            sent += 1
            self.check(case)

        # Unsatisfiable: nothing to vary (no parameters, no body) in negative mode.
        with contextlib.suppress(Unsatisfiable):
            fuzz()
        return sent

    def send(self, label: str, *, body: Any = None, path: dict[str, Any] | None = None,
             query: dict[str, Any] | None = None) -> int | None:
        """One hand-written case through the same checks (the right token); its status."""
        operation = self.operations[label]
        scope = operation.definition.raw.get("x-scope")
        auth = self._auth(scope, 0)
        case = operation.Case(path_parameters=path, query=query,
                              headers={"Authorization": auth} if auth else None,
                              **({} if body is None else {"body": body}))
        return self.check(case)

    # -- checks ---------------------------------------------------------------------------
    def check(self, case: Any) -> int | None:
        """Send `case`, check the answer and the store; the status (None: no answer)."""
        label = case.operation.label
        self.sent.append(json.dumps([case.method, case.formatted_path, case.query, case.body],
                                    sort_keys=True, default=repr))
        try:
            response = case.call(session=self.session, timeout=15)
        except requests.RequestException as exc:
            self.tally.add(label, None)
            self._fail(case, "transport", None, f"{type(exc).__name__}: {exc}")
            self._state = self._fingerprint()
            return None
        status = response.status_code
        self.tally.add(label, status)
        before, self._state = self._state, self._fingerprint()
        try:
            case.validate_response(response, checks=list(SCHEMA_CHECKS))
        except FailureGroup as group:
            for failure in group.exceptions:
                title = getattr(failure, "title", type(failure).__name__)
                self._fail(case, f"schemathesis: {title}", status,
                           _first_line(getattr(failure, "message", "") or str(failure)))
        if status >= 400:
            self._check_error_body(case, response)
        changed = before[0] != self._state[0]
        if label in WRITES and 200 <= status < 300:
            if self._state[1] != before[1] + 1:
                self._fail(case, "audit", status, f"acknowledged write added "
                           f"{self._state[1] - before[1]} audit entries, not 1")
            if label == "POST /v1/restrictions":
                self._check_restriction(case, response.json())
        elif changed:
            what = "refused request" if status >= 400 else "read"
            self._fail(case, "nothing-written", status, f"a {what} changed the store "
                       f"(audit entries {before[1]} -> {self._state[1]})")
        return status

    def _check_error_body(self, case: Any, response: Any) -> None:
        status = response.status_code
        try:
            body = response.json()
            error = body["error"]
            code, message, named = error["code"], error["message"], error["field"]
        except (ValueError, KeyError, TypeError):
            self._fail(case, "error-body", status, f"not an error document: "
                       f"{response.text[:200]!r}")
            return
        if not (isinstance(code, str) and isinstance(message, str)
                and (named is None or isinstance(named, str))):
            self._fail(case, "error-body", status, f"wrong types: {error!r}")
            return
        if status in (400, 422):
            if not named:
                self._fail(case, "error-field", status, f"no field named: {error!r}")
            elif not (_root(named) in self._fields_of(case)
                      or (isinstance(case.body, dict) and named in case.body)):
                self._fail(case, "error-field", status,
                           f"field {named!r} is not in the request "
                           f"(expected one of {sorted(self._fields_of(case))}): {message}")
        elif status in (401, 403) and named != "Authorization":
            self._fail(case, "error-field", status, f"expected field 'Authorization': {error!r}")
        elif status == 404 and "{id}" in case.operation.path and named != "id":
            self._fail(case, "error-field", status, f"expected field 'id': {error!r}")

    def _fields_of(self, case: Any) -> set[str]:
        names = {"body"}
        raw = case.operation.definition.raw
        names |= {p["name"] for p in raw.get("parameters", [])}
        ref = (raw.get("requestBody", {}).get("content", {}).get("application/json", {})
               .get("schema", {}).get("$ref", ""))
        if ref:
            component = self.schema.raw_schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
            names |= set(component.get("properties", {}))
        return names

    def _check_restriction(self, case: Any, made: dict[str, Any]) -> None:
        """An acknowledged restriction holds the countries asked for (ISO codes, written in
        ASCII, any case) and, when tied to a request, stays within its jurisdiction."""
        asked = case.body.get("countries") if isinstance(case.body, dict) else None
        if isinstance(asked, list):
            expected = list(dict.fromkeys(str(c).strip().upper() for c in asked))
            odd = [c for c in asked if not (isinstance(c, str) and c.strip().isascii())]
            if odd or made.get("countries") != expected:
                self._fail(case, "countries", 201, f"asked for {asked!r}, stored "
                           f"{made.get('countries')!r} (only ISO codes in ASCII are codes)")
        request_id = made.get("request")
        if request_id is None:
            return
        status, request = self.service.api("GET", f"/v1/requests/{request_id}")
        if status != 200:
            self._fail(case, "jurisdiction", 201, f"restriction tied to request {request_id}, "
                       f"which answers {status}")
            return
        covers = self.table.get(request["jurisdiction"]).covers
        outside = set(made["countries"]) - covers
        unnamed = set(made["rooms"]) - set(request["rooms"])
        if outside or unnamed or made["mode"] != "block" or request["outcome"] == "refused":
            self._fail(case, "jurisdiction", 201,
                       f"restriction {made['id']} for {request['jurisdiction']} request "
                       f"{request_id}: countries outside {sorted(outside)}, meetings not named "
                       f"{sorted(unnamed)}, mode {made['mode']}, outcome {request['outcome']}")

    def _fail(self, case: Any, check: str, status: int | None, detail: str) -> None:
        try:
            curl = case.as_curl_command()
        except Exception as exc:  # a request that cannot be rendered is still reported
            curl = f"(no curl: {exc}) {case.method} {case.formatted_path} {case.body!r}"
        self.tally.fail(Failure(case.operation.label, check, status, detail, curl))


def _root(name: str) -> str:
    return name.split(".", 1)[0].split("[", 1)[0]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines[:3])[:300]


def plan(fuzzer: Fuzzer) -> list[tuple[str, GenerationMode]]:
    """Every operation of the document in both modes, in document order."""
    return [(label, mode) for label in fuzzer.operations for mode in MODES]


def summary(tally: Tally) -> str:
    lines = [f"cases: {tally.cases}",
             "statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items())),
             f"failures: {sum(tally.failure_counts.values())} "
             f"({len(tally.failures)} distinct)"]
    for label, counts in tally.by_operation.items():
        lines.append(f"  {label}: " + ", ".join(f"{s}: {n}" for s, n in sorted(counts.items())))
    return "\n".join(lines)
