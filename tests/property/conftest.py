"""Hypothesis settings and shared fixtures of the property suite.

The "joingate-ci" profile makes every run the same (derandomize: examples come from each
test's name, not from a random seed; no example database), bounded (200 examples) and free of
timing flakes (no deadline). HYPOTHESIS_PROFILE=joingate-deep runs many more examples, randomly,
for a local hunt; a failure it finds can be pinned with @example in the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from joingate.geo import GeoReader, open_geoip
from joingate.testing.geodb import write_test_mmdb

settings.register_profile(
    "joingate-ci", derandomize=True, max_examples=200, deadline=None, database=None,
    print_blob=False, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "joingate-deep", max_examples=5_000, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "joingate-ci"))


@pytest.fixture(scope="session")
def geo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeoReader]:
    """The test country DB (joingate/testing/geodb.py), opened once: Hypothesis runs many
    examples per test, and a function-scoped fixture would be shared across them anyway."""
    path: Path = write_test_mmdb(tmp_path_factory.mktemp("geodb") / "country.mmdb")
    with open_geoip(str(path)) as reader:
        yield reader
