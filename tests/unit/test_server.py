"""joingate.api.server: the open-file limit and the accept-failure log (the connection cap
and timeouts are exercised against a real `joingate serve` in
tests/integration/test_connection_flood.py)."""

from __future__ import annotations

import asyncio
import errno
import logging
import subprocess
import sys

import pytest

from joingate.api.server import ACCEPT_FAILED, AcceptErrorLog, connection_limit


def test_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    out = subprocess.run(
        ["prlimit", "--nofile=1024:4096", "--", sys.executable, "-c",
         "import resource; from joingate.api.server import raise_open_file_limit as r; "
         "print(r(), resource.getrlimit(resource.RLIMIT_NOFILE))"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.split(None, 1) == ["4096", "(4096, 4096)\n"]


def test_connection_limit_stays_under_the_open_file_limit() -> None:
    assert connection_limit(4096, 1024) == 1024 - 192
    assert connection_limit(500, 1024) == 500
    assert connection_limit(4096, 100) == 1


def test_failed_accepts_are_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.set_exception_handler(AcceptErrorLog())
        failure = OSError(errno.EMFILE, "Too many open files")
        with caplog.at_level(logging.INFO):
            for _ in range(10_000):
                loop.call_exception_handler({"message": ACCEPT_FAILED, "exception": failure})
            loop.call_exception_handler({"message": "something else"})
    finally:
        loop.close()
    accept = [r for r in caplog.records if "accept() failed" in r.getMessage()]
    assert len(accept) == 1 and accept[0].exc_info is None
    assert "Too many open files" in accept[0].getMessage()
    # Anything else still reaches asyncio's default handler.
    assert any(r.getMessage() == "something else" for r in caplog.records)
