"""Suite-wide rules: with JOINGATE_STRICT_TESTS=1 (scripts/test.sh, CI) a skipped test or a
skipped module fails (and pyproject.toml sets xfail_strict: an xfail that passes fails); the
privacy scan (tests/test_privacy_scan.py) runs after every other test."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from tests.support.postgres import PostgresServer


def _strict() -> bool:
    return os.environ.get("JOINGATE_STRICT_TESTS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if _strict() and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in a strict run (nothing may be skipped): {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    """A whole module skipped while collected (`pytest.importorskip`, `pytest.skip(...,
    allow_module_level=True)`) fails a strict run like a skipped test."""
    outcome = yield
    report = outcome.get_result()
    if _strict() and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped in a strict run (nothing may be skipped): " \
                          f"{report.longrepr}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [i for i in items if "test_privacy_scan.py" in i.nodeid]
    items[:] = [i for i in items if i not in last] + last


@pytest.fixture(scope="session", autouse=True)
def postgres_dumps(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every PostgreSQL server a test starts leaves its dump and log in the run's temporary
    directory, where the privacy scan reads them."""
    PostgresServer.dump_dir = tmp_path_factory.getbasetemp() / "postgres-dumps"


@pytest.fixture(scope="session")
def postgres(postgres_dumps: None) -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; tests take a fresh database each."""
    with PostgresServer() as server:
        yield server
