"""/openapi.json describes exactly the routes the app serves."""

from __future__ import annotations

import re

import pytest

from joingate.api.app import ROUTES
from joingate.testing.service import JoingateService, http

pytestmark = pytest.mark.integration


def test_document_matches_routes(service: JoingateService) -> None:
    status, doc = http("GET", f"{service.url}/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {(m, p) for m, p, _ in ROUTES}
    assert documented == served
    schemas = doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for ref in re.findall(r"#/components/schemas/(\w+)", str(op)):
                assert ref in schemas, (path, ref)
    # Each documented route answers (a wrong/missing token is fine: it must not be a 404/405).
    for method, path in served:
        concrete = path.replace("{id}", "1")
        status, _ = http(method, f"{service.url}{concrete}", {} if method == "POST" else None)
        assert status not in (404, 405) or "{id}" in path, (method, path, status)
