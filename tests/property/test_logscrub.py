"""joingate.logscrub: no log record leaves with an address in it, tracebacks included."""

from __future__ import annotations

import io
import ipaddress
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from joingate.logscrub import MASK, ScrubAddresses, scrub


@pytest.mark.parametrize(("text", "expected"), [
    ("Error while looking up data for 114.114.114.116.",
     f"Error while looking up data for {MASK}."),
    ("ip:2001:db8::1 refused", f"ip:{MASK} refused"),
    ("2001:db8::1: refused", f"{MASK}: refused"),
    ("from ::1.", f"from {MASK}."),
    ("fe80::1%eth0 up", f"{MASK} up"),
    ("::ffff:127.0.1.5", MASK),
    ("[2001:db8:1::5]:443", f"[{MASK}]:443"),
    ("peer ('127.0.1.5', 5555)", f"peer ('{MASK}', 5555)"),
    ("0000:0000:0000:0000:0000:ffff:7f00:0105", MASK),
    ("127.000.001.005", MASK),
    # not addresses: kept
    ("at 12:30:45 UTC", "at 12:30:45 UTC"),
    ("epoch 1700000000 size 8207345", "epoch 1700000000 size 8207345"),
    ("version 1.2.3", "version 1.2.3"),
    ("999.1.1.1", "999.1.1.1"),
    ("no digits here", "no digits here"),
])
def test_scrub(text: str, expected: str) -> None:
    assert scrub(text) == expected


SEPARATORS = st.sampled_from(["", " ", "for ", "ip=", "ip:", "(", "'", "[", "\n", "\t", "\"",
                              "addr ", "x,"])
ENDINGS = st.sampled_from(["", " ", ".", ":", ")", "'", "]", ",", "\n", ": failed", ". Next"])


def _spellings(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    if isinstance(addr, ipaddress.IPv4Address):
        return [str(addr)]
    return [addr.compressed, addr.exploded, addr.compressed.upper()]


@given(st.ip_addresses(), SEPARATORS, ENDINGS, st.integers(0, 2))
def test_no_address_survives_in_any_surrounding(
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address, before: str, after: str,
        pick: int) -> None:
    spellings = _spellings(addr)
    text = spellings[pick % len(spellings)]
    out = scrub(f"lookup {before}{text}{after} done")
    assert text not in out
    assert MASK in out


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubAddresses())
    log = logging.getLogger("test.logscrub")
    log.addHandler(handler)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)
    log.propagate = True


def test_filter_scrubs_message_args_and_traceback(
        logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger
    log.error("denied %s in %s", "127.0.1.10", "room")
    try:
        raise RuntimeError("Error while looking up data for 2001:db8:1::5")
    except RuntimeError:
        log.exception("lookup of %r failed", "114.114.114.116")
    log.error("stack", stack_info=True)
    out = stream.getvalue()
    for leaked in ("127.0.1.10", "2001:db8:1::5", "114.114.114.116"):
        assert leaked not in out
    assert out.count(MASK) >= 3
    assert "RuntimeError" in out and "Traceback" in out and "room" in out


def test_filter_leaves_records_without_addresses_as_they_were(
        logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger
    log.warning("epoch %d: rooms changed: %s", 12, "vigil")
    assert stream.getvalue() == "epoch 12: rooms changed: vigil\n"


def test_the_listen_address_is_kept() -> None:
    from joingate import logscrub

    logscrub._KEEP.add("192.0.2.80")
    try:
        assert scrub("listening on 192.0.2.80:8750, peer 192.0.2.81") == \
            f"listening on 192.0.2.80:8750, peer {MASK}"
    finally:
        logscrub._KEEP.discard("192.0.2.80")
