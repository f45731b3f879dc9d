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
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; tests take a fresh database each. Its
    databases are dumped into the run's temporary directory for the privacy scan."""
    with PostgresServer() as server:
        yield server
        (tmp_path_factory.getbasetemp() / "postgres-dump.sql").write_text(server.dump_all())
