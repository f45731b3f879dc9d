"""The last line of defence: no log line ever carries an IP address.

joingate's own messages never name an address, but a library's might (the maxminddb C reader
puts the address in its exception text; aiohttp and asyncio log peers). `install()` puts a
filter on every handler of the root logger that replaces IPv4 and IPv6 literals in the
message, its arguments and the formatted traceback with `[address]`.

Cheap where it can be: a record whose text has no digit and no colon is passed untouched after
one regex scan; only candidate tokens are parsed.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
import threading
from types import TracebackType

MASK = "[address]"
_MAYBE = re.compile(r"[\d:]")
# A dotted quad with octets of one to three digits (leading zeros too: over-scrubbing a
# version number is harmless, missing an address is not).
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d])")
# Hex groups and colons (and a trailing dotted quad), then a check by ipaddress.
_IPV6 = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{0,4}:){2,8}[0-9A-Fa-f.]*(?:%[\w.]+)?")


# The service's own listen address, shown as it is (see install).
_KEEP: set[str] = set()


def _v4(match: re.Match[str]) -> str:
    text = match.group()
    if text in _KEEP or not all(int(part) < 256 for part in text.split(".")):
        return text
    return MASK


def _v6(match: re.Match[str]) -> str:
    text = match.group()
    # The token may have caught a colon or dot of the surrounding text ("ip:2001:db8::1",
    # "at ::1.", "2001:db8::1: refused"): try it with those trimmed too.
    for head in (0, 1) if text.startswith(":") else (0,):
        core, pct, _ = text[head:].partition("%")
        trims = [core] if pct else [core, core.rstrip("."), core.rstrip(".")[:-1]]
        for candidate in trims:
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            if candidate in _KEEP:
                return text
            return text[:head] + MASK + ("" if pct else core[len(candidate):])
    return text


def scrub(text: str) -> str:
    """`text` with every IPv4 and IPv6 address literal replaced by [address]."""
    if not _MAYBE.search(text):
        return text
    if ":" in text:
        text = _IPV6.sub(_v6, text)
    return _IPV4.sub(_v4, text)


class ScrubAddresses(logging.Filter):
    """Rewrites each record so that no handler can print an address from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            message = record.getMessage()  # formats args; the result is scrubbed as a whole
            record.args = None
        else:
            message = str(record.msg)
        record.msg = scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_FILTER = ScrubAddresses()


def install(keep: tuple[str, ...] = ()) -> None:
    """Put the filter on every handler of the root logger (a stderr handler is set up first
    if there is none), and send uncaught exceptions and warnings through logging too, so
    their tracebacks are scrubbed as well. `keep`: the service's own listen address, which
    is no participant's and which an operator needs to read in the start-up line."""
    _KEEP.update(keep)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="joingate: %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], value: BaseException,
                  tb: TracebackType | None) -> None:
    logging.getLogger("joingate").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is not SystemExit and args.exc_value is not None:
        _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
