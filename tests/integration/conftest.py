from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer
from tests.support.service import JoingateService


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JoingateService]:
    with JoingateService(tmp_path / "svc") as svc:
        yield svc


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; tests take a fresh database each."""
    with PostgresServer() as server:
        yield server
