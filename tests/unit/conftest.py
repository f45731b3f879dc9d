"""Shared fixtures of the unit suite: a real test country DB (joingate/testing/geodb.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from joingate.geo import GeoReader, open_geoip
from joingate.testing.geodb import write_test_mmdb


@pytest.fixture(scope="session")
def mmdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only maxmind-shape test DB shared by tests that never replace the file."""
    return write_test_mmdb(tmp_path_factory.mktemp("geodb") / "country.mmdb")


@pytest.fixture
def geo(mmdb_path: Path) -> Iterator[GeoReader]:
    with open_geoip(str(mmdb_path)) as reader:
        yield reader
