"""Schema-driven fuzzing of the HTTP API against a real `joingate serve` (tests/fuzz/driver.py
says what is checked): a fixed seed and a bounded count, so every run sends the same requests.
bench/fuzz_api.py is the long run."""

from __future__ import annotations

import importlib
import time

import pytest
from schemathesis import GenerationMode

from joingate.testing.service import JoingateService
from tests.fuzz import driver
from tests.fuzz.driver import Fuzzer, plan, summary

pytestmark = pytest.mark.integration

SEED = 20200604
EXAMPLES = 15  # per operation and mode: ~500 cases


def test_fuzz_the_api_from_its_openapi_document(fuzz_service: JoingateService) -> None:
    fuzzer = Fuzzer(fuzz_service)
    try:
        fuzzer.seed_objects()
        started = time.monotonic()
        for label, mode in plan(fuzzer):
            fuzzer.run(label, mode, EXAMPLES, SEED)
        elapsed = time.monotonic() - started
    finally:
        fuzzer.close()
    tally = fuzzer.tally
    print(f"\n{summary(tally)}\n({elapsed:.1f} s)")
    assert tally.cases >= 300, summary(tally)
    # Every operation answered at least one case with 2xx: the fuzzing got past validation.
    quiet = [label for label, counts in tally.by_operation.items()
             if not any(200 <= s < 300 for s in counts)]
    assert not quiet, f"no 2xx for {quiet}\n{summary(tally)}"
    if tally.failures:
        pytest.fail(f"\n{tally.report()}\n\n{summary(tally)}", pytrace=False)


def test_a_seed_sends_the_same_requests_on_every_run(fuzz_service: JoingateService) -> None:
    """Two runs of one seed, the driver imported afresh for the second (as a new process
    would), send the same requests: nothing in them comes from the clock."""
    sent = []
    for _ in range(2):
        fuzzer = importlib.reload(driver).Fuzzer(fuzz_service)
        try:
            # 60 cases: enough that some carry date-times steered near the driver's "now".
            fuzzer.run("POST /v1/restrictions/preview", GenerationMode.POSITIVE, 60, SEED)
        finally:
            fuzzer.close()
        sent.append(fuzzer.sent)
    assert any(driver.NOW.strftime('"%Y-') in case for case in sent[0])
    assert sent[0] == sent[1]


# Requests the generators reach only now and then (the long run, the property suite), kept
# here so every run sends them: each must be refused as bad input naming its field, or be
# accepted, and never answer 5xx or write on a refusal.
EDGES = [
    ("POST /v1/restrictions", {"rooms": ["a"], "countries": ["CN"], "reason": "r",
                               "request": 2**63}),
    ("POST /v1/restrictions", {"rooms": ["a"], "countries": ["CN"], "reason": "r",
                               "request": -54659320197065769746432}),
    ("POST /v1/restrictions/preview", {"rooms": ["a"], "countries": ["CN"], "reason": "r",
                                       "request": 2**64}),
    ("POST /v1/restrictions", {"rooms": ["a"], "countries": ["CN"], "reason": "r",
                               "starts_at": "0001-01-01T00:00:00+01:00"}),
    ("POST /v1/restrictions", {"rooms": ["a"], "countries": ["CN"], "reason": "r",
                               "ends_at": "9999-12-31T23:59:59-01:00"}),
    ("POST /v1/restrictions", {"rooms": ["a"], "countries": ["CN"], "reason": "r",
                               "starts_at": "0999-05-01T00:00:00Z"}),
    ("POST /v1/requests", {"authority": "a", "jurisdiction": "CN", "reference": "x",
                           "rooms": ["a"], "demand": "d", "received_at": "0999-05-01T00:00:00Z"}),
    ("POST /v1/requests", {"authority": "a", "jurisdiction": "CN", "reference": "x",
                           "rooms": ["a"], "demand": "d",
                           "received_at": "0001-01-01T00:00:00+00:01"}),
    ("POST /v1/restrictions", {"rooms": ["a"], "countries": ["\u00df"], "reason": "r"}),
]


@pytest.mark.parametrize(("label", "body"), EDGES, ids=[
    "request-2**63", "request-huge-negative", "preview-request-2**64", "starts-year-1-offset",
    "ends-year-9999-offset", "starts-year-999", "received-year-999", "received-year-1-offset",
    "country-sharp-s"])
def test_edge_cases_get_no_5xx_and_name_their_field(fuzz_service: JoingateService, label: str,
                                                    body: dict[str, object]) -> None:
    fuzzer = Fuzzer(fuzz_service)
    try:
        status = fuzzer.send(label, body=body)
    finally:
        fuzzer.close()
    if fuzzer.tally.failures:
        pytest.fail(f"\n{fuzzer.tally.report()}", pytrace=False)
    assert status is not None and status < 500


def test_the_store_check_catches_a_write_next_to_a_refusal(
        fuzz_service: JoingateService) -> None:
    """The checker itself: a row written while a refused request was answered is reported."""
    fuzzer = Fuzzer(fuzz_service)
    try:
        status, answer = fuzz_service.api("POST", "/v1/requests", {
            "authority": "Police", "jurisdiction": "HK", "reference": "HK-1",
            "rooms": ["vigil"], "demand": "End it."})
        assert status == 201, answer
        refused = fuzzer.send("POST /v1/requests", body={"authority": ""})
    finally:
        fuzzer.close()
    assert refused == 400
    assert [f.check for f in fuzzer.tally.failures.values()] == ["nothing-written"]
