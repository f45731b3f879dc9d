"""The one error tree of joingate.

    JoingateError                 base; carries `code` (machine-readable) and `field` (or None)
    ├── InvalidInput              bad input: a field is missing or malformed (400)
    │   └── RuleViolation         well-formed input a policy rule refuses (422)
    │       └── OutsideJurisdiction  a restriction reaches past its authority's jurisdiction
    ├── NotFound                  no such restriction / request
    ├── Conflict                  the action does not fit the current state (e.g. revoked twice)
    ├── Unauthorized              missing or unknown token
    ├── Forbidden                 token of the wrong scope
    ├── Unavailable               the store cannot take writes now; nothing was written
    └── GeoIPError                the GeoIP database cannot be opened or read

The HTTP layer (`api.errors`) and the CLI (`cli`) each map this tree in one place:
InvalidInput → 400 or 422 / exit 2; NotFound → 404; Conflict → 409;
Unauthorized → 401; Forbidden → 403; Unavailable → 503; the CLI exits 1 for the last three.
"""

from __future__ import annotations


class JoingateError(Exception):
    """Base of every error joingate raises on purpose."""

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(JoingateError):
    """A field is missing, malformed, or breaks a validation rule."""

    code = "invalid"
    http_status = 400


class RuleViolation(InvalidInput):
    """Well-formed input that a policy rule refuses (422)."""

    code = "rule_violation"
    http_status = 422


class OutsideJurisdiction(RuleViolation):
    """A restriction tied to an authority request names countries outside its jurisdiction."""

    code = "outside_jurisdiction"


class NotFound(JoingateError):
    code = "not_found"
    http_status = 404


class Conflict(JoingateError):
    code = "conflict"
    http_status = 409


class Unauthorized(JoingateError):
    code = "unauthorized"
    http_status = 401


class Forbidden(JoingateError):
    code = "forbidden"
    http_status = 403


class Unavailable(JoingateError):
    code = "unavailable"
    http_status = 503


class GeoIPError(JoingateError):
    code = "geoip"
    http_status = 500
