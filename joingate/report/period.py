"""The report's period: UTC days, both ends included."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from ..errors import InvalidInput

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: str | None, field_name: str) -> str | None:
    """A YYYY-MM-DD date (or None, an open end) checked to be a real calendar day."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field_name}: expected a date YYYY-MM-DD such as 2026-06-30, "
                           f"got {value!r}", field=field_name) from None
    return text


def parse_period(since: str | None, until: str | None,
                 now: datetime) -> tuple[str | None, str]:
    """(since, until) as YYYY-MM-DD, both inclusive. No since: from the start of the record;
    no until: today (UTC)."""
    start = parse_date(since, "since")
    end = parse_date(until, "until") or day_of(now)
    if start is not None and start > end:
        raise InvalidInput(f"since: {start} is after until ({end})", field="since")
    return start, end


def day_of(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


def within(day: str, since: str | None, until: str) -> bool:
    return (since is None or day >= since) and day <= until
