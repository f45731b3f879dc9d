"""Time windows: policy.parse_time / format_time and build_restriction's window rules, and
restriction states following the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.restrictions import Restriction, build_restriction, format_time, parse_time
from tests.property.strategies import TABLE

NOW = datetime(2026, 6, 4, 12, 0, 0, tzinfo=UTC)
STATES = ("scheduled", "active", "ended")

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m)))
# Plus the first and last days a datetime can hold, where an offset pushes the instant out.
aware = st.one_of(
    st.datetimes(timezones=st.one_of(st.just(UTC), offsets)),
    st.datetimes(max_value=datetime(1, 1, 2), timezones=offsets),
    st.datetimes(min_value=datetime(9999, 12, 30), timezones=offsets))
# Every date-time the store writes: UTC, whole seconds.
stored = st.datetimes().map(lambda d: d.replace(microsecond=0, tzinfo=UTC))  # as in the DB
field_names = st.sampled_from(["starts_at", "ends_at", "received_at"])


def _spellings(d: datetime) -> st.SearchStrategy[str]:
    texts = {d.isoformat(), d.isoformat(timespec="seconds")}
    if d.utcoffset() == timedelta(0):
        texts.add(d.replace(tzinfo=None).isoformat() + "Z")
    return st.sampled_from(sorted(texts))


@given(aware.flatmap(lambda d: st.tuples(st.just(d), _spellings(d))), field_names)
@example((datetime(2026, 6, 4, 20, 0, tzinfo=timezone(timedelta(hours=8))),
          "2026-06-04T20:00:00+08:00"), "starts_at")
@example((datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))),
          "0001-01-01T00:00:00+01:00"), "starts_at")
def test_an_iso_date_time_with_offset_is_read_as_utc_or_refused_naming_the_field(
        case: tuple[datetime, str], field: str) -> None:
    """Any offset date-time parses to the same instant in UTC (whole seconds) — or, when that
    instant is outside the years a datetime can hold (0001-01-01T00:00+01:00), is refused as
    bad input naming the field: never an OverflowError (an HTTP 500)."""
    d, text = case
    try:
        parsed = parse_time(text, field)
    except InvalidInput as exc:
        assert exc.field == field
        with pytest.raises(OverflowError):
            d.astimezone(UTC)
        return
    assert parsed == d.astimezone(UTC).replace(microsecond=0)
    assert parsed.tzinfo == UTC


@given(stored)
@example(datetime(999, 5, 1, tzinfo=UTC))
@example(datetime(1, 1, 1, tzinfo=UTC))
def test_every_instant_parse_time_accepts_survives_the_store_round_trip(d: datetime) -> None:
    """The store writes format_time() and reads it back with fromisoformat: every instant
    in years 1-9999 is accepted and must survive that (year 999 was accepted, written as
    "999-05-01T00:00:00Z", which no ISO parser reads back, and the write answered 500)."""
    parsed = parse_time(d.isoformat(), "starts_at")  # every year 1-9999 in UTC is valid
    assert parsed == d
    text = format_time(parsed)
    assert text is not None
    assert datetime.fromisoformat(text) == parsed
    assert parse_time(text, "starts_at") == parsed


@given(st.datetimes(), field_names)
def test_a_date_time_without_offset_is_refused_naming_the_field(d: datetime,
                                                                field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_time(d.isoformat(), field)
    assert caught.value.field == field


@st.composite
def broken_date_time(draw: st.DrawFn) -> object:
    """A value that is not an ISO 8601 date-time with an offset: a valid spelling broken in
    one place, or no text at all."""
    d = draw(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                          timezones=offsets))
    text = d.isoformat(timespec="seconds")  # YYYY-MM-DDTHH:MM:SS+HH:MM
    kind = draw(st.sampled_from(["no-offset", "date-only", "offset-24h", "day", "month",
                                 "hour", "junk", "digits", "type"]))
    if kind == "no-offset":
        return text[:19]
    if kind == "date-only":
        return text[:10]
    if kind == "offset-24h":
        return text[:19] + draw(st.sampled_from(["+24:00", "-25:00", "+99:99"]))
    if kind == "day":
        return f"{text[:8]}{draw(st.sampled_from(['00', '32', '99']))}{text[10:]}"
    if kind == "month":
        return f"{text[:5]}{draw(st.sampled_from(['00', '13', '99']))}{text[7:]}"
    if kind == "hour":
        return f"{text[:11]}{draw(st.sampled_from(['24', '25', '99']))}{text[13:]}"
    if kind == "junk":  # inside the text: spaces around it are stripped
        # Right before the offset too: Python 3.11's fromisoformat accepts any one character
        # there ("2026-06-04T20:00:00x+08:00"); parse_time checks the shape first.
        i = draw(st.integers(1, len(text) - 1))
        return text[:i] + draw(st.sampled_from(["x", "\x00", "/", "  ", "\u0661"])) + text[i:]
    if kind == "digits":  # a digit in another script
        i = draw(st.sampled_from([i for i, c in enumerate(text) if c.isdigit()]))
        return text[:i] + chr(0xFF10 + int(text[i])) + text[i + 1:]
    return draw(st.one_of(st.none(), st.integers(), st.floats(), st.booleans()))


@given(broken_date_time(), field_names)
@example("2026-02-30T00:00:00Z", "ends_at")
@example("2026-06-04T20:00:00+24:00", "starts_at")
@example("2026-06-04", "starts_at")
@example("2026-06-04T20:00:00x+08:00", "starts_at")  # one stray character before the offset
@example("\x00", "starts_at")
@example("", "starts_at")
def test_anything_else_is_refused_naming_the_field(value: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_time(value, field)  # type: ignore[arg-type]
    assert caught.value.field == field


@given(st.text(max_size=40), field_names)
def test_arbitrary_text_is_refused_naming_the_field_or_read_as_utc(value: str,
                                                                   field: str) -> None:
    """Random text is bad input (never another exception); whatever is accepted is an instant
    in UTC, written as a date first."""
    try:
        parsed = parse_time(value, field)
    except InvalidInput as exc:
        assert exc.field == field
        return
    assert parsed.tzinfo == UTC and value.strip()[:4].isdigit()


# -- windows --------------------------------------------------------------------------------

deltas = st.one_of(st.none(), st.integers(-10 * 86400, 10 * 86400))


def _at(delta: int | None, as_text: bool, tz: timezone) -> str | datetime | None:
    if delta is None:
        return None
    moment = (NOW + timedelta(seconds=delta)).astimezone(tz)
    return moment.isoformat() if as_text else moment


@given(deltas, deltas, st.booleans(), offsets)
def test_a_window_ends_after_it_starts_and_after_now_or_is_refused_naming_the_field(
        start: int | None, end: int | None, as_text: bool, tz: timezone) -> None:
    try:
        draft = build_restriction(
            rooms=["june4"], countries=["CN"], starts_at=_at(start, as_text, tz),
            ends_at=_at(end, as_text, tz), reason="test", request=None, request_id=None,
            mode=None, now=NOW, table=TABLE)
    except InvalidInput as exc:
        assert exc.field == "ends_at"
        assert end is not None and (end <= (start or 0) or end <= 0)
        return
    assert draft.starts_at == (NOW if start is None else NOW + timedelta(seconds=start))
    if end is None:
        assert draft.ends_at is None
    else:
        assert draft.ends_at is not None
        assert draft.ends_at > draft.starts_at and draft.ends_at > NOW


@given(deltas, deltas, st.lists(st.integers(-20 * 86400, 20 * 86400), min_size=2,
                                max_size=12))
def test_states_follow_the_clock_scheduled_then_active_then_ended(
        start: int | None, end: int | None, clock: list[int]) -> None:
    try:
        draft = build_restriction(
            rooms=["june4"], countries=["CN"], starts_at=_at(start, False, UTC),
            ends_at=_at(end, False, UTC), reason="test", request=None, request_id=None,
            mode="block", now=NOW, table=TABLE)
    except InvalidInput:
        assume(False)
        return
    made = Restriction(1, draft.rooms, draft.countries, draft.starts_at, draft.ends_at,
                       draft.reason, draft.request, draft.mode, NOW, "test")
    assert made.state(NOW) in ("scheduled", "active")  # never created already ended
    states = [made.state(NOW + timedelta(seconds=s)) for s in sorted(clock)]
    order = [STATES.index(s) for s in states]
    assert order == sorted(order)
    assert made.state(draft.starts_at) == "active"
    if draft.ends_at is not None:
        assert made.state(draft.ends_at) == "ended"
        assert made.state(draft.ends_at - timedelta(seconds=1)) == "active"
    assert made.state(draft.starts_at - timedelta(seconds=1)) == "scheduled"
