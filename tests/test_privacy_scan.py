"""Runs last (see conftest.py): no file the suite produced holds a participant address, and no
log holds an API token.

It scans pytest's temporary directory of this run and test-artifacts/: every file the tests
wrote (joingate databases, configs, reports), every process's output (`joingate serve`'s
stdout and stderr in serve.log, the CLI's in cli.out, Prosody's .out files and joingate's lines
in Prosody's logs, PostgreSQL's logs) and a dump of every PostgreSQL server a test started
(written when it stopped, or here, before the scan, for those still running).
pytest's own JUnit reports are left out: they name the tests and their parameters (test
addresses among them), and the Prosody 13 pass finds the first pass's report already written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.privacy import participant_addresses, scan, tokens, tokens_in_logs
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent


def test_the_scanner_finds_addresses() -> None:
    assert participant_addresses(b'{"ip": "127.0.1.10"} ::ffff:127.0.2.3 2001:db8:1::7') == \
        {"127.0.1.10", "127.0.2.3", "::ffff:127.0.2.3", "2001:db8:1::7"}
    assert participant_addresses(b"listen 127.0.0.1:8750 version 1.2.3.4.5") == set()


def test_the_scanner_finds_tokens_and_only_tokens() -> None:
    token = b"jg_" + b"A" * 20 + b"-_" + b"z9" * 10 + b"Q"
    assert tokens(b"Authorization: Bearer " + token + b"\r\n") == [token]
    # A token-like run inside a longer name (an anonymous XMPP user that happened to hold
    # "jg_") or a cut-short one is not a token.
    assert tokens(b"Authenticated as xjg_" + b"a" * 20 + b"@localhost") == []
    assert tokens(b"user " + token + b"x@localhost") == []


def test_every_postgresql_server_of_the_run_was_dumped() -> None:
    PostgresServer.dump_running()
    missing = [str(s.workdir) for s in PostgresServer.started
               if s.dump_path is None or not s.dump_path.exists()]
    assert missing == []


def test_no_participant_address_in_any_file_the_suite_wrote(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    PostgresServer.dump_running()  # the databases as they are now, after every other test
    roots = [tmp_path_factory.getbasetemp(), ROOT / "test-artifacts"]
    leaks = {str(path): sorted(hits) for root in roots if root.exists()
             for path, hits in scan(root) if not _is_junit_report(path)}
    assert leaks == {}


def _is_junit_report(path: Path) -> bool:
    return path.parent == ROOT / "test-artifacts" and path.name.startswith("junit") \
        and path.suffix == ".xml"


def test_no_token_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> None:
    roots = [tmp_path_factory.getbasetemp(), ROOT / "test-artifacts"]
    leaks = {str(path): n for root in roots if root.exists() for path, n in tokens_in_logs(root)}
    assert leaks == {}
